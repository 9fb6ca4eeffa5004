"""state.merge: merged per-shard states == the one-pass state, exactly but for float sums.

Two levels: plain arrays (a brute-force state builder, activations a function
of the window so identical windows agree, with deliberate ties) and small
real Keras models through the engine itself.
"""

from __future__ import annotations

import functools

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

import tb_filters
from tb_filters.engine import assemble, hashing, receptive
from tb_filters.engine import interpret as interpret_lib
from tb_filters.engine import state as state_lib
from tb_filters.format.report import HISTOGRAM_EDGES, NUM_BUCKETS
from tests.helpers.text_models import engine_model, token_data
from tests.helpers.tolerances import (
    ACTIVATION_ATOL,
    ACTIVATION_RTOL,
    CORRELATION_ATOL,
    OUTPUT_ATOL,
    assert_within,
    float32_sum_atol,
)

# The same float32 activations summed into float64 in another order (shards, merge trees):
# float64 rounding only, and the test activations are >= 0, so relative to the sum.
SUM_RTOL = 1e-9


# --- helpers ----------------------------------------------------------------------------------------


def assert_same_state(got: state_lib.LayerState, want: state_lib.LayerState, batches_differ: bool = False) -> None:
    """Equal states: exact but for float64 sums. `batches_differ`: both come from the engine fed in
    batches of other shapes, whose float32 activations round apart (tests/helpers/tolerances.py)."""
    assert got.layout == want.layout and got.examples == want.examples
    assert set(got.arrays) == set(want.arrays)
    sum_atols = float32_sum_atols(want) if batches_differ else {}
    for key, array in want.arrays.items():
        if key in sum_atols:
            assert_within(got.arrays[key], array, sum_atols[key], err_msg=key)
        elif array.dtype == np.float64:
            np.testing.assert_allclose(got.arrays[key], array, rtol=SUM_RTOL, err_msg=key)
        else:
            np.testing.assert_array_equal(got.arrays[key], array, err_msg=key)


def float32_sum_atols(state: state_lib.LayerState) -> dict[str, np.ndarray]:
    """How far each float64 sum may move when its float32 terms round apart: count x largest |term|."""
    largest = np.maximum(np.abs(state.arrays["max"]), np.abs(state.arrays["min"])).astype(np.float64)
    positions = state.layout.output_length
    sampled = int(state.arrays["sample_examples"])
    atols = {
        "sum": float32_sum_atol(state.examples * positions, largest),
        "sample_sum": float32_sum_atol(sampled * positions, largest),
        # A product of two activations carries the rounding of both.
        "sample_squares": float32_sum_atol(sampled * positions, largest**2, 2 * ACTIVATION_RTOL),
        "sample_products": float32_sum_atol(sampled * positions, np.outer(largest, largest), 2 * ACTIVATION_RTOL),
    }
    if "signature" in state.arrays:
        # A maximum of float32 activations moves as much as one activation does.
        atols["signature"] = ACTIVATION_ATOL + ACTIVATION_RTOL * np.abs(state.arrays["signature"])
    if "effect_abs_sum" in state.arrays:
        # One change of each output per sampled example: a difference of outputs of order 1, each rounded
        # apart (OUTPUT_ATOL), plus ACTIVATION_RTOL of the change itself (effect_abs_sum is sum|terms|).
        changes = float32_sum_atol(sampled, 1.0, OUTPUT_ATOL) + ACTIVATION_RTOL * state.arrays["effect_abs_sum"]
        atols.update(effect_sum=changes, effect_abs_sum=changes)
    return atols


def merge_in_tree(states: list[state_lib.LayerState], draw) -> state_lib.LayerState:
    """Merges random pairs, each in a random order, until one state is left: any tree shape."""
    states = list(states)
    while len(states) > 1:
        i, j = draw(st.lists(st.integers(0, len(states) - 1), min_size=2, max_size=2, unique=True))
        a, b = states[i], states[j]
        states = [s for n, s in enumerate(states) if n not in (i, j)]
        states.append(state_lib.merge(a, b) if draw(st.booleans()) else state_lib.merge(b, a))
    return states[0]


def cuts(draw, n: int, most: int = 8) -> list[int]:
    shards = draw(st.integers(1, min(most, n)))
    inner = draw(st.lists(st.integers(1, n - 1), min_size=shards - 1, max_size=shards - 1, unique=True)) if n > 1 else []
    return [0] + sorted(inner) + [n]


