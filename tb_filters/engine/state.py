"""The per-layer state of an interpretation, and `merge(a, b)` (numpy only).

The in-process engine keeps this state in TensorFlow tensors between batches
(step.py) and hands it over as a `LayerState` at the end; the Beam pipeline
builds one per bundle and merges them. assemble.py turns a `LayerState` into a
LayerReport. One state, one merge, whoever computed the parts.

Field kinds
-----------
A state is a set of named numpy arrays, each owned by one field, and every
field has a kind with one merge rule:

    Additive(name, shape, dtype)   a + b          counts, float64 sums, histograms
    Maximum / Minimum(...)         elementwise    extremes
    Windows(prefix, k, ...)        per filter, the k best entries of both sides
                                   by (value, then global flat index
                                   example * output_length + position); with
                                   `distinct`, entries are grouped by window hash
                                   first (counts added, the best value, the first
                                   occurrence's index and payload). `lowest_first`
                                   keeps the k lowest values instead (bottom-k).
    Samples(prefix, s, ...)        per filter and positive histogram bucket, the s
                                   entries of smallest position hash (then global
                                   flat index): a bottom-s by hash, see below.

`layer_fields(layout)` lists a layer's fields, in three groups by who computes
them: `step_fields` (the compiled step builds its initial tensors from their
`empty()` arrays and keeps them under these keys), `sample_fields` (effects.py's
sums) and `count_fields` (interpret.py's token counts). Adding a statistic is
adding a line to its group (a new kind only for a new merge rule);
`LayerState.from_arrays` refuses arrays that no field claims.

Why the merge is exact
----------------------
Additive, Maximum and Minimum fields are exact by construction (integer counts;
float64 sums differ from a one-pass sum by rounding only, ~1e-15 relative).
Raw windows: partial states hold disjoint examples, so their entries are
distinct (example, position) pairs and the k best of the union, under one
total order, is the k best of the whole. Associative and commutative.

Distinct windows are keyed by a hash of their token window, and identical
windows give identical activations (step.py's premise), so a window's value is
a property of the window. Rank windows by (value, first occurrence). A window
W of the global top-k is kept, with its first occurrence, by the partial state
P holding that occurrence: a window ranked above W in P (by the value and the
first occurrence P recorded, never earlier than the true one) is above W
globally, so fewer than k are. Hence every window of the merged top-k is
present, with its global first occurrence and value, and nothing outside the
global top-k can displace it: the windows and their order are exact.

Counts are exact except at the k-th value. A partial P that holds W but did
not keep it had k windows ranked above W, none below W's value; were they all
strictly above, W would not be in the global top-k. So W's value equals P's
k-th value, and, that being at most the merged k-th and W's value at least,
W's value is the merged k-th value. Such ties are real (relu's zeros in a dead
filter rank by first occurrence; the shards that drop such a window don't know
it ranks early elsewhere) and no bounded summary can settle them. So a merge
marks the counts of the windows at its k-th value UNSETTLED (-1: this makes
`merge` associative as well as commutative), and `settle(state, token ids)`
recounts them from the token ids alone by hashing every window, no model
needed: a cheap second pass over the data that the Beam pipeline always runs
and that does nothing when no count is unsettled. Every other count is the sum
of exact per-partial counts: a window above the k-th value of the merge was
above each partial's k-th value, so each partial holding it kept it.

The in-process engine's one stream needs no settling: step.py's argument.

Interval samples are exact for the same reason as raw windows, more simply:
an entry's key (hash of its example and position, then its flat index) and
its bucket are properties of the position alone, partial states hold
disjoint positions, and the s smallest keys of a union are the s smallest of
the parts' s smallest. The kept s are a uniform sample of the bucket's
positions, reproducible, and independent of batching and sharding.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable, Mapping

import numpy as np

from tb_filters.engine import receptive, redundancy
from tb_filters.engine.hashing import EMPTY_HASH, NO_SAMPLE, window_hashes
from tb_filters.errors import FiltersError
from tb_filters.format.report import HISTOGRAM_EDGES, NUM_BUCKETS

UNSETTLED = -1  # a distinct count the merge could not know; `settle` recounts it
# The positive histogram buckets, each an interval of the interval samples: [0, 1/64) (positives only,
# exact zeros counted apart) up to [64, inf).
POSITIVE_BUCKETS = sum(1 for edge in HISTOGRAM_EDGES[:-1] if edge >= 0)
FIRST_POSITIVE_BUCKET = NUM_BUCKETS - POSITIVE_BUCKETS
INHIBITING = "inhibiting_"  # prefix of the bottom-k table of pre-activations (windows that switch a filter off)


@dataclasses.dataclass(frozen=True)
class Layout:
    """One conv layer's state: its shape, and how flat indices map to token spans.
    The compiled step is traced from it (static per trace) and the merge checks it."""

    name: str
    num_filters: int
    top_k: int
    distinct: bool
    span: receptive.Span
    input_length: int  # tokens per example, kept with each table entry
    output_length: int
    boundary_keys: tuple[int, ...]  # per output position (receptive.boundary_keys)
    outputs: int = 0  # model output units with effects in the state (effects.py); 0: none
    inhibiting: bool = False  # keeps the bottom-k table of pre-activations too
    token_count_size: int = 0  # token ids counted (0: none), for slot preferences
    interval_samples: int = 0  # windows sampled per positive histogram bucket (0: no interval samples)
    probe_examples: int = 0  # the signatures' probe: examples below this global index (0: no signatures)

    @property
    def width(self) -> int:
        return self.span.width

    def for_step(self) -> "Layout":
        """Only what the compiled step reads: the sample's outputs and signatures and the token counts
        are computed outside it, so runs differing only there (effects on or off) share one compiled step."""
        return dataclasses.replace(self, outputs=0, token_count_size=0, probe_examples=0)


@dataclasses.dataclass(frozen=True)
class Described:
    """What the report says about the sums besides the numbers (the same for every layer of a run)."""

    output_names: tuple[str, ...] = ()  # empty when effects were not computed
    note: str = ""  # why, then
    duplicate_threshold: float = redundancy.DUPLICATE_THRESHOLD


# --- field kinds ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Elementwise:
    name: str
    shape: tuple[int, ...]
    dtype: Any

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name,)

    def empty(self) -> dict[str, np.ndarray]:
        return {self.name: np.full(self.shape, self.identity, self.dtype)}

    def merge(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {self.name: self.combine(a[self.name], b[self.name]).astype(self.dtype, copy=False)}


class Additive(_Elementwise):
    identity = 0
    combine = staticmethod(np.add)


class Maximum(_Elementwise):
    identity = -np.inf
    combine = staticmethod(np.maximum)


class Minimum(_Elementwise):
    identity = np.inf
    combine = staticmethod(np.minimum)


class _Columns:
    """A field of several arrays (its `columns`), each kept under the field's `prefix`."""

    prefix: str
    columns: tuple[str, ...]

    def key(self, column: str) -> str:
        return self.prefix + column

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.key(c) for c in self.columns)

    def table(self, arrays: Mapping[str, Any]) -> dict[str, Any]:
        """This field's arrays (or the step's tensors) by column name."""
        return {column: arrays[self.key(column)] for column in self.columns}


