"""The interpretation report: plain dataclasses, the proto round trip and the
notebook's JSON export. No Keras or TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from tb_filters.format import metadata, payload
from tb_filters.format.payload import COMPUTED as COMPUTED
from tb_filters.format.payload import DETECTS_FEATURES as DETECTS_FEATURES
from tb_filters.format.payload import NOT_DEFINED as NOT_DEFINED
from tb_filters.format.payload import NOT_IN_REPORT as NOT_IN_REPORT
from tb_filters.format.payload import TURNED_OFF as TURNED_OFF
from tb_filters.format.payload import availability_of as availability_of
from tb_filters.format.proto import filters_pb2

PAD_TOKEN = "<pad>"
WILDCARD = "\u00b7"  # a pattern slot that any token fills

# Slots shown per filter in its one-line summary, and tokens per slot.
SUMMARY_TOKENS = 2


def _histogram_edges() -> tuple[float, ...]:
    """Fixed, data-independent bucket edges so histograms merge across batches.

    Powers of two from 1/64 to 64 on each side of zero; relu's zeros land in
    [0, 1/64).
    """
    magnitudes = [2.0**e for e in range(-6, 7)]
    negatives = [-m for m in reversed(magnitudes)]
    return tuple([-math.inf] + negatives + [0.0] + magnitudes + [math.inf])


HISTOGRAM_EDGES = _histogram_edges()
NUM_BUCKETS = len(HISTOGRAM_EDGES) - 1


@dataclasses.dataclass(frozen=True)
class Window:
    """One top window of a filter."""

    activation: float
    example: int
    position: int
    span_start: int
    token_ids: tuple[int, ...]  # -1 where the slot is outside the sequence
    tokens: tuple[str, ...]
    padding: tuple[bool, ...]
    contributions: tuple[float, ...] | None = None
    count: int = 1
    # Raw-text input: per slot, the piece of the example's text the token came from ("" for padding).
    originals: tuple[str, ...] | None = None

    @property
    def words(self) -> str:
        return " ".join(self.tokens)


@dataclasses.dataclass(frozen=True)
class FilterStats:
    """Statistics over every (example, position) activation of one filter."""

    max: float
    min: float
    mean: float
    positive_fraction: float
    positions: int
    histogram: tuple[int, ...]  # counts per HISTOGRAM_EDGES bucket


class Effect(NamedTuple):
    """A filter's effect on one model output unit, a tuple (output, mean, mean_abs): the
    mean over the sample of output(x) - output(x with the filter's activations set to 0),
    and the mean |change|."""

    output: str
    mean: float
    mean_abs: float


@dataclasses.dataclass(frozen=True)
class TokenScore:
    """A token's contribution in one slot of a filter, and how often the data holds it."""

    token: str
    id: int
    score: float
    occurrences: int


@dataclasses.dataclass(frozen=True)
class SlotPreference:
    """The tokens that raise a filter's activation most in one slot, and those that lower it most."""

    slot: int
    raises: tuple[TokenScore, ...]
    lowers: tuple[TokenScore, ...]


@dataclasses.dataclass(frozen=True)
class Pattern:
    """Top windows that share their tokens in the slots carrying them; None marks a wildcard slot."""

    tokens: tuple[str | None, ...]
    token_ids: tuple[int | None, ...]
    activation: float  # the best of its windows
    windows: tuple[int, ...]  # indices into FilterReport.windows
    count: int  # occurrences of those windows in the data

    @property
    def text(self) -> str:
        return " ".join(WILDCARD if t is None else t for t in self.tokens)


@dataclasses.dataclass(frozen=True)
class Context:
    """A whole example, as the engine read it."""

    example: int
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    padding: tuple[bool, ...]


@dataclasses.dataclass(frozen=True)
class Interval:
    """Activations in [low, high) (a positive histogram bucket; the lowest is (0, 1/64)): their exact
    count, their share of all positions, and up to `LayerReport.interval_samples` windows sampled
    uniformly at random (the smallest hashes of (example, position)), ascending by that hash."""

    low: float
    high: float
    count: int
    share: float
    windows: tuple[Window, ...]


@dataclasses.dataclass(frozen=True)
class FilterReport:
    index: int
    windows: tuple[Window, ...]
    stats: FilterStats
    bias: float = 0.0
    effects: tuple[Effect, ...] = ()  # in the model's output order; empty when not computed
    dead: bool | None = None  # None: unknown (a report from before payload version 2)
    duplicate_of: int | None = None  # the earlier filter it correlates with above the threshold
    duplicate_correlation: float | None = None
    # None when not in the report; the LayerReport says why.
    slot_preferences: tuple[SlotPreference, ...] | None = None
    patterns: tuple[Pattern, ...] | None = None
    inhibiting: tuple[Window, ...] | None = None  # lowest pre-activation first
    intervals: tuple[Interval, ...] | None = None  # positive histogram buckets with positions, ascending
    active_examples: int | None = None  # examples on which it is > 0 somewhere; None: not in the report

    @property
    def summary(self) -> str:
        return summary_line(
            [[t.token for t in slot.raises] for slot in self.slot_preferences or ()],
            self.patterns[0].tokens if self.patterns else None,
            self.windows[0].tokens if self.windows else None,
        )


def summary_line(slot_raises: list[list[str]], best_pattern: tuple | None, best_window: tuple | None) -> str:
    """One line: what raises the filter in each slot, else its best pattern, else its best window."""
    if slot_raises:
        wants = ["|".join(tokens[:SUMMARY_TOKENS]) or WILDCARD for tokens in slot_raises]
        return "wants  " + f"  {WILDCARD}  ".join(wants)
    if best_pattern:
        return "detects  " + " ".join(WILDCARD if t is None else t for t in best_pattern)
    if best_window:
        return "top  " + " ".join(best_window)
    return "no windows"


@dataclasses.dataclass(frozen=True)
class LayerGeometry:
    num_filters: int
    kernel_size: int
    stride: int
    dilation: int
    padding: str
    activation: str
    input_length: int
    output_length: int
    span_width: int
    span_stride: int
    span_offset: int
    path: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LayerReport:
    name: str
    geometry: LayerGeometry
    top_k: int
    distinct: bool
    num_examples: int
    filters: tuple[FilterReport, ...]
    has_contributions: bool = False
    output_names: tuple[str, ...] = ()  # the effects' outputs; empty when not computed
    sample_examples: int = 0  # examples behind the effects and correlations
    effects_note: str = ""  # why the effects are missing, if they are
    duplicate_threshold: float | None = None
    slot_preferences: str = NOT_IN_REPORT  # COMPUTED, NOT_DEFINED, TURNED_OFF or NOT_IN_REPORT
    patterns: str = NOT_IN_REPORT
    contexts: str = NOT_IN_REPORT
    inhibiting: str = NOT_IN_REPORT
    slot_top_n: int = 0
    slot_min_count: int = 0
    pattern_share: float = 0.0
    examples: dict[int, Context] | None = None  # example index -> Context, for every window's example
    signatures: str = NOT_IN_REPORT
    intervals: str = NOT_IN_REPORT
    probe_examples: int = 0  # the first this many examples are the probe of the signatures
    probe_fingerprint: str = ""  # a digest of the probe's token ids: runs compare when these are equal
    signature_matrix: bytes = b""  # float16 little-endian [filters, probe_examples]; see `signature_array`
    interval_samples: int = 0  # windows sampled per interval at most

    def signature_array(self) -> np.ndarray:
        """[filters, probe_examples] float32: each filter's maximum activation over positions on
        each probe example (stored as float16: about 3 significant digits)."""
        return payload.signatures(self.signature_matrix, len(self.filters), self.probe_examples)

    def to_summary_json(self) -> dict[str, str]:
        """{"Filter_i": one-line summary}, keyed like the notebook's export."""
        return {f"Filter_{f.index}": f.summary for f in self.filters}

    def top_filters(self, n: int) -> list[FilterReport]:
        """The n filters with the highest maximum activation (ties: lower index)."""
        return sorted(self.filters, key=lambda f: (-f.stats.max, f.index))[:n]

    def context(self, window: Window) -> Context | None:
        """The whole example a window (top or inhibiting) comes from, when contexts are in the report."""
        return None if self.examples is None else self.examples.get(window.example)

    def to_notebook_json(self) -> dict[str, list[dict]]:
        """The original notebook's export: {"Filter_i": [{activation, tweet, position, words}]}."""
        return {
            f"Filter_{f.index}": [
                {
                    "activation": float(w.activation),
                    "tweet": int(w.example),
                    "position": int(w.position),
                    "words": w.words,
                }
                for w in f.windows
            ]
            for f in self.filters
        }


@dataclasses.dataclass(frozen=True)
class Report:
    """What `tb_filters.interpret` returns: one LayerReport per conv layer."""

    layers: dict[str, LayerReport]

    def __getitem__(self, layer_name: str) -> LayerReport:
        return self.layers[layer_name]

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)


