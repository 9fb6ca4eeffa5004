"""Which filters matter: each filter's effect on the model's outputs, by ablation,
and the running sums behind duplicate filters.

effect[f, o] = mean over examples of (output_o(x) - output_o(x with filter f's
activations set to 0 at every position of the layer)), and the mean of the
absolute change. Both are taken over the first `limit` examples (the sample).

The model is split at an ablation point: the layer's output, or further on
when only channel-wise layers follow (pooling, activations, padding, inference
dropout, batch normalization). Each of those maps channel f to channel f on
its own, so zeroing f at the layer equals setting f, at the point, to what
those layers make of zeros (`zero`, computed once per batch). Everything the
rest of the model reads besides the point (other inputs, other branches) is
the frontier, computed once per batch. The rest runs once per filter: copies
of the point, one filter replaced per copy, go through it together, as many
copies per call as fit a memory budget.

When the point feeds one Conv1D or Dense layer (directly or concatenated on
the channel axis with tensors that do not depend on it), that layer's
pre-activation is linear in the point: replacing channel f adds channel f's
contribution alone, (zero_f - point_f) convolved with (or times) the kernel's
rows for f. Its clean pre-activation is computed once per batch, the
contributions of a tile of filters in one elementwise pass, and only the
layers after it run per filter (`Linear`): the layer itself, the costliest
part of the rest on a conv -> pool -> conv model, is never recomputed. The
clean outputs are one more copy of the first tile, with no contribution. That
pass is compiled by XLA when the sample holds enough work to win the
compilation back (`XLA_MIN_WORK`), else traced plainly.

The activations are the step's: the sample never runs the model up to the layer.

Duplicates need correlations: sum x, sum x^2 and sum x_i x_j over every
position of the sample, accumulated in float64, from which the correlation
follows exactly (redundancy.py). All sums here are additive over batches.
"""

from __future__ import annotations

import collections
import dataclasses
import warnings
import weakref
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tb_filters import checks
from tb_filters.engine import chains as chains_lib
from tb_filters.engine import hashing
from tb_filters.engine import state as state_lib
from tb_filters.engine.state import Described
from tb_filters.errors import FiltersError
from tb_filters.options import Options

# Layers that map channel f to channel f with nothing from other channels (at inference).
CHANNEL_WISE = (
    keras.layers.MaxPooling1D,
    keras.layers.AveragePooling1D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
    keras.layers.Identity,
    keras.layers.ZeroPadding1D,
    keras.layers.Cropping1D,
    keras.layers.BatchNormalization,
)

# Ablated copies of the point per call: copies x rows x point size stays under
# this many floats (16 MB), so a 1024-filter layer never tiles its whole batch at once.
_TILE_BUDGET = 1 << 22

# The linear path folds a global pooling position by position, unrolled, up to this many positions.
_UNROLLED_POSITIONS = 256

# The fast path's copies per call: copies x what one copy holds (_linear_copy_size) stays
# under this many floats (64 MB).
_LINEAR_TILE_BUDGET = 1 << 24


class EffectsSkipped(UserWarning):
    """Effects could not be computed (another model input was not given); the rest of the report is complete."""


@dataclasses.dataclass(frozen=True)
class Split:
    """The model cut at a conv layer's ablation point."""

    point_layers: tuple  # channel-wise layers from the conv output to the point
    rest: Any  # keras.Function: [point, *frontier] -> the reached model outputs other than the point, or None
    point_outputs: tuple[bool, ...]  # per reached model output: it is the point itself (Keras models no identity)
    frontier: Any  # keras.Function: [token feed, *needed inputs] -> computed frontier tensors, or None
    frontier_kinds: tuple  # per rest input after the point: ("input", name) or ("computed", i)
    needs: tuple[str, ...]  # other model inputs, by name
    columns: np.ndarray  # output units the rest computes (the others do not depend on the layer: effect 0)
    linear: "Linear | None" = None  # the linear layer the point feeds, if any: the fast path


@dataclasses.dataclass(frozen=True)
class Linear:
    """The one Conv1D or Dense layer the point feeds: every path from the point runs through it."""

    layer: Any
    offset: int  # the point's first channel among the layer's input channels (after a concatenation)
    head: Any  # keras.Function: [point, *frontier] -> the layer's input (a concatenation), or None: the point
    pooling: str | None  # "max" or "average": a global pooling over positions alone reads the (Conv1D) layer
    cut_shape: tuple  # per example, the shape at the cut: the pooling's output, else the layer's
    rest: Any  # keras.Function: [cut, *frontier] -> the reached outputs other than the cut, or None
    cut_outputs: tuple[bool, ...]  # per reached model output: it is the cut itself


