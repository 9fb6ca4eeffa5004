"""What a filter detects (slot preferences, patterns, contexts, inhibiting windows)
against brute-force numpy on small real Keras models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.engine import patterns as patterns_lib
from tb_filters.engine import receptive
from tb_filters.format.report import COMPUTED, NOT_DEFINED, TURNED_OFF
from tests.engine.test_engine import (
    CHAINS,
    TOLERANCE,
    assert_windows_match,
    brute_distinct,
    brute_raw,
    layer_geometry,
    span_windows,
)
from tests.helpers.text_models import VOCAB_SIZE, chain_model, conv, notebook_model, submodel_outputs, token_data

WORDS = ["<pad>"] + [f"w{i}" for i in range(1, VOCAB_SIZE)]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data()


def pre_activations(model: keras.Model, name: str, data: np.ndarray) -> np.ndarray:
    """The conv's output before its activation: the model cloned with a linear activation there."""
    def linear_there(layer):
        config = layer.get_config()
        if layer.name == name:
            config["activation"] = "linear"
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=linear_there)
    clone.set_weights(model.get_weights())
    return submodel_outputs(clone, name, data)


# --- slot preferences -----------------------------------------------------------------------------


def brute_slot_ranking(model, data, f: int, tap: int, min_count: int, highest: bool) -> list[tuple[int, float]]:
    embedding = model.layers[0].embeddings.numpy()
    kernel = model.get_layer("c").kernel.numpy()
    scores = embedding @ kernel[tap, :, f]
    counts = np.bincount(data.ravel(), minlength=VOCAB_SIZE)
    ids = [t for t in range(1, VOCAB_SIZE) if counts[t] >= min_count]
    ids.sort(key=lambda t: (-scores[t] if highest else scores[t], t))
    return [(t, float(scores[t])) for t in ids]


@pytest.mark.parametrize("min_count", [0, 3, 12])
def test_slot_preferences_are_the_embedding_times_each_tap(data, min_count):
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(4, 3, "c", activation="relu"))
    layer = tb_filters.interpret(model, data, vocab=WORDS, top_k=3, slot_top_n=6, min_count=min_count,
                                 batch_size=37)["c"]
    assert (layer.slot_preferences, layer.slot_top_n, layer.slot_min_count) == (COMPUTED, 6, min_count)
    counts = np.bincount(data.ravel(), minlength=VOCAB_SIZE)
    for f in layer.filters:
        assert [s.slot for s in f.slot_preferences] == [0, 1, 2]
        for tap, slot in enumerate(f.slot_preferences):
            for entries, highest in ((slot.raises, True), (slot.lowers, False)):
                want = brute_slot_ranking(model, data, f.index, tap, min_count, highest)[:6]
                got = [(t.id, t.score) for t in entries]
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-6)
                assert [t for t, _ in got] == [t for t, _ in want]
                assert all(t.token == WORDS[t.id] and t.occurrences == counts[t.id] for t in entries)


def test_slot_preferences_of_a_dilated_conv_name_their_slot_in_the_window(data):
    model = chain_model(conv(3, 3, "c", dilation_rate=2, padding="causal"))
    layer = tb_filters.interpret(model, data, top_k=2, slot_top_n=2)["c"]
    assert [s.slot for s in layer.filters[0].slot_preferences] == [0, 2, 4]


def test_deeper_convs_say_slot_preferences_and_patterns_are_not_defined(data):
    layer = tb_filters.interpret(notebook_model(), data, vocab=WORDS, top_k=3, inhibiting=True)["conv_2"]
    assert (layer.slot_preferences, layer.patterns, layer.inhibiting) == (NOT_DEFINED, NOT_DEFINED, COMPUTED)
    assert all(f.slot_preferences is None and f.patterns is None and f.inhibiting for f in layer.filters)


def test_inhibiting_windows_and_contexts_are_opt_in(data):
    layer = tb_filters.interpret(notebook_model(), data, top_k=3)["conv_1"]
    assert (layer.slot_preferences, layer.patterns) == (COMPUTED, COMPUTED)
    assert (layer.inhibiting, layer.contexts) == (TURNED_OFF, TURNED_OFF)


