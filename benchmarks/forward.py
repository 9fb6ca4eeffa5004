"""T2's reference: the bare forward pass to a conv layer, compiled, over the
same batches of the same memory-mapped array that `interpret` reads.

Each batch is reduced to the per-filter maximum inside the compiled step, so
the conv output is really computed but nothing the size of a batch leaves it.
The per-filter maxima double as a check of the engine's statistics.
"""

from __future__ import annotations

import time

import numpy as np


def conv_maximum_step(model, layer_name: str):
    """A compiled `tokens [B, L] -> max over (batch, position) of the layer [F]`."""
    import keras
    import tensorflow as tf

    sub_model = keras.Model(model.inputs[0], model.get_layer(layer_name).output)
    length = model.inputs[0].shape[1]

    @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int32)], jit_compile=False)
    def step(tokens):
        return tf.reduce_max(sub_model(tokens, training=False), axis=[0, 1])

    return step


def table_maximum_step(model, layer_name: str, embedding: str = "embedding", pad: str = "pad_1"):
    """conv_maximum_step's answer through the table path issue 19 asks about: per-tap projection
    tables P_j = E @ K[j] (vocabulary x filters) gathered at each position's tokens and summed, no
    embedding lookup and no convolution; XLA-compiled. Only for the workload's Embedding ->
    ZeroPadding1D -> Conv1D (stride 1, no dilation): a measurement of what the gathers cost."""
    import tensorflow as tf

    conv = model.get_layer(layer_name)
    kernel, bias = (np.asarray(v) for v in conv.get_weights())
    table = np.asarray(model.get_layer(embedding).get_weights()[0])
    left, right = model.get_layer(pad).padding
    projections = tf.constant(np.einsum("vd,kdf->kvf", table, kernel, optimize=True))  # [taps, vocab, F]
    taps, length = kernel.shape[0], model.inputs[0].shape[1]
    outputs = length + left + right - taps + 1

    @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int32)], jit_compile=True)
    def step(tokens):
        padded = tf.pad(tokens, [[0, 0], [left, right]], constant_values=-1)  # -1: a zero-padded slot
        total = tf.zeros([tf.shape(tokens)[0], outputs, kernel.shape[2]]) + bias
        for tap in range(taps):
            ids = padded[:, tap:tap + outputs]
            inside = tf.cast(ids >= 0, tf.float32)[..., None]
            total += tf.gather(projections[tap], tf.maximum(ids, 0)) * inside
        return tf.reduce_max(tf.nn.relu(total), axis=[0, 1])

    return step


def run(step, tokens: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
    """Seconds for one pass over `tokens` in batches, and the per-filter maxima."""
    maxima = None
    started = time.perf_counter()
    for start in range(0, len(tokens), batch_size):
        batch_max = np.asarray(step(np.asarray(tokens[start : start + batch_size], dtype=np.int32)))
        maxima = batch_max if maxima is None else np.maximum(maxima, batch_max)
    return time.perf_counter() - started, maxima


def jax_conv_maximum_step(model, layer_name: str):
    """The same reference under KERAS_BACKEND=jax: the sub-model in `jax.jit`, its
    weights passed as arguments (as Keras' own JAX trainer does), not baked in."""
    import jax
    import jax.numpy as jnp
    import keras

    sub_model = keras.Model(model.inputs[0], model.get_layer(layer_name).output)

    @jax.jit
    def maximum(trainable, non_trainable, tokens):
        outputs, _ = sub_model.stateless_call(trainable, non_trainable, tokens, training=False)
        return jnp.max(outputs, axis=(0, 1))

    def step(tokens):
        trainable = [v.value for v in sub_model.trainable_variables]
        non_trainable = [v.value for v in sub_model.non_trainable_variables]
        return np.asarray(maximum(trainable, non_trainable, tokens))

    return step