def output_names(model: Any, class_names: Sequence[str] | None) -> list[str]:
    """`outputname:unit` for every unit of every model output, or the class names given."""
    graph = chains_lib.graph_of(model)
    names = []
    for tensor in graph.outputs:
        layer = tensor._keras_history.operation.name
        names.extend(f"{layer}:{u}" for u in range(_units(tensor)))
    if class_names is None:
        return names
    given = list(class_names)
    if len(given) != len(names) or not all(isinstance(n, str) for n in given):
        raise FiltersError(
            f"Expected class_names: {len(names)} strings, one per model output unit ({', '.join(names[:4])}"
            f"{', ...' if len(names) > 4 else ''}). Received {len(given)} items"
        )
    return given


class UnknownOutputSize(ValueError):
    """A model output whose size is known only per input (e.g. per token of any length)."""


def _units(tensor: Any) -> int:
    if any(d is None for d in tensor.shape[1:]):
        raise UnknownOutputSize(f"output {tensor._keras_history.operation.name!r} has shape {tuple(tensor.shape)}")
    return int(np.prod(tensor.shape[1:])) if len(tensor.shape) > 1 else 1


def other_input_names(model: Any, chains: Sequence[chains_lib.Chain]) -> list[str]:
    """Model inputs besides the token ids (and the strings a tokenizer turns into them)."""
    graph = chains_lib.graph_of(model)
    token_side = {id(chains[0].feed)} | {id(t) for t in _ancestors([chains[0].feed])}
    return [t.name for t in graph.inputs if id(t) not in token_side]


def check_inputs(model: Any, chains: Sequence[chains_lib.Chain], inputs: Mapping[str, Any] | None) -> dict:
    """The other inputs as float/int arrays by name; unknown names are an error."""
    known = other_input_names(model, chains)
    arrays = {}
    for name, value in checks.named_inputs(inputs).items():
        if name not in known:
            raise FiltersError(
                f"Expected inputs named among the model's other inputs {known}. Received input name {name!r}"
            )
        array = np.asarray(value)
        if array.ndim < 1 or array.dtype.kind not in "biuf":
            raise FiltersError(
                f"Expected input {name!r} as a numeric array with one row per example. "
                f"Received: shape {array.shape}, dtype {array.dtype}"
            )
        arrays[name] = array
    return arrays


def split(model: Any, chain: chains_lib.Chain) -> Split:
    graph = chains_lib.graph_of(model)
    point, point_layers = _push_through(graph, chain.conv.output)
    frontier, downstream = _frontier(graph, point)
    reached = [id(t) in downstream for t in graph.outputs]
    columns = np.concatenate([
        np.full(_units(t), ok) for t, ok in zip(graph.outputs, reached)
    ])
    inputs_by_id = {id(t): t.name for t in graph.inputs}
    computed = [t for t in frontier if id(t) not in inputs_by_id]
    needed = [t for t in graph.inputs if id(t) in {id(a) for a in _ancestors(computed)} | {id(t) for t in frontier}]
    token_side = {id(chain.feed)} | {id(t) for t in _ancestors([chain.feed])}
    needed = [t for t in needed if id(t) not in token_side]
    beyond = [t for t, ok in zip(graph.outputs, reached) if ok and t is not point]
    kinds, index = [], 0
    for t in frontier:
        if id(t) in inputs_by_id:
            kinds.append(("input", inputs_by_id[id(t)]))
        else:
            kinds.append(("computed", index))
            index += 1
    return Split(
        point_layers=tuple(point_layers),
        rest=_subgraph([point, *frontier], beyond) if beyond else None,
        point_outputs=tuple(t is point for t in graph.outputs if id(t) in downstream),
        frontier=_subgraph([chain.feed, *needed], computed) if computed else None,
        frontier_kinds=tuple(kinds),
        needs=tuple(t.name for t in needed),
        columns=np.flatnonzero(columns),
        linear=_linear(graph, point, frontier, [t for t, ok in zip(graph.outputs, reached) if ok]),
    )


