"""Bad input to interpret(): one-line FiltersErrors that say what was received and what is valid."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.errors import FiltersError
from tests.helpers.text_models import (
    LENGTH,
    VOCAB_SIZE,
    chain_model,
    conv,
    embedding,
    notebook_model,
    token_data,
    tokens_input,
)


@pytest.fixture(scope="module")
def notebook() -> keras.Model:
    return notebook_model()


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(n=20)


def raises(match: str, call, *args, **kwargs) -> str:
    with pytest.raises(FiltersError, match=match) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith("Expected") and "Received" in message, message
    return message


def test_unknown_layer_lists_the_conv_layers(notebook, data):
    message = raises("not found", tb_filters.interpret, notebook, data, layers=["conv_9"])
    assert "['conv_1', 'conv_2']" in message and "'conv_9'" in message


@pytest.mark.parametrize("layers", [[], [3], ["conv_1", None]], ids=["empty", "int", "none"])
def test_layers_that_are_not_names(notebook, data, layers):
    raises("Expected layers to be conv layer names", tb_filters.interpret, notebook, data, layers=layers)


def test_layers_by_object_and_repeated_names(notebook, data):
    report = tb_filters.interpret(notebook, data, layers=[notebook.get_layer("conv_2"), "conv_2", "conv_1"], top_k=1)
    assert list(report.layers) == ["conv_2", "conv_1"]


def test_a_layer_that_is_not_a_conv_layer(notebook, data):
    message = raises("Expected a Conv1D layer", tb_filters.interpret, notebook, data, layers="zero_padding1d")
    assert "ZeroPadding1D" in message and "conv_1" in message


@pytest.mark.parametrize(
    "sequences, match",
    [
        (np.arange(12), "shape \\(12,\\)"),
        (np.zeros((2, 3, 12), np.int32), "shape \\(2, 3, 12\\)"),
        (np.zeros((4, 12), np.float32), "dtype float32"),
        (np.zeros((4, 12), bool), "dtype bool"),
        (np.array([["a"] * 12]), "dtype <U1"),
        ([[1, 2, 3], [1, 2]], "ragged"),
        ([np.zeros((2, 12), np.int32), np.zeros(12, np.int32)], "batch 1 of shape \\(12,\\)"),
        (42, "Received: int"),
        ("tokens.npy", "Received: str"),
    ],
    ids=["1-d", "3-d", "floats", "bools", "strings", "ragged", "bad-batch", "int", "path-string"],
)
def test_data_that_is_not_2d_integers(notebook, sequences, match):
    raises(match, tb_filters.interpret, notebook, sequences)


def test_an_unbatched_dataset_gets_a_hint(notebook, data):
    import tensorflow as tf

    raises("dataset.batch", tb_filters.interpret, notebook, tf.data.Dataset.from_tensor_slices(data))


@pytest.mark.parametrize(
    "sequences", [np.zeros((0, LENGTH), np.int32), [], iter([])], ids=["empty-array", "empty-list", "empty-iterator"]
)
def test_empty_data(notebook, sequences):
    raises("at least one", tb_filters.interpret, notebook, sequences)


def test_negative_token_id_names_the_example(notebook, data):
    bad = data.copy()
    bad[13, 2] = -4
    message = raises("token id -4 in example 13", tb_filters.interpret, notebook, bad, batch_size=8)
    assert f"< {VOCAB_SIZE}" in message


def test_token_id_beyond_the_embedding(notebook, data):
    bad = data.copy()
    bad[3, 0] = VOCAB_SIZE
    message = raises(f"token id {VOCAB_SIZE} in example 3", tb_filters.interpret, notebook, bad)
    assert "embedding 'embedding' input_dim" in message


def test_token_id_beyond_the_vocabulary(notebook, data):
    vocab = [f"w{i}" for i in range(30)]
    bad = data.copy()
    bad[bad >= 30] = 1
    bad[7, 5] = 33
    message = raises("token id 33 in example 7", tb_filters.interpret, notebook, bad, vocab=vocab)
    assert "< 30 (vocabulary size" in message


def test_sequence_length_the_model_does_not_accept(notebook):
    message = raises("Expected sequences of 12 tokens", tb_filters.interpret, notebook, token_data(n=4, length=10))
    assert "Received sequences of 10 tokens" in message and "'tokens'" in message


def test_sequences_too_short_for_the_layer():
    model = chain_model(conv(2, 5, "c"), length=None)
    raises("long enough for layer 'c'", tb_filters.interpret, model, np.ones((3, 3), np.int32))


def test_batches_of_different_lengths():
    model = chain_model(conv(2, 2, "c"), length=None)
    batches = [np.ones((2, 6), np.int32), np.ones((2, 7), np.int32)]
    raises("shape \\(2, 7\\)", tb_filters.interpret, model, batches)


@pytest.mark.parametrize("top_k", [0, -1, 2.5, True, "3"])
def test_top_k_below_one_or_not_an_integer(notebook, data, top_k):
    message = raises("Expected top_k >= 1", tb_filters.interpret, notebook, data, top_k=top_k)
    assert f"top_k={top_k!r}" in message


def test_batch_size_below_one(notebook, data):
    raises("Expected batch_size >= 1 .*batch_size=0", tb_filters.interpret, notebook, data, batch_size=0)


def _poisoned(filter_index: int, weight: int, value: float) -> keras.Model:
    model = chain_model(conv(4, 3, "c", activation="relu"))
    weights = model.get_layer("c").get_weights()
    weights[weight][..., filter_index] = value
    model.get_layer("c").set_weights(weights)
    return model


@pytest.mark.parametrize("weight, value", [(0, np.nan), (1, np.inf)], ids=["nan-kernel", "inf-bias"])
def test_non_finite_activations_name_layer_and_filter(data, weight, value):
    model = _poisoned(2, weight, value)
    message = raises("NaN or infinite", tb_filters.interpret, model, data, batch_size=8)
    assert "layer 'c', filter 2" in message


def test_subclassed_model(data):
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(VOCAB_SIZE, 4)
            self.conv = keras.layers.Conv1D(2, 3)

        def call(self, x):
            return self.conv(self.embedding(x))

    model = Custom()
    model(data)
    raises("Functional or Sequential", tb_filters.interpret, model, data, layers=["conv1d"])


def test_unbuilt_sequential(data):
    model = keras.Sequential([keras.layers.Embedding(VOCAB_SIZE, 4), keras.layers.Conv1D(2, 3, name="c")])
    raises("built model", tb_filters.interpret, model, data)


def test_model_without_conv_layers(data):
    model = keras.Sequential([keras.Input((LENGTH,), dtype="int32"), keras.layers.Embedding(VOCAB_SIZE, 4)])
    raises("at least one Conv1D", tb_filters.interpret, model, data)


def test_unsupported_layer_on_the_way(data):
    model = chain_model(keras.layers.UpSampling1D(2), conv(2, 3, "c"))
    message = raises("Received layer 'up_sampling1d", tb_filters.interpret, model, data)
    assert "UpSampling1D" in message and "'c'" in message


def test_position_dependent_prelu_is_unsupported(data):
    model = chain_model(keras.layers.PReLU(), conv(2, 3, "c"))
    raises("PReLU", tb_filters.interpret, model, data)


def test_merge_on_the_way(data):
    tokens = tokens_input()
    x = keras.layers.Add(name="add")([embedding(tokens, "e1"), embedding(tokens, "e2", seed=4)])
    model = keras.Model(tokens, conv(2, 3, "c")(x))
    raises("single chain .*'add' with 2 inputs", tb_filters.interpret, model, data)


def test_shared_layer_called_twice(data):
    a, b = tokens_input(name="a"), tokens_input(name="b")
    shared = keras.layers.Embedding(VOCAB_SIZE, 4, name="shared")
    c = keras.layers.Conv1D(2, 3, name="c")
    model = keras.Model([a, b], [c(shared(a)), c(shared(b))])
    raises("called once", tb_filters.interpret, model, data)


def test_conv_layers_on_two_token_inputs(data):
    a, b = tokens_input(name="a"), tokens_input(name="b")
    ca = conv(2, 3, "ca")(embedding(a, "ea"))
    cb = conv(2, 3, "cb")(embedding(b, "eb"))
    model = keras.Model([a, b], [ca, cb])
    message = raises("one token input", tb_filters.interpret, model, data)
    assert "'ca'" in message and "'cb'" in message
    assert list(tb_filters.interpret(model, data, layers="cb", top_k=1).layers) == ["cb"]


def test_conv_without_embedding(data):
    x = keras.Input((LENGTH, 3))
    model = keras.Model(x, keras.layers.Conv1D(2, 3, name="c")(x))
    raises("Expected an Embedding", tb_filters.interpret, model, data)


def test_bad_vocabulary_file(notebook, data, tmp_path):
    raises("not found", tb_filters.interpret, notebook, data, vocab=str(tmp_path / "nope.json"))