def test_features_can_be_turned_off(data):
    layer = tb_filters.interpret(notebook_model(), data, top_k=3, slot_top_n=0, inhibiting=False,
                                 contexts=False)["conv_1"]
    assert (layer.slot_preferences, layer.inhibiting, layer.contexts) == (TURNED_OFF,) * 3
    assert layer.examples is None and all(f.inhibiting is None and f.slot_preferences is None for f in layer.filters)
    assert layer.patterns == COMPUTED


@pytest.mark.parametrize("bad", [
    {"slot_top_n": -1}, {"min_count": 1.5}, {"pattern_share": 0}, {"pattern_share": 1.5}, {"min_count": True},
])
def test_bad_options_are_refused(data, bad):
    with pytest.raises(tb_filters.FiltersError, match=r"^Expected .* Received: "):
        tb_filters.interpret(notebook_model(), data, **bad)


# --- inhibiting windows ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(CHAINS))
def pre_case(request, data):
    model = CHAINS[request.param]()
    return request.param, model, pre_activations(model, "c", data)


@pytest.mark.parametrize("batch_size", [29, 200])
def test_inhibiting_raw_is_a_full_sort_of_pre_activations(pre_case, data, batch_size):
    _, model, pre = pre_case
    layer = tb_filters.interpret(model, data, layers="c", top_k=6, distinct=False, batch_size=batch_size,
                                 inhibiting=True)["c"]
    span, length = layer_geometry({"c": layer}, "c")
    lowest = [[(-v, e, p, c) for v, e, p, c in filter_] for filter_ in brute_raw(-pre, 6)]
    inhibiting = dataclass_layer(layer, "inhibiting")
    assert_windows_match(inhibiting, lowest, span_windows(data, span, length))


def test_inhibiting_distinct_matches_brute_force(pre_case, data):
    name, model, pre = pre_case
    layer = tb_filters.interpret(model, data, layers="c", top_k=6, distinct=True, batch_size=41, inhibiting=True)["c"]
    span, length = layer_geometry({"c": layer}, "c")
    windows = span_windows(data, span, length)
    keys = None
    if name == "crop-then-pad":
        # There the window's tokens alone do not decide its value near the edges.
        steps = [receptive.cropping_step(1, 2), receptive.padding_step(2, 2),
                 receptive.window_step(3, 1, 1, "valid", data.shape[1] + 1)]
        keys = receptive.boundary_keys(steps, data.shape[1])
    lowest = [[(-v, e, p, c) for v, e, p, c in filter_] for filter_ in brute_distinct(-pre, windows, 6, keys)]
    assert_windows_match(dataclass_layer(layer, "inhibiting"), lowest, windows)


def dataclass_layer(layer, field: str):
    """The layer with each filter's `field` windows in place of its top windows."""
    import dataclasses

    filters = tuple(dataclasses.replace(f, windows=getattr(f, field)) for f in layer.filters)
    return dataclasses.replace(layer, filters=filters)


def test_inhibiting_contributions_sum_to_the_pre_activation(data):
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(4, 3, "c", activation="relu"))
    layer = tb_filters.interpret(model, data, top_k=4, inhibiting=True)["c"]
    for f in layer.filters:
        assert [w.activation for w in f.inhibiting] == sorted(w.activation for w in f.inhibiting)
        for w in f.inhibiting:
            assert sum(w.contributions) + f.bias == pytest.approx(w.activation, rel=1e-4, abs=1e-5)
        assert f.inhibiting[0].activation < 0 <= f.windows[-1].activation  # relu's top says nothing of this


# --- contexts -------------------------------------------------------------------------------------


