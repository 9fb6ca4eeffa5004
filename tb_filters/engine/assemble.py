"""From the final state (a `state.LayerState` per layer) to a Report.

The same for the in-process engine and the Beam pipeline. Runs once per
layer after the pass, over at most filters x k windows: arrays are turned
into Python lists in bulk, and each distinct token id is looked up in the
vocabulary once.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from tb_filters.engine import patterns as patterns_lib
from tb_filters.engine import redundancy, slots
from tb_filters.engine import state as state_lib
from tb_filters.engine import vocab as vocab_lib
from tb_filters.engine.chains import Chain
from tb_filters.engine.contributions import contributions
from tb_filters.engine.state import Described, LayerState, Layout
from tb_filters.format.report import (
    COMPUTED,
    HISTOGRAM_EDGES,
    NOT_DEFINED,
    TURNED_OFF,
    Context,
    Effect,
    FilterReport,
    FilterStats,
    Interval,
    LayerGeometry,
    LayerReport,
    Report,
    Window,
)
from tb_filters.options import Options


def report(chains: list[Chain], states: dict[str, LayerState], vocabulary: vocab_lib.Vocabulary,
           described: Described | None = None, options: Options = Options()) -> Report:
    """Every chain's layer, in chain order, from its final state; `described`: the effects'
    output names (without them the effects are left out) and note, the duplicate threshold;
    `options`: what else each filter's report holds."""
    described = described or Described()
    return Report(layers={chain.name: layer_report(chain, states[chain.name], vocabulary, described, options)
                          for chain in chains})


def layer_report(chain: Chain, layer_state: LayerState, vocabulary: vocab_lib.Vocabulary,
                 described: Described = Described(), options: Options = Options()) -> LayerReport:
    if not layer_state.is_settled:
        raise AssertionError(f"Layer {chain.name!r}: a merged state's counts must be settled before its report")
    plan, state = layer_state.layout, layer_state.arrays
    input_length, examples = plan.input_length, layer_state.examples
    embedded = chain.feeds_on_embedding
    windows = _table_windows(chain, plan, layer_state.windows().table(state), vocabulary)
    inhibiting = None
    if plan.inhibiting:
        inhibiting = _table_windows(chain, plan, layer_state.inhibiting_windows().table(state), vocabulary)
    preferences = None
    if embedded and options.slot_top_n > 0 and "token_counts" in state:
        preferences = slots.slot_preferences(chain, vocabulary, state["token_counts"], options.slot_top_n,
                                             options.min_count)
    bias = _bias(chain.conv)
    positions_seen = examples * plan.output_length
    matter = _matter(chain, layer_state, described)
    intervals = _intervals(chain, layer_state, vocabulary)
    filters = tuple(
        FilterReport(
            index=f,
            windows=windows[f],
            stats=_stats(state, f, positions_seen),
            bias=float(bias[f]),
            slot_preferences=None if preferences is None else preferences[f],
            patterns=patterns_lib.patterns(windows[f], options.pattern_share) if embedded else None,
            inhibiting=None if inhibiting is None else inhibiting[f],
            intervals=None if intervals is None else intervals[f],
            active_examples=int(state["active_examples"][f]),
            **matter[f],
        )
        for f in range(plan.num_filters)
    )
    return LayerReport(
        name=chain.name,
        geometry=_geometry(chain, plan, input_length),
        top_k=plan.top_k,
        distinct=plan.distinct,
        num_examples=examples,
        filters=filters,
        has_contributions=embedded,
        output_names=described.output_names if plan.outputs else (),
        sample_examples=int(state["sample_examples"]),
        effects_note=described.note,
        duplicate_threshold=described.duplicate_threshold,
        slot_preferences=_availability(embedded, options.slot_top_n > 0),
        patterns=_availability(embedded, True),
        contexts=COMPUTED if options.contexts else TURNED_OFF,
        inhibiting=COMPUTED if plan.inhibiting else TURNED_OFF,
        intervals=COMPUTED if plan.interval_samples else TURNED_OFF,
        interval_samples=plan.interval_samples,
        slot_top_n=options.slot_top_n if preferences is not None else 0,
        slot_min_count=options.min_count if preferences is not None else 0,
        pattern_share=options.pattern_share if embedded else 0.0,
        examples=_contexts(layer_state, vocabulary) if options.contexts else None,
        **_signatures(layer_state),
    )


