"""What the Filters tab reads: reports fetched through TensorBoard's data provider
(never its multiplexer, which is None under the fast loader), parsed and cached.
No HTTP and no JSON shapes here (views.py owns those).

A (run, layer) time series is re-read only when `list_tensors` says it changed
(its max step, max wall time or metadata), so a page of a big layer costs a
cheap listing plus the JSON of that page, and pages already served are
spliced in from a text cache.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import itertools
import logging
import queue
import threading
import time
import zlib
from typing import Any, Callable, Hashable

import numpy as np
from tensorboard import errors as tb_errors
from tensorboard.data import provider as tb_provider

from tb_filters.format import compare, metadata, payload
from tb_filters.format.proto import filters_pb2
from tb_filters.plugin import jsontext, schema_docs, views
from tb_filters.plugin.jsontext import EncodedJson
from tb_filters.plugin.messages import name_list, quoted
from tb_filters.plugin.responses import SizedLru

logger = logging.getLogger(__name__)

DEFAULT_DOWNSAMPLE = 100
# Serialized bytes of the cached series' reports, inflated (version 3 deflates part of a payload:
# the bench's 1024-filter layer is sent in 10.3 MiB, 15.3 MiB inflated); parsed reports take a
# small multiple of it.
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
# Steps of each series read that are warmed in the background (ReportStore._warm_later): the latest
# ones, which the tab opens and a reader steps through first.
WARM_STEPS = 10
WARMED_BYTES_PER_TOKEN = 70  # a str of the token table
WARMED_BYTES_PER_ID = 100  # an entry of the id -> token dict
WARMED_BYTES_PER_CONTEXT = 24  # three int64 columns
# Characters of cached per-filter JSON.
DEFAULT_FRAGMENT_CHARS = 256 * 1024 * 1024
# A warmed step's closed cards are built in the background too, so a page's first visit reads them
# cached: as the tab asks them (frontend/views/windows.js WINDOWS_SHOWN windows, parts=card), a
# chunk at a time (the GIL is taken in turns with requests), while the cached fragments fill at
# most this share of their budget: warming never evicts what readers opened.
CARD_WINDOWS = 10
WARM_CARDS_CHUNK = 64
WARM_CARDS_SHARE = 0.25
# Bytes of cached match and dynamics answers (a 1024-filter match is ~0.2 MB of dicts).
DEFAULT_RESULT_BYTES = 64 * 1024 * 1024
# Where the floats of a filter object and a `details` answer sit: checked finite, orjson writes them.
_FILTER_FLOATS = jsontext.frozen(schema_docs.float_fields(views.FILTER))
_DETAILS_FLOATS = jsontext.frozen(schema_docs.float_fields(views.DETAILS))


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Data that could not be read; `step` is None when the whole layer is skipped."""

    run: str
    layer: str
    step: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return views.skipped(self.run, self.layer, self.step, self.reason)


_serials = itertools.count()
_queued = itertools.count()  # ties of the warming queue: first queued, first warmed


