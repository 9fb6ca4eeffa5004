"""From a Keras 3 model to the layer chains that lead from token ids to conv layers.

Each requested Conv1D must be reached from one token input through a single
chain of layers, each with one input: an Embedding first, then padding,
cropping, Conv1D, pooling and per-position layers. Chains of several conv
layers share their common prefix, which `forward` computes once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import keras

from tb_filters import checks
from tb_filters.engine import receptive
from tb_filters.errors import FiltersError

# Layers that act on each position on its own and keep the sequence length.
# Normalizations qualify only over the feature axis (checked in _is_per_position).
PER_POSITION = (
    keras.layers.Activation,
    keras.layers.ActivityRegularization,
    keras.layers.AlphaDropout,
    keras.layers.BatchNormalization,
    keras.layers.Dense,
    keras.layers.Dropout,
    keras.layers.ELU,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.Identity,
    keras.layers.LayerNormalization,
    keras.layers.LeakyReLU,
    keras.layers.Masking,
    keras.layers.PReLU,
    keras.layers.ReLU,
    keras.layers.Rescaling,
    keras.layers.RMSNormalization,
    keras.layers.Softmax,
    keras.layers.SpatialDropout1D,
    keras.layers.UnitNormalization,
)
WINDOWS = (keras.layers.Conv1D, keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)
# String-to-id front ends: token ids are fed to the layer after them.
TOKENIZERS = (keras.layers.TextVectorization, keras.layers.StringLookup)


@dataclasses.dataclass(frozen=True)
class Chain:
    """The layers from the token ids up to and including `conv`."""

    conv: Any
    layers: tuple  # layers[0] is the Embedding, layers[-1] is conv
    feed: Any  # the KerasTensor the token ids stand for
    feed_name: str  # the layer that produces it (an InputLayer or a tokenizer)

    @property
    def name(self) -> str:
        return self.conv.name

    @property
    def embedding(self) -> Any:
        return self.layers[0]

    @property
    def fixed_length(self) -> int | None:
        return self.feed.shape[1] if len(self.feed.shape) == 2 else None

    def steps(self, input_length: int) -> list[receptive.Step]:
        """The position map of every layer, for sequences of `input_length` tokens."""
        steps = []
        length = input_length
        for layer in self.layers:
            step = layer_step(layer, length)
            steps.append(step)
            length = step.output_length(length)
        return steps

    @property
    def feeds_on_embedding(self) -> bool:
        """True when no window layer sits between the embedding and the conv."""
        return not any(isinstance(layer, WINDOWS) for layer in self.layers[1:-1])

    @property
    def path(self) -> tuple[str, ...]:
        return (self.feed_name,) + tuple(layer.name for layer in self.layers[:-1])


def layer_step(layer: Any, input_length: int) -> receptive.Step:
    if isinstance(layer, keras.layers.ZeroPadding1D):
        return receptive.padding_step(*pair(layer.padding))
    if isinstance(layer, keras.layers.Cropping1D):
        return receptive.cropping_step(*pair(layer.cropping))
    if isinstance(layer, keras.layers.Conv1D):
        return receptive.window_step(
            layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0], layer.padding, input_length
        )
    if isinstance(layer, (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)):
        return receptive.window_step(layer.pool_size[0], layer.strides[0], 1, layer.padding, input_length)
    return receptive.IDENTITY


def pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def conv_layer_names(model: Any) -> list[str]:
    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]


def find_chains(model: Any, layer_names: Sequence[str] | None) -> list[Chain]:
    """One Chain per requested conv layer (default: every Conv1D, in model order)."""
    graph = graph_of(model)
    names = checks.layer_names(layer_names) or conv_layer_names(model)
    if not names:
        raise FiltersError(
            f"Expected a model with at least one Conv1D layer. Received model {model.name!r} with layers "
            f"{[layer.name for layer in model.layers]}"
        )
    nodes = _nodes_by_operation(graph)
    chains = [_chain(model, nodes, name) for name in names]
    feeds = {id(chain.feed): chain for chain in chains}
    if len(feeds) > 1:
        first, second = list(feeds.values())[:2]
        raise FiltersError(
            "Expected the requested conv layers to read one token input. Received layers "
            f"{first.name!r} (from {first.feed_name!r}) and {second.name!r} (from {second.feed_name!r}); "
            "pass layers= for one input at a time"
        )
    return chains


def graph_of(model: Any) -> Any:
    """The functional graph of a Functional or Sequential model (FiltersError otherwise)."""
    if isinstance(model, keras.Sequential):
        if model._functional is None:
            raise FiltersError(
                f"Expected a built model. Received Sequential model {model.name!r} without an input shape; "
                "start it with keras.Input(shape=(length,), dtype='int32')"
            )
        return model._functional
    if not hasattr(model, "_nodes_by_depth"):
        raise FiltersError(
            f"Expected a Functional or Sequential Keras model. Received: {type(model).__name__} "
            "(a subclassed model has no layer graph to follow)"
        )
    return model


def _nodes_by_operation(graph: Any) -> dict[int, list]:
    nodes: dict[int, list] = {}
    for depth_nodes in graph._nodes_by_depth.values():
        for node in depth_nodes:
            nodes.setdefault(id(node.operation), []).append(node)
    return nodes


def _chain(model: Any, nodes: dict[int, list], name: str) -> Chain:
    conv = _find_layer(model, name)
    layers = [conv]
    node = _single_node(nodes, conv, name)
    while True:
        _check_single_input(node, name)
        op = node.parent_nodes[0].operation
        if isinstance(op, (keras.layers.InputLayer,) + TOKENIZERS):
            return _checked(Chain(conv, tuple(reversed(layers)), node.arguments.keras_tensors[0], op.name))
        node = _single_node(nodes, op, name)
        _check_single_input(node, name)
        _check_supported(op, name)
        layers.append(op)


def _check_single_input(node: Any, conv_name: str) -> None:
    inputs = len(node.arguments.keras_tensors)
    if len(node.parent_nodes) != 1 or inputs != 1:
        raise FiltersError(
            f"Expected a single chain of layers from the token input to {conv_name!r}. "
            f"Received layer {node.operation.name!r} with {inputs} inputs"
        )


def _find_layer(model: Any, name: str) -> Any:
    convs = conv_layer_names(model)
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise FiltersError(
            f"Expected one of the conv layers {convs}. Received layer name {name!r} (not found)"
        ) from None
    if not isinstance(layer, keras.layers.Conv1D):
        raise FiltersError(
            f"Expected a Conv1D layer, one of {convs}. Received layer {name!r} ({type(layer).__name__})"
        )
    _check_channels_last(layer, name)
    return layer


def _single_node(nodes: dict[int, list], layer: Any, conv_name: str) -> Any:
    found = nodes.get(id(layer), [])
    if len(found) != 1:
        raise FiltersError(
            f"Expected layer {layer.name!r} (on the way to {conv_name!r}) to be called once in the model. "
            f"Received {len(found)} calls"
        )
    return found[0]


def _check_supported(layer: Any, conv_name: str) -> None:
    supported = (
        isinstance(layer, (keras.layers.Embedding, keras.layers.ZeroPadding1D, keras.layers.Cropping1D) + WINDOWS)
        or _is_per_position(layer)
    )
    if not supported:
        raise FiltersError(
            f"Expected only Embedding, ZeroPadding1D, Cropping1D, Conv1D, MaxPooling1D, AveragePooling1D and "
            f"per-position layers between the token input and {conv_name!r}. "
            f"Received layer {layer.name!r} ({type(layer).__name__})"
        )
    _check_channels_last(layer, conv_name)


def _is_per_position(layer: Any) -> bool:
    if not isinstance(layer, PER_POSITION):
        return False
    if isinstance(layer, keras.layers.PReLU):
        # Without sharing over time, alpha has one value per position.
        return 1 in (layer.shared_axes or ())
    axis = getattr(layer, "axis", -1)
    axes = set(axis) if isinstance(axis, (list, tuple)) else {axis}
    return axes <= {-1, 2}


def _check_channels_last(layer: Any, conv_name: str) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise FiltersError(
            f"Expected channels_last layers on the way to {conv_name!r}. "
            f"Received layer {layer.name!r} with data_format={layer.data_format!r}"
        )


def _checked(chain: Chain) -> Chain:
    if not isinstance(chain.layers[0], keras.layers.Embedding):
        raise FiltersError(
            f"Expected an Embedding right after the token input {chain.feed_name!r} on the way to "
            f"{chain.name!r}. Received layer {chain.layers[0].name!r} ({type(chain.layers[0]).__name__})"
        )
    for layer in chain.layers[1:]:
        if isinstance(layer, keras.layers.Embedding):
            raise FiltersError(
                f"Expected one Embedding on the way to {chain.name!r}. Received a second one, {layer.name!r}"
            )
    return chain


def forward(chains: Sequence[Chain], pre_activations: bool = False,
            gathered: dict[str, Callable] | None = None) -> Callable[..., dict[str, Any]]:
    """A function (token ids, tables) -> {conv name: activations}, each shared layer called once.

    With `pre_activations`, {conv name: (activations, pre-activations)}: each
    requested conv's output before its activation function, from the same call.
    `gathered` {conv name: (token ids, table) -> pre-activations} computes those
    convs from `tables` {conv name: projection table} (tables.py) instead of
    calling the layers up to them.
    """
    gathered = gathered or {}

    def run(token_ids: Any, tables: dict[str, Any] | None = None) -> dict[str, Any]:
        outputs: dict[int, Any] = {}
        pre: dict[int, Any] = {}
        targets = {id(chain.conv) for chain in chains} if pre_activations else set()
        results = {}
        for chain in chains:
            x, start = token_ids, 0
            for index, layer in enumerate(chain.layers):
                if layer.name in gathered:
                    if id(layer) not in outputs:
                        pre[id(layer)] = gathered[layer.name](token_ids, tables[layer.name])
                        outputs[id(layer)] = layer.activation(pre[id(layer)])
                    x, start = outputs[id(layer)], index + 1
            for layer in chain.layers[start:]:
                if id(layer) not in outputs:
                    if id(layer) in targets:
                        pre[id(layer)] = _without_activation(layer, x)
                        outputs[id(layer)] = layer.activation(pre[id(layer)])
                    else:
                        outputs[id(layer)] = layer(x, training=False)
                x = outputs[id(layer)]
            results[chain.name] = (x, pre[id(chain.conv)]) if pre_activations else x
        return results

    return run


def _without_activation(conv: Any, x: Any) -> Any:
    """The conv's own call with its activation set aside: custom Conv1D
    subclasses, causal padding and dtype policies stay exactly the layer's.
    Only while tracing, in the tracing thread; the activation is put back."""
    activation = conv.activation
    conv.activation = keras.activations.linear
    try:
        return conv(x, training=False)
    finally:
        conv.activation = activation
