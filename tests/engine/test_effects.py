"""Effects by ablation, dead and duplicate filters, against brute force on small real models.

The brute force builds each ablated model explicitly: a clone of the model whose
conv kernel and bias are zero for filter f (its activation maps 0 to 0), and
compares the clone's predictions with the model's.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.engine.effects import EffectsSkipped
from tb_filters.format import report as report_lib
from tests.helpers.old_payloads import without_effects_as_version_1
from tests.helpers.text_models import (
    conv,
    embedding,
    kim_cnn,
    notebook_model,
    submodel_outputs,
    token_data,
    tokens_input,
)
from tests.helpers.tolerances import CORRELATION_ATOL, OUTPUT_ATOL, as_stored

# The engine's outputs against `predict` on ablated clones: other kernels (tests/helpers/tolerances.py).
TOLERANCE = OUTPUT_ATOL


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(120, seed=3)


def pooled_classifier() -> keras.Model:
    tokens = tokens_input()
    x = conv(6, 3, "conv", activation="relu")(embedding(tokens))
    x = keras.layers.GlobalMaxPooling1D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="score",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=4))(x)
    return keras.Model(tokens, out)


def two_blocks() -> keras.Model:
    tokens = tokens_input()
    x = conv(5, 3, "conv_1", activation="relu")(embedding(tokens))
    x = keras.layers.MaxPooling1D(2)(x)
    x = conv(4, 2, "conv_2", seed=7, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="score",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=5))(x)
    return keras.Model(tokens, out)


def softmax_classifier() -> keras.Model:
    tokens = tokens_input()
    x = conv(5, 2, "conv", activation="tanh")(embedding(tokens))
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(4, activation="softmax", name="topic",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=6))(x)
    return keras.Model(tokens, out)


def two_heads() -> keras.Model:
    """Two outputs; the second never sees the conv (its effects are exactly 0)."""
    tokens = tokens_input()
    meta = keras.Input((3,), name="meta")
    x = conv(4, 3, "conv", activation="relu")(embedding(tokens))
    x = keras.layers.GlobalMaxPooling1D()(x)
    first = keras.layers.Dense(2, name="first")(keras.layers.Concatenate()([x, meta]))
    second = keras.layers.Dense(1, name="second")(meta)
    return keras.Model([tokens, meta], [first, second])


def flat(outputs) -> np.ndarray:
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in outputs], axis=1)


def brute_effects(model: keras.Model, layer: str, feed) -> tuple[np.ndarray, np.ndarray]:
    """[F, O] mean change and mean |change| from explicitly ablated clones."""
    clean = flat(model.predict(feed, verbose=0, batch_size=len(feed[0]) if isinstance(feed, list) else len(feed)))
    filters = model.get_layer(layer).filters
    means, absolute = [], []
    for f in range(filters):
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        kernel, bias = clone.get_layer(layer).get_weights()
        kernel[..., f] = 0
        bias[f] = 0
        clone.get_layer(layer).set_weights([kernel, bias])
        change = clean - flat(clone.predict(feed, verbose=0, batch_size=4096))
        means.append(change.mean(axis=0))
        absolute.append(np.abs(change).mean(axis=0))
    return np.array(means), np.array(absolute)


def effect_arrays(layer_report) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([[e.mean for e in f.effects] for f in layer_report.filters]),
            np.array([[e.mean_abs for e in f.effects] for f in layer_report.filters]))


def check_against_brute_force(model, layer_report, layer, feed):
    means, absolute = effect_arrays(layer_report)
    expected_means, expected_absolute = brute_effects(model, layer, feed)
    np.testing.assert_allclose(means, expected_means, atol=TOLERANCE)
    np.testing.assert_allclose(absolute, expected_absolute, atol=TOLERANCE)
    assert np.abs(expected_absolute).max() > 1e-4  # the check is not vacuous


def test_pooled_classifier_matches_the_ablated_models(data):
    model = pooled_classifier()
    report = tb_filters.interpret(model, data, batch_size=50)
    layer = report["conv"]
    assert layer.output_names == ("score:0",) and layer.sample_examples == len(data)
    assert [e.output for e in layer.filters[0].effects] == ["score:0"]
    check_against_brute_force(model, layer, "conv", data)


@pytest.mark.slow
def test_a_second_conv_block_after_pooling_matches_for_both_layers(data):
    model = two_blocks()
    report = tb_filters.interpret(model, data, batch_size=32)
    for name in ("conv_1", "conv_2"):
        check_against_brute_force(model, report[name], name, data)


@pytest.mark.slow
def test_a_two_input_model_with_the_other_input_passed(data):
    model = notebook_model()
    meta = np.random.default_rng(1).random((len(data), 24), dtype=np.float32)
    report = tb_filters.interpret(model, data, inputs={"meta": meta}, batch_size=40)
    for name in ("conv_1", "conv_2"):
        check_against_brute_force(model, report[name], name, [data, meta])


def test_a_softmax_output_has_one_effect_per_class_named_by_class_names(data):
    model = softmax_classifier()
    names = ["sports", "politics", "music", "tech"]
    layer = tb_filters.interpret(model, data, class_names=names, batch_size=64)["conv"]
    assert [e.output for e in layer.filters[2].effects] == names
    check_against_brute_force(model, layer, "conv", data)
    means, _ = effect_arrays(layer)
    np.testing.assert_allclose(means.sum(axis=1), 0, atol=1e-6)  # probabilities still add up to 1


@pytest.mark.slow
def test_branches_and_an_output_the_layer_never_reaches(data):
    model = kim_cnn()
    report = tb_filters.interpret(model, data, batch_size=64)
    check_against_brute_force(model, report["conv_k3"], "conv_k3", data)
    model = two_heads()
    meta = np.random.default_rng(2).random((len(data), 3), dtype=np.float32)
    layer = tb_filters.interpret(model, data, inputs={"meta": meta}, batch_size=64)["conv"]
    assert layer.output_names == ("first:0", "first:1", "second:0")
    check_against_brute_force(model, layer, "conv", [data, meta])
    assert all(f.effects[2].mean == 0 and f.effects[2].mean_abs == 0 for f in layer.filters)


@pytest.mark.parametrize("batch_size", [7, 33])
def test_streaming_over_batches_equals_one_shot(data, batch_size):
    model = notebook_model()
    meta = np.random.default_rng(1).random((len(data), 24), dtype=np.float32)
    one_shot = tb_filters.interpret(model, data, inputs={"meta": meta}, batch_size=len(data))
    streamed = tb_filters.interpret(model, data, inputs={"meta": meta}, batch_size=batch_size)
    for name in ("conv_1", "conv_2"):
        for ours, theirs in zip(effect_arrays(streamed[name]), effect_arrays(one_shot[name])):
            np.testing.assert_allclose(ours, theirs, atol=OUTPUT_ATOL)  # batches of other shapes round apart
        assert [f.duplicate_of for f in streamed[name].filters] == [f.duplicate_of for f in one_shot[name].filters]


def test_effect_examples_limits_the_sample_to_the_first_examples(data):
    model = pooled_classifier()
    layer = tb_filters.interpret(model, data, effect_examples=45, batch_size=20)["conv"]
    assert layer.sample_examples == 45
    check_against_brute_force(model, layer, "conv", data[:45])
    assert tb_filters.interpret(model, data, effect_examples=0)["conv"].sample_examples == len(data)


def test_without_the_other_input_effects_are_skipped_with_one_note(data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = tb_filters.interpret(notebook_model(), data)
    notes = [w for w in caught if issubclass(w.category, EffectsSkipped)]
    assert len(notes) == 1 and "'meta'" in str(notes[0].message)
    for layer in report:
        assert "meta" in layer.effects_note and layer.output_names == ()
        assert all(f.effects == () and f.dead is not None for f in layer.filters)


def test_bad_inputs_and_class_names_are_one_line_errors(data):
    model = notebook_model()
    meta = np.zeros((len(data), 24), np.float32)
    with pytest.raises(tb_filters.FiltersError, match=r"Expected inputs named among .*\['meta'\]. Received input name 'extra'"):
        tb_filters.interpret(model, data, inputs={"meta": meta, "extra": meta})
    with pytest.raises(tb_filters.FiltersError, match="at least 120"):
        tb_filters.interpret(model, data, inputs={"meta": meta[:10]})
    with pytest.raises(tb_filters.FiltersError, match="Expected class_names: 1 strings"):
        tb_filters.interpret(model, data, inputs={"meta": meta}, class_names=["a", "b"])
    with pytest.raises(tb_filters.FiltersError, match="effect_examples >= 0"):
        tb_filters.interpret(model, data, effect_examples=-1)
    with pytest.raises(tb_filters.FiltersError, match="duplicate_threshold between -1 and 1"):
        tb_filters.interpret(model, data, duplicate_threshold=1.5)


# --- dead and duplicate filters -------------------------------------------------------------------


def constructed(activation: str) -> keras.Model:
    """Filters: 0 random, 1 zeroed, 2 a copy of 0, 3 filter 0 negated, 4 random, 5 far below 0."""
    tokens = tokens_input()
    layer = conv(6, 3, "conv", activation=activation)
    x = layer(embedding(tokens))
    out = keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x))
    model = keras.Model(tokens, out)
    kernel, bias = layer.get_weights()
    kernel[..., 1], bias[1] = 0, 0
    kernel[..., 2], bias[2] = kernel[..., 0], bias[0]
    kernel[..., 3], bias[3] = -kernel[..., 0], -bias[0]
    bias[5] = -100
    layer.set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
def test_dead_and_duplicate_filters_on_constructed_filters(data, activation):
    model = constructed(activation)
    layer = tb_filters.interpret(model, data, batch_size=30)["conv"]
    dead = [f.dead for f in layer.filters]
    expected_dead = {"relu": [1, 5], "linear": [1, 5], "tanh": [1, 5]}[activation]
    assert [i for i, d in enumerate(dead) if d] == expected_dead
    assert layer.filters[2].duplicate_of == 0
    # A copy of filter 0: near 1 a correlation moves by the square of the activations' rounding.
    assert layer.filters[2].duplicate_correlation == pytest.approx(1.0, abs=1e-9)
    assert layer.filters[3].duplicate_of is None  # negated: correlation -1 (linear) or below, never a duplicate
    assert layer.duplicate_threshold == 0.95
    # Against numpy's correlation of the real activations.
    acts = submodel_outputs(model, "conv", data).reshape(-1, 6).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.corrcoef(acts, rowvar=False)
    if activation == "linear":
        assert expected[0, 3] == pytest.approx(-1.0)
    for j, f in enumerate(layer.filters):
        earlier = np.nan_to_num(expected[j, :j], nan=-np.inf)
        over = np.flatnonzero(earlier > 0.95)
        assert f.duplicate_of == (int(over[np.argmax(earlier[over])]) if over.size else None)


def test_a_lower_threshold_finds_more_duplicates_with_numpys_correlation(data):
    model = constructed("relu")
    layer = tb_filters.interpret(model, data, duplicate_threshold=-1.0, batch_size=17)["conv"]
    # The reference activations come from another kernel path than the engine's compiled step,
    # so the correlations agree to the float32 rounding of the activations (CORRELATION_ATOL).
    acts = submodel_outputs(model, "conv", data).reshape(-1, 6).astype(np.float64)
    expected = np.corrcoef(acts[:, [0, 4]], rowvar=False)[0, 1]
    assert layer.filters[4].duplicate_of in (0, 2, 3)
    assert layer.filters[4].duplicate_correlation == pytest.approx(
        max(np.corrcoef(acts[:, [i, 4]], rowvar=False)[0, 1] for i in (0, 2, 3)), abs=CORRELATION_ATOL)
    assert expected <= layer.filters[4].duplicate_correlation + CORRELATION_ATOL


def test_effects_dead_and_duplicates_round_trip_through_the_proto(data):
    layer = tb_filters.interpret(constructed("relu"), data)["conv"]
    again = report_lib.from_proto(report_lib.to_proto(layer))
    assert again == as_stored(layer)


def test_version_1_reports_still_load_without_the_new_fields(data):
    layer = tb_filters.interpret(pooled_classifier(), data, top_k=2)["conv"]
    pb = without_effects_as_version_1(report_lib.to_proto(layer))
    old = report_lib.from_proto(pb)
    assert old.output_names == () and old.duplicate_threshold is None
    assert all(f.effects == () and f.dead is None and f.duplicate_of is None for f in old.filters)
    assert [f.windows for f in old.filters] == [f.windows for f in as_stored(layer).filters]


def test_a_model_whose_output_is_the_pooled_layer(data):
    tokens = tokens_input()
    x = conv(4, 3, "conv", activation="relu")(embedding(tokens))
    model = keras.Model(tokens, keras.layers.GlobalMaxPooling1D(name="pooled")(x))
    layer = tb_filters.interpret(model, data)["conv"]
    assert layer.output_names == tuple(f"pooled:{u}" for u in range(4)) and layer.effects_note == ""
    check_against_brute_force(model, layer, "conv", data)


def test_outputs_of_no_fixed_size_skip_the_effects_with_a_note():
    tokens = keras.Input((None,), dtype="int32")
    model = keras.Model(tokens, conv(3, 3, "conv", activation="relu")(embedding(tokens)))
    with pytest.warns(EffectsSkipped, match="fixed size"):
        layer = tb_filters.interpret(model, token_data(30))["conv"]
    assert "fixed size" in layer.effects_note and all(f.effects == () for f in layer.filters)


def test_shards_merged_through_the_state_equal_one_shot(data):
    """The sample's sums are additive state fields: shards fed by global example index
    (as Beam feeds them) and merged give the one-shot effects, duplicates and sample."""
    from tb_filters.engine import assemble
    from tb_filters.engine import interpret as engine
    from tb_filters.engine import state as state_lib

    model = notebook_model()
    meta = np.random.default_rng(1).random((len(data), 24), dtype=np.float32)
    options = dict(inputs={"meta": meta}, effect_examples=70, distinct=False)  # raw: no counts to settle
    one_shot = tb_filters.interpret(model, data, batch_size=25, **options)
    shards = []
    for start, stop in ((60, 120), (0, 35), (35, 60)):
        run = engine.start(model, **options)
        for first in range(start, stop, 25):
            run.feed(data[first: min(stop, first + 25)], first)
        shards.append(run.layer_states())
    merged = state_lib.merge_runs(state_lib.merge_runs(shards[0], shards[1]), shards[2])
    report = assemble.report(run.chains, merged, run.vocabulary, run.described)
    for name in ("conv_1", "conv_2"):
        assert report[name].sample_examples == 70 and report[name].output_names == one_shot[name].output_names
        for ours, theirs in zip(effect_arrays(report[name]), effect_arrays(one_shot[name])):
            np.testing.assert_allclose(ours, theirs, atol=OUTPUT_ATOL)  # batches of other shapes round apart
        assert [f.duplicate_of for f in report[name].filters] == [f.duplicate_of for f in one_shot[name].filters]
        assert [f.dead for f in report[name].filters] == [f.dead for f in one_shot[name].filters]


def test_the_model_still_saves_and_loads_after_its_effects_were_computed(tmp_path):
    # Cutting the model at the ablation point must leave the user's graph as it was: a
    # checkpoint after an epoch of FiltersCallback saves the same model.
    model, data = notebook_model(), token_data(40)
    meta = np.random.default_rng(2).random((len(data), 24), dtype=np.float32)
    layer = tb_filters.interpret(model, data, inputs={"meta": meta})["conv_1"]
    assert layer.output_names  # the effects ran, through the split
    model.save(tmp_path / "after.keras")
    loaded = keras.models.load_model(tmp_path / "after.keras")
    np.testing.assert_array_equal(loaded.predict([data, meta], verbose=0), model.predict([data, meta], verbose=0))
