"""Keras backends: under JAX the engine gives TensorFlow's answers; other backends are refused up front.

The JAX side runs in a process of its own (tests/helpers/keras_backends.py):
the backend is fixed when Keras is imported.
"""

from __future__ import annotations

import pickle

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.cli import commands as cli
from tests.helpers import keras_backends
from tests.helpers.readback import read_reports
from tests.helpers.text_models import token_data
from tests.helpers.tolerances import ACTIVATION_RTOL, CONTRIBUTION_RTOL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jax_side(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("jax")
    done = keras_backends.run_under("jax", str(outdir))
    assert done.returncode == 0, done.stderr[-3000:]
    return outdir


@pytest.mark.parametrize("name", ["notebook", "normalized"])
def test_interpret_under_jax_equals_tensorflow_on_the_same_weights(jax_side, name):
    with open(jax_side / "models.pkl", "rb") as f:
        under_jax = pickle.load(f)[name]
    model = keras_backends.compared_models()[name]()
    model.load_weights(jax_side / f"{name}.weights.h5")
    for distinct in (True, False):
        ours = tb_filters.interpret(model, token_data(300), top_k=keras_backends.TOP_K, distinct=distinct,
                                    batch_size=64, inhibiting=True, contexts=True)
        assert list(ours.layers) == list(under_jax[distinct].layers)
        for layer in ours:
            assert_same_answers(layer, under_jax[distinct][layer.name])


def assert_same_answers(ours, theirs, contribution_rtol: float = ACTIVATION_RTOL) -> None:
    """The same windows, counts and histograms; activations, contributions and means within float32
    rounding: XLA may order a normalization's arithmetic differently from TensorFlow's kernels."""
    assert (ours.name, ours.geometry, ours.top_k, ours.distinct, ours.num_examples) == (
        theirs.name, theirs.geometry, theirs.top_k, theirs.distinct, theirs.num_examples)
    assert ours.examples == theirs.examples
    for a, b in zip(ours.filters, theirs.filters, strict=True):
        assert [_identity(w) for w in a.windows] == [_identity(w) for w in b.windows], (ours.name, a.index)
        # The pre-activations behind the inhibiting windows come from the backend's own forward pass too.
        assert ([_identity(w) for w in a.inhibiting or ()]
                == [_identity(w) for w in b.inhibiting or ()]), (ours.name, a.index)
        assert ([[t.id for t in s.raises + s.lowers] for s in a.slot_preferences or ()]
                == [[t.id for t in s.raises + s.lowers] for s in b.slot_preferences or ()])
        assert a.stats.histogram == b.stats.histogram and a.stats.positions == b.stats.positions
        assert _floats(a) == pytest.approx(_floats(b), rel=1e-5, abs=1e-6), (ours.name, a.index)
        assert _contributions(a) == pytest.approx(_contributions(b), rel=contribution_rtol, abs=1e-6), a.index
    # The signatures come from the backend's forward pass too, rounded to float16: within one ulp.
    assert (ours.signatures, ours.probe_examples, ours.probe_fingerprint) == (
        theirs.signatures, theirs.probe_examples, theirs.probe_fingerprint)
    ulp = np.spacing(np.abs(theirs.signature_array()).astype(np.float16)).astype(np.float32)
    assert np.all(np.abs(ours.signature_array() - theirs.signature_array()) <= ulp), ours.name


def _identity(w) -> tuple:
    return w.example, w.position, w.span_start, w.token_ids, w.tokens, w.padding, w.count


def _floats(f) -> list[float]:
    values = [f.bias, f.stats.max, f.stats.min, f.stats.mean, f.stats.positive_fraction]
    for w in f.windows + (f.inhibiting or ()):
        values.append(w.activation)
    return values


def _contributions(f) -> list[float]:
    return [c for w in f.windows + (f.inhibiting or ()) for c in w.contributions or ()]


def test_callback_under_jax_reports_every_epoch_with_that_epochs_weights(jax_side):
    reports = read_reports(jax_side)["run"]["conv_1"]
    assert sorted(reports) == list(range(keras_backends.EPOCHS))
    trained = keras.saving.load_model(jax_side / "trained.keras")
    x, _ = keras_backends.training_data()
    expected = tb_filters.interpret(trained, x, vocab=keras_backends.VOCAB, top_k=keras_backends.TOP_K)["conv_1"]
    last = reports[keras_backends.EPOCHS - 1]
    # Read back: its contributions were stored as float16.
    assert_same_answers(last, expected, contribution_rtol=CONTRIBUTION_RTOL + ACTIVATION_RTOL)
    # Weights passed to the compiled step each epoch, not frozen into it at the first.
    assert reports[0].filters != last.filters


def test_cli_interprets_a_model_trained_and_saved_under_jax(jax_side, tmp_path, capsys):
    x, _ = keras_backends.training_data()
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "vocab.txt").write_text("\n".join(keras_backends.VOCAB) + "\n")
    code = cli.main(["interpret", str(jax_side / "trained.keras"), "--data", str(tmp_path / "x.npy"),
                     "--vocab", str(tmp_path / "vocab.txt"), "--logdir", str(tmp_path / "logs" / "run"),
                     "--top-k", str(keras_backends.TOP_K)])
    assert code == 0, capsys.readouterr().err
    written = read_reports(tmp_path / "logs")["run"]["conv_1"][0]
    assert_same_answers(written, read_reports(jax_side)["run"]["conv_1"][keras_backends.EPOCHS - 1])


def test_other_backends_are_refused_when_the_callback_is_made(tmp_path):
    # Keras' numpy backend stands in for PyTorch (not installed here): the same check refuses both.
    done = keras_backends.run_under("numpy", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    messages = (tmp_path / "refused.txt").read_text().splitlines()
    assert len(messages) == 2
    for message in messages:
        assert message.startswith("Expected the Keras backend to be 'tensorflow' or 'jax'. "
                                  "Received: KERAS_BACKEND='numpy'")
