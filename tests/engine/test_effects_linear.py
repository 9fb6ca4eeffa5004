"""The effects' fast path (a linear layer after the ablation point sees a filter's
ablation as that filter's contribution alone) against explicitly ablated clones,
on small random models of the shapes it covers, and the general path where it
does not apply."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.engine import chains as chains_lib
from tb_filters.engine import effects
from tests.engine.test_effects import check_against_brute_force, effect_arrays
from tests.helpers.text_models import conv, embedding, token_data, tokens_input
from tests.helpers.tolerances import OUTPUT_ATOL

META = 3


def dense(units: int, name: str, seed: int, **kwargs) -> keras.layers.Dense:
    return keras.layers.Dense(units, name=name, kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                              bias_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed + 50), **kwargs)


def dense_after_global_max_pool():
    tokens = tokens_input()
    x = keras.layers.GlobalMaxPooling1D()(conv(6, 3, "conv", activation="relu")(embedding(tokens)))
    return keras.Model(tokens, dense(3, "topic", 4, activation="softmax")(x))


def conv_after_max_pool():
    tokens = tokens_input()
    x = keras.layers.MaxPooling1D(2)(conv(5, 3, "conv", activation="relu")(embedding(tokens)))
    x = conv(4, 2, "conv_2", seed=7, activation="tanh", padding="same")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(tokens, dense(1, "score", 5, activation="sigmoid")(x))


def strided_conv_then_local_pooling():
    tokens = tokens_input()
    x = conv(5, 3, "conv", activation="relu")(embedding(tokens))
    x = conv(4, 3, "conv_2", seed=8, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(keras.layers.MaxPooling1D(2)(x))
    return keras.Model(tokens, dense(2, "score", 6)(x))


def causal_dilated_conv_without_bias():
    tokens = tokens_input()
    x = conv(5, 2, "conv", activation="tanh")(embedding(tokens))
    x = keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2, use_bias=False, name="conv_2",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=9))(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    return keras.Model(tokens, dense(1, "score", 7, activation="sigmoid")(x))


def meta_concatenated_after_the_pool():
    """The other input comes first: the pooled channels start at an offset of the Dense's rows."""
    tokens = tokens_input()
    meta = keras.Input((META,), name="meta")
    x = keras.layers.GlobalMaxPooling1D()(conv(5, 3, "conv", activation="relu")(embedding(tokens)))
    x = dense(4, "hidden", 8, activation="relu")(keras.layers.Concatenate()([meta, x]))
    return keras.Model([tokens, meta], dense(1, "score", 9, activation="sigmoid")(x))


def dense_per_position():
    tokens = tokens_input()
    x = conv(5, 3, "conv", activation="relu")(embedding(tokens))
    x = keras.layers.GlobalMaxPooling1D()(dense(4, "per_position", 10, activation="relu")(x))
    return keras.Model(tokens, dense(1, "score", 11)(x))


def linear_layer_is_an_output_too():
    tokens = tokens_input()
    x = keras.layers.GlobalMaxPooling1D()(conv(4, 3, "conv", activation="relu")(embedding(tokens)))
    logits = dense(3, "logits", 12)(x)
    return keras.Model(tokens, [logits, dense(1, "score", 13, activation="sigmoid")(logits)])


def batch_normalized_then_pooled():
    tokens = tokens_input()
    x = keras.layers.BatchNormalization(name="norm")(conv(5, 3, "conv")(embedding(tokens)))
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Activation("relu")(x))
    model = keras.Model(tokens, dense(1, "score", 14, activation="sigmoid")(x))
    norm = model.get_layer("norm")
    rng = np.random.default_rng(5)
    norm.set_weights([rng.uniform(0.5, 1.5, 5), rng.uniform(-0.3, 0.3, 5), rng.uniform(-0.2, 0.2, 5),
                      rng.uniform(0.5, 2.0, 5)])
    return model


# The general path: a cross-channel non-linear layer first, or the point read twice.
def layer_normalized():
    tokens = tokens_input()
    x = keras.layers.GlobalMaxPooling1D()(conv(5, 3, "conv", activation="relu")(embedding(tokens)))
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(tokens, dense(1, "score", 15, activation="sigmoid")(x))


def point_read_twice():
    tokens = tokens_input()
    x = keras.layers.GlobalMaxPooling1D()(conv(5, 3, "conv", activation="relu")(embedding(tokens)))
    x = keras.layers.Add()([dense(1, "a", 16)(x), dense(1, "b", 17, activation="tanh")(x)])
    return keras.Model(tokens, x)


