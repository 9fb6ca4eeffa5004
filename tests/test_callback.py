"""FiltersCallback in a real model.fit, read back through TensorBoard's data provider."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.errors import FiltersError
from tests.helpers.readback import listing, read_reports
from tests.helpers.text_models import LENGTH, VOCAB_SIZE, conv, embedding, token_data, tokens_input

VOCAB = ["<pad>"] + [f"w{i}" for i in range(1, VOCAB_SIZE)]


def tiny_classifier() -> keras.Model:
    tokens = tokens_input()
    x = embedding(tokens)
    x = keras.layers.ZeroPadding1D(1, name="zero_padding1d")(x)
    x = conv(4, 3, "conv_1", activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    model = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


@pytest.fixture(scope="module")
def data():
    x = token_data(64)
    y = (x[:, 0] % 2).astype("float32")
    return x, y


EPOCHS = 3


class FailingBatches:
    """Batches that break after `good` of them, on every pass (a flaky data source)."""

    def __init__(self, data: np.ndarray, good: int):
        self.data, self.good = data, good

    def __iter__(self):
        for i in range(self.good):
            yield self.data[i * 8: (i + 1) * 8]
        raise OSError("the data source went away")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """One model.fit with a callback per scenario below, each writing to a log dir of its own:
    every epoch, every second epoch, a layer that does not exist, data that breaks mid-pass."""
    root = tmp_path_factory.mktemp("callbacks")
    dirs = {name: root / name for name in ("every", "every_2", "no_layer", "broken")}
    (dirs["broken"] / "run").mkdir(parents=True)
    callbacks = {
        "every": tb_filters.FiltersCallback(data[0], vocab=VOCAB, log_dir=str(dirs["every"] / "run"), top_k=3),
        "every_2": tb_filters.FiltersCallback(data[0], vocab=VOCAB, log_dir=str(dirs["every_2"] / "run"),
                                              every_n_epochs=2),
        "no_layer": tb_filters.FiltersCallback(data[0], vocab=VOCAB, layers=["no_such_layer"],
                                               log_dir=str(dirs["no_layer"])),
        "broken": tb_filters.FiltersCallback(FailingBatches(data[0], good=3), vocab=VOCAB,
                                             log_dir=str(dirs["broken"] / "run")),
    }
    assert not (dirs["every"] / "run").exists()  # nothing on disk before the first report
    x, y = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = tiny_classifier().fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0,
                                        callbacks=list(callbacks.values()))
    return dirs, callbacks, history, caught


def test_one_step_per_epoch(trained, data):
    dirs, callbacks, _, _ = trained
    reports = read_reports(dirs["every"])["run"]["conv_1"]
    assert sorted(reports) == [0, 1, 2]
    assert [step for step, _ in callbacks["every"].written] == [0, 1, 2]
    for report in reports.values():
        assert report.num_examples == len(data[0])
        assert len(report.filters) == 4
        assert all(len(f.windows) == 3 for f in report.filters)
        assert all(token in VOCAB for f in report.filters for w in f.windows for token in w.tokens)
    # Training changes the weights, so the reports of epochs 0 and 2 differ.
    first, last = reports[0].filters[0].windows[0], reports[2].filters[0].windows[0]
    assert first.activation != last.activation


def test_every_n_epochs_counts_from_epoch_zero(trained):
    dirs, *_ = trained
    assert sorted(read_reports(dirs["every_2"])["run"]["conv_1"]) == [0, 2]


def test_a_failing_interpretation_warns_once_and_training_goes_on(trained):
    dirs, _, history, caught = trained
    ours = [w for w in caught if "FiltersCallback" in str(w.message) and "no_such_layer" in str(w.message)]
    assert len(ours) == 1
    assert "Training goes on" in str(ours[0].message)
    assert len(history.history["loss"]) == EPOCHS
    assert listing(dirs["no_layer"]) == {}


def test_data_that_breaks_mid_pass_writes_nothing(trained):
    dirs, _, history, caught = trained
    assert any(issubclass(w.category, RuntimeWarning) and "data source went away" in str(w.message)
               for w in caught)
    assert len(history.history["loss"]) == EPOCHS
    assert listing(dirs["broken"]) == {}


def test_vocabulary_read_from_the_model(tmp_path, data):
    lookup = keras.layers.StringLookup(vocabulary=VOCAB[2:], mask_token="<pad>", name="lookup")
    words = keras.Input((LENGTH,), dtype="string")
    x = keras.layers.Embedding(VOCAB_SIZE, 8)(lookup(words))
    x = keras.layers.GlobalMaxPooling1D()(conv(3, 2, "conv_1")(x))
    model = keras.Model(words, keras.layers.Dense(1)(x))
    callback = tb_filters.FiltersCallback(data[0], log_dir=str(tmp_path / "run"), top_k=2)
    callback.set_model(model)
    callback.on_epoch_end(0)
    report = read_reports(tmp_path)["run"]["conv_1"][0]
    tokens = {t for f in report.filters for w in f.windows for t in w.tokens}
    assert tokens and tokens <= set(lookup.get_vocabulary()) | {"<pad>"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sequences=None), "Received: None"),
        (dict(sequences=np.zeros((4, 3), "float32")), r"2-D integer array .* dtype float32"),
        (dict(sequences=np.zeros((0, 3), "int32")), r"non-empty .* shape \(0, 3\)"),
        (dict(sequences=iter([np.zeros((2, 3), "int32")])), "one-shot iterator"),
        (dict(every_n_epochs=0), "Expected every_n_epochs >= 1 .* Received: every_n_epochs=0"),
        (dict(top_k=0), "Received: top_k=0"),
        (dict(top_k=2.5), "Received: top_k=2.5"),
        (dict(batch_size=-1), "Received: batch_size=-1"),
        (dict(layers=[]), "non-empty list of layer names"),
        (dict(log_dir=""), "Expected log_dir"),
        (dict(vocab="/nonexistent/word_index.json"), "not found"),
        (dict(inputs=[1, 2]), "Expected inputs as a dict"),
        (dict(effect_examples=-5), "Received: effect_examples=-5"),
        (dict(min_count=-1), "Received: min_count=-1"),
        (dict(slot_top_n=2.0), "Received: slot_top_n=2.0"),
        (dict(pattern_share=2), "Received: pattern_share=2"),
    ],
)
def test_bad_arguments_raise_at_construction(kwargs, match):
    arguments = dict(sequences=np.zeros((4, 3), "int32"), vocab=VOCAB)
    arguments.update(kwargs)
    with pytest.raises(FiltersError, match=match):
        tb_filters.FiltersCallback(**arguments)


def test_log_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FiltersError, match="a file"):
        tb_filters.FiltersCallback(np.ones((2, 3), "int32"), log_dir=str(tmp_path / "file"))


def two_input_classifier() -> keras.Model:
    tokens = tokens_input()
    meta = keras.Input((3,), name="meta")
    x = conv(4, 3, "conv_1", activation="relu")(embedding(tokens))
    x = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling1D()(x), meta])
    model = keras.Model([tokens, meta], keras.layers.Dense(1, activation="sigmoid", name="score")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


def test_effects_of_a_multi_input_model_at_every_step(tmp_path, data):
    x, y = data
    meta = np.random.default_rng(3).random((len(x), 3), dtype=np.float32)
    model = two_input_classifier()
    callback = tb_filters.FiltersCallback(x, vocab=VOCAB, log_dir=str(tmp_path / "run"), top_k=2,
                                          inputs={"meta": meta}, class_names=["positive"])
    model.fit([x, meta], y, epochs=2, batch_size=32, verbose=0, callbacks=[callback])
    steps = read_reports(tmp_path)["run"]["conv_1"]
    assert sorted(steps) == [0, 1]
    history = [[f.effects[0].mean for f in steps[step].filters] for step in (0, 1)]
    assert all(steps[s].output_names == ("positive",) for s in steps) and history[0] != history[1]
    now = tb_filters.interpret(model, x, inputs={"meta": meta}, class_names=["positive"])["conv_1"]
    np.testing.assert_allclose(history[1], [f.effects[0].mean for f in now.filters], atol=1e-7)


def _tracings(model: keras.Model) -> int:
    """How many times the effects' functions and interpret's steps for `model` were traced so far."""
    from tb_filters.engine import effects
    from tb_filters.engine import interpret as engine

    def count(functions) -> int:
        values = functions.values() if isinstance(functions, dict) else functions
        return sum(count(f) if isinstance(f, dict) else f.experimental_get_tracing_count()
                   for f in values if isinstance(f, dict) or hasattr(f, "experimental_get_tracing_count"))

    compiled = [c for key, c in effects._CACHE.items() if key[0] == id(model)]
    return sum(count(c.functions) for c in compiled) + count(list(engine._STEPS.values()))


def test_epochs_after_the_first_trace_nothing_and_read_the_trained_weights(tmp_path, data):
    """The callback's functions are traced (and compiled) at the first epoch only; later epochs
    reuse them with the weights as training left them, not as they were when traced."""
    from tests.helpers.text_models import notebook_model
    from tests.helpers.tolerances import OUTPUT_ATOL

    x, y = data
    meta = np.random.default_rng(4).random((len(x), 24), dtype=np.float32)
    model = notebook_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    callback = tb_filters.FiltersCallback(x, vocab=VOCAB, log_dir=str(tmp_path / "run"), top_k=2,
                                          inputs={"meta": meta})
    counts = []
    counter = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: counts.append(_tracings(model)))
    model.fit([x, meta], y, epochs=3, batch_size=32, verbose=0, callbacks=[callback, counter])
    assert counts[0] > 0 and counts == [counts[0]] * 3
    steps = read_reports(tmp_path)["run"]
    # A copy with the final weights and functions of its own: what the last epoch should have seen.
    fresh = keras.models.clone_model(model)
    fresh.set_weights(model.get_weights())
    now = tb_filters.interpret(fresh, x, top_k=2, inputs={"meta": meta})
    for name in ("conv_1", "conv_2"):
        history = [np.array([[e.mean for e in f.effects] for f in steps[name][s].filters]) for s in (0, 2)]
        assert not np.array_equal(history[0], history[1])
        expected = np.array([[e.mean for e in f.effects] for f in now[name].filters])
        np.testing.assert_allclose(history[1], expected, atol=OUTPUT_ATOL)  # same kernels, traced apart