@dataclasses.dataclass(frozen=True)
class Windows(_Columns):
    """[filters, k] tables: `value` float32, `flat` int64 (example * output_length + position),
    `count` int64, payload columns [filters, k, width] int32 (the engine's: `rows`, each entry's
    whole example, width = input_length), `hash` int64 if distinct.
    Empty entries (fewer windows than k so far) hold the fill values and sort last."""

    filters: int
    k: int
    width: int
    distinct: bool
    prefix: str = ""
    lowest_first: bool = False
    payload: tuple[str, ...] = ("tokens",)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("value", "flat", "count") + self.payload + (("hash",) if self.distinct else ())

    @property
    def empty_value(self) -> float:
        return np.inf if self.lowest_first else -np.inf

    def _fill(self, column: str) -> tuple[Any, Any]:
        if column == "value":
            return self.empty_value, np.float32
        if column == "count":
            return 0, np.int64
        if column == "hash":
            return EMPTY_HASH, np.int64
        if column == "flat":
            return -1, np.int64
        return -1, np.int32

    def empty(self) -> dict[str, np.ndarray]:
        return {self.key(column): table for column, table in self._empty_columns().items()}

    def _empty_columns(self) -> dict[str, np.ndarray]:
        result = {}
        for column in self.columns:
            fill, dtype = self._fill(column)
            shape = (self.filters, self.k, self.width) if column in self.payload else (self.filters, self.k)
            result[column] = np.full(shape, fill, dtype)
        return result

    def canonical(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Empty entries hold the fill values (the engine leaves whatever its last top-k gathered)."""
        found = np.isfinite(arrays[self.key("value")])
        result = {}
        for column in self.columns:
            array = np.asarray(arrays[self.key(column)])
            fill, dtype = self._fill(column)
            mask = found[..., None] if column in self.payload else found
            result[self.key(column)] = np.where(mask, array, fill).astype(dtype)
        return result

    def merge(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        joined = {c: np.concatenate([a[self.key(c)], b[self.key(c)]], axis=1) for c in self.columns}
        entries = _Entries.of(joined, self.payload)
        if self.distinct:
            entries = entries.grouped(self.lowest_first)
        merged = entries.best(self.filters, self.k, self.lowest_first, self._empty_columns())
        result = {self.key(c): merged[c] for c in self.columns}
        if self.distinct:
            count = result[self.key("count")]
            result[self.key("count")] = np.where(self.at_kth(result), UNSETTLED, count)
        return result

    def at_kth(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """[filters, k]: entries of full tables whose value equals the table's k-th value."""
        value = arrays[self.key("value")]
        full = np.isfinite(value[:, -1:])
        return full & (value == value[:, -1:])

    def unsettled(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        return arrays[self.key("count")] == UNSETTLED


@dataclasses.dataclass(frozen=True)
class Samples(_Columns):
    """[filters, POSITIVE_BUCKETS, s] tables, ascending by (`hash`, `flat`): per filter and positive
    histogram bucket, the s positions of smallest hashing.position_hashes among those whose activation
    falls in it. Columns `hash` int64 (NO_SAMPLE when empty), `flat` int64 (-1), `value` float32 (the
    activation; -inf), `rows` [..., width] int32 (the example's token ids; -1)."""

    filters: int
    s: int
    width: int
    prefix: str = "interval_"
    columns: tuple[str, ...] = ("hash", "flat", "value", "rows")

    def empty(self) -> dict[str, np.ndarray]:
        shape = (self.filters, POSITIVE_BUCKETS, self.s)
        return {
            self.key("hash"): np.full(shape, NO_SAMPLE, np.int64),
            self.key("flat"): np.full(shape, -1, np.int64),
            self.key("value"): np.full(shape, -np.inf, np.float32),
            self.key("rows"): np.full(shape + (self.width,), -1, np.int32),
        }

    def merge(self, a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        joined = {c: np.concatenate([a[self.key(c)], b[self.key(c)]], axis=2) for c in self.columns}
        groups, both = self.filters * POSITIVE_BUCKETS, 2 * self.s
        group = np.repeat(np.arange(groups), both)
        order = np.lexsort((joined["flat"].ravel(), joined["hash"].ravel(), group)).reshape(groups, both)
        keep = order[:, : self.s].ravel()
        result = {}
        for column, array in joined.items():
            flat = array.reshape((groups * both,) + array.shape[3:])
            result[self.key(column)] = flat[keep].reshape((self.filters, POSITIVE_BUCKETS, self.s) + array.shape[3:])
        return result


@dataclasses.dataclass
class _Entries:
    """Non-empty table entries as flat columns, with their filter."""

    filter: np.ndarray
    columns: dict[str, np.ndarray]
    payload: tuple[str, ...]

    @classmethod
    def of(cls, joined: dict[str, np.ndarray], payload: tuple[str, ...]) -> "_Entries":
        filters, n = joined["value"].shape
        found = np.isfinite(joined["value"]).ravel()
        flat = {c: (v.reshape(filters * n, -1) if c in payload else v.ravel())[found] for c, v in joined.items()}
        return cls(np.repeat(np.arange(filters), n)[found], flat, payload)

    def grouped(self, lowest_first: bool) -> "_Entries":
        """One entry per (filter, hash): counts added, the best value, the first occurrence."""
        c = self.columns
        order = np.lexsort((c["flat"], c["hash"], self.filter))
        f, h = self.filter[order], c["hash"][order]
        starts = np.flatnonzero(np.r_[True, (f[1:] != f[:-1]) | (h[1:] != h[:-1])]) if len(order) else order
        first = order[starts]
        columns = {name: column[first] for name, column in c.items()}
        if len(order):
            best = np.minimum if lowest_first else np.maximum
            columns["value"] = best.reduceat(c["value"][order], starts)
            columns["count"] = np.add.reduceat(c["count"][order], starts)
            # An unsettled part leaves the whole count unsettled.
            unsettled = np.minimum.reduceat(c["count"][order], starts) == UNSETTLED
            columns["count"] = np.where(unsettled, UNSETTLED, columns["count"])
        return _Entries(self.filter[first], columns, self.payload)

    def best(self, filters: int, k: int, lowest_first: bool, empty: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The k best entries per filter, by value then flat index, into [filters, k] tables."""
        c = self.columns
        value = c["value"].astype(np.float64)
        order = np.lexsort((c["flat"], value if lowest_first else -value, self.filter))
        f = self.filter[order]
        first_of_filter = np.searchsorted(f, np.arange(filters))
        rank = np.arange(len(order)) - first_of_filter[f]
        keep = rank < k
        picked, rows, slots = order[keep], f[keep], rank[keep]
        result = {}
        for column, table in empty.items():
            table[rows, slots] = c[column][picked]
            result[column] = table
        return result


def layer_fields(layout: Layout) -> tuple[Any, ...]:
    """Every field of a layer's state, with its kind."""
    return (step_fields(layout) + sample_fields(layout.num_filters, layout.outputs, layout.probe_examples)
            + count_fields(layout))


def step_fields(layout: Layout) -> tuple[Any, ...]:
    """What the compiled step folds each batch into (step.py): its initial tensors are these
    fields' `empty()` arrays, under these keys."""
    f = layout.num_filters
    fields = (
        Windows(f, layout.top_k, layout.input_length, layout.distinct, payload=ROWS),
        Additive("sum", (f,), np.float64),
        Maximum("max", (f,), np.float32),
        Minimum("min", (f,), np.float32),
        Additive("positive", (f,), np.int64),
        Additive("histogram", (NUM_BUCKETS, f), np.int64),
        Additive("active_examples", (f,), np.int64),  # examples with some activation > 0
    )
    if layout.interval_samples:
        fields += (Samples(f, layout.interval_samples, layout.input_length),)
    if layout.inhibiting:
        fields += (Windows(f, layout.top_k, layout.input_length, layout.distinct, prefix=INHIBITING,
                           lowest_first=True, payload=ROWS),)
    return fields


def interval_samples(layout: Layout) -> Samples | None:
    return next((f for f in step_fields(layout) if isinstance(f, Samples)), None)


def inhibiting_windows(layout: Layout) -> Windows | None:
    return next((f for f in step_fields(layout) if isinstance(f, Windows) and f.lowest_first), None)


def sample_fields(filters: int, outputs: int, probe: int = 0) -> tuple[Any, ...]:
    """The sample (effects.py): sums over the first effect_examples examples by global index, and
    the signatures: per probe example (global index < `probe`) each filter's maximum over positions
    and a hash of its token ids. Each probe row is written by the one part holding its example and
    is 0 elsewhere, so adding parts assembles the rows exactly."""
    return (
        Additive("sample_examples", (), np.int64),
        Additive("sample_sum", (filters,), np.float64),
        Additive("sample_squares", (filters,), np.float64),
        Additive("sample_products", (filters, filters), np.float64),
        *((Additive("effect_sum", (filters, outputs), np.float64),
           Additive("effect_abs_sum", (filters, outputs), np.float64)) if outputs else ()),
        *((Additive("signature", (probe, filters), np.float32),
           Additive("probe_hash", (probe,), np.int64)) if probe else ()),
    )


def count_fields(layout: Layout) -> tuple[Any, ...]:
    """The run's token counts (interpret.py), carried by every layer's state so that merging
    any layer's shards merges them too."""
    return (Additive("token_counts", (layout.token_count_size,), np.int64),) if layout.token_count_size else ()


def empty_arrays(fields: Iterable[Any]) -> dict[str, np.ndarray]:
    """The fields' arrays before any example, by key."""
    arrays: dict[str, np.ndarray] = {}
    for field in fields:
        arrays.update(field.empty())
    return arrays


# Each table entry keeps its example's token ids: its window and its context (step.py).
ROWS = ("rows",)


# --- the state --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class LayerState:
    """One layer's state over some examples (numpy arrays; picklable)."""

    layout: Layout
    examples: int
    arrays: Mapping[str, np.ndarray]

    @property
    def fields(self) -> tuple[Any, ...]:
        return _fields(self.layout)

    @classmethod
    def empty(cls, layout: Layout) -> "LayerState":
        return cls(layout, 0, empty_arrays(_fields(layout)))

    @classmethod
    def from_arrays(cls, layout: Layout, examples: int, arrays: Mapping[str, Any]) -> "LayerState":
        """From the engine's final arrays; every array must belong to a declared field."""
        fields = _fields(layout)
        declared = {key for field in fields for key in field.keys}
        if set(arrays) != declared:
            raise AssertionError(
                f"Expected the state arrays declared in state.layer_fields: {sorted(declared)}. "
                f"Received: {sorted(arrays)} (declare a new array there, with its kind)"
            )
        result: dict[str, np.ndarray] = {}
        for field in fields:
            part = {key: np.asarray(arrays[key]) for key in field.keys}
            result.update(field.canonical(part) if isinstance(field, Windows) else part)
        return cls(layout, int(examples), result)

    def windows(self) -> Windows:
        return next(f for f in self.fields if isinstance(f, Windows) and not f.prefix)

    def inhibiting_windows(self) -> Windows | None:
        """The bottom-k table of pre-activations, when the layout keeps one."""
        return inhibiting_windows(self.layout)

    def unsettled(self) -> dict[str, np.ndarray]:
        """{windows prefix: [filters, k] bool} counts that `settle` must recount."""
        return {f.prefix: f.unsettled(self.arrays) for f in self.fields if isinstance(f, Windows) and f.distinct}

    @property
    def is_settled(self) -> bool:
        return not any(mask.any() for mask in self.unsettled().values())


@functools.lru_cache(maxsize=64)
def _fields(layout: Layout) -> tuple[Any, ...]:
    return layer_fields(layout)


def merge(a: LayerState, b: LayerState) -> LayerState:
    """The state of both parts' examples (disjoint ones). Commutative, associative, deterministic."""
    if a.layout.input_length != b.layout.input_length:
        raise FiltersError(
            f"Expected sequences of one length in every shard. Received sequences of {a.layout.input_length} "
            f"and of {b.layout.input_length} tokens"
        )
    if a.layout != b.layout:
        raise ValueError(f"Expected states of one layer and layout. Received: {a.layout} and {b.layout}")
    arrays: dict[str, np.ndarray] = {}
    for field in a.fields:
        arrays.update(field.merge(a.arrays, b.arrays))
    return LayerState(a.layout, a.examples + b.examples, arrays)


def merge_all(states: Iterable[LayerState]) -> LayerState:
    return functools.reduce(merge, states)


def merge_runs(a: dict[str, LayerState], b: dict[str, LayerState]) -> dict[str, LayerState]:
    """Layer by layer: the states of a whole run (`{layer name: LayerState}`)."""
    if list(a) != list(b):
        raise ValueError(f"Expected states of the same layers. Received: {list(a)} and {list(b)}")
    return {name: merge(a[name], b[name]) for name in a}


# --- settling unsettled counts -------------------------------------------------------------------


def wanted_hashes(state: LayerState) -> np.ndarray:
    """Sorted unique hashes of the windows whose counts are unsettled."""
    parts = [state.arrays[f.key("hash")][f.unsettled(state.arrays)] for f in state.fields
             if isinstance(f, Windows) and f.distinct]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def count_windows(layout: Layout, wanted: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """Occurrences in `token_ids` of each hash in `wanted` (sorted): additive over batches."""
    if not len(wanted):
        return np.zeros(0, np.int64)
    hashes = window_hashes(layout, token_ids).ravel()
    index = np.minimum(np.searchsorted(wanted, hashes), len(wanted) - 1)
    hit = wanted[index] == hashes
    return np.bincount(index[hit], minlength=len(wanted)).astype(np.int64)


def with_counts(state: LayerState, wanted: np.ndarray, counts: np.ndarray) -> LayerState:
    """The state with its unsettled counts replaced by `counts` of `wanted` over all its examples."""
    arrays = dict(state.arrays)
    for field in state.fields:
        if isinstance(field, Windows) and field.distinct:
            mask = field.unsettled(arrays)
            hashes = arrays[field.key("hash")]
            found = counts[np.searchsorted(wanted, hashes[mask])] if mask.any() else np.zeros(0, np.int64)
            count = arrays[field.key("count")].copy()
            count[mask] = found
            arrays[field.key("count")] = count
    return LayerState(state.layout, state.examples, arrays)


def settle(state: LayerState, batches: Iterable[np.ndarray]) -> LayerState:
    """Recounts the unsettled counts over every token-id batch of the state's examples."""
    wanted = wanted_hashes(state)
    if not len(wanted):
        return state
    counts = np.zeros(len(wanted), np.int64)
    for batch in batches:
        counts += count_windows(state.layout, wanted, batch)
    return with_counts(state, wanted, counts)
