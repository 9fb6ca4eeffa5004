"""The compiled per-batch step: forward pass, statistics and streaming top-k.

One `tf.function` per batch shape computes every requested conv layer, folds
the batch into each layer's running state (statistics and the top-k windows
per filter) and flags non-finite activations. The state stays in TensorFlow
between batches; only the flags come back to Python.

Raw mode keeps the k best (example, position) pairs per filter: the batch's
own top-k, then a top-k over running + batch (running first: its entries come
from earlier examples, so ties stay ordered by example, then position).

Distinct mode keeps the k best distinct token windows. Identical windows give
identical activations, so a window is keyed by a hash of its token ids (and
of which intermediate positions are padding, near the edges). Per batch:
unique hashes in first-occurrence order, their max activation, first
occurrence and count; the counts of windows already in the running state are
added by lookup, and the batch's best new windows compete with the running
ones. Counts are exact: a window in the final top-k ranks in the top-k of the
batch where it first occurs (everything above it there is above it overall),
so it enters the state then and is never evicted afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tb_filters import receptive
from tb_filters.report import HISTOGRAM_EDGES, NUM_BUCKETS

# Two polynomial hashes modulo 31-bit primes, combined into one int64:
# every product stays below 2**62, so nothing relies on overflow.
_PRIMES = (2147483629, 2147483587)
_BASES = (1000003, 999983)
_EMPTY_HASH = -1


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """What the step needs to know about one conv layer (static per trace)."""

    name: str
    num_filters: int
    top_k: int
    distinct: bool
    span: receptive.Span
    output_length: int
    boundary_keys: np.ndarray  # int64 [output_length]

    @property
    def width(self) -> int:
        return self.span.width


def initial_state(plan: LayerPlan) -> dict[str, tf.Tensor]:
    f, k = plan.num_filters, plan.top_k
    state = {
        "value": tf.fill([f, k], tf.constant(-np.inf, tf.float32)),
        "flat": tf.fill([f, k], tf.constant(-1, tf.int64)),  # example * output_length + position
        "tokens": tf.fill([f, k, plan.width], tf.constant(-1, tf.int32)),
        "count": tf.zeros([f, k], tf.int64),
        "sum": tf.zeros([f], tf.float64),
        "max": tf.fill([f], tf.constant(-np.inf, tf.float32)),
        "min": tf.fill([f], tf.constant(np.inf, tf.float32)),
        "positive": tf.zeros([f], tf.int64),
        "histogram": tf.zeros([NUM_BUCKETS, f], tf.int64),
    }
    if plan.distinct:
        state["hash"] = tf.fill([f, k], tf.constant(_EMPTY_HASH, tf.int64))
    return state


def make_step(forward: Callable[[Any], dict[str, Any]], plans: list[LayerPlan]) -> Callable:
    """step(token_ids [B, L] int32, valid_rows, first_example, states) -> (states, bad_flags)."""

    @tf.function(autograph=False)
    def step(token_ids, valid_rows, first_example, states):
        activations = forward(token_ids)
        new_states, flags = {}, {}
        for plan in plans:
            acts = tf.cast(activations[plan.name], tf.float32)
            batch = _Batch(plan, token_ids, acts, valid_rows, first_example)
            new_states[plan.name], flags[plan.name] = _fold(plan, batch, states[plan.name])
        return new_states, flags

    return step


class _Batch:
    """One batch's activations of one layer, flattened to [B * output_length, F]."""

    def __init__(self, plan: LayerPlan, token_ids, acts, valid_rows, first_example):
        self.plan = plan
        self.rows = token_ids.shape[0]
        self.size = self.rows * plan.output_length
        self.flat = tf.reshape(acts, [self.size, plan.num_filters])
        valid = tf.cast(valid_rows, tf.int32) * plan.output_length
        self.full = tf.equal(valid, self.size)
        self.mask = tf.range(self.size) < valid
        self.first_flat = tf.cast(first_example, tf.int64) * plan.output_length
        self.padded_ids, self.lead = _pad_for_spans(plan, token_ids)

    def masked(self, fill: float) -> tf.Tensor:
        """The activations with padded rows replaced by `fill` (no copy for full batches)."""
        return tf.cond(
            self.full,
            lambda: self.flat,
            lambda: tf.where(self.mask[:, None], self.flat, tf.constant(fill, tf.float32)),
        )

    def window_tokens(self, flat_index: tf.Tensor) -> tf.Tensor:
        """Token ids [..., width] of the spans at batch-flat indices (rows * output_length + p)."""
        plan = self.plan
        row = flat_index // plan.output_length
        position = flat_index % plan.output_length
        padded_length = self.padded_ids.shape[1]
        start = row * padded_length + position * plan.span.stride + plan.span.offset + self.lead
        slots = start[..., None] + tf.range(plan.width, dtype=start.dtype)
        return tf.gather(tf.reshape(self.padded_ids, [-1]), slots)