class LayerStep:
    """One readable report: (run, layer, step)."""

    def __init__(self, run: str, layer: str, step: int, wall_time: float,
                 proto: filters_pb2.LayerReport, digest: Hashable = None):
        self.run, self.layer, self.step, self.wall_time = run, layer, step, wall_time
        self.proto = proto
        # What the payload was, so a re-read of the series can keep this object.
        self.digest = digest
        self.nbytes = proto.ByteSize() + warmed_bytes(proto)  # what the cache counts
        # Identifies this exact report in the fragment cache, across re-reads.
        self.serial = next(_serials)
        self._lock = threading.Lock()
        self._warm_lock = threading.Lock()  # apart from _lock: what _lock guards reads the table too
        self._warmed = False
        self._positions: dict[int, int] | None = None
        self._table: payload.TokenTable | None = None
        self._computed: dict[str, bool] | None = None
        self._token_hits: dict[str, list[tuple[int, int]]] | None = None
        self._detects_hits: tuple[dict, dict] | None = None
        self._contexts: dict[int, filters_pb2.Context] | None = None
        self._context_strings: dict[int, str] | None = None
        self._step_data: compare.StepData | None = None

    @property
    def warmed(self) -> bool:
        return self._warmed

    def warm(self) -> None:
        """Builds, once, what every page of this step reads first: the filters' order, the token table,
        its id strings and the contexts index (~20 ms and ~12 MB for a 1024-filter top-100 step with
        204,800 contexts, against ~15 ms for each page's first visit). Requests arriving together on a
        cold step wait for one build instead of each making their own. A damaged part is left unbuilt:
        the request that reads it reports it."""
        if self._warmed:
            return
        with self._warm_lock:
            if self._warmed:
                return
            try:
                table = self.table
                self.positions  # noqa: B018 - built and kept by the property
                table.id_strings  # noqa: B018
                if payload.has_contexts(self.proto):
                    table.contexts  # noqa: B018
            except Exception:  # noqa: BLE001 - see the docstring
                logger.debug("filters: step %d of %s/%s left to be read on demand", self.step, self.run,
                             self.layer, exc_info=True)
            self._warmed = True

    @property
    def positions(self) -> dict[int, int]:
        """Filter index -> position in proto.filters, in index order."""
        if self._positions is None:
            pairs = sorted((f.index, pos) for pos, f in enumerate(self.proto.filters))
            self._positions = dict(pairs)
        return self._positions

    @property
    def table(self) -> payload.TokenTable:
        if self._table is None:
            self._table = payload.layer_table(self.proto)
        return self._table

    @property
    def tokens(self) -> list[str]:
        return self.table.strings

    @property
    def num_filters(self) -> int:
        return len(self.proto.filters)

    def histogram_edges(self) -> list[float]:
        return list(self.proto.histogram_edges)

    @property
    def filter_indices(self) -> list[int]:
        """`FilterReport.index` of each filter, in the report's order (the signatures' rows)."""
        return [f.index for f in self.proto.filters]

    def step_data(self) -> compare.StepData:
        """The signatures (decoded once: float16 [filters, probe] -> float32) and each filter's distinct
        top windows, as compare.py reads them; CorruptReport when the signatures do not fit the filters."""
        with self._lock:
            if self._step_data is None:
                pb = self.proto
                self._step_data = compare.StepData(
                    self.step, pb.probe_fingerprint, self._signatures(),
                    tuple(self.filter_indices), tuple(self._distinct_windows()))
            return self._step_data

    def _distinct_windows(self):
        """Each filter's top windows as a set of id tuples. A 1024-filter top-100 step takes ~0.4 s of
        Python and a layer's first `dynamics` reads every step; after each filter the GIL goes to
        any request waiting for it, which otherwise waits up to the 5 ms switch interval at each of
        its own I/O releases. Live, a cached page asked during such a dynamics took 30.7 ms (median,
        p95 43.5) without this and 5.4 ms (p95 9.7) with it; the dynamics took 3.9 s and 5.5 s."""
        table = self.table
        for f in self.proto.filters:
            yield frozenset(tuple(table.window_ids(w)) for w in f.windows)
            time.sleep(0)  # releases the GIL, even for 0 s

    def _signatures(self) -> np.ndarray | None:
        pb = self.proto
        if payload.availability_of(pb, "signatures") != payload.COMPUTED:
            return None
        return payload.signatures(pb.signature_matrix, len(pb.filters), pb.probe_examples)

    @property
    def computed(self) -> dict[str, bool]:
        if self._computed is None:
            self._computed = payload.computed(self.proto)
        return self._computed

    def filter_object(self, index: int, windows_limit: int | None, card: bool = False) -> dict[str, Any]:
        self.warm()
        return views.filter_object(self.proto.filters[self.positions[index]], self.table,
                                   self.proto.geometry.span_width, self.proto.has_contributions,
                                   windows_limit, self.computed, card)

    def details(self, index: int) -> dict[str, Any]:
        """The filter's on-demand parts (the `details` answer)."""
        self.warm()
        parts = views.details_parts(self.proto.filters[self.positions[index]], self.table,
                                    self.proto.geometry.span_width, self.proto.has_contributions, self.computed)
        return views.DETAILS.make(run=self.run, layer=self.layer, step=self.step, filter=index, **parts)

    def context(self, example: int) -> dict[str, Any] | None:
        """The whole example, if this report keeps it."""
        with self._lock:
            if self._contexts is None:
                self._contexts = self.table.contexts
                self._context_strings = self.table.context_strings(self.proto)
        found = self._contexts.get(example)
        if found is None:
            return None
        return views.context_object(self.run, self.layer, self.step, self.proto, found, self._context_strings)

    def detects_hits(self) -> tuple[dict[str, list[tuple[int, int, int, float]]], dict[str, list[tuple[int, int]]]]:
        """Token -> [(filter index, slot, rank, score)] from the slot preferences' raises, and
        token -> [(filter index, pattern rank)] from the patterns."""
        with self._lock:
            if self._detects_hits is None:
                self._detects_hits = self._index_detects()
            return self._detects_hits

    def _index_detects(self):
        tokens = self.tokens
        wants, patterns = collections.defaultdict(list), collections.defaultdict(list)
        for f in self.proto.filters:
            for slot in f.slot_preferences:
                for rank, t in enumerate(slot.raises):
                    if 0 <= t.token_ref < len(tokens):
                        wants[tokens[t.token_ref]].append((f.index, slot.slot, rank, t.score))
            for rank, p in enumerate(f.patterns):
                for token in {t for t in self.table.pattern_tokens(p, f.windows, blank_bad=True) if t}:
                    patterns[token].append((f.index, rank))
        return dict(wants), dict(patterns)

    def token_hits(self) -> dict[str, list[tuple[int, int]]]:
        """Token -> [(filter index, window rank)], rank ascending within a filter."""
        with self._lock:  # built once, even when several searches arrive together
            if self._token_hits is None:
                self._token_hits = self._index_tokens()
            return self._token_hits

    def _index_tokens(self) -> dict[str, list[tuple[int, int]]]:
        table, hits = self.table, collections.defaultdict(list)
        for f in self.proto.filters:
            for rank, w in enumerate(f.windows):
                for token in set(table.window_tokens(w, blank_bad=True)):
                    if token:
                        hits[token].append((f.index, rank))
        return dict(hits)