# (builder, the linear layer the fast path uses or None for the general path, its pooling)
SHAPES = {
    "dense_after_global_max_pool": (dense_after_global_max_pool, "topic", None),
    "conv_after_max_pool": (conv_after_max_pool, "conv_2", "average"),
    "strided_conv_then_local_pooling": (strided_conv_then_local_pooling, "conv_2", None),
    "causal_dilated_conv_without_bias": (causal_dilated_conv_without_bias, "conv_2", "max"),
    "meta_concatenated_after_the_pool": (meta_concatenated_after_the_pool, "hidden", None),
    "dense_per_position": (dense_per_position, "per_position", None),
    "linear_layer_is_an_output_too": (linear_layer_is_an_output_too, "logits", None),
    "batch_normalized_then_pooled": (batch_normalized_then_pooled, "score", None),
    "layer_normalized": (layer_normalized, None, None),
    "point_read_twice": (point_read_twice, None, None),
}


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(90, seed=4)


@pytest.fixture(params=["xla", "plain"])
def compiled(request, monkeypatch) -> str:
    """The fast path both ways: compiled by XLA (as for a sample with enough work to win the
    compilation back) and traced plainly (the test models' samples are far too small for XLA)."""
    monkeypatch.setattr(effects, "XLA_MIN_WORK", 0 if request.param == "xla" else float("inf"))
    return request.param


def linear_of(model: keras.Model, layer: str = "conv"):
    (chain,) = chains_lib.find_chains(model, [layer])
    return effects.split(model, chain).linear


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_takes_its_path_and_matches_the_ablated_models(data, shape, compiled):
    build, linear_layer, pooling = SHAPES[shape]
    model = build()
    linear = linear_of(model)
    assert (linear and linear.layer.name) == linear_layer
    assert (linear and linear.pooling) == pooling
    feed, inputs = data, None
    if len(model.inputs) == 2:
        meta = np.random.default_rng(6).random((len(data), META), dtype=np.float32)
        feed, inputs = [data, meta], {"meta": meta}
    # 40 rows per batch: the last batch is padded, and its padding must count for nothing.
    layer = tb_filters.interpret(model, data, layers=["conv"], inputs=inputs, batch_size=40)["conv"]
    check_against_brute_force(model, layer, "conv", feed)


@pytest.mark.parametrize("copies", [1, 2, 4])
def test_a_last_tile_of_fewer_filters_repeats_one_and_counts_it_once(data, monkeypatch, compiled, copies):
    """Slot -1 (the clean outputs) then 5 filters: the clean outputs alone in the first call (1),
    or beside filters, later calls reading them; 4: the last call repeats its last filter."""
    model = conv_after_max_pool()
    whole = tb_filters.interpret(model, data, layers=["conv"], batch_size=90)["conv"]
    monkeypatch.setattr(effects, "_copies", lambda filters, budget, per_copy: copies)
    tiled = tb_filters.interpret(model, data, layers=["conv"], batch_size=90)["conv"]
    for ours, theirs in zip(effect_arrays(tiled), effect_arrays(whole)):
        np.testing.assert_allclose(ours, theirs, atol=OUTPUT_ATOL)  # other tile shapes, other kernels


def test_a_dead_filter_changes_nothing_exactly(data, compiled):
    """The clean outputs come from the same pre-activation as the ablated ones: a filter that
    is zero everywhere adds exactly nothing, so its effect is exactly 0, not rounding."""
    model = conv_after_max_pool()
    layer_ = model.get_layer("conv")
    kernel, bias = layer_.get_weights()
    kernel[..., 2], bias[2] = 0, -1.0  # relu(negative) = 0 at every position
    layer_.set_weights([kernel, bias])
    layer = tb_filters.interpret(model, data, layers=["conv"])["conv"]
    assert layer.filters[2].dead
    assert [(e.mean, e.mean_abs) for e in layer.filters[2].effects] == [(0.0, 0.0)]


@keras.saving.register_keras_serializable(package="tests")
class NumpyTanh(keras.layers.Layer):
    """tanh in numpy: an op XLA cannot compile."""

    def call(self, x):
        import tensorflow as tf

        return tf.reshape(tf.numpy_function(np.tanh, [x], tf.float32, stateful=False), tf.shape(x))


def test_layers_xla_cannot_compile_run_uncompiled(data, monkeypatch):
    monkeypatch.setattr(effects, "XLA_MIN_WORK", 0)  # XLA tried first, whatever the sample's size
    tokens = tokens_input()
    x = keras.layers.GlobalMaxPooling1D()(conv(5, 3, "conv", activation="relu")(embedding(tokens)))
    x = NumpyTanh()(dense(4, "hidden", 18)(x))
    model = keras.Model(tokens, dense(1, "score", 19)(x))
    assert linear_of(model).layer.name == "hidden"
    layer = tb_filters.interpret(model, data, layers=["conv"], batch_size=40)["conv"]
    check_against_brute_force(model, layer, "conv", data)
    (compiled,) = [c for key, c in effects._CACHE.items() if key[0] == id(model)]
    assert not compiled.functions["conv"]["linear_ablate"].xla