def _pad_for_spans(plan: LayerPlan, token_ids):
    """Token ids with -1 on both sides, so every span slice is in range."""
    length = token_ids.shape[1]
    lead = max(0, -plan.span.offset)
    last_end = (plan.output_length - 1) * plan.span.stride + plan.span.offset + plan.width
    trail = max(0, last_end - length)
    padded = tf.pad(tf.cast(token_ids, tf.int32), [[0, 0], [lead, trail]], constant_values=-1)
    return padded, lead


def _fold(plan: LayerPlan, batch: _Batch, state: dict) -> tuple[dict, tf.Tensor]:
    new = dict(state)
    stats, batch_sum = _fold_stats(batch, state)
    new.update(stats)
    new.update(_fold_distinct(plan, batch, state) if plan.distinct else _fold_raw(plan, batch, state))
    return new, _non_finite(batch, batch_sum)


def _fold_stats(batch: _Batch, state: dict) -> tuple[dict, tf.Tensor]:
    num_filters = batch.plan.num_filters
    zeroed = batch.masked(0.0)
    buckets = tf.raw_ops.Bucketize(input=batch.flat, boundaries=list(HISTOGRAM_EDGES[1:-1]))
    slots = buckets * num_filters + tf.range(num_filters)[None, :]
    cells = NUM_BUCKETS * num_filters
    # Padded rows go to slot `cells`, which bincount drops.
    slots = tf.cond(batch.full, lambda: slots, lambda: tf.where(batch.mask[:, None], slots, cells))
    histogram = tf.math.bincount(tf.reshape(slots, [-1]), minlength=cells, maxlength=cells, dtype=tf.int64)
    # Per example first, then across examples in float64: the rounding error
    # stays that of a short sum, whatever the batch size.
    per_example = tf.reduce_sum(tf.reshape(zeroed, [batch.rows, batch.plan.output_length, num_filters]), axis=1)
    batch_sum = tf.reduce_sum(tf.cast(per_example, tf.float64), axis=0)
    return {
        "sum": state["sum"] + batch_sum,
        "max": tf.maximum(state["max"], tf.reduce_max(batch.masked(-np.inf), axis=0)),
        "min": tf.minimum(state["min"], tf.reduce_min(batch.masked(np.inf), axis=0)),
        "positive": state["positive"] + tf.math.count_nonzero(zeroed > 0, axis=0, dtype=tf.int64),
        "histogram": state["histogram"] + tf.reshape(histogram, [NUM_BUCKETS, num_filters]),
    }, batch_sum


def _non_finite(batch: _Batch, batch_sum: tf.Tensor) -> tf.Tensor:
    """Per filter: any NaN or infinite activation in the batch.

    A finite sum proves every term finite, so the full check only runs when
    the cheap one fails (or the sum itself overflowed).
    """
    return tf.cond(
        tf.reduce_all(tf.math.is_finite(batch_sum)),
        lambda: tf.zeros([batch.plan.num_filters], tf.bool),
        lambda: tf.reduce_any(tf.logical_not(tf.math.is_finite(batch.masked(0.0))), axis=0),
    )


def _top_k_columns(scores: tf.Tensor, k: int) -> tuple[tf.Tensor, tf.Tensor]:
    """tf.math.top_k over the last axis, padding with -inf when it has fewer than k columns."""
    columns = tf.shape(scores)[1]
    scores = tf.cond(
        columns < k,
        lambda: tf.pad(scores, [[0, 0], [0, k - columns]], constant_values=-np.inf),
        lambda: scores,
    )
    return tf.math.top_k(scores, k=k, sorted=True)


def _merge(state: dict, candidates: dict, k: int) -> dict:
    """Top-k of running entries followed by candidates; ties keep the running ones first."""
    joined = {key: tf.concat([state[key], candidates[key]], axis=1) for key in candidates}
    values, order = tf.math.top_k(joined["value"], k=k, sorted=True)
    merged = {key: tf.gather(joined[key], order, batch_dims=1) for key in joined}
    merged["value"] = values
    return merged


