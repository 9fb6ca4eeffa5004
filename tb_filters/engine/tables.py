"""The table path: a first conv layer's activations gathered from projection tables.

When a Conv1D reads the embedding directly (through zero padding and layers
that are the identity at inference), its output at position i is

    activation(bias + sum_j E[id at i + j * dilation] @ K[j])

so with one table per tap, P_j = E @ K[j] (vocabulary x filters), it is a sum
of `taps` rows gathered at the window's ids: no embedding lookup and no
convolution per batch. Building the tables costs one matrix product over the
vocabulary, so a run takes this path when that product is negligible (a small
vocabulary: then every run takes it, whatever its size, so shards, generators
and arrays agree to the bit) or when the run will see several times more token
positions than the vocabulary has ids; and only when the tables fit in
`Options.table_memory_mb`. Conv layers after the first keep the layers' own
calls, fed from the gathered activations.

The sums round differently from the convolution (float32 rounding of the same
terms in another order), as the convolution itself does between batch shapes:
reports agree with the forward path to float32 rounding. Identical windows
gather identical rows in the same order, so their activations are identical.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import keras
import tensorflow as tf

# At inference these are the identity: a table path may look through them.
_IDENTITY_AT_INFERENCE = (
    keras.layers.AlphaDropout,
    keras.layers.Dropout,
    keras.layers.GaussianDropout,
    keras.layers.GaussianNoise,
    keras.layers.Identity,
    keras.layers.SpatialDropout1D,
)

# A run takes the table path when it sees at least this many token positions
# (examples x the conv's output positions) per vocabulary id: building the tables
# is one dense product over the vocabulary, about as costly as convolving one
# position per id, and runs at matrix-product speed; the first touch of the
# tables' memory costs more (make bench T2, docs/performance.md).
TABLE_MIN_POSITIONS_PER_ID = 8
# Tables whose product takes at most this many multiply-adds (a few milliseconds) are
# always built: the runs of one model then take one path, whatever their sizes.
TABLE_CHEAP_PRODUCTS = 1 << 24


@dataclasses.dataclass(frozen=True)
class Plan:
    """How to gather one conv layer's activations: the ids padded by (left, right)
    with -1 (a zero vector), then `taps` windows `dilation` apart."""

    conv: Any
    embedding: Any
    left: int
    right: int

    @property
    def taps(self) -> int:
        return int(self.conv.kernel_size[0])

    @property
    def dilation(self) -> int:
        return int(self.conv.dilation_rate[0])

    @property
    def rows(self) -> int:
        return self.taps * int(self.embedding.input_dim)

    @property
    def nbytes(self) -> int:
        return 4 * self.rows * int(self.conv.filters)

    @property
    def products(self) -> int:
        """Multiply-adds of building the tables."""
        return self.taps * int(self.embedding.input_dim) * int(self.embedding.output_dim) * int(self.conv.filters)

    def output_length(self, input_length: int) -> int:
        return input_length + self.left + self.right - (self.taps - 1) * self.dilation


def plan_for(layers: Sequence[Any]) -> Plan | None:
    """A Plan for a chain's layers (Embedding first, conv last), or None when the conv
    is not a plain float32 stride-1 Conv1D reading the embedding through zero padding
    and inference-time identities only."""
    embedding, *between, conv = layers
    if not (_plain(embedding, keras.layers.Embedding) and _plain(conv, keras.layers.Conv1D)):
        return None
    if conv.strides[0] != 1 or conv.groups != 1 or conv.padding not in ("valid", "same", "causal"):
        return None
    left = right = 0
    for layer in between:
        if type(layer) is keras.layers.ZeroPadding1D:
            padding = layer.padding if isinstance(layer.padding, (tuple, list)) else (layer.padding,) * 2
            left, right = left + int(padding[0]), right + int(padding[1])
        elif type(layer) not in _IDENTITY_AT_INFERENCE:
            return None
    reach = (int(conv.kernel_size[0]) - 1) * int(conv.dilation_rate[0])
    if conv.padding == "same":
        left, right = left + reach // 2, right + reach - reach // 2
    elif conv.padding == "causal":
        left += reach
    return Plan(conv, embedding, left, right)


def _plain(layer: Any, kind: type) -> bool:
    """Exactly `kind`, float32, not quantized, no LoRA: its call is the textbook one."""
    return (
        type(layer) is kind
        and layer.dtype_policy.name == "float32"
        and getattr(layer, "quantization_mode", None) is None
        and not getattr(layer, "lora_enabled", False)
    )


def worth_it(plan: Plan | None, positions: int | None, max_bytes: int) -> bool:
    """Whether a run over `positions` token positions (None: unknown) should gather from tables
    of at most `max_bytes`."""
    if plan is None or plan.nbytes > max_bytes or plan.rows >= 2**31:  # rows are indexed in int32
        return False
    if plan.products <= TABLE_CHEAP_PRODUCTS:
        return True
    return positions is not None and positions >= TABLE_MIN_POSITIONS_PER_ID * int(plan.embedding.input_dim)


@tf.function(autograph=False)
def _project(embeddings, kernel):
    taps, dim, filters = kernel.shape
    by_tap = tf.reshape(tf.transpose(kernel, [1, 0, 2]), [dim, taps * filters])
    return tf.reshape(tf.matmul(embeddings, by_tap), [-1, filters])


def projections(plan: Plan) -> tf.Tensor:
    """The tables from the layers' current weights, interleaved: row id * taps + j is
    E[id] @ K[j], so a window's rows for one id sit side by side. One matrix product
    (an einsum into [taps, vocabulary, filters] compiled slower the first time)."""
    embeddings = tf.convert_to_tensor(plan.embedding.embeddings, tf.float32)
    return _project(embeddings, tf.convert_to_tensor(plan.conv.kernel, tf.float32))


def pre_activations(plan: Plan, token_ids: Any, tables: Any) -> tf.Tensor:
    """The conv's output before its activation, [B, output_length, filters], gathered from
    `projections(plan)`."""
    ids = tf.pad(tf.cast(token_ids, tf.int32), [[0, 0], [plan.left, plan.right]], constant_values=-1)
    length = plan.output_length(int(token_ids.shape[1]))
    total = None
    for tap in range(plan.taps):
        at = ids[:, tap * plan.dilation: tap * plan.dilation + length]
        rows = tf.gather(tables, tf.maximum(at, 0) * plan.taps + tap)
        # A select, not a product: padding must add an exact 0 whatever the table holds.
        rows = tf.where((at >= 0)[..., None], rows, 0.0)
        total = rows if total is None else total + rows
    if plan.conv.use_bias:
        total = total + tf.convert_to_tensor(plan.conv.bias, tf.float32)
    return total


def gatherer(plan: Plan, xla: bool):
    """(token ids, table) -> pre-activations, an XLA kernel when `xla`."""
    def gather(token_ids, table):
        return pre_activations(plan, token_ids, table)

    return tf.function(gather, jit_compile=True, autograph=False) if xla else gather


def plans(chains: Sequence[Any]) -> dict[str, Plan]:
    """{conv name: Plan} for the first conv of each chain, where one applies."""
    found = {}
    for chain in chains:
        first = next(i for i, layer in enumerate(chain.layers) if isinstance(layer, keras.layers.Conv1D))
        plan = plan_for(chain.layers[: first + 1])
        if plan is not None:
            found[plan.conv.name] = plan
    return found
