"""Per-token contributions to a conv filter's pre-activation, for the final windows.

For a conv fed by the embedding (through padding, cropping and per-position
layers only), its input at a position is a function of one token, or of
nothing when the position is padding. Slot j of a window then contributes
dot(kernel[j // dilation, :, f], input vector at slot j) when j is a kernel
tap, 0 otherwise; the contributions plus the bias are the pre-activation.
"""

from __future__ import annotations

import keras
import numpy as np

from tb_filters.engine import receptive
from tb_filters.engine.chains import Chain, pair

_FILTER_CHUNK = 64  # bounds the [filters, k, width, channels] gather


def contributions(chain: Chain, input_length: int, positions: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """float32 [F, k, width] for windows at `positions` [F, k] with span `token_ids` [F, k, width]."""
    conv = chain.conv
    steps = chain.steps(input_length)
    conv_input_length = receptive.lengths(steps[:-1], input_length)[-1]
    conv_step = steps[-1]
    vectors, slot_rows = _slot_vectors(chain, input_length, conv_input_length, conv_step, positions, token_ids)
    kernel = conv.kernel.numpy().astype(np.float32)  # [taps, channels, F]
    taps = _taps_per_slot(kernel, conv_step.dilation)  # [width, channels, F]
    result = np.zeros(token_ids.shape, np.float32)
    for start in range(0, kernel.shape[2], _FILTER_CHUNK):
        chunk = slice(start, start + _FILTER_CHUNK)
        gathered = vectors[slot_rows[chunk]]  # [f, k, width, channels]
        result[chunk] = np.einsum("fkwc,wcf->fkw", gathered, taps[:, :, chunk])
    return result


def _taps_per_slot(kernel: np.ndarray, dilation: int) -> np.ndarray:
    """The kernel spread over the span's slots: zeros between dilated taps."""
    num_taps, channels, filters = kernel.shape
    width = (num_taps - 1) * dilation + 1
    taps = np.zeros((width, channels, filters), np.float32)
    taps[::dilation] = kernel
    return taps


def _slot_vectors(chain, input_length, conv_input_length, conv_step, positions, token_ids):
    """A table of conv-input vectors and, per window slot, its row in the table.

    Row 0 is the zero vector (the conv's own padding), then one row per
    padding layer in the chain, then one row per distinct token id.
    """
    origin = _conv_input_origins(chain, input_length)
    width = token_ids.shape[-1]
    conv_positions = positions[..., None] * conv_step.stride - conv_step.left_pad + np.arange(width)
    inside = (conv_positions >= 0) & (conv_positions < conv_input_length)
    slot_origin = np.where(inside, origin[np.clip(conv_positions, 0, conv_input_length - 1)], -2)

    pad_layers = sorted(set(origin[origin >= 0].tolist()))
    used_ids = np.unique(token_ids[slot_origin == -1])
    per_position = chain.layers[1:-1]
    embeddings = chain.embedding.embeddings
    channels = int(embeddings.shape[1])
    rows = [np.zeros((1, channels), np.float32)]
    rows += [_apply(per_position[i + 1:], np.zeros((1, channels), np.float32)) for i in pad_layers]
    if used_ids.size:
        # Only the rows in use: the table may be millions of words.
        rows.append(conv_input_vectors(chain, used_ids))
    table = np.concatenate([r.reshape(-1, r.shape[-1]) for r in rows]).astype(np.float32)

    slot_rows = np.zeros(token_ids.shape, np.int64)
    for row, layer_index in enumerate(pad_layers, start=1):
        slot_rows[slot_origin == layer_index] = row
    is_token = slot_origin == -1
    slot_rows[is_token] = 1 + len(pad_layers) + np.searchsorted(used_ids, token_ids[is_token])
    return table, slot_rows


def conv_input_vectors(chain: Chain, token_ids: np.ndarray) -> np.ndarray:
    """float32 [n, channels]: what the conv reads at a position holding each token."""
    return _apply(chain.layers[1:-1], keras.ops.take(chain.embedding.embeddings, token_ids, axis=0))


def _conv_input_origins(chain: Chain, input_length: int) -> np.ndarray:
    """Per conv-input position: -1 if it carries a token, else the index (in
    chain.layers[1:-1]) of the padding layer that made it."""
    origin = np.full(input_length, -1, np.int64)
    for i, layer in enumerate(chain.layers[1:-1]):
        if isinstance(layer, keras.layers.ZeroPadding1D):
            left, right = pair(layer.padding)
            origin = np.concatenate([np.full(left, i), origin, np.full(right, i)])
        elif isinstance(layer, keras.layers.Cropping1D):
            left, right = pair(layer.cropping)
            origin = origin[left: len(origin) - right]
    return origin


def _apply(layers, vectors) -> np.ndarray:
    """Runs per-position layers on vectors, each as a one-position sequence."""
    x = keras.ops.expand_dims(vectors, 1)
    for layer in layers:
        if isinstance(layer, (keras.layers.ZeroPadding1D, keras.layers.Cropping1D)):
            continue
        x = layer(x, training=False)
    return keras.ops.convert_to_numpy(x)[:, 0, :]
