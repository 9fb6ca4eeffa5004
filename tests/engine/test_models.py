"""Loading models (Keras 3, legacy .h5, Keras 2 JSON + HDF5 weights), below every entry point."""

from __future__ import annotations

import json
import os

import h5py
import keras
import numpy as np
import pytest

from tb_filters.engine import models
from tb_filters.errors import FiltersError

VOCAB = 40
TOKENS = 32
META = 24

# -- a notebook-shaped model, in Keras 3 ------------------------------------------------


def notebook_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    tokens = keras.Input((TOKENS,), dtype="int32", name="tokens")
    meta = keras.Input((META,), name="meta")
    x = keras.layers.Embedding(VOCAB, 8, name="embedding")(tokens)
    x = keras.layers.ZeroPadding1D(1, name="zero_padding1d_1")(x)
    x = keras.layers.Conv1D(6, 3, activation="relu", name="conv_1")(x)
    x = keras.layers.MaxPooling1D(2, name="max_pooling1d_1")(x)
    x = keras.layers.ZeroPadding1D(1, name="zero_padding1d_2")(x)
    x = keras.layers.Conv1D(5, 3, activation="relu", name="conv_2")(x)
    x = keras.layers.GlobalMaxPooling1D(name="global_max_pooling1d_1")(x)
    x = keras.layers.Concatenate(name="concatenate_1")([x, meta])
    out = keras.layers.Dense(1, activation="sigmoid", name="dense_1")(x)
    model = keras.Model([tokens, meta], out, name="model_1")
    # Non-trivial biases, so a bias loaded into the wrong layer shows.
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([np.random.default_rng(7).normal(0, 0.3, w.shape) for w in layer.weights])
    return model


def sample_inputs(n: int = 5):
    rng = np.random.default_rng(0)
    return [rng.integers(0, VOCAB, (n, TOKENS)).astype("int32"), rng.normal(size=(n, META)).astype("float32")]


# -- the same model as Keras 2 wrote it ----------------------------------------------------
# Three dialects: standalone Keras 2.2.4 (class_name "Model", VarianceScaling
# initializers, no "ragged"), tf.keras 2.4+ ("Functional", GlorotUniform,
# "ragged", dtype policies on some layers) and tf.keras 2.13+ (plus `module`
# and `registered_name` keys).


def _initializer(dialect: str) -> dict:
    if dialect == "keras-2.2.4":
        return {"class_name": "VarianceScaling",
                "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    return {"class_name": "GlorotUniform", "config": {"seed": None}}


def _input(name: str, shape: list, dtype: str, dialect: str) -> dict:
    config = {"batch_input_shape": [None, *shape], "dtype": dtype, "sparse": False, "name": name}
    if dialect != "keras-2.2.4":
        config["ragged"] = False
    return {"name": name, "class_name": "InputLayer", "config": config, "inbound_nodes": []}


def _layer(class_name: str, name: str, inbound: list[str], dialect: str, **config) -> dict:
    dtype = "float32"
    if dialect == "tf.keras-2.11" and class_name == "Dense":
        dtype = {"class_name": "Policy", "config": {"name": "float32"}}
    full = {"name": name, "trainable": True, "dtype": dtype, **config}
    return {
        "name": name,
        "class_name": class_name,
        "config": full,
        "inbound_nodes": [[[source, 0, 0, {}] for source in inbound]],
    }


def _conv(name: str, filters: int, inbound: str, dialect: str) -> dict:
    return _layer(
        "Conv1D", name, [inbound], dialect,
        filters=filters, kernel_size=[3], strides=[1], padding="valid", data_format="channels_last",
        dilation_rate=[1], activation="relu", use_bias=True,
        kernel_initializer=_initializer(dialect), bias_initializer={"class_name": "Zeros", "config": {}},
        kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}, bias_regularizer=None,
        activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
    )


def _with_modules(model: dict) -> dict:
    """tf.keras 2.13+ also wrote `module` and `registered_name` on each object."""
    for layer in model["config"]["layers"]:
        layer["module"], layer["registered_name"] = "keras.layers", None
    model.update(module="keras", registered_name="Functional")
    return model