def layout_for(filters: int, top_k: int, distinct: bool, span: receptive.Span, input_length: int,
               inhibiting: bool = False, token_count_size: int = 0) -> state_lib.Layout:
    output_length = (input_length + 2 - span.width) // span.stride + 1
    keys = np.zeros(output_length, np.int64)
    keys[0], keys[-1] = 1, -1
    return state_lib.Layout("conv", filters, top_k, distinct, span, input_length, output_length, tuple(keys),
                            inhibiting=inhibiting, token_count_size=token_count_size)


def brute_state(layout: state_lib.Layout, acts: np.ndarray, tokens: np.ndarray, first: int) -> state_lib.LayerState:
    """The exact state of examples [first, first + len(acts)) from every activation (no streaming)."""
    n, length, filters = acts.shape
    state = state_lib.LayerState.empty(layout)
    arrays = {key: value.copy() for key, value in state.arrays.items()}
    _brute_table(layout, arrays, "", acts, tokens, first)
    if layout.inhibiting:
        # The pre-activations of these tests: the activations shifted down, so some are negative.
        _brute_table(layout, arrays, state_lib.INHIBITING, acts - 1.0, tokens, first, lowest=True)
    if layout.token_count_size:
        arrays["token_counts"] = np.bincount(tokens.ravel(), minlength=layout.token_count_size).astype(np.int64)
    flat_acts = acts.reshape(-1, filters)
    arrays["sum"] = flat_acts.astype(np.float64).sum(axis=0)
    arrays["max"], arrays["min"] = flat_acts.max(axis=0), flat_acts.min(axis=0)
    arrays["positive"] = (flat_acts > 0).sum(axis=0).astype(np.int64)
    buckets = np.searchsorted(np.asarray(HISTOGRAM_EDGES), flat_acts, side="right") - 1
    arrays["histogram"] = np.stack([np.bincount(buckets[:, f], minlength=NUM_BUCKETS) for f in range(filters)], 1)
    return state_lib.LayerState(layout, n, arrays)


