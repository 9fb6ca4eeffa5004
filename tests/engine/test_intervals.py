"""Interval samples (issue 18): per filter and positive histogram bucket, the exact count and the
s positions of smallest hash of (example, position), checked against a brute-force pass over
every activation; the same whatever the batch size and however the examples are sharded.

The brute force takes its activations from a Keras submodel's predict, which agrees with the
engine's to float32 rounding only: a test drawing random models skips data with an activation
so close to a bucket edge that the two could put it in different buckets; the edge test builds
activations that are the edges themselves, exactly, on both sides.
"""

from __future__ import annotations

import functools

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_filters
from tb_filters.engine import hashing
from tb_filters.engine import interpret as interpret_lib
from tb_filters.engine import state as state_lib
from tb_filters.engine import step as step_lib
from tb_filters.format.report import HISTOGRAM_EDGES
from tests.engine.test_state import cuts, merge_in_tree
from tests.helpers.text_models import chain_model, conv, engine_model, submodel_outputs, token_data
from tests.helpers.tolerances import ACTIVATION_ATOL, ACTIVATION_RTOL

EDGES = np.asarray(HISTOGRAM_EDGES)
POSITIVE_EDGES = EDGES[state_lib.FIRST_POSITIVE_BUCKET:]


# --- the brute force --------------------------------------------------------------------------------


def brute_intervals(acts: np.ndarray, s: int, first: int = 0) -> list[list[tuple]]:
    """Per filter, (low, high, count, [(example, position) of the s smallest (hash, flat)]) for each
    positive bucket holding a position; bucket i holds [edges[i], edges[i + 1]) and 0 is not positive."""
    n, length, filters = acts.shape
    examples, positions = np.divmod(np.arange(n * length), length)
    examples = examples + first
    hashes = hashing.position_hashes(examples, positions)
    flat = examples * length + positions
    result = []
    for f in range(filters):
        values = acts[:, :, f].ravel()
        bucket = np.searchsorted(POSITIVE_EDGES, values, side="right") - 1
        intervals = []
        for b in range(state_lib.POSITIVE_BUCKETS):
            inside = np.flatnonzero((values > 0) & (bucket == b))
            if not len(inside):
                continue
            picks = inside[np.lexsort((flat[inside], hashes[inside]))[:s]]
            intervals.append((float(POSITIVE_EDGES[b]), float(POSITIVE_EDGES[b + 1]), len(inside),
                              [(int(examples[p]), int(positions[p])) for p in picks], values[picks]))
        result.append(intervals)
    return result


def near_an_edge(acts: np.ndarray) -> bool:
    """Some activation close enough to a bucket edge (or above 0 by a hair) for float32 rounding to move
    it across. Exact zeros are relu's on both sides."""
    finite = POSITIVE_EDGES[np.isfinite(POSITIVE_EDGES)]
    distance = np.min(np.abs(acts[..., None] - finite), axis=-1)
    return bool(np.any((distance <= ACTIVATION_RTOL * np.abs(acts) + ACTIVATION_ATOL) & (acts != 0)))


def assert_intervals_match(layer, brute: list[list[tuple]], positions: int) -> None:
    for f, want in zip(layer.filters, brute, strict=True):
        got = f.intervals
        assert [(i.low, i.high, i.count) for i in got] == [w[:3] for w in want], f"filter {f.index}"
        for interval, (_, _, count, picks, values) in zip(got, want):
            assert interval.share == count / positions
            assert [(w.example, w.position) for w in interval.windows] == picks, f"filter {f.index}"
            np.testing.assert_allclose([w.activation for w in interval.windows], values,
                                       rtol=ACTIVATION_RTOL, atol=ACTIVATION_ATOL)
            # The engine's own activations lie in their interval: [low, high), (0, high) for the lowest.
            assert all((w.activation > 0 if interval.low == 0 else w.activation >= interval.low)
                       and w.activation < interval.high for w in interval.windows)