def _linear(graph: Any, point: Any, frontier: list, reached: list) -> Linear | None:
    """The fast path's cut, if the point feeds a linear layer alone (through a concatenation at most)."""
    consumers = _consumers(graph)
    outputs = {id(t) for t in graph.outputs}

    def only_reader(tensor):
        nodes = consumers.get(id(tensor), [])
        return nodes[0] if len(nodes) == 1 and id(tensor) not in outputs else None

    node, layer_input, offset = only_reader(point), point, 0
    if node is not None and isinstance(node.operation, keras.layers.Concatenate):
        offset = _channel_offset(node, point)
        layer_input = node.outputs[0]
        node = only_reader(layer_input) if offset is not None else None
    if node is None or len(node.input_tensors) != 1 or not _is_linear(node.operation):
        return None
    cut, pooling = node.outputs[0], None
    reader = only_reader(cut)
    if isinstance(node.operation, keras.layers.Conv1D) and reader is not None and _pools_positions(reader.operation):
        if cut.shape[1] is not None and cut.shape[1] <= _UNROLLED_POSITIONS:
            pooling = "max" if isinstance(reader.operation, keras.layers.GlobalMaxPooling1D) else "average"
            cut = reader.outputs[0]
    beyond = [t for t in reached if t is not cut]
    return Linear(
        layer=node.operation,
        offset=offset,
        head=_subgraph([point, *frontier], [layer_input]) if layer_input is not point else None,
        pooling=pooling,
        cut_shape=tuple(int(d) for d in cut.shape[1:]),
        rest=_subgraph([cut, *frontier], beyond) if beyond else None,
        cut_outputs=tuple(t is cut for t in reached),
    )


def _pools_positions(layer: Any) -> bool:
    return (type(layer) in (keras.layers.GlobalMaxPooling1D, keras.layers.GlobalAveragePooling1D)
            and _is_channel_wise(layer))


def _channel_offset(node: Any, point: Any) -> int | None:
    """Where the point's channels start in a concatenation on the channel axis (None: not one)."""
    inputs = list(node.input_tensors)
    rank = len(point.shape)
    if node.operation.axis not in (-1, rank - 1) or sum(t is point for t in inputs) != 1:
        return None
    before = [t.shape[-1] for t in inputs[:[id(t) for t in inputs].index(id(point))]]
    return None if any(d is None for d in before) else int(sum(before))


def _is_linear(layer: Any) -> bool:
    """A layer whose pre-activation is a linear map of its input plus a bias, computed here as it computes it.
    Exact types: a subclass may compute something else."""
    if getattr(layer, "quantization_mode", None) is not None or layer.compute_dtype != "float32":
        return False
    if type(layer) is keras.layers.Dense:
        return True
    return (type(layer) is keras.layers.Conv1D and layer.data_format == "channels_last" and layer.groups == 1
            and layer.padding in ("valid", "same", "causal"))


def _subgraph(inputs: list, outputs: list) -> Any:
    """The user's model from intermediate tensors to outputs, run layer by layer at inference.

    A `keras.Function`, not a `keras.Model`: a Model on intermediate tensors clones their
    nodes into the user's layers, after which the user's `model.save()` fails ("could not
    find node key"); a Function only reads the graph. Its layers run with `training` unset,
    which outside `fit` is inference (dropout off, batch statistics frozen)."""
    return keras.Function(inputs, outputs)


def _consumers(graph: Any) -> dict[int, list]:
    consumers: dict[int, list] = {}
    for depth_nodes in graph._nodes_by_depth.values():
        for node in depth_nodes:
            for tensor in node.input_tensors:
                consumers.setdefault(id(tensor), []).append(node)
    return consumers


def _push_through(graph: Any, tensor: Any) -> tuple[Any, list]:
    """The ablation point: past every channel-wise layer that alone reads the conv's output."""
    consumers = _consumers(graph)
    outputs = {id(t) for t in graph.outputs}
    layers = []
    while id(tensor) not in outputs:
        nodes = consumers.get(id(tensor), [])
        if len(nodes) != 1 or len(nodes[0].input_tensors) != 1 or not _is_channel_wise(nodes[0].operation):
            break
        layers.append(nodes[0].operation)
        tensor = nodes[0].outputs[0]
    return tensor, layers


def _is_channel_wise(layer: Any) -> bool:
    if not isinstance(layer, CHANNEL_WISE):
        return False
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, 2, [-1], [2])
    if isinstance(layer, (keras.layers.GlobalMaxPooling1D, keras.layers.GlobalAveragePooling1D)):
        return getattr(layer, "data_format", "channels_last") == "channels_last"
    return True


def _frontier(graph: Any, point: Any) -> list:
    """Tensors the rest of the model reads that do not depend on the point, in graph order,
    and the ids of the tensors that do."""
    downstream = {id(point)}
    frontier: dict[int, Any] = {}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if any(id(t) in downstream for t in node.input_tensors):
                downstream.update(id(t) for t in node.outputs)
                for t in node.input_tensors:
                    if id(t) not in downstream:
                        frontier.setdefault(id(t), t)
    return list(frontier.values()), downstream