def _brute_table(layout, arrays, prefix: str, acts, tokens, first: int, lowest: bool = False) -> None:
    """Fills a top-k (or, `lowest`, bottom-k) table from every activation."""
    n, length, filters = acts.shape
    k, sign = layout.top_k, (-1.0 if lowest else 1.0)
    hashes = hashing.window_hashes(layout, tokens).ravel()
    flat = first * length + np.arange(n * length)
    for f in range(filters):
        values = acts[:, :, f].ravel()
        if layout.distinct:
            _, index, inverse, counts = np.unique(hashes, return_index=True, return_inverse=True, return_counts=True)
            best = np.full(len(index), -np.inf, np.float32)
            np.maximum.at(best, inverse.ravel(), sign * values)
            order = np.lexsort((flat[index], -best.astype(np.float64)))[:k]
            picks, chosen = index[order], sign * best[order]
            arrays[prefix + "count"][f, : len(order)] = counts[order]
            arrays[prefix + "hash"][f, : len(order)] = hashes[picks]
        else:
            picks = np.lexsort((flat, -sign * values.astype(np.float64)))[:k]
            chosen = values[picks]
            arrays[prefix + "count"][f, : len(picks)] = 1
        arrays[prefix + "value"][f, : len(picks)] = chosen
        arrays[prefix + "flat"][f, : len(picks)] = flat[picks]
        arrays[prefix + "rows"][f, : len(picks)] = tokens[picks // length]


def _span_tokens(layout: state_lib.Layout, tokens: np.ndarray) -> np.ndarray:
    span = layout.span
    slots = (np.arange(layout.output_length) * span.stride + span.offset)[:, None] + np.arange(span.width)
    inside = (slots >= 0) & (slots < tokens.shape[1])
    return np.where(inside[None], tokens[:, np.clip(slots, 0, tokens.shape[1] - 1)], -1).astype(np.int32)


def window_activations(layout: state_lib.Layout, tokens: np.ndarray, levels: int, seed: int) -> np.ndarray:
    """[N, L, F] activations that depend on the window only; `levels` values per filter
    (few levels: many ties, zeros among them, as relu makes)."""
    hashes = hashing.window_hashes(layout, tokens)
    rng = np.random.default_rng(seed)
    table = np.maximum(rng.integers(-levels // 2, levels, (layout.num_filters, 997)), 0).astype(np.float32) / 4
    return np.stack([table[f][hashes % 997] for f in range(layout.num_filters)], axis=-1)


# --- plain arrays -------------------------------------------------------------------------------------


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(
    data=st.data(),
    n=st.integers(1, 40),
    top_k=st.integers(1, 6),
    distinct=st.booleans(),
    levels=st.sampled_from([2, 5, 1000]),
    seed=st.integers(0, 2**16),
    inhibiting=st.booleans(),
)
def test_merged_shard_states_equal_the_one_pass_state(data, n, top_k, distinct, levels, seed, inhibiting):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 6, (n, 7)).astype(np.int32)  # a small vocabulary: windows repeat
    # With inhibiting windows (a bottom-k table) and token counts (additive) or without.
    layout = layout_for(3, top_k, distinct, receptive.Span(1, -1, 3), 7, inhibiting, 6 if inhibiting else 0)
    acts = window_activations(layout, tokens, levels, seed)
    whole = brute_state(layout, acts, tokens, 0)
    bounds = cuts(data.draw, n)
    shards = [brute_state(layout, acts[a:b], tokens[a:b], a) for a, b in zip(bounds, bounds[1:])]
    merged = merge_in_tree(shards, data.draw)
    settled = state_lib.settle(merged, [tokens[a:b] for a, b in zip(bounds, bounds[1:])])
    assert settled.is_settled
    assert_same_state(settled, whole)


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(data=st.data(), seed=st.integers(0, 2**16), distinct=st.booleans())
def test_merge_is_commutative_and_associative_before_settling(data, seed, distinct):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 5, (30, 7)).astype(np.int32)
    layout = layout_for(2, 3, distinct, receptive.Span(1, -1, 3), 7, inhibiting=True, token_count_size=5)
    acts = window_activations(layout, tokens, 4, seed)
    a, b, c = (brute_state(layout, acts[s: s + 10], tokens[s: s + 10], s) for s in (0, 10, 20))
    merge = state_lib.merge
    assert_same_state(merge(a, b), merge(b, a))
    assert_same_state(merge(merge(a, b), c), merge(a, merge(b, c)))
    assert_same_state(merge(merge(a, c), b), merge(a, merge(c, b)))


def test_ties_at_the_kth_value_are_recounted_not_guessed():
    # Every activation 0 (a dead relu filter): the top-3 distinct windows are the first three
    # windows of the data; the second shard keeps its own first three and drops theirs.
    tokens = np.array([[1, 2, 3, 4, 5, 6, 7]] * 3 + [[7, 6, 5, 4, 3, 2, 1]] * 2 + [[1, 2, 3, 4, 5, 6, 7]] * 4, np.int32)
    layout = layout_for(1, 3, True, receptive.Span(1, -1, 3), 7)
    acts = np.zeros((9, layout.output_length, 1), np.float32)
    whole = brute_state(layout, acts, tokens, 0)
    merged = state_lib.merge(brute_state(layout, acts[:3], tokens[:3], 0), brute_state(layout, acts[3:], tokens[3:], 3))
    assert (merged.arrays["count"] == state_lib.UNSETTLED).all() and not merged.is_settled
    np.testing.assert_array_equal(merged.arrays["flat"], whole.arrays["flat"])
    settled = state_lib.settle(merged, [tokens])
    assert settled.arrays["count"].tolist() == [[7, 7, 7]]
    assert_same_state(settled, whole)


def test_windows_above_the_kth_value_keep_exact_counts_without_settling():
    tokens = np.tile(np.arange(1, 8, dtype=np.int32), (6, 1))
    tokens[3:, 2] = 9
    layout = layout_for(1, 2, True, receptive.Span(1, -1, 3), 7)
    acts = window_activations(layout, tokens, 1000, seed=3)
    merged = state_lib.merge(brute_state(layout, acts[:3], tokens[:3], 0), brute_state(layout, acts[3:], tokens[3:], 3))
    whole = brute_state(layout, acts, tokens, 0)
    assert merged.arrays["count"][0, 0] == whole.arrays["count"][0, 0] > 1


def test_a_state_refuses_arrays_no_field_declares():
    layout = layout_for(2, 3, True, receptive.Span(1, -1, 3), 7)
    arrays = dict(state_lib.LayerState.empty(layout).arrays, effects=np.zeros(2))
    with pytest.raises(AssertionError, match="effects"):
        state_lib.LayerState.from_arrays(layout, 0, arrays)


def test_states_of_different_layouts_do_not_merge():
    a = state_lib.LayerState.empty(layout_for(2, 3, True, receptive.Span(1, -1, 3), 7))
    b = state_lib.LayerState.empty(layout_for(2, 4, True, receptive.Span(1, -1, 3), 7))
    with pytest.raises(ValueError, match="one layer and layout"):
        state_lib.merge(a, b)


def test_bottom_k_windows_keep_the_lowest_first():
    field = state_lib.Windows(filters=1, k=2, width=1, distinct=False, prefix="low_", lowest_first=True,
                              payload=state_lib.ROWS)
    a = {"low_value": np.array([[-3.0, 1.0]], np.float32), "low_flat": np.array([[4, 1]]),
         "low_count": np.array([[1, 1]]), "low_rows": np.array([[[4], [1]]], np.int32)}
    b = {"low_value": np.array([[-3.0, np.inf]], np.float32), "low_flat": np.array([[2, -1]]),
         "low_count": np.array([[1, 0]]), "low_rows": np.array([[[2], [-1]]], np.int32)}
    merged = field.merge(a, b)
    assert merged["low_value"].tolist() == [[-3.0, -3.0]] and merged["low_flat"].tolist() == [[2, 4]]


# --- the engine: small real Keras models ---------------------------------------------------------------


model = functools.lru_cache(maxsize=None)(engine_model)  # built once per module: tracing is the cost


# Everything a filter detects, the opt-in tables too: their states merge like the top-k's.
DETECTS = tb_filters.Options(inhibiting=True, contexts=True)


def engine_states(net, tokens, first, top_k, distinct, batch_size):
    run = interpret_lib.start(net, top_k=top_k, distinct=distinct, expected_examples=len(tokens), options=DETECTS)
    for start in range(0, len(tokens), batch_size):
        run.feed(tokens[start: start + batch_size], first + start)
    return run, run.layer_states()


# Every new batch shape is a new trace, so few examples and at most 4 shards each; the merge itself
# is exercised on any tree of up to 8 shards by the plain-array tests above.
@pytest.mark.slow
@hypothesis.settings(max_examples=8, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(
    data=st.data(),
    name=st.sampled_from(["notebook", "kim", "dead"]),
    n=st.integers(1, 120),
    top_k=st.integers(1, 8),
    distinct=st.booleans(),
    batch_size=st.sampled_from([7, 32]),
    seed=st.integers(0, 100),
)
def test_engine_shard_states_merge_into_the_one_pass_state(data, name, n, top_k, distinct, batch_size, seed):
    net = model(name)
    tokens = token_data(n, seed=seed)
    run, whole = engine_states(net, tokens, 0, top_k, distinct, batch_size)
    bounds = cuts(data.draw, n, most=4)
    shards = [engine_states(net, tokens[a:b], a, top_k, distinct, batch_size)[1] for a, b in zip(bounds, bounds[1:])]
    merged = {layer: merge_in_tree([s[layer] for s in shards], data.draw) for layer in whole}
    for layer, state in merged.items():
        settled = state_lib.settle(state, [tokens])
        assert_same_state(settled, whole[layer], batches_differ=True)
    settled = {layer: state_lib.settle(state, [tokens]) for layer, state in merged.items()}
    got = assemble.report(run.chains, settled, run.vocabulary, run.described, DETECTS)
    want = tb_filters.interpret(net, tokens, top_k=top_k, distinct=distinct, batch_size=batch_size, inhibiting=True,
                                contexts=True)
    assert without_effects(got) == without_effects(want)
    for layer in want:
        np.testing.assert_allclose([[e.mean for e in f.effects] for f in got[layer.name].filters],
                                   [[e.mean for e in f.effects] for f in layer.filters], rtol=ACTIVATION_RTOL,
                                   atol=OUTPUT_ATOL)
        # From the sample's sums: float32 activations of batches of other shapes.
        assert [f.duplicate_correlation or 0.0 for f in got[layer.name].filters] == pytest.approx(
            [f.duplicate_correlation or 0.0 for f in layer.filters], abs=CORRELATION_ATOL)


def without_effects(report):
    """The report without what the sample's float sums decide (compared within tolerances instead);
    duplicate_of stays, so a correlation is there or not on both sides alike. The signatures' float16
    bytes may round apart by an ulp (tests/engine/test_signatures.py compares them so)."""
    import dataclasses

    def plain(f):
        return dataclasses.replace(f, effects=(), duplicate_correlation=None)

    return {name: dataclasses.replace(layer, filters=tuple(plain(f) for f in layer.filters), signature_matrix=b"")
            for name, layer in report.layers.items()}


@pytest.mark.parametrize("distinct", [True, False])
def test_engine_states_of_three_shards_merge_into_the_one_pass_state(distinct):
    net, tokens = model("dead"), token_data(90, seed=2)
    run, whole = engine_states(net, tokens, 0, 4, distinct, 16)
    shards = [engine_states(net, tokens[a:b], a, 4, distinct, 16)[1] for a, b in ((0, 32), (32, 48), (48, 90))]
    merged = state_lib.merge(state_lib.merge(shards[2]["conv"], shards[0]["conv"]), shards[1]["conv"])
    assert merged.is_settled != distinct  # the dead filter's windows all tie at 0
    assert_same_state(state_lib.settle(merged, [tokens[:50], tokens[50:]]), whole["conv"], batches_differ=True)


def test_runs_differing_only_outside_the_step_share_its_compiled_step():
    net, tokens = model("dead"), token_data(20, seed=1)
    runs = [interpret_lib.start(net, effects=effects) for effects in (True, False)]
    for run in runs:
        run.feed(tokens)
    with_effects, without = (run.layer_states()["conv"].layout for run in runs)
    assert with_effects.outputs > 0 and without.outputs == 0
    assert runs[0].step is runs[1].step


def test_numpy_window_hashes_are_the_engines():
    tokens = token_data(150, seed=4)
    run, states = engine_states(model("notebook"), tokens, 0, 5, True, 64)
    for state in states.values():
        hashes = hashing.window_hashes(state.layout, tokens)
        example, position = np.divmod(state.arrays["flat"], state.layout.output_length)
        np.testing.assert_array_equal(state.arrays["hash"], hashes[example, position])


@pytest.mark.parametrize("xla", [False, True])
@pytest.mark.parametrize("span, input_length, output_length", [
    (receptive.Span(1, -1, 3), 7, 7),  # "same" padding: windows reach past both ends
    (receptive.Span(1, 0, 1), 5, 5),
    (receptive.Span(2, 0, 4), 12, 5),  # strided, "valid"
    (receptive.Span(3, -4, 9), 20, 8),  # dilated or stacked: a wide span, further outside
    (receptive.Span(1, 2, 2), 9, 6),  # cropped before the conv: the span starts inside
])
def test_tensorflow_and_numpy_window_hashes_are_one_function(span, input_length, output_length, xla):
    rng = np.random.default_rng(input_length)
    keys = tuple(int(k) for k in rng.integers(-3, 4, output_length))
    layout = state_lib.Layout("conv", 2, 3, True, span, input_length, output_length, keys)
    tokens = rng.integers(0, 2**31 - 1, (6, input_length)).astype(np.int32)
    tokens[:3] = rng.integers(0, 4, (3, input_length))  # a small vocabulary: windows repeat
    want = hashing.window_hashes(layout, tokens)
    got = hashing.tensorflow_window_hashes(layout, xla)(tokens).numpy().reshape(want.shape)
    np.testing.assert_array_equal(got, want)
    assert (want >= 0).all() and want.dtype == np.int64
    # Distinct windows get distinct hashes; the same window at the same boundary key, the same hash.
    windows = {}
    for (row, position), h in np.ndenumerate(want):
        start = position * span.stride + span.offset
        window = tuple(tokens[row, i] if 0 <= i < input_length else -1 for i in range(start, start + span.width))
        assert windows.setdefault((window, keys[position]), h) == h
    assert len(set(windows.values())) == len(windows)


def test_the_state_and_the_plugin_side_import_no_tensorflow_keras_or_beam():
    import json
    import os
    import subprocess
    import sys

    code = ("import json, sys; import tb_filters.engine.state, tb_filters.plugin.filters_plugin, "
            "tb_filters.format.summary; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'tensorflow', 'keras', 'apache_beam'})))")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_states_of_different_sequence_lengths_do_not_merge():
    a = state_lib.LayerState.empty(layout_for(2, 3, True, receptive.Span(1, -1, 3), 7))
    b = state_lib.LayerState.empty(layout_for(2, 3, True, receptive.Span(1, -1, 3), 9))
    with pytest.raises(tb_filters.FiltersError, match="of 7 and of 9 tokens"):
        state_lib.merge(a, b)