# The proto round trip ---------------------------------------------------------
#
# A dataclass field spelled like a scalar (or repeated scalar) field of its proto
# message is copied as it is, both ways: a new plain field needs no code here.
# The fields listed as handled are shaped by hand (token references, wildcards,
# availability, payload versions).


class _Plain(NamedTuple):
    name: str
    repeated: bool
    optional: bool  # proto3 `optional`: None in the dataclass is unset in the proto


def _plain_fields(cls, message, handled: tuple[str, ...] = ()) -> tuple[_Plain, ...]:
    by_name = message.DESCRIPTOR.fields_by_name
    plain = []
    for field in dataclasses.fields(cls):
        descriptor = by_name.get(field.name)
        if field.name in handled or descriptor is None or descriptor.message_type is not None:
            continue
        repeated = _is_repeated(descriptor)
        plain.append(_Plain(field.name, repeated, descriptor.has_presence and not repeated))
    return tuple(plain)


def _is_repeated(descriptor) -> bool:
    if hasattr(descriptor, "is_repeated"):  # protobuf 6.32+, where `label` is deprecated
        return descriptor.is_repeated
    return descriptor.label == descriptor.LABEL_REPEATED


def _plain_to_proto(obj, plain: tuple[_Plain, ...]) -> dict:
    values = {p.name: getattr(obj, p.name) for p in plain}
    return {name: value for name, value in values.items() if value is not None}


