"""The effects' sample reads the activations the step computed for each batch (no second
forward pass), and each layer's ablation is compiled by XLA only when the sample holds
enough work to win the compilation back."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.engine import chains as chains_lib
from tb_filters.engine import effects
from tests.engine.test_effects import check_against_brute_force
from tests.engine.test_signatures import assert_signatures_match, brute_signatures
from tests.helpers.text_models import notebook_model, token_data
from tests.helpers.tolerances import CORRELATION_ATOL


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(120, seed=7)


@pytest.mark.slow
def test_a_step_keeping_pre_activations_hands_the_sample_its_activations(data):
    """With inhibiting windows the step's forward pass gives (activations, pre-activations) pairs:
    the sample takes the activations, so effects, signatures and duplicates are the ablated
    models', the probe's maxima and the same correlations as a step without them."""
    model = notebook_model()
    meta = np.random.default_rng(2).random((len(data), 24), dtype=np.float32)
    options = dict(inputs={"meta": meta}, batch_size=50, probe_examples=70, duplicate_threshold=-1.0)
    paired = tb_filters.interpret(model, data, inhibiting=True, **options)
    alone = tb_filters.interpret(model, data, **options)
    for name in ("conv_1", "conv_2"):
        check_against_brute_force(model, paired[name], name, [data, meta])
        assert_signatures_match(paired[name], brute_signatures(model, name, data[:70]))
        # threshold -1: every filter after the first is some earlier filter's duplicate, its correlation shown
        pairs = [(f.duplicate_of, f.duplicate_correlation) for f in paired[name].filters[1:]]
        expected = [(f.duplicate_of, f.duplicate_correlation) for f in alone[name].filters[1:]]
        assert all(d is not None for d, _ in pairs)
        np.testing.assert_allclose([c for _, c in pairs], [c for _, c in expected], atol=CORRELATION_ATOL)


def notebook_shaped(filters: int = 64) -> keras.Model:
    """The bench's notebook-shaped layers (benchmarks/workload.py) on a small vocabulary."""
    tokens = keras.Input((32,), dtype="int32", name="tokens")
    meta = keras.Input((24,), name="meta")
    x = keras.layers.Embedding(100, 100)(tokens)
    x = keras.layers.Conv1D(filters, 3, activation="relu", name="conv_1")(keras.layers.ZeroPadding1D(1)(x))
    x = keras.layers.ZeroPadding1D(1)(keras.layers.MaxPooling1D(2)(x))
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(filters, 3, activation="relu", name="conv_2")(x))
    x = keras.layers.Dense(32, activation="relu")(keras.layers.Concatenate()([x, meta]))
    return keras.Model([tokens, meta], keras.layers.Dense(1, activation="sigmoid")(x))


@pytest.mark.parametrize("examples, compiled", [
    (10_000, {"conv_1": True, "conv_2": False}),  # T1's whole process
    (2_000, {"conv_1": False, "conv_2": False}),  # the quick bench
    (None, {"conv_1": True, "conv_2": True}),  # data of unknown size, no limit
])
def test_xla_compiles_only_an_ablation_with_the_work_to_win_it_back(examples, compiled):
    """conv_1's ablation recomputes conv_2 position by position (16 x 3 taps x 64 per copy);
    conv_2's, a Dense of 32 units: XLA's ~0.5 s of compiling is won back by the first alone."""
    model = notebook_shaped()
    for name, expected in compiled.items():
        (chain,) = chains_lib.find_chains(model, [name])
        linear = effects.split(model, chain).linear
        shape = tuple(linear.layer.output.shape[1:])
        assert effects._worth_xla(examples, 64, linear, shape) == expected, name
