"""tb_filters.match and tb_filters.dynamics, checked by brute force on real Keras models' signatures."""

from __future__ import annotations

import dataclasses
import itertools

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.cli import demo
from tb_filters.format import compare
from tb_filters.format.report import COMPUTED, LayerReport
from tests.helpers import text_models
from tests.helpers.tolerances import CORRELATION_ATOL

LAYER = demo.LAYER_NAME
FILTERS = 32


def signatures(model: keras.Model, probe: np.ndarray, layer: str = LAYER) -> np.ndarray:
    """[filters, probe] by brute force: the layer's whole output, then the maximum over positions."""
    return text_models.submodel_outputs(model, layer, probe).max(axis=1).T


def with_signatures(report: LayerReport, model: keras.Model, probe: np.ndarray) -> LayerReport:
    """The report, its signatures (the engine's) checked against brute force: float16 of the same
    maxima, within one float16 rounding (activations from other kernels differ by float32 ulps)."""
    assert report.signatures == COMPUTED and report.probe_examples == len(probe)
    expected = signatures(model, probe, report.name).astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(report.signature_array(), expected, rtol=2**-10, atol=2**-24)
    return report


def report_of(model: keras.Model, probe: np.ndarray, vocabulary, layer: str = LAYER) -> LayerReport:
    report = tb_filters.interpret(model, probe, layers=[layer], vocab=vocabulary, top_k=5, effects=False,
                                  probe_examples=len(probe))[layer]
    return with_signatures(report, model, probe)


@pytest.fixture(scope="module")
def demo_models():
    """A demo CNN trained 2 epochs, the same architecture untrained (another seed), and the probe."""
    train = demo.make_corpus(2000, seed=0)
    probe = demo.make_corpus(512, seed=1)
    vocabulary = train.vocabulary
    trained = demo.build_model(len(vocabulary), 3, filters=FILTERS, seed=0)
    trained.fit(train.sequences, train.labels, epochs=2, batch_size=64, verbose=0)
    untrained = demo.build_model(len(vocabulary), 3, filters=FILTERS, seed=1)
    return trained, untrained, probe.sequences, vocabulary


def permuted_copy(model: keras.Model, order: np.ndarray, scale: float = 1.0, noise: float = 0.0) -> keras.Model:
    """The model with its conv filters in `order` (filter i of the copy is filter order[i]),
    kernels and biases times `scale` (> 0: relu keeps the shape), plus Gaussian noise on the kernels."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    kernel, bias = copy.get_layer(LAYER).get_weights()
    rng = np.random.default_rng(3)
    kernel = kernel[..., order] * scale + rng.normal(0, noise * kernel.std(), kernel.shape).astype(np.float32)
    copy.get_layer(LAYER).set_weights([kernel, bias[order] * scale])
    return copy


# The statistics, against brute force -----------------------------------------------------------

def test_correlations_equal_corrcoef_of_brute_force_signatures(demo_models):
    trained, untrained, probe, _ = demo_models
    sa, sb = signatures(trained, probe), signatures(untrained, probe)
    sb[3] = 0.5  # a dead filter: constant, correlates 0 with everything
    with np.errstate(invalid="ignore"):  # the dead row's 0 / 0
        expected = np.corrcoef(np.vstack([sa, sb]))[:len(sa), len(sa):]
    expected[:, 3] = 0.0
    np.testing.assert_allclose(compare.correlations(sa, sb), expected, rtol=0, atol=CORRELATION_ATOL)


def _exhaustive_assignment(corr: np.ndarray) -> np.ndarray:
    rows, columns = corr.shape
    best, best_total = None, -np.inf
    if rows <= columns:
        for chosen in itertools.permutations(range(columns), rows):
            total = corr[np.arange(rows), chosen].sum()
            if total > best_total:
                best, best_total = np.array(chosen), total
        return best
    for chosen in itertools.permutations(range(rows), columns):  # which row each column takes
        total = corr[list(chosen), np.arange(columns)].sum()
        if total > best_total:
            best_total, best = total, np.full(rows, -1)
            best[list(chosen)] = np.arange(columns)
    return best


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 5), (6, 6), (2, 5), (4, 6), (5, 2), (6, 4)])
def test_one_to_one_is_the_exhaustive_best_assignment(shape):
    for seed in range(5):
        corr = np.random.default_rng(seed).uniform(-1, 1, shape)
        np.testing.assert_array_equal(compare.one_to_one(corr), _exhaustive_assignment(corr))


def _brute_force_cka(sa: np.ndarray, sb: np.ndarray) -> float:
    """CKA as HSIC of the probe's [P, P] linear kernels (Kornblith et al. 2019, eq. 2)."""
    p = sa.shape[1]
    h = np.eye(p) - np.ones((p, p)) / p
    ka, kb = h @ (sa.T @ sa) @ h, h @ (sb.T @ sb) @ h
    return float(np.sum(ka * kb) / np.sqrt(np.sum(ka * ka) * np.sum(kb * kb)))


def test_linear_cka_is_hsic_of_the_kernels_one_with_itself_and_blind_to_filter_order(demo_models):
    trained, untrained, probe, _ = demo_models
    sa, sb = signatures(trained, probe).astype(np.float64), signatures(untrained, probe).astype(np.float64)
    # float32 products of sums of squares: a ratio good to ~1e-6.
    assert compare.linear_cka(sa, sb) == pytest.approx(_brute_force_cka(sa, sb), abs=1e-5)
    assert compare.linear_cka(sa, sa) == pytest.approx(1.0, abs=1e-6)
    order = np.random.default_rng(0).permutation(len(sb))
    assert compare.linear_cka(sa, sb[order]) == pytest.approx(compare.linear_cka(sa, sb), abs=1e-6)