def _ancestors(tensors: Sequence[Any]) -> list:
    seen: dict[int, Any] = {}
    stack = list(tensors)
    while stack:
        tensor = stack.pop()
        operation, node_index, _ = tensor._keras_history
        for parent in operation._inbound_nodes[node_index].input_tensors:
            if id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return list(seen.values())


class Sample:
    """The examples with global index below `limit` (0: all) of an interpret run, batch
    by batch, as additive arrays of each layer's state (state.sample_fields): a shard
    fed its own batches holds its part of the sample, and merged parts are the whole.

    Everything here reads the activations the step computed for the batch (no second forward
    pass). The signatures too: each example below `probe` gets its row of maxima over positions
    per filter."""

    def __init__(
        self,
        model: Any,
        chains: Sequence[chains_lib.Chain],
        inputs: Mapping[str, np.ndarray],
        options: Options,
        expected_examples: int | None = None,
    ):
        effects, class_names, limit = options.effects, options.class_names, options.effect_examples
        self.model = model
        self.chains = list(chains)
        self.inputs = dict(inputs)
        self.limit = limit
        self.probe = options.probe_examples
        self.bound = _sample_bound(limit, expected_examples)
        self.xla: dict[str, bool] = {}  # per layer on the fast path: its ablation compiled by XLA
        self.duplicate_threshold = options.duplicate_threshold
        self.compiled = _compiled(model, self.chains)
        self.splits = self.compiled.splits if effects else {}
        self.note = "" if effects else "effects not requested"
        try:
            self.names = output_names(model, class_names) if effects else []
        except UnknownOutputSize as e:
            self.names, self.splits = [], {}
            self.note = f"effects skipped: one value per output unit needs outputs of a fixed size ({e})"
            warnings.warn(f"tb_filters: {self.note}", EffectsSkipped, stacklevel=3)
        if effects and self.names and keras.backend.backend() != "tensorflow":
            # The ablation runs the rest of the model in tf.function, which cannot trace
            # Keras layers holding another backend's variables.
            self.splits = {}
            self.note = (f"effects skipped: they need the TensorFlow backend (KERAS_BACKEND="
                         f"{keras.backend.backend()!r}); `tb-filters interpret` on the saved model computes them")
            warnings.warn(f"tb_filters: {self.note}", EffectsSkipped, stacklevel=3)
        if effects and self.names and self.compiled.failure:
            self.note = f"effects skipped: {self.compiled.failure}"
            warnings.warn(f"tb_filters: {self.note}", EffectsSkipped, stacklevel=3)
        missing = sorted({n for s in self.splits.values() for n in s.needs} - set(self.inputs))
        if self.splits and missing:
            self.note = (f"effects skipped: the model's other input(s) {missing} were not given "
                         f"(pass inputs={{{missing[0]!r}: array}}, or --input {missing[0]}=FILE.npy)")
            warnings.warn(f"tb_filters: {self.note}", EffectsSkipped, stacklevel=3)
            self.splits = {}
        if self.splits and expected_examples is not None:
            self._check_rows(expected_examples if limit == 0 else min(limit, expected_examples))
        self.sums = {chain.name: state_lib.empty_arrays(
            state_lib.sample_fields(int(chain.conv.filters), self.outputs, self.probe)) for chain in self.chains}

    @property
    def outputs(self) -> int:
        """Output units with effects in the state (0: none)."""
        return len(self.names) if self.splits else 0

    @property
    def described(self) -> Described:
        return Described(tuple(self.names) if self.splits else (), self.note, self.duplicate_threshold)

    def _check_rows(self, needed: int) -> None:
        for name, array in self.inputs.items():
            if array.shape[0] < needed:
                raise FiltersError(
                    f"Expected input {name!r} to hold a row per interpreted example (at least {needed}). "
                    f"Received {array.shape[0]} rows"
                )

    def feed(self, ids: np.ndarray, valid: int, first: int, activations: Mapping[str, tf.Tensor]) -> None:
        """`ids` [rows, L] int32 holding examples first.. (rows past `valid` are padding), and
        each layer's float32 activations [rows, positions, filters] on them, from the step."""
        take = valid if self.limit == 0 else min(valid, self.limit - first)
        probed = min(valid, self.probe - first)
        if take <= 0 and probed <= 0:
            return
        functions = self.compiled.functions
        if probed > 0:
            self._signatures(ids, activations, first, probed)
        if take <= 0:
            return
        others = self._other_rows(ids.shape[0], take, first)
        take_t = tf.constant(take, tf.int32)
        for chain in self.chains:
            acts = activations[chain.name]
            sums = self.sums[chain.name]
            total, squares, products = functions["moments"](acts, take_t)
            sums["sample_examples"] += take
            sums["sample_sum"] += total.numpy()
            sums["sample_squares"] += squares.numpy()
            sums["sample_products"] += products.numpy()
            if chain.name in self.splits:
                self._effects(functions, chain, ids, acts, others, take_t)

    def _signatures(self, ids: np.ndarray, activations: Mapping[str, tf.Tensor], first: int, probed: int) -> None:
        """Rows first..first + probed - 1 of each layer's signature (maxima over positions) and probe hashes."""
        hashes = hashing.example_hashes(ids[:probed])
        for chain in self.chains:
            sums = self.sums[chain.name]
            sums["signature"][first: first + probed] = tf.reduce_max(activations[chain.name][:probed], axis=1).numpy()
            sums["probe_hash"][first: first + probed] = hashes

    def _other_rows(self, rows: int, take: int, first: int) -> dict[str, tf.Tensor]:
        if not self.splits:
            return {}
        result = {}
        end = first + take
        self._check_rows(end)
        for name, array in self.inputs.items():
            block = np.zeros((rows,) + array.shape[1:], array.dtype)
            block[:take] = array[first: end]
            result[name] = tf.constant(block)
        return result

    def _effects(self, functions: dict, chain: chains_lib.Chain, ids, acts, others, take_t) -> None:
        split_ = self.splits[chain.name]
        fn = functions[chain.name]
        computed = fn["frontier"](tf.constant(ids), [others[n] for n in split_.needs]) if split_.frontier else []
        frontier = [others[ref] if kind == "input" else computed[ref] for kind, ref in split_.frontier_kinds]
        if split_.linear is not None:
            self._linear_effects(fn, chain, split_, acts, frontier, take_t)
            return
        filters = int(chain.conv.filters)
        point = fn["point"](acts)
        zero = fn["point"](tf.zeros([1] + list(acts.shape[1:]), acts.dtype))
        clean = fn["outputs"](point, frontier)
        copies = _copies(filters, _TILE_BUDGET, int(np.prod(point.shape)))
        sums, columns = self.sums[chain.name], split_.columns
        for start in range(0, filters, copies):
            rows = np.arange(start, min(filters, start + copies))
            # Every call has `copies` filters (the last tile repeats its last filter), so one trace serves all.
            which = np.concatenate([rows, np.full(copies - len(rows), rows[-1])])
            change, absolute = fn["ablate"](point, zero, frontier, clean, take_t, tf.constant(which, tf.int32))
            sums["effect_sum"][np.ix_(rows, columns)] += change.numpy()[:len(rows)]
            sums["effect_abs_sum"][np.ix_(rows, columns)] += absolute.numpy()[:len(rows)]

    def _linear_effects(self, fn: dict, chain: chains_lib.Chain, split_: Split, acts, frontier: list, take_t) -> None:
        """The fast path. Slot -1 of the first tile is the clean model: its outputs come from the
        same call and kernels as the ablated ones, and later tiles receive them."""
        filters = int(chain.conv.filters)
        point, zero, pre = fn["linear_inputs"](acts, frontier)
        if chain.name not in self.xla:
            self.xla[chain.name] = _worth_xla(self.bound, filters, split_.linear, tuple(pre.shape[1:]))
        copies = _copies(filters + 1, _LINEAR_TILE_BUDGET, _linear_copy_size(split_.linear, point, pre))
        slots = np.arange(-1, filters)
        clean = tf.zeros([point.shape[0], len(split_.columns)], tf.float64)
        sums, columns = self.sums[chain.name], split_.columns
        for start in range(0, filters + 1, copies):
            tile = slots[start: start + copies]
            # Every call has `copies` slots (the last tile repeats its last one), so one trace serves all.
            which = np.concatenate([tile, np.full(copies - len(tile), tile[-1])])
            change, absolute, clean = fn["linear_ablate"](
                point, zero, frontier, pre, clean, take_t, tf.constant(which, tf.int32), xla=self.xla[chain.name])
            ablated = tile >= 0
            rows = tile[ablated]
            sums["effect_sum"][np.ix_(rows, columns)] += change.numpy()[:len(tile)][ablated]
            sums["effect_abs_sum"][np.ix_(rows, columns)] += absolute.numpy()[:len(tile)][ablated]

    def arrays(self, layer: str) -> dict[str, np.ndarray]:
        return self.sums[layer]


