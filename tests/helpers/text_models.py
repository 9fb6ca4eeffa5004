"""Tiny real Keras text models and token data for the engine tests.

Each builder returns a compiled-free model with seeded random weights; sizes
are small (vocabulary 50, embedding 8, a few filters, 12 tokens) so a test
interprets a few hundred sequences in well under a second.
"""

from __future__ import annotations

import keras
import numpy as np

VOCAB_SIZE = 50
EMBED_DIM = 8
LENGTH = 12


def token_data(n: int = 200, length: int = LENGTH, seed: int = 0, vocab_size: int = VOCAB_SIZE) -> np.ndarray:
    """Token ids with zero padding at the end of short sequences and repeated phrases,
    so distinct windows occur several times."""
    rng = np.random.default_rng(seed)
    data = rng.integers(1, vocab_size, (n, length)).astype(np.int32)
    phrase = rng.integers(1, vocab_size, 4)
    for row in rng.choice(n, n // 4, replace=False):
        start = rng.integers(0, length - 4)
        data[row, start: start + 4] = phrase
    lengths = rng.integers(length // 2, length + 1, n)
    data[np.arange(length)[None, :] >= lengths[:, None]] = 0
    return data


def tokens_input(length: int | None = LENGTH, name: str = "tokens") -> keras.KerasTensor:
    return keras.Input((length,), dtype="int32", name=name)


def embedding(x, name: str = "embedding", seed: int = 1):
    return keras.layers.Embedding(
        VOCAB_SIZE, EMBED_DIM, name=name, embeddings_initializer=keras.initializers.RandomNormal(seed=seed)
    )(x)


def conv(filters: int, kernel: int, name: str, seed: int = 2, **kwargs) -> keras.layers.Conv1D:
    """A Conv1D with a non-zero random bias, so the bias matters in every check."""
    return keras.layers.Conv1D(
        filters,
        kernel,
        name=name,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        bias_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=seed + 100),
        **kwargs,
    )


def notebook_model(filters: int = 6) -> keras.Model:
    """The notebook's shape: tokens -> Embedding -> ZeroPadding1D(1) -> conv_1 (k=3, relu)
    -> pool -> conv_2 -> global max, concatenated with a 24-feature meta input."""
    tokens = tokens_input()
    meta = keras.Input((24,), name="meta")
    x = embedding(tokens)
    x = keras.layers.ZeroPadding1D(1, name="zero_padding1d")(x)
    x = conv(filters, 3, "conv_1", activation="relu")(x)
    x = keras.layers.MaxPooling1D(2, name="pool_1")(x)
    x = conv(4, 3, "conv_2", seed=3, activation="relu", padding="same")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Concatenate()([x, meta])
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model([tokens, meta], out, name="notebook")


def kim_cnn(kernels=(2, 3, 4), filters: int = 5) -> keras.Model:
    """Several conv branches off one embedding."""
    tokens = tokens_input()
    x = embedding(tokens)
    pooled = []
    for i, k in enumerate(kernels):
        c = conv(filters, k, f"conv_k{k}", seed=10 + i, activation="tanh")(x)
        pooled.append(keras.layers.GlobalMaxPooling1D()(c))
    out = keras.layers.Dense(1)(keras.layers.Concatenate()(pooled))
    return keras.Model(tokens, out, name="kim")


def chain_model(*layers: keras.layers.Layer, length: int | None = LENGTH) -> keras.Model:
    """tokens -> Embedding -> layers..., as a Sequential model."""
    return keras.Sequential(
        [keras.Input((length,), dtype="int32"), keras.layers.Embedding(
            VOCAB_SIZE, EMBED_DIM, embeddings_initializer=keras.initializers.RandomNormal(seed=1))] + list(layers)
    )


def submodel_outputs(model: keras.Model, layer_name: str, data: np.ndarray) -> np.ndarray:
    """The layer's activations [N, positions, filters] from the real model (the reference)."""
    layer = model.get_layer(layer_name)
    tokens = next(t for t in model.inputs if "int" in str(t.dtype))
    sub = keras.Model(tokens, layer.output)
    return keras.ops.convert_to_numpy(sub(data, training=False))


def randomize_normalization(model: keras.Model, seed: int = 5) -> keras.Model:
    """Gives BatchNormalization/LayerNormalization non-trivial weights, so that padding
    slots (which normalization turns into its beta) contribute something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization)):
            weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()]
            layer.set_weights(weights)
    return model


def engine_model(name: str) -> keras.Model:
    """The engine tests' small models by name: "notebook", "kim", or "dead" (one conv whose filter 0
    is dead: zero kernel, negative bias, so all its relu windows tie at 0, beside live ones)."""
    if name == "notebook":
        return notebook_model()
    if name == "kim":
        return kim_cnn()
    layer = conv(3, 3, "conv", activation="relu", padding="same")
    built = chain_model(layer)
    kernel, bias = layer.get_weights()
    kernel[:, :, 0], bias[0] = 0.0, -1.0
    layer.set_weights([kernel, bias])
    return built