model = functools.lru_cache(maxsize=None)(engine_model)  # built once per module: tracing is the cost


def conv_layers(net: keras.Model) -> list[str]:
    return [layer.name for layer in net.layers if isinstance(layer, keras.layers.Conv1D)]


# --- exact against the brute force ------------------------------------------------------------------


@pytest.mark.slow
@hypothesis.settings(max_examples=6, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(
    name=st.sampled_from(["notebook", "kim", "dead"]),
    n=st.integers(1, 150),
    s=st.integers(1, 6),
    batch_size=st.sampled_from([9, 64]),
    seed=st.integers(0, 1000),
)
def test_samples_are_the_smallest_hashes_of_each_interval(name, n, s, batch_size, seed):
    net, tokens = model(name), token_data(n, seed=seed)
    activations = {layer: submodel_outputs(net, layer, tokens) for layer in conv_layers(net)}
    hypothesis.assume(not any(near_an_edge(a) for a in activations.values()))
    report = tb_filters.interpret(net, tokens, interval_samples=s, batch_size=batch_size, effects=False)
    for layer_name, acts in activations.items():
        layer = report[layer_name]
        assert (layer.intervals, layer.interval_samples) == ("computed", s)
        assert_intervals_match(layer, brute_intervals(acts, s), n * acts.shape[1])
        assert [f.active_examples for f in layer.filters] == (acts.max(axis=1) > 0).sum(axis=0).tolist()


def test_a_bound_letting_too_few_through_falls_back_to_the_exact_selection(monkeypatch):
    """With one expected candidate per bucket the batch bound misses samples in every busy bucket;
    the fold must notice and select again. A new model: a new compiled step, traced with the constant."""
    monkeypatch.setattr(step_lib, "_EXPECTED_PER_BUCKET", 1)
    net = chain_model(conv(4, 3, "conv", seed=11, activation="relu"))
    tokens = token_data(120, seed=4)
    acts = submodel_outputs(net, "conv", tokens)
    assert not near_an_edge(acts)
    report = tb_filters.interpret(net, tokens, interval_samples=5, batch_size=40, effects=False)
    assert_intervals_match(report["conv"], brute_intervals(acts, 5), acts.shape[0] * acts.shape[1])
    assert max(i.count for f in report["conv"].filters for i in f.intervals) > 40 * 5  # busy buckets exist


def edge_model() -> keras.Model:
    """Filter 0's activation is the token's embedding value, exactly (kernel 1, weight 1, bias 0,
    relu): the edges themselves, values between them, zeros and negatives. Filter 1 is dead."""
    values = [0.0, -1.0, 2**-6, 2**-5, 0.5, 1.0, 64.0, 100.0, 0.01, 2**-7, 3.0, 0.75, 2**-6 * (1 - 2**-24)]
    net = keras.Sequential([
        keras.Input((10,), dtype="int32"),
        keras.layers.Embedding(len(values), 1, name="embedding"),
        keras.layers.Conv1D(2, 1, activation="relu", name="conv"),
    ])
    net.get_layer("embedding").set_weights([np.asarray(values, np.float32)[:, None]])
    net.get_layer("conv").set_weights([np.asarray([[[1.0, 0.0]]], np.float32), np.asarray([0.0, -1.0], np.float32)])
    return net


def test_activations_on_an_edge_open_the_interval_above_it_and_a_dead_filter_has_none():
    net = edge_model()
    tokens = np.random.default_rng(3).integers(0, 13, (60, 10)).astype(np.int32)
    acts = submodel_outputs(net, "conv", tokens)
    embedded = net.get_layer("embedding").get_weights()[0][tokens, 0]
    np.testing.assert_array_equal(acts[:, :, 0], np.maximum(embedded, 0))  # exact: the edges are hit
    layer = tb_filters.interpret(net, tokens, vocab=None, interval_samples=4, batch_size=16, effects=False)["conv"]
    assert_intervals_match(layer, brute_intervals(acts, 4), 600)
    by_low = {i.low: i for i in layer.filters[0].intervals}
    # [2**-6, 2**-5) holds 2**-6 itself; (0, 2**-6) holds the float just below it and 2**-7; 64 opens [64, inf).
    assert {w.activation for w in by_low[2**-6].windows} == {2**-6}
    assert {w.activation for w in by_low[0.0].windows} <= {2**-7, 2**-6 * (1 - 2**-24), float(np.float32(0.01))}
    assert by_low[64.0].high == np.inf and {w.activation for w in by_low[64.0].windows} <= {64.0, 100.0}
    assert by_low[0.5].count == int(((acts[:, :, 0] >= 0.5) & (acts[:, :, 0] < 1)).sum())
    assert sum(i.count for i in layer.filters[0].intervals) == int((acts[:, :, 0] > 0).sum())
    assert layer.filters[1].intervals == () and layer.filters[1].active_examples == 0
    assert layer.filters[0].active_examples == int((acts[:, :, 0].max(axis=1) > 0).sum())


def test_turned_off_by_default_zero():
    net, tokens = model("dead"), token_data(20, seed=1)
    layer = tb_filters.interpret(net, tokens, interval_samples=0, effects=False)["conv"]
    assert (layer.intervals, layer.interval_samples) == ("turned off", 0)
    assert all(f.intervals is None and f.active_examples is not None for f in layer.filters)


# --- exact under any batching and sharding ---------------------------------------------------------


def shard_states(net, tokens, first, s, batch_size):
    run = interpret_lib.start(net, interval_samples=s, expected_examples=len(tokens), effects=False)
    for start in range(0, len(tokens), batch_size):
        run.feed(tokens[start: start + batch_size], first + start)
    return run.layer_states()


def assert_same_samples(got: state_lib.LayerState, want: state_lib.LayerState) -> None:
    field = state_lib.interval_samples(want.layout)
    for column in ("hash", "flat", "rows"):
        np.testing.assert_array_equal(got.arrays[field.key(column)], want.arrays[field.key(column)], err_msg=column)
    np.testing.assert_allclose(got.arrays[field.key("value")], want.arrays[field.key("value")],
                               rtol=ACTIVATION_RTOL, atol=ACTIVATION_ATOL)
    for key in ("histogram", "positive", "active_examples"):
        np.testing.assert_array_equal(got.arrays[key], want.arrays[key], err_msg=key)


@pytest.mark.slow
@hypothesis.settings(max_examples=6, deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
@hypothesis.given(
    data=st.data(),
    name=st.sampled_from(["notebook", "dead"]),
    n=st.integers(2, 120),
    s=st.integers(1, 5),
    batch_size=st.sampled_from([7, 32]),
    seed=st.integers(0, 100),
)
def test_shard_states_merge_into_the_one_pass_samples(data, name, n, s, batch_size, seed):
    net, tokens = model(name), token_data(n, seed=seed)
    hypothesis.assume(not any(near_an_edge(submodel_outputs(net, layer, tokens)) for layer in conv_layers(net)))
    whole = shard_states(net, tokens, 0, s, batch_size)
    bounds = cuts(data.draw, n, most=4)
    shards = [shard_states(net, tokens[a:b], a, s, batch_size) for a, b in zip(bounds, bounds[1:])]
    for layer in whole:
        assert_same_samples(merge_in_tree([shard[layer] for shard in shards], data.draw), whole[layer])


def test_the_merge_keeps_the_smallest_hashes_in_order():
    layout = state_lib.Layout("conv", 1, 1, False, None, 2, 3, (0, 0, 0), interval_samples=2)
    field = state_lib.interval_samples(layout)

    def part(entries):
        arrays = field.empty()
        for slot, (hash_, flat) in enumerate(entries):
            arrays[field.key("hash")][0, 3, slot], arrays[field.key("flat")][0, 3, slot] = hash_, flat
            arrays[field.key("value")][0, 3, slot] = 0.2
        return arrays

    merged = field.merge(part([(5, 10), (9, 1)]), part([(5, 4)]))
    assert merged[field.key("hash")][0, 3].tolist() == [5, 5] and merged[field.key("flat")][0, 3].tolist() == [4, 10]
    assert merged[field.key("flat")][0, 2].tolist() == [-1, -1]  # empty buckets stay empty


@pytest.mark.parametrize("xla", [False, True])
def test_tensorflow_and_numpy_position_hashes_are_one_function(xla):
    rng = np.random.default_rng(0)
    examples = np.concatenate([rng.integers(0, 2**40, 200), [0, 1, 2**32 - 1]])
    positions = np.concatenate([rng.integers(0, 5000, 200), [0, 0, 7]])
    hash_tf = tf.function(hashing.tensorflow_position_hashes, jit_compile=xla, autograph=False)
    got = hash_tf(tf.constant(examples), tf.constant(positions)).numpy()
    want = hashing.position_hashes(examples, positions)
    np.testing.assert_array_equal(got, want)
    assert want.min() >= 0 and want.max() < hashing.NO_SAMPLE and len(set(want.tolist())) == len(want)


def test_interval_windows_of_raw_texts_show_each_tokens_original_text():
    from tests.engine.test_texts import ORIGINAL_TEXTS, fitted, originals_differing, text_cnn

    real = fitted({})
    report = tb_filters.interpret(text_cnn(), texts=ORIGINAL_TEXTS, tokenizer=real, interval_samples=3, effects=False)
    sampled = [w for f in report["conv_1"].filters for i in f.intervals for w in i.windows]
    assert sampled and all(w.originals is not None for w in sampled)
    assert sum(originals_differing(w, real) for w in sampled)  # "GOOD" beside "good"


@pytest.mark.slow
def test_beam_gives_the_same_samples(tmp_path):
    pytest.importorskip("apache_beam")
    from tb_filters import beam as tb_beam
    from tests.beam.test_beam import IN_MEMORY, run_pipeline
    from tests.helpers.readback import read_reports

    # A model of its own: a cached one other tests interpreted with effects holds the nodes of the
    # sub-models effects cut from it, which Keras cannot save.
    net, data = model.__wrapped__("notebook"), token_data(150, seed=0)  # no activation near an edge
    assert not any(near_an_edge(submodel_outputs(net, layer, data)) for layer in conv_layers(net))
    net.save(tmp_path / "notebook.keras")
    for i, part in enumerate(np.array_split(data, [31, 32, 90])):
        np.save(tmp_path / f"part-{i}.npy", part)
    logdir = str(tmp_path / "logs")
    run_pipeline(IN_MEMORY, tb_beam.ReadSequences(str(tmp_path / "part-*.npy"), batch_size=16),
                 str(tmp_path / "notebook.keras"), logdir, interval_samples=4, batch_size=16, effects=False)
    got = {tag: steps[0] for tag, steps in read_reports(logdir)["."].items()}
    want = tb_filters.interpret(net, data, interval_samples=4, batch_size=16, effects=False)
    for name, layer in want.layers.items():
        for g, w in zip(got[name].filters, layer.filters, strict=True):
            assert g.active_examples == w.active_examples
            assert [(i.low, i.high, i.count, i.share) for i in g.intervals] == [
                (i.low, i.high, i.count, i.share) for i in w.intervals]
            for gi, wi in zip(g.intervals, w.intervals):
                assert [(x.example, x.position, x.tokens, x.token_ids) for x in gi.windows] == [
                    (x.example, x.position, x.tokens, x.token_ids) for x in wi.windows]
                np.testing.assert_allclose([x.activation for x in gi.windows], [x.activation for x in wi.windows],
                                           rtol=ACTIVATION_RTOL, atol=ACTIVATION_ATOL)