def _matter(chain: Chain, layer_state: LayerState, described: Described) -> list[dict]:
    """Per filter: effects, dead, duplicate_of and its correlation."""
    state, filters = layer_state.arrays, layer_state.layout.num_filters
    dead = redundancy.dead(state["max"], state["min"], _activation_name(chain.conv)).tolist()
    of, correlation = [None] * filters, [None] * filters
    effects: list[tuple] = [()] * filters
    examples = int(state["sample_examples"])
    if examples:
        positions = examples * layer_state.layout.output_length
        matrix = redundancy.correlations(positions, state["sample_sum"], state["sample_squares"],
                                         state["sample_products"])
        of, correlation = redundancy.duplicates(matrix, described.duplicate_threshold)
        if layer_state.layout.outputs and len(described.output_names) == layer_state.layout.outputs:
            means = (state["effect_sum"] / examples).tolist()
            absolute = (state["effect_abs_sum"] / examples).tolist()
            effects = [tuple(Effect(*e) for e in zip(described.output_names, means[f], absolute[f]))
                       for f in range(filters)]
    return [
        {"effects": effects[f], "dead": dead[f], "duplicate_of": of[f], "duplicate_correlation": correlation[f]}
        for f in range(filters)
    ]


def _signatures(layer_state: LayerState) -> dict[str, Any]:
    """The probe's signatures as float16 [filters, probe] bytes, and the fingerprint of its token ids.
    Values beyond float16's range are clipped to it (a signature keeps its finite shape)."""
    if not layer_state.layout.probe_examples:
        return {"signatures": TURNED_OFF}
    state = layer_state.arrays
    probed = min(layer_state.layout.probe_examples, layer_state.examples)
    matrix = np.clip(state["signature"][:probed].T, -_FLOAT16_MAX, _FLOAT16_MAX).astype("<f2")
    return {
        "signatures": COMPUTED,
        "probe_examples": probed,
        "probe_fingerprint": probe_fingerprint(state["probe_hash"][:probed]),
        "signature_matrix": matrix.tobytes(),
    }


_FLOAT16_MAX = float(np.finfo(np.float16).max)


def probe_fingerprint(example_hashes: np.ndarray) -> str:
    """Equal for equal probe token ids in the same order (hashing.example_hashes of each example)."""
    return hashlib.sha256(np.ascontiguousarray(example_hashes, "<i8").tobytes()).hexdigest()


def _intervals(chain: Chain, layer_state: LayerState, vocabulary: vocab_lib.Vocabulary
               ) -> list[tuple[Interval, ...]] | None:
    """Per filter, each positive histogram bucket holding some position: its exact count (the
    histogram's; the lowest bucket's exact zeros are not positive) and its sampled windows."""
    field = state_lib.interval_samples(layer_state.layout)
    if field is None:
        return None
    plan, state = layer_state.layout, layer_state.arrays
    filters, buckets = plan.num_filters, state_lib.POSITIVE_BUCKETS
    counts = state["histogram"][state_lib.FIRST_POSITIVE_BUCKET:].T.copy()  # [filters, buckets]
    counts[:, 0] = state["positive"] - counts[:, 1:].sum(axis=1)
    # One row of windows per filter (contributions are computed per filter), split by bucket after:
    # each bucket's sampled entries come first in its slots.
    table = {column: array.reshape((filters, -1) + array.shape[3:]) for column, array in field.table(state).items()}
    table["count"] = np.ones(table["flat"].shape, np.int64)
    windows = _table_windows(chain, plan, table, vocabulary)
    ends = np.cumsum(np.isfinite(field.table(state)["value"]).sum(axis=2), axis=1).tolist()
    edges = HISTOGRAM_EDGES[state_lib.FIRST_POSITIVE_BUCKET:]
    positions = max(1, layer_state.examples * plan.output_length)
    return [
        tuple(Interval(low=float(edges[b]), high=float(edges[b + 1]), count=int(counts[f, b]),
                       share=int(counts[f, b]) / positions,
                       windows=windows[f][(ends[f][b - 1] if b else 0):ends[f][b]])
              for b in range(buckets) if counts[f, b])
        for f in range(filters)
    ]


def _availability(defined: bool, wanted: bool) -> str:
    if not wanted:
        return TURNED_OFF
    return COMPUTED if defined else NOT_DEFINED


def _table_windows(
    chain: Chain, plan: Layout, table: dict[str, np.ndarray], vocabulary: vocab_lib.Vocabulary,
) -> list[tuple[Window, ...]]:
    """The windows of a top-k or bottom-k table (k entries per filter, fewer when there were fewer windows)."""
    found = np.isfinite(table["value"])
    positions = np.where(found, table["flat"] % plan.output_length, 0)
    tokens = window_tokens(table["rows"], positions, plan)
    contrib = None
    if chain.feeds_on_embedding:
        # Empty entries get a harmless stand-in window; they are dropped below.
        contrib = contributions(chain, plan.input_length, positions, np.where(found[..., None], tokens, 0))
    return _windows(plan, dict(table, tokens=tokens), found, vocabulary, contrib)