@dataclasses.dataclass
class _Compiled:
    splits: dict[str, Split]
    functions: dict
    failure: str = ""  # why the model could not be split, if it could not


# A callback interprets the same model every epoch: its splits and traced
# functions are kept (the functions read the weights as they are at each
# call), and dropped with the model.
_CACHE: collections.OrderedDict[tuple, _Compiled] = collections.OrderedDict()
_CACHE_KEPT = 4


def _compiled(model: Any, chains: Sequence[chains_lib.Chain]) -> _Compiled:
    key = (id(model), tuple(tuple(id(layer) for layer in chain.layers) for chain in chains))
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    try:
        splits, failure = {chain.name: split(model, chain) for chain in chains}, ""
    except ValueError as e:  # Keras could not cut the graph there (e.g. a tokenizer's strings used elsewhere)
        splits, failure = {}, f"the model could not be split after the layer ({' '.join(str(e).split())})"
    _CACHE[key] = _Compiled(splits, _functions(chains, splits), failure)
    weakref.finalize(model, _CACHE.pop, key, None)
    while len(_CACHE) > _CACHE_KEPT:
        _CACHE.popitem(last=False)
    return _CACHE[key]


def _functions(chains: Sequence[chains_lib.Chain], splits: Mapping[str, Split]) -> dict:
    functions: dict[str, Any] = {"moments": tf.function(_moments, autograph=False)}
    for name, split_ in splits.items():
        functions[name] = _split_functions(split_)
    return functions