def keras2_model_json(dialect: str) -> dict:
    if dialect == "tf.keras-2.15":
        return _with_modules(keras2_model_json("tf.keras-2.11")) | {"keras_version": "2.15.0"}
    pool = dict(strides=[2], pool_size=[2], padding="valid", data_format="channels_last")
    layers = [
        _input("tokens", [TOKENS], "int32", dialect),
        _layer(
            "Embedding", "embedding", ["tokens"], dialect,
            batch_input_shape=[None, TOKENS], input_dim=VOCAB, output_dim=8,
            embeddings_initializer={"class_name": "RandomUniform",
                                    "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
            embeddings_regularizer=None, activity_regularizer=None, embeddings_constraint=None,
            mask_zero=False, input_length=TOKENS,
        ),
        _layer("ZeroPadding1D", "zero_padding1d_1", ["embedding"], dialect, padding=[1, 1]),
        _conv("conv_1", 6, "zero_padding1d_1", dialect),
        _layer("MaxPooling1D", "max_pooling1d_1", ["conv_1"], dialect, **pool),
        _layer("ZeroPadding1D", "zero_padding1d_2", ["max_pooling1d_1"], dialect, padding=[1, 1]),
        _conv("conv_2", 5, "zero_padding1d_2", dialect),
        _layer("GlobalMaxPooling1D", "global_max_pooling1d_1", ["conv_2"], dialect, data_format="channels_last"),
        _input("meta", [META], "float32", dialect),
        _layer("Concatenate", "concatenate_1", ["global_max_pooling1d_1", "meta"], dialect, axis=-1),
        _layer(
            "Dense", "dense_1", ["concatenate_1"], dialect,
            units=1, activation="sigmoid", use_bias=True, kernel_initializer=_initializer(dialect),
            bias_initializer={"class_name": "Zeros", "config": {}}, kernel_regularizer=None,
            bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
        ),
    ]
    return {
        "class_name": "Model" if dialect == "keras-2.2.4" else "Functional",
        "config": {
            "name": "model_1",
            "layers": layers,
            "input_layers": [["tokens", 0, 0], ["meta", 0, 0]],
            "output_layers": [["dense_1", 0, 0]],
        },
        "keras_version": "2.2.4" if dialect == "keras-2.2.4" else "2.11.0",
        "backend": "tensorflow",
    }


def write_keras2_weights(group: h5py.Group, model: keras.Model) -> None:
    """The layout of Keras 2's `save_weights` (and of `model_weights/` in a full .h5)."""
    layers = [layer for layer in model.layers]
    group.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.2.4"
    for layer in layers:
        layer_group = group.create_group(layer.name)
        names = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
        layer_group.attrs["weight_names"] = np.array(names, dtype="S")
        for name, value in zip(names, layer.get_weights()):
            layer_group.create_dataset(name.decode(), data=value)


DIALECTS = ["keras-2.2.4", "tf.keras-2.11", "tf.keras-2.15"]


@pytest.fixture(scope="module")
def reference() -> keras.Model:
    return notebook_model()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_keras2_json_and_hdf5_weights_load_with_the_same_outputs(tmp_path, reference, dialect):
    architecture = tmp_path / "baseline.json"
    architecture.write_text(json.dumps(keras2_model_json(dialect)))
    weights = tmp_path / "baseline.hdf5"
    with h5py.File(weights, "w") as f:
        write_keras2_weights(f, reference)

    model = models.load_model(str(architecture), weights=str(weights))

    assert [layer.name for layer in model.layers if layer.weights] == [
        layer.name for layer in reference.layers if layer.weights
    ]
    assert model.get_layer("conv_1").kernel_size == (3,)
    np.testing.assert_allclose(model.predict(sample_inputs(), verbose=0),
                               reference.predict(sample_inputs(), verbose=0), rtol=1e-6)


def test_keras2_full_h5_model_is_translated(tmp_path, reference):
    path = tmp_path / "baseline.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(keras2_model_json("keras-2.2.4")).encode()
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        write_keras2_weights(f.create_group("model_weights"), reference)

    model = models.load_model(str(path))

    np.testing.assert_allclose(model.predict(sample_inputs(), verbose=0),
                               reference.predict(sample_inputs(), verbose=0), rtol=1e-6)


def test_keras2_sequential_without_input_layer(tmp_path):
    keras.utils.set_random_seed(1)
    reference = keras.Sequential([
        keras.Input((TOKENS,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 4, name="emb"),
        keras.layers.Conv1D(3, 2, name="conv"),
        keras.layers.GlobalMaxPooling1D(name="pool"),
    ])
    # Keras 2.2's Sequential config was the bare layer list, the first layer
    # carrying the input shape.
    config = {"class_name": "Sequential", "keras_version": "2.2.4", "config": [
        {"class_name": "Embedding", "config": {"name": "emb", "batch_input_shape": [None, TOKENS],
                                               "dtype": "float32", "input_dim": VOCAB, "output_dim": 4,
                                               "input_length": TOKENS}},
        {"class_name": "Conv1D", "config": {"name": "conv", "filters": 3, "kernel_size": [2]}},
        {"class_name": "GlobalMaxPooling1D", "config": {"name": "pool"}},
    ]}
    architecture = tmp_path / "seq.json"
    architecture.write_text(json.dumps(config))
    weights = tmp_path / "seq.hdf5"
    with h5py.File(weights, "w") as f:
        write_keras2_weights(f, reference)

    model = models.load_model(str(architecture), weights=str(weights))

    tokens = sample_inputs()[0]
    np.testing.assert_allclose(model.predict(tokens, verbose=0), reference.predict(tokens, verbose=0), rtol=1e-6)


def test_keras3_formats_load(tmp_path, reference):
    for name in ("model.keras", "legacy.h5"):
        reference.save(tmp_path / name)
        model = models.load_model(str(tmp_path / name))
        np.testing.assert_allclose(model.predict(sample_inputs(), verbose=0),
                                   reference.predict(sample_inputs(), verbose=0), rtol=1e-6)


def test_keras_file_loads_quickly_into_the_same_model_keras_loads(tmp_path, reference):
    reference.save(tmp_path / "model.keras")
    quick = models._load_keras3_quickly(str(tmp_path / "model.keras"))
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    # The same architecture; only the initializers, which the file's weights overrode, are Zeros.
    assert quick is not None and quick.to_json() != loaded.to_json()
    assert json.loads(quick.to_json()) == models._zero_initializers(json.loads(loaded.to_json()))
    assert [v.path for v in quick.variables] == [v.path for v in loaded.variables]
    for ours, theirs in zip(quick.variables, loaded.variables):
        assert np.array_equal(ours.numpy(), theirs.numpy()), ours.path  # the file's values, exactly
    # One dtype policy object shared by the layers that were saved sharing it, as Keras loads them.
    policies = {id(layer.dtype_policy) for layer in quick.layers}
    assert len(policies) == len({id(layer.dtype_policy) for layer in loaded.layers})
    # Same weights and graph: the same kernels on the same inputs, so the same outputs bit for bit.
    assert np.array_equal(quick.predict(sample_inputs(), verbose=0), loaded.predict(sample_inputs(), verbose=0))


def test_keras_file_with_assets_or_not_a_model_goes_to_keras_loader(tmp_path):
    vectorizer = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4, name="vectorize")
    vectorizer.adapt(["good movie", "bad movie", "very good"])
    strings = keras.Input((1,), dtype="string")
    x = keras.layers.Embedding(20, 3)(vectorizer(strings))
    model = keras.Model(strings, keras.layers.Conv1D(2, 2, name="conv")(x))
    model.save(tmp_path / "texts.keras")
    assert models._load_keras3_quickly(str(tmp_path / "texts.keras")) is None  # its vocabulary is an asset
    loaded = models.load_model(str(tmp_path / "texts.keras"))
    assert loaded.get_layer("vectorize").get_vocabulary() == vectorizer.get_vocabulary()
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    assert models._load_keras3_quickly(str(tmp_path / "bad.keras")) is None


def test_keras3_json_with_keras3_weights(tmp_path, reference):
    (tmp_path / "arch.json").write_text(reference.to_json())
    reference.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(FiltersError, match="ending in .h5, .hdf5"):
        models.load_model(str(tmp_path / "arch.json"), weights=str(tmp_path / "w.weights.json"))
    model = models.load_model(str(tmp_path / "arch.json"), weights=str(tmp_path / "w.weights.h5"))
    np.testing.assert_allclose(model.predict(sample_inputs(), verbose=0),
                               reference.predict(sample_inputs(), verbose=0), rtol=1e-6)


# -- model errors --------------------------------------------------------------------------


def _keras2_files(tmp_path, reference, mutate_json=None, mutate_weights=None):
    config = keras2_model_json("tf.keras-2.11")
    if mutate_json:
        mutate_json(config)
    architecture = tmp_path / "m.json"
    architecture.write_text(json.dumps(config))
    weights = tmp_path / "m.hdf5"
    with h5py.File(weights, "w") as f:
        write_keras2_weights(f, reference)
        if mutate_weights:
            mutate_weights(f)
    return str(architecture), str(weights)


def _drop_layer_weights(f: h5py.File) -> None:
    f.attrs["layer_names"] = np.array([n for n in f.attrs["layer_names"] if n != b"conv_2"])


def _shrink_conv(config: dict) -> None:
    config["config"]["layers"][3]["config"]["filters"] = 2


def _unknown_class(config: dict) -> None:
    config["config"]["layers"][2]["class_name"] = "MyPadding"


def _dangling_input(config: dict) -> None:
    config["config"]["layers"][3]["inbound_nodes"] = [[["nowhere", 0, 0, {}]]]


@pytest.mark.parametrize(
    "mutate_json, mutate_weights, match",
    [
        (None, _drop_layer_weights, r"layers without weights in the file: \['conv_2'\]"),
        (_shrink_conv, None, r"Weights of layer 'conv_1' have the wrong shapes"),
        (_unknown_class, None, r"class Keras 3 does not have. Received: class 'MyPadding'"),
        (_dangling_input, None, r"'conv_1'.* wait for missing inputs"),
    ],
)
def test_mismatched_keras2_files_raise(tmp_path, reference, mutate_json, mutate_weights, match):
    architecture, weights = _keras2_files(tmp_path, reference, mutate_json, mutate_weights)
    with pytest.raises(FiltersError, match=match):
        models.load_model(architecture, weights=weights)


def test_model_file_errors(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    (tmp_path / "arch.json").write_text(json.dumps(keras2_model_json("keras-2.2.4")))
    cases = {
        str(tmp_path / "missing.keras"): "does not exist",
        str(tmp_path / "model.pt"): r"ending in \.keras, \.h5, \.hdf5, \.json",
        str(tmp_path / "bad.keras"): "Could not load the model",
        str(tmp_path / "bad.h5"): "not a readable HDF5 file",
        str(tmp_path / "arch.json"): "needs its weights",
    }
    for path, match in cases.items():
        with pytest.raises(FiltersError, match=match):
            models.load_model(path)
    with pytest.raises(FiltersError, match="not valid JSON"):
        models.load_model(str(tmp_path / "m.json"), weights=str(tmp_path / "bad.h5"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_model_file(tmp_path):
    path = tmp_path / "locked.keras"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(FiltersError, match="not readable"):
        models.load_model(str(path))


def test_cli_interprets_the_notebooks_keras2_files(tmp_path, reference, capsys):
    """The notebook's own invocation: baseline.json + baseline.hdf5, conv_1, raw top-k, JSON export."""
    from tb_filters.cli import commands as cli

    architecture, weights = _keras2_files(tmp_path, reference)
    np.save(tmp_path / "tokens.npy", sample_inputs(40)[0])
    (tmp_path / "vocab.txt").write_text("\n".join(["<pad>"] + [f"w{i}" for i in range(1, VOCAB)]) + "\n")
    code = cli.main([
        "interpret", architecture, "--weights", weights, "--data", str(tmp_path / "tokens.npy"),
        "--vocab", str(tmp_path / "vocab.txt"), "--logdir", str(tmp_path / "run"), "--layer", "conv_1",
        "--no-distinct", "--top-k", "3", "--json", str(tmp_path / "conv_1.json"),
    ])
    assert code == 0, capsys.readouterr().err
    exported = json.loads((tmp_path / "conv_1.json").read_text())
    activations = np.asarray(keras.Model(reference.inputs[0], reference.get_layer("conv_1").output)(
        sample_inputs(40)[0]))
    for f in range(6):
        expected = np.sort(activations[:, :, f].ravel())[::-1][:3]
        np.testing.assert_allclose([w["activation"] for w in exported[f"Filter_{f}"]], expected, atol=1e-5)