def _fold_raw(plan: LayerPlan, batch: _Batch, state: dict) -> dict:
    scores = tf.transpose(batch.masked(-np.inf))
    values, index = _top_k_columns(scores, plan.top_k)
    index = tf.minimum(index, batch.size - 1)  # -inf fillers point anywhere valid
    candidates = {
        "value": values,
        "flat": batch.first_flat + tf.cast(index, tf.int64),
        "tokens": batch.window_tokens(index),
        "count": tf.ones_like(index, tf.int64),
    }
    return _merge(state, candidates, plan.top_k)


def window_hashes(plan: LayerPlan, padded_ids: tf.Tensor, lead: int) -> tf.Tensor:
    """int64 [B, output_length]: a hash of each position's span tokens and boundary key."""
    stride, length = plan.span.stride, plan.output_length
    hashes = [tf.zeros([padded_ids.shape[0], length], tf.int64) for _ in _PRIMES]
    extent = (length - 1) * stride + 1
    starts = [lead + plan.span.offset + j for j in range(plan.width)]
    terms = [padded_ids[:, start: start + extent: stride] for start in starts]
    key = tf.constant(plan.boundary_keys + 2 * length + 2, tf.int64)[None, :]
    for term in terms:
        term64 = tf.cast(term, tf.int64) + 2  # ids >= -1 become terms >= 1
        hashes = [(h * base + term64) % prime for h, base, prime in zip(hashes, _BASES, _PRIMES)]
    hashes = [(h * base + key) % prime for h, base, prime in zip(hashes, _BASES, _PRIMES)]
    return hashes[0] * (1 << 31) + hashes[1]


def _fold_distinct(plan: LayerPlan, batch: _Batch, state: dict) -> dict:
    k = plan.top_k
    hashes = tf.reshape(window_hashes(plan, batch.padded_ids, batch.lead), [-1])
    hashes = tf.where(batch.mask, hashes, tf.constant(_EMPTY_HASH, tf.int64))
    unique, which = tf.unique(hashes)
    num_unique = tf.shape(unique)[0]
    best = tf.transpose(tf.math.unsorted_segment_max(batch.masked(-np.inf), which, num_unique))  # [F, U]
    first = tf.math.unsorted_segment_min(tf.range(batch.size), which, num_unique)
    counts = tf.math.bincount(which, minlength=num_unique, dtype=tf.int64)

    # Windows already kept: add this batch's occurrences, keep their best value.
    order = tf.argsort(unique)
    sorted_unique = tf.gather(unique, order)
    at = tf.minimum(tf.searchsorted(sorted_unique, tf.reshape(state["hash"], [-1])), num_unique - 1)
    found = tf.reshape((tf.gather(sorted_unique, at) == tf.reshape(state["hash"], [-1])), tf.shape(state["hash"]))
    found &= state["hash"] != _EMPTY_HASH
    kept_unique = tf.reshape(tf.gather(order, at), tf.shape(state["hash"]))
    kept = dict(state)
    kept["count"] = state["count"] + tf.where(found, tf.gather(counts, kept_unique), tf.zeros_like(state["count"]))
    kept["value"] = tf.where(found, tf.maximum(state["value"], tf.gather(best, kept_unique, batch_dims=1)),
                             state["value"])

    values, pick = _top_k_columns(best, k)
    pick = tf.minimum(pick, num_unique - 1)
    duplicate = tf.reduce_any((pick[:, :, None] == kept_unique[:, None, :]) & found[:, None, :], axis=2)
    first_index = tf.gather(first, pick)
    candidates = {
        "value": tf.where(duplicate, tf.constant(-np.inf, tf.float32), values),
        "flat": batch.first_flat + tf.cast(first_index, tf.int64),
        "tokens": batch.window_tokens(first_index),
        "count": tf.gather(counts, pick),
        "hash": tf.gather(unique, pick),
    }
    merged = _merge(kept, candidates, k)
    empty = tf.math.is_inf(merged["value"])
    merged["hash"] = tf.where(empty, tf.constant(_EMPTY_HASH, tf.int64), merged["hash"])
    merged["count"] = tf.where(empty, tf.constant(0, tf.int64), merged["count"])
    return merged