@dataclasses.dataclass
class Series:
    """The readable steps of one (run, layer) and what was skipped there."""

    run: str
    layer: str
    fingerprint: Hashable
    steps: dict[int, LayerStep]  # ascending step
    skipped: list[Skipped]
    nbytes: int
    max_step: int = -1  # the largest step TensorBoard saw, kept or not

    def latest(self) -> LayerStep | None:
        return self.steps[next(reversed(self.steps))] if self.steps else None

    def at(self, step: int | None) -> LayerStep:
        """The report at `step` (None: the latest); NotFoundError if there is none."""
        if step is None:
            latest = self.latest()
            if latest is None:
                raise tb_errors.NotFoundError(
                    f"Layer {quoted(self.layer)} of run {quoted(self.run)} has no readable step")
            return latest
        if step not in self.steps:
            reason = next((s.reason for s in self.skipped if s.step == step), None)
            if reason is not None:  # found damaged: by an earlier request or the background warming
                raise tb_errors.NotFoundError(
                    f"Step {step} of layer {quoted(self.layer)} in run {quoted(self.run)} could not be read: "
                    f"{reason}. Steps: {name_list(self.steps)}")
            raise tb_errors.NotFoundError(
                f"No step {step} in layer {quoted(self.layer)} of run {quoted(self.run)}. "
                f"Steps: {name_list(self.steps)}")
        return self.steps[step]