def _moments(acts, take):
    """sum x, sum x^2, sum x_i x_j over the first `take` rows' positions, float64."""
    valid = acts[:take]
    flat = tf.cast(tf.reshape(valid, [-1, acts.shape[2]]), tf.float64)
    return tf.reduce_sum(flat, 0), tf.reduce_sum(flat * flat, 0), tf.matmul(flat, flat, transpose_a=True)


def _linear_copy_size(linear: Linear, point: Any, pre: Any) -> int:
    """Floats one ablated copy holds at once on the fast path: its channel of the point, and
    the layer's output, or only the pooled value when a pooling is folded position by position."""
    cut = pre.shape[1:] if linear.pooling is None else linear.cut_shape
    return int(point.shape[0] * (np.prod(point.shape[1:-1]) + np.prod(cut)))


def _sample_bound(limit: int, expected_examples: int | None) -> int | None:
    """The most examples the sample can hold (None: unknown, data of unknown size and no limit)."""
    bounds = [n for n in (limit or None, expected_examples) if n is not None]
    return min(bounds) if bounds else None


# Below this much work on the fast path's cut (sample examples x filters x what one copy
# of one example computes there, _cut_work) a layer's ablation runs without XLA. Measured
# on the notebook-shaped conv_1 (batch 1024, 64 filters; 2 loaded cores): 15-30 ms a batch
# compiled vs 165-190 ms traced plainly, and 0.9-2.0 s tracing and compiling it vs 0.3-0.8 s
# tracing it: about 0.9 ns per unit of work saved against ~0.6 s, even at ~6e8.
XLA_MIN_WORK = 500_000_000


def _worth_xla(bound: int | None, filters: int, linear: Linear, shape: tuple) -> bool:
    """`shape`: one example's pre-activation of the linear layer."""
    return bound is None or bound * filters * _cut_work(linear, shape) >= XLA_MIN_WORK


def _cut_work(linear: Linear, shape: tuple) -> int:
    """Per ablated copy of one example: the layer's outputs times the taps adding to each."""
    taps = linear.layer.kernel_size[0] if isinstance(linear.layer, keras.layers.Conv1D) else 1
    return int(np.prod(shape)) * taps