def _plain_from_proto(pb, plain: tuple[_Plain, ...]) -> dict:
    values = {}
    for p in plain:
        if p.optional and not pb.HasField(p.name):
            values[p.name] = None
        else:
            value = getattr(pb, p.name)
            values[p.name] = tuple(value) if p.repeated else value
    return values


_LAYER = _plain_fields(LayerReport, filters_pb2.LayerReport,
                       handled=("name", "geometry", "filters", "examples", *DETECTS_FEATURES))
_GEOMETRY = _plain_fields(LayerGeometry, filters_pb2.LayerGeometry)
_FILTER = _plain_fields(FilterReport, filters_pb2.FilterReport,
                        handled=("windows", "stats", "effects", "duplicate_of", "duplicate_correlation",
                                 "slot_preferences", "patterns", "inhibiting", "intervals"))
_STATS = _plain_fields(FilterStats, filters_pb2.Stats)
_WINDOW = _plain_fields(Window, filters_pb2.Window,
                        handled=("span_start", "token_ids", "tokens", "padding", "contributions", "originals"))
_SCORE = _plain_fields(TokenScore, filters_pb2.TokenScore, handled=("token",))
_PATTERN = _plain_fields(Pattern, filters_pb2.Pattern, handled=("tokens", "token_ids", "activation"))


class _Encoding:
    """What a payload's windows and patterns refer to while it is written: the token table, and for
    version 3 (`compact`) what they leave out because it derives from the rest (docs/payload.md)."""

    def __init__(self, layer: LayerReport, version: int):
        self.table: dict[str, int] = {}
        self.compact = version >= payload.COMPACT_VERSION
        self.derived_patterns = version >= payload.DERIVED_PATTERNS_VERSION
        self.geometry = layer.geometry
        self.examples = layer.examples or {}
        self.vocab: dict[int, str] = {}  # token id -> token, first seen first (version 3)
        self.padding_id = _padding_id(layer) if self.compact else None

    def ref(self, token: str) -> int:
        return self.table.setdefault(token, len(self.table))

    def refs(self, tokens) -> list[int]:
        return [self.table.setdefault(t, len(self.table)) for t in tokens]

    def derives_tokens(self, ids, tokens) -> bool:
        """Whether `tokens` are `ids` through the id -> token map (ids not yet in it join it)."""
        vocab = self.vocab
        # A list, not a generator: every id joins the map, also those after a mismatch.
        return all([vocab.setdefault(i, t) == t for i, t in zip(ids, tokens)])

    def context_span(self, example: int, start: int, width: int) -> tuple[int, ...] | None:
        context = self.examples.get(example)
        if context is None:
            return None
        ids = context.token_ids
        return tuple(ids[j] if 0 <= j < len(ids) else -1 for j in range(start, start + width))


