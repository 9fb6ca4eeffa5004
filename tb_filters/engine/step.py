"""The compiled per-batch step: forward pass, statistics and streaming top-k.

One `tf.function` per batch shape computes every requested conv layer, folds
the batch into each layer's running state (statistics and the top-k windows
per filter) and flags non-finite activations. The state stays in TensorFlow
between batches; only the flags come back to Python.

Statistics: sums, maxima and minima per example in one pass; the histogram
by another that turns every activation into a (bucket, filter) slot from its
exponent bits, then one bincount. For large runs these passes, the window
hashes and the top-k merge are XLA kernels; small runs trace the same bodies
into the step's graph, since compiling costs more than it saves there.

Raw mode keeps the k best (example, position) pairs per filter. The k best
pairs of a batch lie in the k examples with the best maxima (any other
example has k better examples, each with a better pair), so only those
examples' positions go through top-k; merging running + batch candidates
(running first: its entries come from earlier examples) keeps ties ordered by
example, then position. Each kept entry holds its whole example's token ids
(`rows`), so the report can show a window in its context without a second pass.

Inhibiting windows are the same tables run on the negated pre-activations (the
conv's output before its activation function): the k lowest, with the same
tie order, exactness and memory.

The state is state.py's declaration: each layer's tensors are the `empty()`
arrays of `state.step_fields`, under their keys, and hold what those fields
declare between batches.

Distinct mode keeps the k best distinct token windows. Identical windows give
identical activations, so a window is keyed by a 63-bit hash of its token ids
(and of which intermediate positions are padding, near the edges; hashing.py);
two windows of a run share a hash with odds around n**2 / 2**64. Only positions
where some filter reaches its current k-th value matter: a kept window is at
least its filter's k-th, and a new one must beat it. They are found through
the examples whose maximum reaches it (few, once the state is full), grouped
by window with the kept windows in one `tf.unique`, and counted. Counts are
exact: a window in the final top-k ranks in the top-k of the batch where it
first occurs (everything above it there is above it overall), so it enters
the state then, is never evicted, and is counted in every batch after. A
window's activation is its best value in that first batch.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tb_filters.engine import hashing
from tb_filters.engine import state as state_lib
from tb_filters.engine.state import Layout
from tb_filters.format.report import HISTOGRAM_EDGES, NUM_BUCKETS

# Identical windows may differ in the last bits between positions (a conv
# may round a border position differently); counting looks this far below
# the k-th value, relative to the filter's scale, so no occurrence is missed.
_ROUNDING_MARGIN = 1e-5


def initial_state(layout: Layout) -> dict[str, tf.Tensor]:
    """The layer's step fields (state.step_fields) before any example, as tensors under their keys."""
    return {key: tf.constant(array) for key, array in state_lib.empty_arrays(state_lib.step_fields(layout)).items()}


def initial_states(layouts: list[Layout]) -> dict[str, Any]:
    """Every layer's state."""
    return {"layers": {layout.name: initial_state(layout) for layout in layouts}}


def make_step(forward: Callable[..., dict[str, Any]], layouts: list[Layout], xla: bool = True) -> Callable:
    """step(token_ids [B, L] int32, valid_rows, first_example, states, tables) -> (states, bad_flags,
    activations); `tables` {conv name: projection table} feed the convs `forward` gathers (tables.py).

    `activations` {layer: float32 [B, output_length, F]} are the forward pass's, handed out so
    the effects' sample (effects.Sample) reads them instead of running the model a second time.

    `forward` gives (activations, pre-activations) per layer when some layout
    keeps inhibiting windows. `xla` fuses the statistics, hashing and merging
    into XLA kernels: faster per batch, but compiling them costs about half a
    second, more than a small run saves.
    """
    fold = _fold_layers(layouts, xla)

    @tf.function(autograph=False)
    def step(token_ids, valid_rows, first_example, states, tables):
        outputs = forward(token_ids, tables)
        states, flags = fold(token_ids, outputs, valid_rows, first_example, states)
        return states, flags, activations_of(outputs, layouts)

    return step


def activations_of(outputs: dict[str, Any], layouts: list[Layout]) -> dict[str, Any]:
    """Each layer's float32 activations from the forward pass's outputs (pairs with pre-activations
    for a layout keeping inhibiting windows)."""
    return {layout.name: tf.cast(outputs[layout.name][0] if layout.inhibiting else outputs[layout.name], tf.float32)
            for layout in layouts}