def test_every_window_opens_on_its_whole_example(data):
    report = tb_filters.interpret(notebook_model(), data, vocab=WORDS, top_k=5, batch_size=23, inhibiting=True,
                                  contexts=True)
    for layer in report:
        needed = {w.example for f in layer.filters for w in f.windows + f.inhibiting}
        assert set(layer.examples) == needed  # each example once
        for f in layer.filters:
            for w in f.windows + f.inhibiting:
                context = layer.context(w)
                assert context.token_ids == tuple(data[w.example].tolist())
                assert context.tokens == tuple(WORDS[t] for t in data[w.example])
                assert context.padding == tuple(t == 0 for t in data[w.example])
                inside = [(s, t) for s, t in zip(range(w.span_start, w.span_start + len(w.token_ids)), w.token_ids)
                          if 0 <= s < len(data[0])]
                assert all(context.token_ids[s] == t for s, t in inside)


# --- patterns -------------------------------------------------------------------------------------


def brute_pattern_counts(model, data, f: int, k: int, share: float) -> dict[tuple, int]:
    """Every window of the data at or above the filter's k-th best distinct value, grouped by
    its pattern (computed here from embedding @ kernel), counted."""
    acts = submodel_outputs(model, "c", data)[:, :, f]
    windows = span_windows(data, receptive.Span(1, -1, 3), acts.shape[1])  # ZeroPadding1D(1), kernel 3
    kth = brute_distinct(acts[:, :, None], windows, k)[0][-1][0]
    embedding = model.layers[0].embeddings.numpy()
    kernel = model.get_layer("c").kernel.numpy()[:, :, f]
    counts: dict[tuple, int] = {}
    for e, p in zip(*np.nonzero(acts >= kth - TOLERANCE)):
        tokens = windows[e, p]
        contributions = [0.0 if t < 0 else float(kernel[j] @ embedding[t]) for j, t in enumerate(tokens)]
        positive = sum(c for c in contributions if c > 0)
        slots = [j for j, c in enumerate(contributions) if c > 0 and c >= share * positive]
        if not slots and positive > 0:
            slots = [int(np.argmax(contributions))]
        key = tuple(int(t) if j in slots else None for j, t in enumerate(tokens))
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("share", [patterns_lib.DEFAULT_SHARE, 0.4])
def test_pattern_counts_equal_a_brute_force_count_under_the_rule(data, share):
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(5, 3, "c", activation="relu"))
    layer = tb_filters.interpret(model, data, top_k=8, pattern_share=share, batch_size=31)["c"]
    assert layer.pattern_share == share
    for f in layer.filters:
        got = {p.token_ids: p.count for p in f.patterns}
        assert got == brute_pattern_counts(model, data, f.index, 8, share), f"filter {f.index}"
        assert sorted(i for p in f.patterns for i in p.windows) == list(range(len(f.windows)))
        for p in f.patterns:
            assert p.activation == max(f.windows[i].activation for i in p.windows)


def test_pattern_rule():
    assert patterns_lib.pattern_slots([0.5, 0.4, 0.05, 0.05], 0.2) == (0, 1)
    assert patterns_lib.pattern_slots([0.1] * 6, 0.2) == (0,)  # none reaches a fifth: the largest alone
    assert patterns_lib.pattern_slots([-1.0, -0.5], 0.2) == ()
    assert patterns_lib.pattern_slots([1.0, -3.0, 0.35], 0.25) == (0, 2)


# --- streaming equals one shot ----------------------------------------------------------------------


def _detects(layer):
    return [
        (
            [(w.example, w.position, w.count, w.token_ids) for w in f.inhibiting],
            [(p.token_ids, p.count, p.windows) for p in f.patterns],
            [[(t.id, t.occurrences) for t in s.raises + s.lowers] for s in f.slot_preferences],
        )
        for f in layer.filters
    ]


@pytest.mark.parametrize("distinct", [True, False])
def test_streaming_equals_one_shot_for_any_batch_size(data, distinct):
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(5, 3, "c", activation="relu"))
    options = dict(top_k=5, distinct=distinct, inhibiting=True, contexts=True)
    one_shot = tb_filters.interpret(model, data, batch_size=len(data), **options)["c"]
    for batch_size in (1, 7, 64):
        streamed = tb_filters.interpret(model, data, batch_size=batch_size, **options)["c"]
        assert _detects(streamed) == _detects(one_shot)
        assert streamed.examples.keys() == one_shot.examples.keys()