def _padding_id(layer: LayerReport) -> int | None:
    """The id that means padding: the first one marked padding in the contexts, else in the windows."""
    windows = (w for f in layer.filters for w in _every_window(f))
    for item in (*(layer.examples or {}).values(), *windows):
        if True in item.padding:
            for token_id, padding in zip(item.token_ids, item.padding):
                if padding and token_id >= 0:
                    return token_id
    return None


def _every_window(f: FilterReport):
    yield from f.windows
    yield from f.inhibiting or ()
    for interval in f.intervals or ():
        yield from interval.windows


def to_proto(layer: LayerReport, version: int = metadata.PAYLOAD_VERSION,
             deflated: bool = True) -> filters_pb2.LayerReport:
    """The payload of `layer` as stored. Versions 3 and 4 (the current one) leave out what derives
    from the rest and, unless not `deflated` (tests that edit it), are deflated whole (docs/payload.md);
    version 2 writes that version's layout (tests of older payloads)."""
    if not 2 <= version <= metadata.PAYLOAD_VERSION:
        raise ValueError(f"Expected a payload version from 2 to {metadata.PAYLOAD_VERSION}. Received: {version}")
    pb = _message(layer, version)
    return payload.deflate(pb) if deflated and version >= payload.COMPACT_VERSION else pb


def _message(layer: LayerReport, version: int) -> filters_pb2.LayerReport:
    encoding = _Encoding(layer, version)
    pb = filters_pb2.LayerReport(
        version=version,
        layer_name=layer.name,
        geometry=filters_pb2.LayerGeometry(**_plain_to_proto(layer.geometry, _GEOMETRY)),
        histogram_edges=HISTOGRAM_EDGES,
        **{f"{feature}_availability": payload.AVAILABILITY_PB[getattr(layer, feature)]
           for feature in DETECTS_FEATURES},
        **_plain_to_proto(layer, _LAYER),
    )
    if encoding.padding_id is not None:
        pb.padding_id = encoding.padding_id
    for f in layer.filters:
        pb.filters.append(_filter_to_proto(f, encoding))
    if layer.examples is not None:
        if encoding.compact:
            _context_columns_to_proto(layer.examples, pb, encoding)
        else:
            _contexts_to_proto(layer.examples, pb, encoding.table)
    if encoding.compact:
        pb.context_vocab_ids.extend(encoding.vocab)
        pb.context_vocab_refs.extend(encoding.refs(encoding.vocab.values()))
    pb.token_table.extend(encoding.table)  # dicts keep insertion order = ref order
    return pb


def _contexts_to_proto(examples: dict[int, Context], pb: filters_pb2.LayerReport, table: dict[str, int]) -> None:
    strings: dict[int, str] = {}
    for example in sorted(examples):
        context = examples[example]
        pb.contexts.append(filters_pb2.Context(example=example, token_ids=context.token_ids))
        strings.update(zip(context.token_ids, context.tokens))
        for token_id, padding in zip(context.token_ids, context.padding):
            if padding and token_id >= 0:
                pb.padding_id = token_id
    pb.context_vocab_ids.extend(strings)
    pb.context_vocab_refs.extend(table.setdefault(t, len(table)) for t in strings.values())


def _context_columns_to_proto(examples: dict[int, Context], pb: filters_pb2.LayerReport,
                              encoding: _Encoding) -> None:
    """Version 3: the contexts as columns, each example's padding that ends it left out when every
    example is as long (ContextColumns)."""
    ordered = sorted(examples)
    lengths = {len(examples[e].token_ids) for e in ordered}
    padding_id = encoding.padding_id
    padded = lengths.pop() if len(lengths) == 1 and padding_id is not None else 0
    columns = pb.context_columns
    columns.padded_length = padded
    columns.example_steps.extend(np.diff(np.asarray(ordered, np.int64), prepend=0).tolist())
    ids: list[int] = []
    strings: dict[int, str] = {}
    for example in ordered:
        context = examples[example]
        strings.update(zip(context.token_ids, context.tokens))
        stored = len(context.token_ids)
        if padded:
            while stored and context.token_ids[stored - 1] == padding_id:
                stored -= 1
        columns.lengths.append(stored)
        ids.extend(context.token_ids[:stored])
    columns.token_ids.extend(ids)
    encoding.derives_tokens(strings, strings.values())  # the windows' strings first, where they differ