# Matching real models ---------------------------------------------------------------------------

def test_a_permuted_copy_is_recovered_exactly(demo_models):
    trained, _, probe, vocabulary = demo_models
    order = np.random.default_rng(1).permutation(FILTERS)
    twin = {int(original): copy_index for copy_index, original in enumerate(order)}
    a = report_of(trained, probe, vocabulary)
    for scale, noise in ((1.0, 0.0), (1.7, 0.01)):
        b = report_of(permuted_copy(trained, order, scale, noise), probe, vocabulary)
        matched = tb_filters.match(a, b)
        assert [f.one_to_one for f in matched.filters] == [twin[i] for i in range(FILTERS)]
        assert [f.best for f in matched.filters] == [twin[i] for i in range(FILTERS)]
        assert min(f.best_correlation for f in matched.filters) > 0.999
        assert matched.shared_count == FILTERS and all(f.shared for f in matched.filters)
        assert matched.cka > 0.999
        assert matched.probe_examples == len(probe)


def test_an_untrained_model_shares_almost_nothing_with_a_trained_one(demo_models):
    trained, untrained, probe, vocabulary = demo_models
    a, b = report_of(trained, probe, vocabulary), report_of(untrained, probe, vocabulary)
    for first, second in ((a, b), (b, a)):
        matched = tb_filters.match(first, second)
        # The documented false-positive rate: a few percent (compare.py's docstring).
        assert matched.shared_count <= 0.1 * FILTERS, (matched.shared_count, matched.threshold)
        assert matched.threshold < 0.999
    assert tb_filters.match(a, a).shared_count == FILTERS


def test_match_refuses_reports_without_signatures_or_on_other_probes(demo_models):
    trained, _, probe, vocabulary = demo_models
    a = report_of(trained, probe, vocabulary)
    other_probe = dataclasses.replace(a, probe_fingerprint="another")
    without = dataclasses.replace(a, signatures="turned off", signature_matrix=b"", probe_examples=0)
    for b, words in ((other_probe, "different probes"), (without, "no signatures in b: turned off")):
        with pytest.raises(tb_filters.FiltersError) as raised:
            tb_filters.match(a, b)
        assert str(raised.value).startswith("Expected two layer reports with signatures on the same probe. Received:")
        assert words in str(raised.value) and "\n" not in str(raised.value)


def test_fewer_filters_in_b_leave_the_extra_filters_of_a_without_a_one_to_one_match():
    rng = np.random.default_rng(0)
    sa = rng.normal(size=(5, 64))
    matched = compare.match_arrays(sa, sa[[4, 0, 2]])
    assert [f.one_to_one for f in matched.filters] == [1, None, 2, None, 0]
    assert [f.one_to_one_correlation is None for f in matched.filters] == [False, True, False, True, False]
    assert [f.shared for f in matched.filters] == [True, False, True, False, True]


# Training dynamics ------------------------------------------------------------------------------

def test_settled_step_of_constructed_runs():
    """Filter 0's kernel stops changing after step 2: it settles at 2. Filter 1's changes at every
    step: it never settles. Filter 2's never changes: settled from the first step."""
    model = text_models.chain_model(text_models.conv(3, 3, "conv", activation="relu"))
    data = text_models.token_data(300)
    rng = np.random.default_rng(0)
    kernel, bias = model.get_layer("conv").get_weights()
    steps = []
    for step in range(5):
        if step <= 2:
            kernel[..., 0] = rng.normal(size=kernel.shape[:2])
        kernel[..., 1] = rng.normal(size=kernel.shape[:2])
        model.get_layer("conv").set_weights([kernel, bias])
        report = tb_filters.interpret(model, data, layers=["conv"], top_k=8, effects=False, probe_examples=200)["conv"]
        steps.append((step, with_signatures(report, model, data[:200])))
    result = tb_filters.dynamics(list(reversed(steps)))
    assert result.steps == (0, 1, 2, 3, 4) and result.latest == 4
    assert [f.settled_step for f in result.filters] == [2, None, 0]
    first, second, third = result.filters
    assert first.correlation[2:] == pytest.approx([1.0, 1.0, 1.0], abs=CORRELATION_ATOL)
    assert first.jaccard[2:] == (1.0, 1.0, 1.0)
    assert first.jaccard[1] < compare.JACCARD_THRESHOLD or first.correlation[1] < compare.CORRELATION_THRESHOLD
    assert second.jaccard[3] < compare.JACCARD_THRESHOLD or second.correlation[3] < compare.CORRELATION_THRESHOLD
    assert third.jaccard == (1.0,) * 5 and result.note == ""


def test_settled_step_rule():
    steps = (0, 1, 2, 3)
    assert compare.settled_step(steps, [0.95, 0.5, 0.95, 1.0], [0.6, 0.6, 0.6, 1.0]) == 2
    assert compare.settled_step(steps, [0.95, 0.95, 0.95, 1.0], [0.6, 0.6, 0.4, 1.0]) is None
    assert compare.settled_step(steps, [None, None, 0.9, 1.0], [0.5, 0.5, 0.5, 1.0]) == 0
    assert compare.settled_step(steps, [0.95, None, 0.95, 1.0], [0.6, None, 0.6, 1.0]) == 2
    assert compare.settled_step((4,), [1.0], [1.0]) is None