def window_tokens(rows: np.ndarray, positions: np.ndarray, plan: Layout) -> np.ndarray:
    """Token ids [..., width] of the span at each position of each row, -1 outside the sequence."""
    slots_ = plan.span.start(positions)[..., None] + np.arange(plan.width)
    length = rows.shape[-1]
    inside = (slots_ >= 0) & (slots_ < length)
    gathered = np.take_along_axis(rows, np.clip(slots_, 0, length - 1), axis=-1)
    return np.where(inside, gathered, vocab_lib.OUTSIDE_ID)


def _contexts(layer_state: LayerState, vocabulary: vocab_lib.Vocabulary) -> dict[int, Context]:
    """Each example some window (top or inhibiting) comes from, once."""
    tables = [field.table(layer_state.arrays) for field in (layer_state.windows(), layer_state.inhibiting_windows())
              if field is not None]
    examples, rows = [], []
    for table in tables:
        found = ~np.isinf(table["value"])
        examples.append(table["flat"][found] // layer_state.layout.output_length)
        rows.append(table["rows"][found])
    examples, first = np.unique(np.concatenate(examples), return_index=True)
    rows = np.concatenate(rows)[first]
    strings = {int(i): vocabulary.token(int(i)) for i in np.unique(rows)}
    result = {}
    for example, row in zip(examples.tolist(), rows.tolist()):
        result[example] = Context(
            example=example,
            token_ids=tuple(row),
            tokens=tuple(strings[t] for t in row),
            padding=tuple(vocabulary.is_padding(t) for t in row),
        )
    return result


def _windows(
    plan: Layout,
    state: dict[str, np.ndarray],
    found: np.ndarray,
    vocabulary: vocab_lib.Vocabulary,
    contrib: np.ndarray | None,
) -> list[tuple[Window, ...]]:
    ids = state["tokens"]
    strings = {int(i): vocabulary.token(int(i)) for i in np.unique(ids)}
    padding = np.isin(ids, [vocab_lib.OUTSIDE_ID, -2 if vocabulary.padding_id is None else vocabulary.padding_id])
    example, position = np.divmod(state["flat"], plan.output_length)
    columns = {
        "activation": state["value"].tolist(),  # float32 values, as Python floats
        "example": example.tolist(),
        "position": position.tolist(),
        "span_start": plan.span.start(position).tolist(),
        "token_ids": ids.tolist(),
        "padding": padding.tolist(),
        "count": state["count"].tolist(),
        "contributions": None if contrib is None else contrib.tolist(),
    }
    result = []
    for f, kept in enumerate(found.tolist()):
        result.append(tuple(_window(columns, strings, f, i) for i, ok in enumerate(kept) if ok))
    return result


def _window(columns: dict[str, Any], strings: dict[int, str], f: int, i: int) -> Window:
    token_ids = columns["token_ids"][f][i]
    contributions_ = columns["contributions"]
    return Window(
        activation=columns["activation"][f][i],
        example=columns["example"][f][i],
        position=columns["position"][f][i],
        span_start=columns["span_start"][f][i],
        token_ids=tuple(token_ids),
        tokens=tuple(strings[t] for t in token_ids),
        padding=tuple(columns["padding"][f][i]),
        contributions=None if contributions_ is None else tuple(contributions_[f][i]),
        count=columns["count"][f][i],
    )


def _bias(conv: Any) -> np.ndarray:
    if conv.use_bias:
        return conv.bias.numpy().astype(np.float32)
    return np.zeros(conv.filters, np.float32)


def _f32(value: float) -> float:
    """A Python float holding a float32 value, so it round-trips through the proto."""
    return float(np.float32(value))


def _stats(state: dict[str, np.ndarray], f: int, positions: int) -> FilterStats:
    return FilterStats(
        max=_f32(state["max"][f]),
        min=_f32(state["min"][f]),
        mean=_f32(state["sum"][f] / positions),
        positive_fraction=_f32(state["positive"][f] / positions),
        positions=int(positions),
        histogram=tuple(int(c) for c in state["histogram"][:, f]),
    )


def _activation_name(conv: Any) -> str:
    activation = conv.activation
    return getattr(activation, "__name__", type(activation).__name__)


def _geometry(chain: Chain, plan: Layout, input_length: int) -> LayerGeometry:
    conv = chain.conv
    return LayerGeometry(
        num_filters=plan.num_filters,
        kernel_size=int(conv.kernel_size[0]),
        stride=int(conv.strides[0]),
        dilation=int(conv.dilation_rate[0]),
        padding=str(conv.padding),
        activation=_activation_name(conv),
        input_length=int(input_length),
        output_length=plan.output_length,
        span_width=plan.span.width,
        span_stride=plan.span.stride,
        span_offset=plan.span.offset,
        path=chain.path,
    )