def _filter_to_proto(f: FilterReport, encoding: _Encoding) -> filters_pb2.FilterReport:
    pb = filters_pb2.FilterReport(
        stats=filters_pb2.Stats(**_plain_to_proto(f.stats, _STATS)),
        effect_mean=[e.mean for e in f.effects], effect_mean_abs=[e.mean_abs for e in f.effects],
        **_plain_to_proto(f, _FILTER),
    )
    if f.duplicate_of is not None:
        pb.duplicate_of = f.duplicate_of
        pb.duplicate_correlation = f.duplicate_correlation or 0.0
    pb.windows.extend(_window_to_proto(w, encoding) for w in f.windows)
    pb.inhibiting.extend(_window_to_proto(w, encoding) for w in f.inhibiting or ())
    for interval in f.intervals or ():
        pb.intervals.append(filters_pb2.Interval(
            low=interval.low, high=interval.high, count=interval.count,
            windows=[_window_to_proto(w, encoding) for w in interval.windows]))
    for slot in f.slot_preferences or ():
        pb.slot_preferences.append(filters_pb2.SlotPreference(
            slot=slot.slot,
            raises=[_score_to_proto(t, encoding) for t in slot.raises],
            lowers=[_score_to_proto(t, encoding) for t in slot.lowers],
        ))
    pb.patterns.extend(_pattern_to_proto(p, encoding, f.windows) for p in f.patterns or ())
    return pb


def _pattern_to_proto(pattern: Pattern, encoding: _Encoding, windows: Sequence[Window]) -> filters_pb2.Pattern:
    if not encoding.compact:
        return _full_pattern(pattern, encoding)
    slots = [j for j, i in enumerate(pattern.token_ids) if i is not None]
    ids = [pattern.token_ids[j] for j in slots]
    if not encoding.derives_tokens(ids, [pattern.tokens[j] for j in slots]):
        return _full_pattern(pattern, encoding)
    pb = filters_pb2.Pattern(slots=slots, token_ids=ids, activation=pattern.activation,
                             **_plain_to_proto(pattern, _PATTERN))
    if encoding.derived_patterns and pattern.windows and 0 <= pattern.windows[0] < len(windows):
        _leave_out_derived(pb, windows[pattern.windows[0]])
    return pb


def _leave_out_derived(pb: filters_pb2.Pattern, first: Window) -> None:
    """Version 5: the pattern's ids and activation left out where they are its first window's."""
    if pb.slots and all(pb.token_ids[k] == first.token_ids[j] for k, j in enumerate(pb.slots)):
        pb.ClearField("token_ids")
    if pb.activation == float(np.float32(first.activation)):
        pb.ClearField("activation")


def _full_pattern(pattern: Pattern, encoding: _Encoding) -> filters_pb2.Pattern:
    return filters_pb2.Pattern(
        in_pattern=[t is not None for t in pattern.token_ids],
        token_refs=[-1 if t is None else encoding.ref(t) for t in pattern.tokens],
        token_ids=[-1 if t is None else t for t in pattern.token_ids],
        activation=pattern.activation,
        **_plain_to_proto(pattern, _PATTERN),
    )


def _window_to_proto(w: Window, encoding: _Encoding) -> filters_pb2.Window:
    pb = filters_pb2.Window(
        original_refs=encoding.refs(w.originals or ()),
        **_plain_to_proto(w, _WINDOW),
    )
    if not encoding.compact:
        pb.span_start = w.span_start
        pb.token_refs.extend(encoding.refs(w.tokens))
        pb.token_ids.extend(w.token_ids)
        pb.padding.extend(w.padding)
        pb.contributions.extend(w.contributions or ())
        return pb
    geometry = encoding.geometry
    if w.span_start != w.position * geometry.span_stride + geometry.span_offset:
        pb.span_start = w.span_start
    if encoding.context_span(w.example, w.span_start, len(w.token_ids)) != tuple(w.token_ids):
        pb.token_ids.extend(w.token_ids)
    if not encoding.derives_tokens(w.token_ids, w.tokens):
        pb.token_refs.extend(encoding.refs(w.tokens))
    padding_id = encoding.padding_id
    if any(p != (i < 0 or i == padding_id) for i, p in zip(w.token_ids, w.padding)):
        pb.padding.extend(w.padding)
    if w.contributions:
        pb.contributions_f16 = payload.halves(w.contributions)
    return pb