def payload_bytes(value: Any) -> bytes:
    """The serialized report in a tensor's numpy value; ValueError if it holds none."""
    item = value.item() if isinstance(value, np.ndarray) and value.shape == () else None
    if not isinstance(item, bytes):
        dtype, shape = getattr(value, "dtype", type(value).__name__), getattr(value, "shape", "?")
        raise ValueError(f"payload is not a scalar string tensor (dtype {dtype}, shape {shape})")
    return item


def parse_payload(payload: bytes) -> filters_pb2.LayerReport:
    """A LayerReport from its bytes; ValueError (or NewerPayloadError) says why not."""
    report = metadata.parse_layer_report(payload)
    if report.version < 1:
        raise ValueError("payload does not parse as a filters report (no payload version)")
    if len(report.histogram_edges) < 2 or report.geometry.span_width < 0:
        raise ValueError("payload is not a complete filters report (no histogram edges or span)")
    return report


class ReportStore:
    """Reads `filters` series through a data provider and caches them parsed."""

    def __init__(self, data_provider: tb_provider.DataProvider,
                 downsample: int = DEFAULT_DOWNSAMPLE,
                 cache_bytes: int = DEFAULT_CACHE_BYTES,
                 fragment_chars: int = DEFAULT_FRAGMENT_CHARS,
                 samples_kept: int | None = None,
                 result_bytes: int = DEFAULT_RESULT_BYTES, warm_in_background: bool = True):
        self._provider = data_provider
        self._downsample = downsample
        # Steps TensorBoard keeps per layer (None: all); fewer than written means a sample.
        self.samples_kept = samples_kept
        self._series = SizedLru(cache_bytes, lambda s: s.nbytes)
        self._fragments = SizedLru(fragment_chars, len)
        self._results = SizedLru(result_bytes, lambda entry: entry[0])
        # Steps found corrupt after parsing, per exact series: the listing does
        # not change when they are found, so they are remembered here.
        self._corrupt: dict[tuple[str, str, str], tuple[Hashable, Skipped]] = {}
        self.warm_in_background = warm_in_background
        self._pending: dict[Hashable, concurrent.futures.Future] = {}  # _once() values being made
        self._pending_lock = threading.Lock()
        # Steps to warm, latest of each series first across series, by one thread (_warm_queued).
        self._to_warm: queue.PriorityQueue = queue.PriorityQueue()
        self._warmer: threading.Thread | None = None
        self._warmer_lock = threading.Lock()

    # Reading ---------------------------------------------------------------

    def all_series(self, ctx, experiment: str) -> list[Series]:
        """Every (run, layer) with `filters` data, sorted by run then layer."""
        listing = self._provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME)
        listed = {(run, tag) for run, tags in listing.items() for tag in tags}
        self._series.discard_where(lambda key: key[0] == experiment and key[1:] not in listed)
        return self._refresh(ctx, experiment, listing)

    def series(self, ctx, experiment: str, run: str, layer: str) -> Series:
        """One (run, layer); NotFoundError names what exists instead.

        Requests asking at the same time share one listing call: under TensorBoard's data server
        each is a gRPC round trip (18% of TensorBoard's samples with 20 clients, py-spy). A request
        that joins a call in flight reads what that call finds, at most one round trip older than
        its own, as TensorBoard's own reload every few seconds already allows."""
        listing = self._once(("listing", experiment, run, layer), lambda: self._provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME,
            run_tag_filter=tb_provider.RunTagFilter(runs=[run], tags=[layer])))
        if layer not in listing.get(run, {}):
            raise self._not_found(ctx, experiment, run, layer)
        return self._refresh(ctx, experiment, listing)[0]

    def _not_found(self, ctx, experiment: str, run: str, layer: str) -> tb_errors.NotFoundError:
        listing = self._provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME)
        if run not in listing:
            return tb_errors.NotFoundError(
                f"No run {quoted(run)} with filters data. Runs: {name_list(sorted(listing))}")
        return tb_errors.NotFoundError(
            f"No layer {quoted(layer)} in run {quoted(run)}. "
            f"Layers: {name_list(sorted(listing[run]))}")

    def _refresh(self, ctx, experiment: str, listing: dict) -> list[Series]:
        current: dict[tuple[str, str], Series] = {}
        stale: dict[str, dict[str, Any]] = collections.defaultdict(dict)
        previous: dict[str, dict[str, Series | None]] = collections.defaultdict(dict)
        for run, tags in listing.items():
            for tag, ts in tags.items():
                cached = self._series.get((experiment, run, tag))
                if cached is not None and cached.fingerprint == _fingerprint(ts):
                    current[(run, tag)] = cached
                else:
                    stale[run][tag] = ts
                    previous[run][tag] = cached
        read = []
        for run, tags in stale.items():
            for series in self._read_run(ctx, experiment, run, tags, previous[run]):
                self._series.put((experiment, run, series.layer), series)
                current[(run, series.layer)] = series
                read.append(series)
        self._warm_later(experiment, read)
        return [self._with_corruption(experiment, current[key]) for key in sorted(current)]

    def _warm_later(self, experiment: str, read: list[Series]) -> None:
        """Queues each series' latest WARM_STEPS steps for LayerStep.warm on one background thread:
        the request that read the series answers without waiting, and neither the tab's first page
        nor a step the reader moves to pays for its step. Under 20 clients, a cold step's build held
        the GIL for every request queued behind it (LOAD p95 187-250 vs 272-343 ms with the steps
        warmed beforehand, three runs each). One thread, every series' latest step before any
        second-latest: many runs listed at once do not start a thread each. Then their closed
        cards (_warm_cards), after every queued step's tables. Older steps are warmed by their
        first request (once, however many ask together)."""
        if not self.warm_in_background:
            return
        for series in read:
            for rank, step in enumerate(list(reversed(series.steps.values()))[:WARM_STEPS]):
                if not step.warmed:
                    self._to_warm.put((rank, next(_queued), experiment, step))
        with self._warmer_lock:
            if self._warmer is None and not self._to_warm.empty():
                self._warmer = threading.Thread(target=self._warm_queued, name="tb_filters-warm", daemon=True)
                self._warmer.start()

    def _warm_queued(self) -> None:
        """Warms queued steps until none is left for a second."""
        while True:
            try:
                rank, _, experiment, step = self._to_warm.get(timeout=1.0)
            except queue.Empty:
                with self._warmer_lock:  # a step queued meanwhile finds this thread gone, or is taken
                    if self._to_warm.empty():
                        self._warmer = None
                        return
                continue
            if rank < WARM_STEPS:
                step.warm()
                self._to_warm.put((rank + WARM_STEPS, next(_queued), experiment, step))
            else:
                self._warm_cards(experiment, step)

    def _warm_cards(self, experiment: str, step: LayerStep) -> None:
        """Builds and caches the step's closed cards as the tab asks them, chunk by chunk, while the
        fragment cache is under WARM_CARDS_SHARE of its budget. A damaged step stops here: marked
        corrupt, or left to the request that reads it."""
        try:
            indices = list(step.positions)
        except Exception:  # noqa: BLE001 - the request that reads it reports it
            return
        for start in range(0, len(indices), WARM_CARDS_CHUNK):
            if self._fragments.filled() >= WARM_CARDS_SHARE:
                return
            try:
                self.filter_jsons(experiment, step, indices[start:start + WARM_CARDS_CHUNK], CARD_WINDOWS, card=True)
            except Exception:  # noqa: BLE001 - as above
                logger.debug("filters: cards of step %d of %s/%s left to be built on demand", step.step, step.run,
                             step.layer, exc_info=True)
                return

    def _read_run(self, ctx, experiment: str, run: str, tags: dict[str, Any],
                  previous: dict[str, Series | None]) -> list[Series]:
        try:
            data = self._read(ctx, experiment, run, list(tags))
        except Exception as e:  # noqa: BLE001 - a bad file must not take the tab down
            if len(tags) > 1:
                return [s for tag in tags
                        for s in self._read_run(ctx, experiment, run, {tag: tags[tag]}, previous)]
            logger.warning("filters: could not read run %r: %s", run, e)
            tag = next(iter(tags))
            return [Series(run, tag, _fingerprint(tags[tag]), {},
                           [Skipped(run, tag, None, f"could not be read: {e}")], 0)]
        return [_build_series(run, tag, ts, data.get(tag, []), previous.get(tag))
                for tag, ts in tags.items()]

    def _read(self, ctx, experiment: str, run: str, tags: list[str]) -> dict[str, list]:
        result = self._provider.read_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME,
            downsample=self._downsample,
            run_tag_filter=tb_provider.RunTagFilter(runs=[run], tags=tags))
        return result.get(run, {})

    # Corrupt reports ---------------------------------------------------------

    def mark_corrupt(self, experiment: str, layer_step: LayerStep, reason: str) -> None:
        """Drops a step whose report contradicts itself; `runs` then lists it as skipped."""
        key = (experiment, layer_step.run, layer_step.layer)
        series = self._series.get(key)
        if series is None or series.steps.get(layer_step.step) is not layer_step:
            return  # already re-read since: the new data gets its own check
        self._corrupt[key] = (series.fingerprint,
                              Skipped(layer_step.run, layer_step.layer, layer_step.step, reason))
        self._series.discard_where(lambda k: k == key)

    def _with_corruption(self, experiment: str, series: Series) -> Series:
        fingerprint, skipped = self._corrupt.get(
            (experiment, series.run, series.layer), (None, None))
        if skipped is None or fingerprint != series.fingerprint or skipped.step not in series.steps:
            return series
        # A copy: the cached series may be in use by another request.
        steps = {step: s for step, s in series.steps.items() if step != skipped.step}
        return dataclasses.replace(series, steps=steps, skipped=[*series.skipped, skipped])

    # Computed answers ---------------------------------------------------------

    def computed(self, key: Hashable, make, size: int) -> Any:
        """`make()`, kept under `key` (which must identify its inputs exactly: the reports' serials)
        at an estimated `size` bytes. Made once even when several requests ask at once: a 1024-filter
        layer's first `dynamics` takes ~10 s of the GIL, and each tab opened meanwhile asked again."""
        entry = self._results.get(key)
        if entry is not None:
            return entry[1]
        return self._once(("computed", key), lambda: self._kept(key, make(), size))

    def _kept(self, key: Hashable, value: Any, size: int) -> Any:
        self._results.put(key, (size, value))
        return value

    def _once(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """make(), called once for the requests asking for `key` at the same time: the others wait
        for its value, or its exception raised again."""
        with self._pending_lock:
            pending = self._pending.get(key)
            making = pending is None
            if making:
                pending = self._pending[key] = concurrent.futures.Future()
        if not making:
            return pending.result()  # the maker's value, or its exception raised again
        try:
            value = make()
            pending.set_result(value)
            return value
        except BaseException as e:
            pending.set_exception(e)
            raise
        finally:
            with self._pending_lock:
                del self._pending[key]

    # JSON ------------------------------------------------------------------

    def filter_json(self, experiment: str, layer_step: LayerStep, index: int,
                    windows_limit: int | None, card: bool = False) -> EncodedJson:
        """One filter object (`card`: without its on-demand parts) as JSON text, cached per exact report."""
        return self.filter_jsons(experiment, layer_step, [index], windows_limit, card)[0]

    def filter_jsons(self, experiment: str, layer_step: LayerStep, indices: list[int],
                     windows_limit: int | None, card: bool = False) -> list[EncodedJson]:
        """filter_json of each index, the cache read and filled once for all of them."""
        return self._jsons(experiment, layer_step, [
            (("filter", i, windows_limit, card), functools.partial(layer_step.filter_object, i, windows_limit, card))
            for i in indices], _FILTER_FLOATS)

    def details_json(self, experiment: str, layer_step: LayerStep, index: int) -> EncodedJson:
        """One filter's on-demand parts as JSON text, cached per exact report."""
        return self._jsons(experiment, layer_step, [(("details", index), lambda: layer_step.details(index))],
                           _DETAILS_FLOATS)[0]

    def _jsons(self, experiment: str, layer_step: LayerStep, wanted: list[tuple[tuple, Callable]],
               floats: Any) -> list[EncodedJson]:
        """The JSON text of each (what, build) in `wanted`, objects of one shape whose floats sit where
        `floats` says (jsontext.dumps): cached, else built and cached."""
        keys = [(layer_step.serial, *what) for what, _ in wanted]
        texts = self._fragments.get_many(keys)
        built: dict[Hashable, EncodedJson] = {}
        for position, ((_, build), key) in enumerate(zip(wanted, keys)):
            if texts[position] is None:
                if key not in built:
                    built[key] = self._built_json(experiment, layer_step, build, floats)
                texts[position] = built[key]
        if built:
            self._fragments.put_many(list(built.items()))
        return texts

    def _built_json(self, experiment: str, layer_step: LayerStep, build: Callable, floats: Any) -> EncodedJson:
        try:
            return EncodedJson(jsontext.dumps(build(), floats))
        except views.CorruptReport as e:
            self.mark_corrupt(experiment, layer_step, f"report is inconsistent: {e}")
            raise tb_errors.NotFoundError(
                f"Step {layer_step.step} of layer {quoted(layer_step.layer)} in run "
                f"{quoted(layer_step.run)} could not be read: {e}") from None


def warmed_bytes(proto: filters_pb2.LayerReport) -> int:
    """What LayerStep.warm keeps of a report, estimated from its sizes (tracemalloc on a
    1024-filter top-100 step: 11.5 MiB for 48,152 table tokens, 43,844 context ids, 204,800 contexts)."""
    return (WARMED_BYTES_PER_TOKEN * len(proto.token_table) + WARMED_BYTES_PER_ID * len(proto.context_vocab_ids)
            + WARMED_BYTES_PER_CONTEXT * len(proto.context_columns.lengths))


def _fingerprint(ts: tb_provider.TensorTimeSeries) -> Hashable:
    return (ts.max_step, ts.max_wall_time, ts.plugin_content)


def _build_series(run: str, tag: str, ts: tb_provider.TensorTimeSeries, data: list,
                  previous: Series | None) -> Series:
    """Parses what was read; steps unchanged since `previous` keep their objects
    (and so their cached JSON): a new epoch does not re-parse the old ones."""
    fingerprint = _fingerprint(ts)
    try:
        metadata.parse_plugin_metadata(ts.plugin_content)
    except ValueError as e:
        return Series(run, tag, fingerprint, {}, [Skipped(run, tag, None, str(e))], 0)
    known = {(s.step, s.wall_time, s.digest): s for s in previous.steps.values()} if previous else {}
    steps: dict[int, LayerStep] = {}
    skipped: list[Skipped] = []
    nbytes = 0
    for datum in data:
        step = int(datum.step)
        try:
            payload = payload_bytes(datum.numpy)
            digest = (len(payload), zlib.crc32(payload))
            layer_step = known.get((step, datum.wall_time, digest)) or LayerStep(
                run, tag, step, datum.wall_time, parse_payload(payload), digest)
            nbytes += layer_step.nbytes
        except ValueError as e:
            skipped.append(Skipped(run, tag, step, str(e)))
            continue
        # A step written twice (a re-run of the CLI): the later one wins.
        steps[step] = layer_step
    ordered = {step: steps[step] for step in sorted(steps)}
    return Series(run, tag, fingerprint, ordered, skipped, nbytes, int(ts.max_step))