def make_fold(layouts: list[Layout], xla: bool = True) -> Callable:
    """fold(token_ids, activations {layer: [B, output_length, F]}, valid_rows, first_example, states)
    -> (states, bad_flags): the step for activations computed outside TensorFlow (another Keras backend).
    A layout keeping inhibiting windows takes (activations, pre-activations) for its layer."""
    return tf.function(_fold_layers(layouts, xla), autograph=False)


def _fold_layers(layouts: list[Layout], xla: bool) -> Callable:
    kernels = _XLA_KERNELS if xla else _PLAIN_KERNELS

    def fold(token_ids, outputs, valid_rows, first_example, states):
        layers, flags = {}, {}
        for layout in layouts:
            acts, pre = outputs[layout.name] if layout.inhibiting else (outputs[layout.name], None)
            batch = _Batch(layout, token_ids, tf.cast(acts, tf.float32), valid_rows, first_example, kernels)
            state = states["layers"][layout.name]
            layers[layout.name], flags[layout.name] = _fold(layout, batch, state)
            if layout.inhibiting:
                layers[layout.name].update(_fold_inhibiting(layout, batch.negated(tf.cast(pre, tf.float32)), state))
        return {"layers": layers}, flags

    return fold


class _Batch:
    """One batch's activations of one layer: [B, output_length, F] and flat [B * output_length, F]."""

    def __init__(self, layout: Layout, token_ids, acts, valid_rows, first_example, kernels: "_Kernels"):
        self.layout = layout
        self.kernels = kernels
        self.rows = token_ids.shape[0]
        self.size = self.rows * layout.output_length
        self.acts = acts
        self.flat = tf.reshape(acts, [self.size, layout.num_filters])
        self.valid_rows = tf.cast(valid_rows, tf.int32)
        self.mask = tf.range(self.size) < self.valid_rows * layout.output_length
        self.first_flat = tf.cast(first_example, tf.int64) * layout.output_length
        self.token_ids = token_ids
        self._hashes: dict[str, tf.Tensor] = {}  # shared with negated(): one hashing per batch

    def negated(self, values) -> "_Batch":
        """The same batch and windows with -values as activations."""
        other = copy.copy(self)
        other.acts = -values
        other.flat = tf.reshape(other.acts, [self.size, self.layout.num_filters])
        return other

    def window_hashes(self) -> tf.Tensor:
        if "all" not in self._hashes:
            self._hashes["all"] = hashing.tensorflow_window_hashes(self.layout, self.kernels.xla)(self.token_ids)
        return self._hashes["all"]

    def example_rows(self, flat_index: tf.Tensor) -> tf.Tensor:
        """Token ids [..., input_length] of the examples of batch-flat indices."""
        return tf.gather(tf.cast(self.token_ids, tf.int32), flat_index // self.layout.output_length)


def _fold(layout: Layout, batch: _Batch, state: dict) -> tuple[dict, tf.Tensor]:
    stats = _batch_stats(batch)
    new = dict(state)
    new.update(_fold_stats(layout, stats, state))
    fold_top_k = _fold_distinct if layout.distinct else _fold_raw
    new.update(fold_top_k(layout, batch, stats, state))
    if layout.interval_samples:
        new.update(_fold_intervals(layout, batch, stats, state))
    return new, _non_finite(batch, stats)


# --- statistics ---------------------------------------------------------------------------------


def _histogram_layout() -> tuple[int, int, int]:
    """(lowest exponent, number of magnitudes, bucket of [0, 2**lowest)).

    The edges are -inf, -2**hi .. -2**lo, 0, 2**lo .. 2**hi, inf, so a
    value's bucket follows from its float32 exponent bits, with no search.
    """
    positive = [e for e in HISTOGRAM_EDGES if 0 < e < np.inf]
    lowest = int(np.log2(positive[0]))
    powers = [2.0 ** (lowest + i) for i in range(len(positive))]
    mirrored = [-np.inf] + [-e for e in reversed(powers)] + [0.0] + powers + [np.inf]
    if list(HISTOGRAM_EDGES) != mirrored:
        raise AssertionError("stream._buckets assumes power-of-two HISTOGRAM_EDGES mirrored around 0")
    return lowest, len(powers), len(powers) + 1


_LOWEST_EXPONENT, _MAGNITUDES, _ZERO_BUCKET = _histogram_layout()
_EXACT_ZERO = NUM_BUCKETS  # an extra slot, split off the zero bucket to count positives


def _buckets(x: tf.Tensor) -> tf.Tensor:
    """HISTOGRAM_EDGES bucket of every value: bucket i holds [edges[i], edges[i + 1])."""
    magnitude_bits = tf.bitwise.bitwise_and(tf.bitcast(x, tf.int32), 0x7FFFFFFF)
    negative = tf.cast(x < 0, tf.int32)
    # A negative power of two opens the bucket below it ([-1, -0.5) holds -1): step it down by one ulp.
    exponent = tf.bitwise.right_shift(magnitude_bits - negative, 23)
    steps = tf.clip_by_value(exponent - (126 + _LOWEST_EXPONENT), 0, _MAGNITUDES)
    return _ZERO_BUCKET + steps - negative * (1 + 2 * steps)


def _histogram_slots(acts, valid_rows):
    """bucket * F + filter per activation (exact zeros in an extra bucket), one fusable
    pass; padding rows get a slot past the end, which bincount drops."""
    rows, _, filters = acts.shape
    bucket = tf.where(acts == 0, _EXACT_ZERO, _buckets(acts))
    slots = bucket * filters + tf.range(filters)
    valid = (tf.range(rows) < valid_rows)[:, None, None]
    return tf.reshape(tf.where(valid, slots, (NUM_BUCKETS + 1) * filters), [-1])


@dataclasses.dataclass
class _BatchStats:
    example_sums: tf.Tensor  # [B, F], 0 on padding rows
    example_maxima: tf.Tensor  # [B, F], -inf on padding rows
    minimum: tf.Tensor  # [F]
    counts: tf.Tensor  # [NUM_BUCKETS + 1, F] int64: histogram, exact zeros apart


def _batch_stats(batch: _Batch) -> _BatchStats:
    filters = batch.layout.num_filters
    cells = (NUM_BUCKETS + 1) * filters
    slots = batch.kernels.histogram_slots(batch.acts, batch.valid_rows)
    # The raw op: tf.math.bincount would first scan every slot for its maximum.
    counts = tf.raw_ops.DenseBincount(input=slots, size=cells, weights=tf.zeros([0], tf.int32))
    sums, maxima, minima = batch.kernels.example_reductions(batch.acts, batch.valid_rows)
    return _BatchStats(
        example_sums=sums,
        example_maxima=maxima,
        minimum=tf.reduce_min(minima, axis=0),
        counts=tf.reshape(tf.cast(counts, tf.int64), [NUM_BUCKETS + 1, filters]),
    )


def _example_reductions(acts, valid_rows):
    """Sum, max and min over each example's positions, in one fused pass; padding
    rows give 0, -inf and inf. Padding rows are replaced after reducing, not
    before: a select per activation made the pass 4x slower under XLA."""
    valid = (tf.range(acts.shape[0]) < valid_rows)[:, None]
    return (
        tf.where(valid, tf.reduce_sum(acts, axis=1), 0.0),
        tf.where(valid, tf.reduce_max(acts, axis=1), -np.inf),
        tf.where(valid, tf.reduce_min(acts, axis=1), np.inf),
    )


def _fold_stats(layout: Layout, stats: _BatchStats, state: dict) -> dict:
    exact_zeros = stats.counts[_EXACT_ZERO]
    zero_row = tf.one_hot(_ZERO_BUCKET, NUM_BUCKETS, dtype=tf.int64)[:, None]
    histogram = stats.counts[:NUM_BUCKETS] + zero_row * exact_zeros
    return {
        # Per example first, then across examples in float64: the rounding
        # error stays that of a short sum, whatever the batch size.
        "sum": state["sum"] + tf.reduce_sum(tf.cast(stats.example_sums, tf.float64), axis=0),
        "max": tf.maximum(state["max"], tf.reduce_max(stats.example_maxima, axis=0)),
        "min": tf.minimum(state["min"], stats.minimum),
        # The zero bucket's row holds only the small positives now.
        "positive": state["positive"] + tf.reduce_sum(stats.counts[_ZERO_BUCKET:NUM_BUCKETS], axis=0),
        "histogram": state["histogram"] + histogram,
        "active_examples": state["active_examples"] + tf.reduce_sum(
            tf.cast(stats.example_maxima > 0, tf.int64), axis=0),  # padding rows hold -inf
    }


def _non_finite(batch: _Batch, stats: _BatchStats) -> tf.Tensor:
    """Per filter: any NaN or infinite activation in the batch.

    A finite sum proves every term finite, so the full check only runs when
    the cheap one fails (or the sum itself overflowed).
    """
    sums = tf.reduce_sum(stats.example_sums, axis=0)
    return tf.cond(
        tf.reduce_all(tf.math.is_finite(sums)),
        lambda: tf.zeros([batch.layout.num_filters], tf.bool),
        lambda: tf.reduce_any(tf.logical_not(tf.math.is_finite(tf.boolean_mask(batch.flat, batch.mask))), axis=0),
    )


# --- top-k ----------------------------------------------------------------------------------------


def _top_k_columns(scores: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    """tf.math.top_k over the last axis, padding with -inf when it has fewer than k columns."""
    if scores.shape[1] is not None:  # known when tracing: no branch in the graph
        if scores.shape[1] < k:
            scores = tf.pad(scores, [[0, 0], [0, k - scores.shape[1]]], constant_values=-np.inf)
        return tf.math.top_k(scores, k=k, sorted=True)
    columns = tf.shape(scores)[1]
    scores = tf.cond(
        columns < k,
        lambda: tf.pad(scores, [[0, 0], [0, k - columns]], constant_values=-np.inf),
        lambda: scores,
    )
    return tf.math.top_k(scores, k=k, sorted=True)


def _merge(state: dict, candidates: dict) -> dict:
    """Top-k of running entries followed by candidates; ties keep the running ones first.

    Entries left at -inf are empty (fewer windows than k so far): count 0, empty hash.
    With XLA, one kernel instead of a dozen small ops.
    """
    k = state["value"].shape[1]
    joined = {key: tf.concat([state[key], candidates[key]], axis=1) for key in candidates}
    values, order = tf.math.top_k(joined["value"], k=k, sorted=True)
    merged = {key: tf.gather(joined[key], order, batch_dims=1) for key in joined}
    merged["value"] = values
    empty = tf.math.is_inf(values)
    merged["count"] = tf.where(empty, tf.constant(0, tf.int64), merged["count"])
    if "hash" in merged:
        merged["hash"] = tf.where(empty, tf.constant(hashing.EMPTY_HASH, tf.int64), merged["hash"])
    return merged


def _fold_raw(layout: Layout, batch: _Batch, stats: _BatchStats, state: dict) -> dict:
    k, length, filters = layout.top_k, layout.output_length, layout.num_filters
    # The k examples with the best maxima per filter, in example order so that ties stay ordered.
    examples = tf.sort(tf.math.top_k(tf.transpose(stats.example_maxima), k=min(k, batch.rows)).indices, axis=1)
    positions = tf.range(length)
    flat = examples[:, :, None] * length + positions  # [F, k', L] batch-flat indices
    index_type = tf.int32 if batch.size * filters < 2**31 else tf.int64
    element = tf.cast(flat, index_type) * filters + tf.range(filters, dtype=index_type)[:, None, None]
    values = tf.gather(tf.reshape(batch.acts, [-1]), element)
    values = tf.where((examples < batch.valid_rows)[:, :, None], values, -np.inf)
    values, pick = _top_k_columns(tf.reshape(values, [filters, -1]), k)
    index = tf.gather(tf.reshape(flat, [filters, -1]), tf.minimum(pick, tf.shape(flat)[1] * length - 1), batch_dims=1)
    candidates = {
        "value": values,
        "flat": batch.first_flat + tf.cast(index, tf.int64),
        "rows": batch.example_rows(index),
        "count": tf.ones_like(index, tf.int64),
    }
    return batch.kernels.merge({key: state[key] for key in candidates}, candidates)


def _rows_reaching(layout: Layout, batch: _Batch, stats: "_BatchStats", floor: tf.Tensor, kth: tf.Tensor):
    """Batch-flat positions, ascending, where some filter reaches `floor`, and whether
    some filter there beats `kth`. Only examples whose maximum reaches the floor are
    looked at: once the state is full these are few."""
    valid = tf.range(batch.rows) < batch.valid_rows
    examples = tf.where(tf.reduce_any(stats.example_maxima >= floor, axis=1) & valid)[:, 0]
    block = tf.gather(batch.acts, examples)  # [E, L, F]
    where = tf.where(tf.reduce_any(block >= floor, axis=2))
    rows = tf.gather(examples, where[:, 0]) * layout.output_length + where[:, 1]
    beats = tf.gather_nd(tf.reduce_any(block > kth, axis=2), where)
    return rows, beats


def _fold_distinct(layout: Layout, batch: _Batch, stats: "_BatchStats", state: dict) -> dict:
    k, filters = layout.top_k, layout.num_filters
    kth = state["value"][:, k - 1]
    # Every occurrence of a kept window is at least its filter's k-th value, and a
    # new window must beat it: so only positions reaching some k-th value matter.
    floor = kth - _ROUNDING_MARGIN * (tf.abs(kth) + tf.abs(state["value"][:, 0]))
    rows, beats = _rows_reaching(layout, batch, stats, floor, kth)

    # One numbering of kept windows and the rows' windows: counts for both at once.
    row_hashes = tf.gather(batch.window_hashes(), rows)
    unique, which = tf.unique(tf.concat([tf.reshape(state["hash"], [-1]), row_hashes], axis=0))
    kept_ids = tf.reshape(which[: filters * k], [filters, k])
    row_ids = which[filters * k:]
    counts = tf.math.bincount(row_ids, minlength=tf.shape(unique)[0], dtype=tf.int64)
    kept = dict(state)
    kept["count"] = state["count"] + tf.gather(counts, kept_ids)  # the empty hash is in no row

    # New candidates: the windows at rows beating some k-th value, best first.
    beating = tf.where(beats)[:, 0]
    new_ids, group = tf.unique(tf.gather(row_ids, beating))  # first-occurrence order
    groups = tf.shape(new_ids)[0]
    beating_rows = tf.gather(rows, beating)
    best = tf.transpose(tf.math.unsorted_segment_max(tf.gather(batch.flat, beating_rows), group, groups))
    first = tf.math.unsorted_segment_min(tf.cast(beating_rows, tf.int32), group, groups)

    values, pick = _top_k_columns(best, k)
    # -inf fillers (fewer groups than k, maybe none) point at one spare entry.
    pick = tf.minimum(pick, groups)
    candidate_ids = tf.gather(tf.concat([new_ids, kept_ids[:1, 0]], axis=0), pick)
    first_index = tf.gather(tf.concat([first, [0]], axis=0), pick)
    kept_already = tf.reduce_any(candidate_ids[:, :, None] == kept_ids[:, None, :], axis=2)
    candidates = {
        "value": tf.where(kept_already | (values <= kth[:, None]), tf.constant(-np.inf, tf.float32), values),
        "flat": batch.first_flat + tf.cast(first_index, tf.int64),
        "rows": batch.example_rows(first_index),
        "count": tf.gather(counts, candidate_ids),
        "hash": tf.gather(unique, candidate_ids),
    }
    return batch.kernels.merge({key: kept[key] for key in candidates}, candidates)


# --- interval samples ------------------------------------------------------------


# A batch's own hash bound lets through about this many positions per (filter, bucket); fewer
# than the s wanted (s <= 5) happens with odds below e**-25 (Chernoff), and then the batch is
# selected again without it (exact either way).
_EXPECTED_PER_BUCKET = 60


def _fold_intervals(layout: Layout, batch: _Batch, stats: "_BatchStats", state: dict) -> dict:
    """Per filter and positive bucket, the s smallest (position hash, flat index) of the state
    and the batch (state.Samples).

    Only positions hashing at most their (filter, bucket)'s bound can enter: the state's s-th
    hash once it holds s (most buckets after a batch or two, leaving a handful of candidates), else
    a bound that about _EXPECTED_PER_BUCKET of the batch's positions in the bucket pass (hashes are
    uniform: E / count of the hash range). One fused pass over the batch finds the positions with
    some candidate; only those are looked at again. If a batch bound let fewer than s through
    where more existed, the batch is selected again with the state's bounds alone."""
    field = state_lib.interval_samples(layout)
    table = field.table(state)
    s, filters, buckets = field.s, layout.num_filters, state_lib.POSITIVE_BUCKETS
    no_sample = tf.constant(hashing.NO_SAMPLE, tf.int64)
    state_bound = tf.transpose(table["hash"][:, :, s - 1])  # [buckets, F]; NO_SAMPLE until s are kept
    in_batch = stats.counts[_ZERO_BUCKET:NUM_BUCKETS]  # [buckets, F], exact zeros counted apart
    share = _EXPECTED_PER_BUCKET / tf.cast(tf.maximum(in_batch, 1), tf.float64)
    batch_bound = tf.where(in_batch > _EXPECTED_PER_BUCKET, tf.cast(share * 2.0**63, tf.int64), no_sample)
    first_example = batch.first_flat // layout.output_length

    def candidates(bound):
        has = batch.kernels.interval_positions(batch.acts, first_example, batch.valid_rows, bound)
        positions = tf.where(tf.reshape(has, [-1]))[:, 0]
        acts = tf.gather(batch.flat, positions)
        hashes = hashing.tensorflow_position_hashes(first_example + positions // layout.output_length,
                                                    positions % layout.output_length)
        where = tf.where(_below_bound(acts, hashes, bound))
        values = tf.gather_nd(acts, where)
        bucket = _buckets(values) - _ZERO_BUCKET
        return (tf.gather(positions, where[:, 0]), tf.cast(where[:, 1], tf.int32) * buckets + bucket,
                tf.gather(hashes, where[:, 0]), values)

    found = candidates(tf.minimum(state_bound, batch_bound))
    counted = tf.transpose(tf.reshape(
        tf.math.unsorted_segment_sum(tf.ones_like(found[1]), found[1], filters * buckets), [filters, buckets]))
    below = tf.transpose(tf.reduce_sum(tf.cast(table["hash"] <= tf.transpose(batch_bound)[:, :, None], tf.int32), 2))
    wanting = (batch_bound < state_bound) & (counted + below < s) & (counted < tf.cast(in_batch, tf.int32))
    position, group, hashes, values = tf.cond(tf.reduce_any(wanting), lambda: candidates(state_bound), lambda: found)
    batch_entries = {"hash": hashes, "flat": batch.first_flat + position, "value": values}
    return {field.key(column): value for column, value in
            _smallest_hashes(layout, batch, table, batch_entries, group, position, s).items()}


def _below_bound(acts, hashes, bound):
    """[N, F]: positive activations whose position hash is at most their (bucket, filter)'s bound."""
    filters = acts.shape[-1]
    bucket = tf.clip_by_value(_buckets(acts) - _ZERO_BUCKET, 0, state_lib.POSITIVE_BUCKETS - 1)
    limit = tf.gather(tf.reshape(bound, [-1]), bucket * filters + tf.range(filters))
    return (acts > 0) & (hashes[:, None] <= limit)


def _interval_positions(acts, first_example, valid_rows, bound):
    """[B, L]: valid positions where some filter is a candidate (one fusable pass over the batch)."""
    rows, length, filters = acts.shape
    example = first_example + tf.range(rows, dtype=tf.int64)[:, None]
    hashes = hashing.tensorflow_position_hashes(tf.broadcast_to(example, [rows, length]),
                                                tf.broadcast_to(tf.range(length, dtype=tf.int64), [rows, length]))
    below = tf.reshape(_below_bound(tf.reshape(acts, [-1, filters]), tf.reshape(hashes, [-1]), bound),
                       [rows, length, filters])
    return tf.reduce_any(below, axis=2) & (tf.range(rows) < valid_rows)[:, None]


def _smallest_hashes(layout: Layout, batch: _Batch, table: dict, batch_entries: dict, group, position, s: int) -> dict:
    """The s smallest (hash, flat) per group of the kept entries and the candidates, ascending."""
    groups = layout.num_filters * state_lib.POSITIVE_BUCKETS
    kept = {column: tf.reshape(table[column], [-1]) for column in ("hash", "flat", "value")}
    hashes = tf.concat([kept["hash"], batch_entries["hash"]], axis=0)
    flats = tf.concat([kept["flat"], batch_entries["flat"]], axis=0)
    values = tf.concat([kept["value"], batch_entries["value"]], axis=0)
    groups_of = tf.concat([tf.repeat(tf.range(groups), s), group], axis=0)
    entries = tf.shape(hashes, out_type=tf.int64)[0]
    largest = tf.constant(np.iinfo(np.int64).max, tf.int64)
    picks = []
    for _ in range(s):
        smallest = tf.math.unsorted_segment_min(hashes, groups_of, groups)
        at_smallest = hashes == tf.gather(smallest, groups_of)
        first = tf.math.unsorted_segment_min(tf.where(at_smallest, flats, largest), groups_of, groups)
        picked = at_smallest & (flats == tf.gather(first, groups_of)) & (hashes < hashing.NO_SAMPLE)
        picks.append(tf.math.unsorted_segment_min(tf.where(picked, tf.range(entries), entries), groups_of, groups))
        hashes = tf.where(picked, largest, hashes)
    pick = tf.stack(picks, axis=1)  # [groups, s]: an entry, or `entries` for none
    empty = pick >= entries
    pick = tf.minimum(pick, entries - 1)
    all_hashes = tf.concat([kept["hash"], batch_entries["hash"]], axis=0)
    kept_count = tf.cast(groups * s, tf.int64)
    from_batch = pick >= kept_count
    kept_rows = tf.gather(tf.reshape(table["rows"], [groups * s, -1]), tf.minimum(pick, kept_count - 1))
    batch_rows = batch.example_rows(tf.gather(tf.concat([position, [0]], axis=0),
                                              tf.clip_by_value(pick - kept_count, 0, tf.shape(position, tf.int64)[0])))
    shape = [layout.num_filters, state_lib.POSITIVE_BUCKETS, s]
    return {
        "hash": tf.reshape(tf.where(empty, tf.constant(hashing.NO_SAMPLE, tf.int64), tf.gather(all_hashes, pick)),
                           shape),
        "flat": tf.reshape(tf.where(empty, tf.constant(-1, tf.int64), tf.gather(flats, pick)), shape),
        "value": tf.reshape(tf.where(empty, tf.constant(-np.inf, tf.float32), tf.gather(values, pick)), shape),
        "rows": tf.reshape(tf.where(empty[..., None], -1, tf.where(from_batch[..., None], batch_rows, kept_rows)),
                           shape + [-1]),
    }


# --- inhibiting windows ---------------------------------------------------------


def _fold_inhibiting(layout: Layout, negated: _Batch, state: dict) -> dict:
    """The top-k fold on negated pre-activations: the k lowest, same ties, same memory.

    The top-k fold keeps the k highest; the k lowest pre-activations are the k highest of
    their negations, in the same tie order (value, then flat index). The table goes through
    the fold negated and comes back as state.py declares it (the pre-activations, lowest
    first, +inf when empty): negating a float is exact, and the state needs no translation.
    """
    field = state_lib.inhibiting_windows(layout)
    table = field.table(state)
    table["value"] = -table["value"]
    maxima = _example_maxima(negated.acts, negated.valid_rows)
    stats = _BatchStats(example_sums=None, example_maxima=maxima, minimum=None, counts=None)
    fold_top_k = _fold_distinct if layout.distinct else _fold_raw
    table.update(fold_top_k(layout, negated, stats, table))
    table["value"] = -table["value"]
    return {field.key(column): table[column] for column in field.columns}


def _example_maxima(acts, valid_rows):
    valid = (tf.range(acts.shape[0]) < valid_rows)[:, None]
    return tf.where(valid, tf.reduce_max(acts, axis=1), -np.inf)


@dataclasses.dataclass(frozen=True)
class _Kernels:
    """The step's fusable parts: XLA kernels, or the same bodies traced into the step's graph."""

    xla: bool
    histogram_slots: Callable
    example_reductions: Callable
    merge: Callable
    interval_positions: Callable


def _kernels(xla: bool) -> _Kernels:
    functions = (_histogram_slots, _example_reductions, _merge, _interval_positions)
    if xla:
        functions = tuple(tf.function(f, jit_compile=True, autograph=False) for f in functions)
    return _Kernels(xla, *functions)


_XLA_KERNELS = _kernels(xla=True)
_PLAIN_KERNELS = _kernels(xla=False)