def _score_to_proto(t: TokenScore, encoding: _Encoding) -> filters_pb2.TokenScore:
    return filters_pb2.TokenScore(token_ref=encoding.ref(t.token), **_plain_to_proto(t, _SCORE))


def from_proto(pb: filters_pb2.LayerReport) -> LayerReport:
    """The report a payload holds, deflated or not; ValueError when it does not inflate,
    payload.CorruptReport (a ValueError) when it contradicts itself."""
    pb = payload.inflate(pb)
    table = payload.layer_table(pb)
    availability = payload.availability(pb)
    computed = payload.computed(pb)
    return LayerReport(
        name=pb.layer_name,
        geometry=LayerGeometry(**_plain_from_proto(pb.geometry, _GEOMETRY)),
        filters=tuple(_filter_from_proto(f, table, pb, computed) for f in pb.filters),
        examples=_contexts_from_proto(pb, table) if computed["contexts"] else None,
        **availability,
        **_plain_from_proto(pb, _LAYER),
    )


def _filter_from_proto(f: filters_pb2.FilterReport, table: payload.TokenTable, pb: filters_pb2.LayerReport,
                       computed: dict[str, bool]) -> FilterReport:
    has_contributions = pb.has_contributions

    def present(feature: str, value):
        return value if computed[feature] else None

    return FilterReport(
        windows=tuple(_window_from_proto(w, table, has_contributions) for w in f.windows),
        stats=FilterStats(**_plain_from_proto(f.stats, _STATS)),
        slot_preferences=present("slot_preferences", tuple(
            SlotPreference(
                slot=s.slot,
                raises=tuple(_score_from_proto(t, table) for t in s.raises),
                lowers=tuple(_score_from_proto(t, table) for t in s.lowers),
            )
            for s in f.slot_preferences
        )),
        patterns=present("patterns", tuple(
            Pattern(tokens=tuple(table.pattern_tokens(p, f.windows)), token_ids=tuple(table.pattern_ids(p, f.windows)),
                    **_plain_from_proto(p, _PATTERN), activation=table.pattern_activation(p, f.windows))
            for p in f.patterns
        )),
        inhibiting=present("inhibiting", tuple(_window_from_proto(w, table, has_contributions)
                                               for w in f.inhibiting)),
        intervals=present("intervals", tuple(
            Interval(low=i.low, high=i.high, count=i.count, share=i.count / max(1, f.stats.positions),
                     windows=tuple(_window_from_proto(w, table, has_contributions) for w in i.windows))
            for i in f.intervals
        )),
        **_matter_from_proto(f, pb),
        **_plain_from_proto(f, _FILTER),
    )


def _score_from_proto(t: filters_pb2.TokenScore, table: payload.TokenTable) -> TokenScore:
    return TokenScore(token=table.token(t.token_ref), **_plain_from_proto(t, _SCORE))


def _contexts_from_proto(pb: filters_pb2.LayerReport, table: payload.TokenTable) -> dict[int, Context]:
    strings = table.id_strings
    contexts = {}
    found = table.contexts
    for example in found.examples():
        ids = list(found.get(example).token_ids)
        if any(i not in strings for i in ids):
            raise payload.CorruptReport(f"example {example} holds a token id missing from its vocabulary")
        contexts[example] = Context(
            example=example,
            token_ids=tuple(ids),
            tokens=tuple(strings[i] for i in ids),
            padding=tuple(payload.context_padding(pb, ids)),
        )
    return contexts


def _matter_from_proto(f: filters_pb2.FilterReport, layer: filters_pb2.LayerReport) -> dict:
    """Effects and duplicate_of; version 1 reports know none of them."""
    if not payload.knows_effects(layer):
        return {}
    duplicate_of, correlation = payload.duplicate(f)
    return {
        "effects": tuple(Effect(*e) for e in payload.effects(f, layer)),
        "duplicate_of": duplicate_of,
        "duplicate_correlation": correlation,
    }


def _window_from_proto(w: filters_pb2.Window, table: payload.TokenTable, has_contributions: bool) -> Window:
    fields = payload.window_fields(w, table, has_contributions)
    return Window(
        span_start=fields["span_start"],
        token_ids=tuple(fields["token_ids"]),
        tokens=tuple(fields["tokens"]),
        padding=tuple(fields["padding"]),
        contributions=None if fields["contributions"] is None else tuple(fields["contributions"]),
        originals=None if fields["originals"] is None else tuple(fields["originals"]),
        **_plain_from_proto(w, _WINDOW),
    )
