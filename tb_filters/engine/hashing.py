"""Window hashes: one function, written twice, numpy and TensorFlow, side by side.

A window is keyed by a 63-bit hash of its span's token ids (-1 outside the
sequence) and its boundary key (which intermediate positions are padding,
near the edges; receptive.boundary_keys). Each slot is mixed in with a
multiply-xorshift step in uint64, where wrapping around is defined, and the
top bit is dropped, so a hash is never negative and EMPTY_HASH marks an
empty table entry. Two windows of a run share a hash with odds around
n**2 / 2**64.

The compiled step (step.py) hashes every position of each batch in
TensorFlow; `settle` (state.py) recounts windows of merged states from the
token ids alone, in numpy. Both must give the same hash for a window, bit for
bit: tests/engine/test_state.py checks one against the other. This module
imports TensorFlow only inside `tensorflow_window_hashes`, so that state.py
stays numpy-only.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

MIX = 0x9E3779B97F4A7C15  # the golden ratio's 64-bit fraction: odd, bits spread
SHIFT = 29  # xorshift by about half the word, folding high bits back down
EMPTY_HASH = -1
_LOW_63_BITS = 2**63 - 1


def padding(layout: Any, input_length: int) -> tuple[int, int]:
    """(lead, trail): the -1s each side of a row so that every position's span slices in range."""
    span = layout.span
    lead = max(0, -span.offset)
    last_end = (layout.output_length - 1) * span.stride + span.offset + span.width
    return lead, max(0, last_end - input_length)


def _slot_starts(layout: Any, lead: int) -> range:
    """Where each span slot's column starts in a padded row (positions step by the stride from there)."""
    first = lead + layout.span.offset
    return range(first, first + layout.span.width)


def _boundary_slot(layout: Any) -> np.ndarray:
    """The boundary keys, shifted past every token slot's values (ids + 2 >= 1)."""
    return np.asarray(layout.boundary_keys, np.int64) + 2 * layout.output_length + 2


def window_hashes(layout: Any, token_ids: np.ndarray) -> np.ndarray:
    """int64 hashes >= 0 [rows, output_length] of every position's window (numpy)."""
    token_ids = np.asarray(token_ids)
    lead, trail = padding(layout, token_ids.shape[1])
    padded = np.pad(token_ids.astype(np.int64), [(0, 0), (lead, trail)], constant_values=-1)
    stride, extent = layout.span.stride, (layout.output_length - 1) * layout.span.stride + 1
    slots = [(padded[:, s: s + extent: stride] + 2).astype(np.uint64) for s in _slot_starts(layout, lead)]
    slots.append(np.broadcast_to(_boundary_slot(layout).astype(np.uint64), slots[0].shape))
    mix, shift = np.uint64(MIX), np.uint64(SHIFT)
    h = np.zeros(slots[0].shape, np.uint64)
    for slot in slots:
        h = (h ^ slot) * mix
        h ^= h >> shift
    return h.view(np.int64) & np.int64(_LOW_63_BITS)


def example_hashes(token_ids: np.ndarray) -> np.ndarray:
    """int64 [rows]: a hash of each row's token ids, all 64 bits (the signatures' probe fingerprint).
    Each mixing step is a bijection of the running hash, so rows differing in one token always
    hash differently; other pairs collide with odds around 2**-64."""
    columns = np.asarray(token_ids).astype(np.int64).view(np.uint64)
    mix, shift = np.uint64(MIX), np.uint64(SHIFT)
    h = np.full(columns.shape[0], columns.shape[1], np.uint64)
    for column in columns.T:
        h = (h ^ column) * mix
        h ^= h >> shift
    return h.view(np.int64)


def tensorflow_window_hashes(layout: Any, xla: bool) -> Callable:
    """token ids [B, input_length] -> int64 hashes >= 0 [B * output_length]: `window_hashes`
    in TensorFlow, an XLA kernel with `xla`, else traced into the caller's graph."""
    import tensorflow as tf

    def hash_windows(token_ids):
        lead, trail = padding(layout, token_ids.shape[1])
        padded = tf.pad(tf.cast(token_ids, tf.int64), [[0, 0], [lead, trail]], constant_values=-1)
        stride, extent = layout.span.stride, (layout.output_length - 1) * layout.span.stride + 1
        slots = [tf.cast(padded[:, s: s + extent: stride] + 2, tf.uint64) for s in _slot_starts(layout, lead)]
        boundary = tf.cast(tf.constant(_boundary_slot(layout)), tf.uint64)
        slots.append(tf.broadcast_to(boundary, tf.shape(slots[0])))
        mix, shift = tf.constant(MIX, tf.uint64), tf.constant(SHIFT, tf.uint64)
        h = tf.zeros_like(slots[0])
        for slot in slots:
            h = (h ^ slot) * mix
            h = h ^ tf.bitwise.right_shift(h, shift)
        return tf.reshape(tf.bitwise.bitwise_and(tf.bitcast(h, tf.int64), tf.constant(_LOW_63_BITS, tf.int64)), [-1])

    return tf.function(hash_windows, jit_compile=True, autograph=False) if xla else hash_windows


# --- position hashes: the interval samples' uniform, reproducible order --------------------------

# splitmix64's finalizer (Steele, Lea, Flood 2014): a bijection of 64 bits whose every output bit
# depends on every input bit, so hashes of consecutive (example, position) keys look independent.
_SPLITMIX_ADD = 0x9E3779B97F4A7C15
_SPLITMIX_MUL_1 = 0xBF58476D1CE4E5B9
_SPLITMIX_MUL_2 = 0x94D049BB133111EB
# No position hashes to this: it marks an empty sample slot and sorts after every position.
NO_SAMPLE = 2**63 - 1


def position_hashes(examples: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """int64 in [0, NO_SAMPLE) per (global example index, output position): the key
    example * 2**32 + position through splitmix64, top bit dropped (numpy)."""
    key = (np.asarray(examples, np.int64).astype(np.uint64) << np.uint64(32)) + np.asarray(positions).astype(np.uint64)
    z = key + np.uint64(_SPLITMIX_ADD)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_SPLITMIX_MUL_1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_SPLITMIX_MUL_2)
    z ^= z >> np.uint64(31)
    return np.minimum(z.view(np.int64) & np.int64(_LOW_63_BITS), np.int64(NO_SAMPLE - 1))


def tensorflow_position_hashes(examples: Any, positions: Any) -> Any:
    """`position_hashes` in TensorFlow (int64 tensors of one shape), bit for bit."""
    import tensorflow as tf

    def u64(value):
        return tf.constant(value, tf.uint64)

    key = tf.bitwise.left_shift(tf.cast(examples, tf.uint64), u64(32)) + tf.cast(positions, tf.uint64)
    z = key + u64(_SPLITMIX_ADD)
    z = (z ^ tf.bitwise.right_shift(z, u64(30))) * u64(_SPLITMIX_MUL_1)
    z = (z ^ tf.bitwise.right_shift(z, u64(27))) * u64(_SPLITMIX_MUL_2)
    z = z ^ tf.bitwise.right_shift(z, u64(31))
    h = tf.bitwise.bitwise_and(tf.bitcast(z, tf.int64), tf.constant(_LOW_63_BITS, tf.int64))
    return tf.minimum(h, tf.constant(NO_SAMPLE - 1, tf.int64))