def _copies(filters: int, budget: int, per_copy: int) -> int:
    """Filters per call within `budget` floats, spread evenly over the calls."""
    most = max(1, min(filters, budget // max(1, per_copy)))
    calls = -(-filters // most)
    return -(-filters // calls)


def _split_functions(split_: Split) -> dict:
    def point(acts):
        for layer in split_.point_layers:
            acts = layer(acts, training=False)
        return tf.cast(acts, tf.float32)

    def outputs(point_value, frontier):
        beyond = iter(_as_list(split_.rest([point_value, *frontier])) if split_.rest else [])
        result = [point_value if is_point else next(beyond) for is_point in split_.point_outputs]
        rows = point_value.shape[0]
        return tf.concat([tf.reshape(tf.cast(r, tf.float64), [rows, -1]) for r in result], axis=1)

    def ablate(point_value, zero, frontier, clean, take, which):
        """Per filter in `which`: sum over the first `take` rows of clean - ablated, and of |clean - ablated|."""
        copies, rows = which.shape[0], point_value.shape[0]
        channels = point_value.shape[-1]
        ones = [1] * (len(point_value.shape) - 1)
        mask = tf.reshape(tf.one_hot(which, channels, on_value=True, off_value=False), [copies, 1, *ones, channels])
        tiled = tf.where(mask, zero[None], point_value[None])
        tiled = tf.reshape(tiled, [copies * rows, *point_value.shape[1:]])
        tiled_frontier = [tf.tile(v, [copies] + [1] * (len(v.shape) - 1)) for v in frontier]
        ablated = tf.reshape(outputs(tiled, tiled_frontier), [copies, rows, -1])
        change = (clean[None] - ablated)[:, :take]
        return tf.reduce_sum(change, axis=1), tf.reduce_sum(tf.abs(change), axis=1)

    functions = {
        "point": tf.function(point, autograph=False),
        "outputs": tf.function(outputs, autograph=False),
        "ablate": tf.function(ablate, autograph=False),
    }
    if split_.frontier is not None:
        functions["frontier"] = tf.function(
            lambda ids, needed: _as_list(split_.frontier([ids, *needed])), autograph=False)
    if split_.linear is not None:
        functions.update(_linear_functions(split_.linear, point))
    return functions


def _linear_functions(linear: Linear, to_point: Any) -> dict:
    def outputs(value, frontier):
        beyond = iter(_as_list(linear.rest([value, *frontier])) if linear.rest else [])
        result = [value if is_cut else next(beyond) for is_cut in linear.cut_outputs]
        rows = value.shape[0]
        return tf.concat([tf.reshape(tf.cast(r, tf.float64), [rows, -1]) for r in result], axis=1)

    def inputs(acts, frontier):
        """The point, what it is where the layer is zero, and the linear layer's pre-activation: once a batch."""
        point_value = to_point(acts)
        zero = to_point(tf.zeros([1, *acts.shape[1:]], acts.dtype))
        layer_input = linear.head([point_value, *frontier])[0] if linear.head else point_value
        return point_value, zero, _pre_activation(linear.layer, layer_input)

    def ablate(point_value, zero, frontier, pre, clean_outputs, take, which):
        """As the general path's ablate, with the layer's pre-activation changed by filter f's part
        alone; a slot -1 in `which` changes nothing: the clean outputs, returned (else `clean_outputs`)."""
        copies, rows = which.shape[0], point_value.shape[0]
        value = _cut_value(linear, pre[None], _Taps(linear, zero - point_value, which))
        value = tf.reshape(value, [copies * rows, *value.shape[2:]])
        tiled_frontier = [tf.tile(v, [copies] + [1] * (len(v.shape) - 1)) for v in frontier]
        ablated = tf.reshape(outputs(value, tiled_frontier), [copies, rows, -1])
        clean = tf.where(which[0] < 0, ablated[0], clean_outputs)
        counted = tf.reshape(tf.range(rows) < take, [1, rows, 1])  # a mask, not a slice: XLA needs static shapes
        change = tf.where(counted, clean[None] - ablated, tf.zeros([], tf.float64))
        return tf.reduce_sum(change, axis=1), tf.reduce_sum(tf.abs(change), axis=1), clean

    # XLA fuses the contributions, the activation and the pooling into one pass; unfused, each
    # step writes and reads a tensor of copies x rows x the layer's output. The clean outputs
    # are a copy of the same call, so a filter that changes nothing changes them by exactly 0.
    # The inputs are a convolution and the channel-wise layers, as fast without XLA.
    return {"linear_inputs": tf.function(inputs, autograph=False), "linear_ablate": _XlaOrNot(ablate)}


class _XlaOrNot:
    """A function compiled by XLA, or, if XLA cannot compile the model's layers after the cut
    (an op it lacks), the same function traced without it, from then on. A call with
    `xla=False` (too little work to win the compilation back) runs it without XLA."""

    def __init__(self, function):
        self.compiled = tf.function(function, autograph=False, jit_compile=True)
        self.plain = tf.function(function, autograph=False)
        self.xla = True

    def __call__(self, *args, xla: bool = True):
        if self.xla and xla:
            try:
                return self.compiled(*args)
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError):
                result = self.plain(*args)  # a real error in the function raises here too
                self.xla = False
                return result
        return self.plain(*args)

    def experimental_get_tracing_count(self) -> int:
        return self.compiled.experimental_get_tracing_count() + self.plain.experimental_get_tracing_count()


def _cut_value(linear: Linear, pre: Any, taps: "_Taps | None") -> Any:
    """[copies, rows, ...] the value at the cut: the layer's output, or its pooling's, from the
    pre-activation [1, rows, ...] plus each copy's contribution (none: the clean value)."""
    activation = linear.layer.activation or (lambda x: x)
    if linear.pooling is None:
        return activation(pre if taps is None else pre + taps.whole())
    # Position by position, folded as it goes: XLA compiles a reduction over the positions
    # of a [copies, rows, positions, filters] tensor to a loop about 5x slower than this.
    pooled = None
    for t, at_t in enumerate(tf.unstack(pre, axis=2)):
        value = activation(at_t if taps is None else at_t + taps.at(t))
        pooled = value if pooled is None else (
            tf.maximum(pooled, value) if linear.pooling == "max" else pooled + value)
    if linear.pooling == "average":
        pooled = pooled / pre.shape[2]
    return tf.reshape(pooled, [pooled.shape[0], pooled.shape[1], *linear.cut_shape])


class _Taps:
    """Each copy's contribution to the layer's pre-activation: the point's channel which[i]
    changed by delta, through the kernel's rows for that channel (the layer is linear, no bias)."""

    def __init__(self, linear: Linear, delta: Any, which: Any):
        layer, rank = linear.layer, len(delta.shape)
        self.copies = which.shape[0]
        channel = tf.maximum(which, 0)
        # Slot -1, the clean copy, gets kernel rows of zeros: it adds exactly nothing (the deltas are finite).
        live = tf.cast(which >= 0, layer.kernel.dtype)
        self.picked = tf.transpose(tf.gather(delta, channel, axis=-1), [rank - 1, *range(rank - 1)])  # [copies, rows, ...]
        self.dense = isinstance(layer, keras.layers.Dense)
        if self.dense:
            self.kernel = tf.gather(layer.kernel, channel + linear.offset, axis=0) * live[:, None]  # [copies, units]
            return
        # [taps, copies, filters]
        self.kernel = tf.gather(layer.kernel, channel + linear.offset, axis=1) * live[None, :, None]
        self.taps, self.stride, self.dilation = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        length = delta.shape[1]
        left, self.out = _conv_padding(layer.padding, length, self.taps, self.stride, self.dilation)
        right = max(0, (self.out - 1) * self.stride + (self.taps - 1) * self.dilation + 1 - length - left)
        self.picked = tf.pad(self.picked, [[0, 0], [0, 0], [left, right]])
        # For at(): picked per position and the kernel per tap, split at its first call.
        self.positions: list | None = None
        self.kernel_taps: list | None = None

    def whole(self) -> Any:
        """[copies, rows, ..., units]: every position at once."""
        if self.dense:
            rank = len(self.picked.shape)
            return self.picked[..., None] * tf.reshape(self.kernel, [self.copies] + [1] * (rank - 1) + [-1])
        total = 0
        for j in range(self.taps):
            first = j * self.dilation
            window = self.picked[:, :, first: first + (self.out - 1) * self.stride + 1: self.stride]
            total = total + window[..., None] * self.kernel[j][:, None, None, :]
        return total

    def at(self, t: int) -> Any:
        """[copies, rows, filters]: output position t of a Conv1D."""
        if self.positions is None:
            self.positions = [p[..., None] for p in tf.unstack(self.picked, axis=2)]
            self.kernel_taps = [k[:, None, :] for k in tf.unstack(self.kernel, axis=0)]
        terms = [self.positions[t * self.stride + j * self.dilation] * self.kernel_taps[j] for j in range(self.taps)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total


def _pre_activation(layer: Any, x: Any) -> Any:
    """The layer's output before its activation, as its call computes it."""
    if isinstance(layer, keras.layers.Conv1D):
        padding = layer.padding
        if padding == "causal":
            x = tf.pad(x, [[0, 0], [layer.dilation_rate[0] * (layer.kernel_size[0] - 1), 0], [0, 0]])
            padding = "valid"
        z = keras.ops.conv(x, layer.kernel, strides=list(layer.strides), padding=padding,
                           dilation_rate=layer.dilation_rate, data_format="channels_last")
    else:
        z = keras.ops.matmul(x, layer.kernel)
    return z if layer.bias is None else z + layer.bias


def _conv_padding(padding: str, length: int, taps: int, stride: int, dilation: int) -> tuple[int, int]:
    """(zeros before the input, output length), as TensorFlow's conv pads for `padding`."""
    span = (taps - 1) * dilation + 1
    if padding == "valid":
        return 0, (length - span) // stride + 1
    if padding == "causal":
        return span - 1, (length - 1) // stride + 1
    out = -(-length // stride)
    return max(0, (out - 1) * stride + span - length) // 2, out


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
