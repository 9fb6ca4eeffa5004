"""Loading a saved Keras model, for every entry point (the CLI, Beam's workers).

`.keras`, legacy `.h5` (written by Keras 3 or by Keras 2), or a JSON
architecture plus an HDF5 weights file. Keras 3 cannot read Keras 2's JSON
(class_name `Model`/`Functional`, config keys it rejects), so that format is
translated here: each layer is rebuilt from its config and the functional graph
is replayed from the `inbound_nodes` lists; then the weights are assigned
layer by layer, matched by layer name.

Every failure is a FiltersError that says what was received and what is valid.
Keras is imported inside the functions: the CLI validates cheap things first.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tb_filters.errors import FiltersError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".json")

# Initializers, regularizers and constraints changed names and arguments across
# Keras versions and play no part in a forward pass with trained weights.
_DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
_MODEL_CLASSES = frozenset({"Model", "Functional"})


# -- models ------------------------------------------------------------------


def load_model(path: str, weights: str | None = None):
    """Loads a Keras model for interpretation (never compiled).

    `path`: `.keras`, `.h5`/`.hdf5` (full model), or `.json` (architecture,
    Keras 2 or 3); `weights`: an HDF5 weights file, required with `.json`.
    """
    path, weights = check_model_paths(path, weights)
    suffix = file_suffix(path)
    if suffix == ".json":
        if weights is None:
            raise FiltersError(
                f"A JSON architecture needs its weights. Received: {path} without --weights; "
                "valid: --weights FILE.hdf5 (or a .keras / .h5 model)"
            )
        model = model_from_json_file(path)
    elif suffix == ".keras":
        model = _load_keras3(path)
    else:
        model = _load_h5_model(path)
    if weights is not None:
        load_weights(model, weights)
    return model


def check_model_paths(path: str, weights: str | None = None) -> tuple[str, str | None]:
    """Cheap checks (suffix, exists, readable), before Keras is imported."""
    path = os.fspath(path)
    _require_readable(path, "model", MODEL_SUFFIXES)
    if weights is not None:
        weights = os.fspath(weights)
        _require_readable(weights, "weights", (".h5", ".hdf5"))
    return path, weights


def file_suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _require_readable(path: str, what: str, suffixes: tuple[str, ...]) -> None:
    if file_suffix(path) not in suffixes:
        raise FiltersError(
            f"Expected a {what} file ending in {', '.join(suffixes)}. Received: {path}"
        )
    if os.path.isdir(path):
        raise FiltersError(f"Expected a {what} file. Received: {path} (the {what} file is a directory)")
    if not os.path.isfile(path):
        raise FiltersError(f"The {what} file does not exist. Received: {path}")
    if not os.access(path, os.R_OK):
        raise FiltersError(f"The {what} file is not readable (permission denied). Received: {path}")


def _load_keras3(path: str):
    import keras

    model = _load_keras3_quickly(path)
    if model is not None:
        return model
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors, ...
        raise FiltersError(
            f"Could not load the model. Received: {path} ({first_line(e)}); "
            "valid: a model saved by keras.Model.save"
        ) from None


# The `.keras` members of a model with no assets (a TextVectorization's vocabulary is one): what
# `_load_keras3_quickly` rebuilds; other archives go to Keras' loader.
_PLAIN_ARCHIVE = frozenset({"metadata.json", "config.json", "model.weights.h5"})
_ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None}


def _load_keras3_quickly(path: str):
    """`keras.models.load_model`'s result in about half its time, or None to let Keras load it.

    Keras builds every layer with its random initializers, then reads the weights file through
    h5py's Python file-object driver from a copy in memory; for the notebook's 72M-parameter
    embedding that is ~1 s of random numbers and ~1.5 s of reading, out of ~3 s. Here the
    initializers become zeros (every variable is then overwritten from the file, and Keras
    refuses a file that leaves one out) and the weights file is extracted and read natively.
    The model's config then names Zeros as its initializers: it is loaded to be interpreted, never
    trained or saved again. Anything unexpected falls back to Keras' own loader, whose errors the
    caller reports.
    """
    import tempfile
    import zipfile

    import keras

    try:
        # What keras.models.load_model deserializes in: objects saved once and referenced by
        # several layers (dtype policies) come back as one object, as Keras makes them.
        from keras.src.saving.serialization_lib import ObjectSharingScope
    except ImportError:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            if set(archive.namelist()) != _PLAIN_ARCHIVE:
                return None
            config = _zero_initializers(json.loads(archive.read("config.json").decode("utf-8")))
            config["compile_config"] = None  # loaded for interpretation, never compiled
            with ObjectSharingScope():
                model = keras.saving.deserialize_keras_object(config, safe_mode=True)
            with tempfile.TemporaryDirectory(prefix="tb_filters_weights_") as directory:
                model.load_weights(archive.extract("model.weights.h5", directory))
    except Exception:  # any surprise: Keras' own loader decides, and words the error
        return None
    return model


def _zero_initializers(config: Any) -> Any:
    """`config` with every `*_initializer` object replaced by Zeros (weights come from the file)."""
    if isinstance(config, list):
        return [_zero_initializers(item) for item in config]
    if not isinstance(config, dict):
        return config
    return {key: dict(_ZEROS) if key.endswith("_initializer") and isinstance(value, dict) else _zero_initializers(value)
            for key, value in config.items()}


def _load_h5_model(path: str):
    """A full legacy HDF5 model: Keras 2 files are translated, Keras 3 ones loaded as is."""
    config, keras_version = _read_h5_model_config(path)
    if config is None:
        raise FiltersError(
            f"The HDF5 file holds no model architecture (weights only?). Received: {path}; "
            "valid: a full model .h5, or a .json architecture with --weights FILE.hdf5"
        )
    if not keras_version.startswith("2.") and not keras_version.startswith("1."):
        import keras

        try:
            return keras.models.load_model(path, compile=False)
        except Exception as e:
            raise FiltersError(f"Could not load the model. Received: {path} ({first_line(e)})") from None
    model = model_from_config(config, source=path)
    load_weights(model, path)
    return model


def _read_h5_model_config(path: str) -> tuple[dict | None, str]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            version = _as_str(f.attrs.get("keras_version", ""))
    except OSError as e:
        raise FiltersError(f"The model file is not a readable HDF5 file. Received: {path} ({first_line(e)})") from None
    if raw is None:
        return None, version
    return _parse_json(_as_str(raw), path), version


def model_from_json_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise FiltersError(f"Could not read the model architecture. Received: {path} ({first_line(e)})") from None
    return model_from_config(_parse_json(text, path), source=path)


def _parse_json(text: str, source: str) -> dict:
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise FiltersError(f"The model architecture is not valid JSON. Received: {source} ({e})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise FiltersError(
            f"Expected a model architecture (a JSON object with 'class_name' and 'config'). Received: {source}"
        )
    return config


def model_from_config(config: dict, source: str = "<config>"):
    """A Keras 3 model from a model config written by Keras 2 or Keras 3."""
    class_name = config.get("class_name")
    if class_name in _MODEL_CLASSES and _is_keras2_config(config):
        return _functional_from_keras2(config["config"], source)
    if class_name == "Sequential" and _is_keras2_config(config):
        return _sequential_from_keras2(config["config"], source)
    import keras

    try:
        return keras.models.model_from_json(json.dumps(config))
    except Exception as e:
        raise FiltersError(
            f"Could not build the model from its architecture. Received: {source} "
            f"(class_name {class_name!r}: {first_line(e)})"
        ) from None


def _is_keras2_config(config: dict) -> bool:
    """`keras_version` when the writer recorded it; otherwise Keras 3 is told
    by the `module` key on every layer (Keras 2 added it only in 2.13)."""
    version = str(config.get("keras_version", ""))
    if version:
        return version.split(".")[0] in ("1", "2")
    inner = config.get("config")
    layers = inner if isinstance(inner, list) else (inner or {}).get("layers", [])
    return not any(isinstance(layer, dict) and "module" in layer for layer in layers)


# -- Keras 2 translation -----------------------------------------------------


def _functional_from_keras2(config: dict, source: str):
    import keras

    entries = config.get("layers") or []
    if not entries:
        raise FiltersError(f"The model architecture has no layers. Received: {source}")
    inputs_by_name = {_layer_name(e): _input_tensor(e) for e in entries if e.get("class_name") == "InputLayer"}
    # layer name -> the output of each of its nodes, in node order
    tensors: dict[str, list[Any]] = {name: [tensor] for name, tensor in inputs_by_name.items()}
    calls = [(_build_layer(e, source), _nodes_of(e)) for e in entries if _layer_name(e) not in inputs_by_name]
    _replay_nodes(calls, tensors, source)
    inputs = [_lookup(tensors, ref, source) for ref in config.get("input_layers", [])]
    outputs = [_lookup(tensors, ref, source) for ref in config.get("output_layers", [])]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=config.get("name"),
    )


def _sequential_from_keras2(config: dict | list, source: str):
    import keras

    # Keras <= 2.2 wrote the layer list itself as the config.
    layer_configs = config if isinstance(config, list) else config.get("layers") or []
    name = None if isinstance(config, list) else config.get("name")
    model = keras.Sequential(name=name)
    first = layer_configs[0].get("config", {}) if layer_configs else {}
    if layer_configs and layer_configs[0].get("class_name") != "InputLayer" and "batch_input_shape" in first:
        model.add(keras.Input(batch_shape=tuple(first["batch_input_shape"]), dtype=_input_dtype(layer_configs[0])))
    for entry in layer_configs:
        is_input = entry.get("class_name") == "InputLayer"
        model.add(_input_tensor(entry) if is_input else _build_layer(entry, source))
    return model


def _input_dtype(entry: dict) -> str:
    # The first layer's `dtype` is its compute dtype; an Embedding reads token ids.
    if entry.get("class_name") == "Embedding":
        return "int32"
    return _dtype_name(entry.get("config", {}).get("dtype")) or "float32"


def _layer_name(entry: dict) -> str:
    return entry.get("name") or entry.get("config", {}).get("name")


def _nodes_of(entry: dict) -> list[list]:
    nodes = entry.get("inbound_nodes") or []
    return [node for node in nodes if node]


def _input_tensor(entry: dict):
    import keras

    config = entry.get("config", {})
    return keras.Input(
        batch_shape=tuple(config.get("batch_input_shape") or config.get("batch_shape") or (None,)),
        dtype=_dtype_name(config.get("dtype")) or "float32",
        sparse=bool(config.get("sparse", False)),
        name=config.get("name") or _layer_name(entry),
    )


def _build_layer(entry: dict, source: str):
    import keras

    class_name = entry.get("class_name")
    if class_name in _MODEL_CLASSES or class_name == "Sequential":
        return model_from_config(entry, source)
    layer_class = getattr(keras.layers, str(class_name), None)
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise FiltersError(
            f"Layer {_layer_name(entry)!r} has a class Keras 3 does not have. Received: class {class_name!r} "
            f"in {source}; valid: the built-in layers of keras.layers"
        )
    config = _clean_layer_config(entry.get("config", {}), layer_class)
    try:
        return layer_class.from_config(config)
    except Exception as e:
        raise FiltersError(
            f"Layer {_layer_name(entry)!r} of class {class_name!r} does not load in Keras 3. "
            f"Received: {source} ({first_line(e)}); valid: built-in Keras layers"
        ) from None


def _clean_layer_config(config: dict, layer_class: type) -> dict:
    """Keeps the keys `layer_class` takes; Keras 2 wrote others Keras 3 rejects
    (`batch_input_shape`, Embedding's `input_length`, `ragged`, ...)."""
    accepted = _init_parameters(layer_class)
    cleaned = {
        key: value
        for key, value in config.items()
        if key in accepted and not key.endswith(_DROPPED_SUFFIXES)
    }
    if "dtype" in cleaned:
        cleaned["dtype"] = _dtype_name(cleaned["dtype"])
    return cleaned


def _init_parameters(layer_class: type) -> set[str]:
    import inspect

    import keras

    names = set()
    for cls in (layer_class, keras.layers.Layer):
        names.update(
            name
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and name != "self"
        )
    return names


def _dtype_name(dtype: Any) -> str | None:
    """Keras 2 wrote either a dtype string or a mixed-precision Policy object."""
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name")
    return dtype


def _replay_nodes(calls: list, tensors: dict, source: str) -> None:
    """Calls each layer on its inbound tensors, in an order where inputs exist.

    Keras 2 lists layers roughly in order, but a shared layer's later node may
    depend on a layer listed after it, so sweep until every node is called.
    """
    while calls:
        waiting = []
        for layer, nodes in calls:
            done = len(tensors.get(layer.name, []))
            while done < len(nodes) and _inputs_ready(nodes[done], tensors):
                tensors.setdefault(layer.name, []).append(_call_node(layer, nodes[done], tensors, source))
                done += 1
            if done < len(nodes):
                waiting.append((layer, nodes))
        if len(waiting) == len(calls):
            stuck = ", ".join(repr(layer.name) for layer, _ in waiting)
            raise FiltersError(
                f"The model graph refers to layers it does not define. Received: {source} "
                f"(layers {stuck} wait for missing inputs)"
            )
        calls = waiting


def _inputs_ready(node: list, tensors: dict) -> bool:
    return all(len(tensors.get(ref[0], [])) > ref[1] for ref in node)


def _call_node(layer, node: list, tensors: dict, source: str):
    inputs = [_lookup(tensors, ref, source) for ref in node]
    kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    try:
        return layer(inputs[0] if len(inputs) == 1 else inputs, **kwargs)
    except Exception as e:
        raise FiltersError(
            f"Layer {layer.name!r} does not accept its inputs in Keras 3. Received: {source} ({first_line(e)})"
        ) from None


def _lookup(tensors: dict, ref: list, source: str):
    name, node_index = ref[0], ref[1]
    tensor_index = ref[2] if len(ref) > 2 else 0
    try:
        output = tensors[name][node_index]
    except (KeyError, IndexError):
        raise FiltersError(f"The model graph refers to an unknown layer output. Received: {source} ({ref!r})") from None
    return output[tensor_index] if isinstance(output, (list, tuple)) else output


# -- weights -------------------------------------------------------------------


def load_weights(model, path: str) -> None:
    """Assigns weights from an HDF5 file to `model`, matched by layer name.

    Reads the layout Keras 2 (and Keras 3's legacy `.h5`) wrote: a `layer_names`
    attribute, and one group per layer whose `weight_names` attribute lists its
    datasets in the layer's weight order. Keras 3 `.weights.h5` files go to
    `model.load_weights`. Every layer with weights must be found, with the same
    shapes: a half-loaded model would interpret random filters.
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f
            if "layer_names" not in group.attrs:
                return _load_keras3_weights(model, path)
            saved = _read_layer_weights(group)
    except OSError as e:
        raise FiltersError(f"The weights file is not a readable HDF5 file. Received: {path} ({first_line(e)})") from None
    _assign_weights(model, saved, path)


def _read_layer_weights(group) -> dict[str, list[np.ndarray]]:
    saved = {}
    for layer_name in (_as_str(n) for n in group.attrs["layer_names"]):
        layer_group = group[layer_name]
        names = [_as_str(n) for n in layer_group.attrs.get("weight_names", [])]
        if names:
            saved[layer_name] = [np.asarray(layer_group[n]) for n in names]
    return saved


def _assign_weights(model, saved: dict[str, list[np.ndarray]], path: str) -> None:
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    missing = sorted(set(layers) - set(saved))
    unknown = sorted(set(saved) - set(layers))
    if missing or unknown:
        raise FiltersError(
            f"The weights file does not match the architecture. Received: {path} "
            f"(layers without weights in the file: {missing or 'none'}; "
            f"layers in the file but not in the model: {unknown or 'none'})"
        )
    for name, layer in layers.items():
        expected = [tuple(w.shape) for w in layer.weights]
        received = [tuple(w.shape) for w in saved[name]]
        if expected != received:
            raise FiltersError(
                f"Weights of layer {name!r} have the wrong shapes. Received: {received} in {path}; "
                f"valid: {expected}"
            )
        layer.set_weights(saved[name])


def _load_keras3_weights(model, path: str) -> None:
    try:
        model.load_weights(path)
    except Exception as e:
        raise FiltersError(
            f"Could not load the weights. Received: {path} ({first_line(e)}); "
            "valid: an HDF5 weights file written by Keras 2 save_weights, or a Keras 3 .weights.h5"
        ) from None


def _as_str(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
