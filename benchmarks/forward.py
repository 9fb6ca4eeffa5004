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
