"""The `match` and `dynamics` routes through TensorBoard's WSGI app: the same numbers as
tb_filters.match / tb_filters.dynamics on the reports read back, permuted copies recovered,
the notes when runs cannot be compared, and the 400s and 404s."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tb_filters
from tb_filters.format import report as report_lib
from tb_filters.plugin import queries
from tests.helpers.logdir_builder import default_vocabulary, synthetic_layer_report, synthetic_signatures
from tests.helpers.plugin_harness import serve
from tests.helpers.tolerances import CORRELATION_ATOL

LAYER = "conv1d"
FILTERS = 12


def _report(seed: int, num_filters: int = FILTERS) -> report_lib.LayerReport:
    return synthetic_layer_report(LAYER, num_filters=num_filters, top_k=4, kernel_size=3,
                                  vocabulary=default_vocabulary(), seed=seed)


def _permuted(layer: report_lib.LayerReport, order: np.ndarray, scale: float) -> report_lib.LayerReport:
    """Filter i of the copy is filter order[i] of `layer`, its signature scaled by `scale`
    (a power of two: float16 keeps it exact)."""
    rows = (layer.signature_array()[order] * scale).astype("<f2")
    filters = tuple(dataclasses.replace(layer.filters[o], index=i) for i, o in enumerate(order))
    return dataclasses.replace(layer, filters=filters, signature_matrix=rows.tobytes())


def _write(path, run: str, steps: dict[int, report_lib.LayerReport]) -> None:
    from tb_filters.format import summary  # imports TensorFlow: only writers pay for it

    for step, layer in steps.items():
        summary.write_report(str(path / run), report_lib.Report({LAYER: layer}), step, wall_time=1_700_000_000.0 + step)


ORDER = np.random.default_rng(7).permutation(FILTERS)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = tmp_path_factory.mktemp("match")
    base = _report(1)
    reports = {
        "base": {0: _report(0), 1: base},
        "permuted": {0: _permuted(base, ORDER, 2.0)},
        "other": {0: _report(2)},
        "other_probe": {0: dataclasses.replace(base, probe_fingerprint="another probe")},
        "unsigned": {0: dataclasses.replace(base, signatures=report_lib.TURNED_OFF, probe_examples=0,
                                            probe_fingerprint="", signature_matrix=b"")},
        "fewer": {0: _report(3, num_filters=5)},
    }
    for run, steps in reports.items():
        _write(path, run, steps)
    return serve(path), reports


def _match(server, first: str, second: str, **extra) -> dict:
    return server.json("match", [("run", first), ("run", second), ("layer", LAYER), *extra.items()])


def test_match_answers_what_tb_filters_match_computes(served):
    server, reports = served
    for first, second, extra, a, b in (
            ("base", "other", {}, reports["base"][1], reports["other"][0]),
            ("base", "base", {"step": 0}, reports["base"][0], reports["base"][1]),
            ("other", "fewer", {}, reports["other"][0], reports["fewer"][0]),
            ("fewer", "other", {}, reports["fewer"][0], reports["other"][0])):
        answer = _match(server, first, second, **extra)
        expected = tb_filters.match(a, b)
        assert answer["comparable"] and answer["note"] == ""
        assert (answer["step"], answer["other_step"]) == (extra.get("step", max(reports[first])), max(reports[second]))
        assert answer["filters"] == len(a.filters) and answer["other_filters"] == len(b.filters)
        assert answer["probe_examples"] == a.probe_examples and answer["shared"] == expected.shared_count
        # The same arithmetic both ways: the route runs compare.match_arrays on the float16 bytes of the
        # same reports decoded alike, in this process, and JSON carries floats exactly. So: equal.
        assert (answer["cka"], answer["threshold"]) == (expected.cka, expected.threshold)
        assert [(m["filter"], m["best"], m["one_to_one"], m["shared"]) for m in answer["matches"]] == \
            [(f.index, f.best, f.one_to_one, f.shared) for f in expected.filters]
        assert [m["best_correlation"] for m in answer["matches"]] == [f.best_correlation for f in expected.filters]


def test_match_recovers_a_permuted_copy_exactly(served):
    server, _ = served
    answer = _match(server, "base", "permuted")
    twin = {int(original): copy for copy, original in enumerate(ORDER)}
    assert [m["one_to_one"] for m in answer["matches"]] == [twin[i] for i in range(FILTERS)]
    assert [m["best"] for m in answer["matches"]] == [twin[i] for i in range(FILTERS)]
    assert min(m["best_correlation"] for m in answer["matches"]) == pytest.approx(1.0, abs=CORRELATION_ATOL)
    assert answer["shared"] == FILTERS and all(m["shared"] for m in answer["matches"])
    assert answer["cka"] == pytest.approx(1.0, abs=1e-6)
    assert _match(server, "base", "other")["shared"] <= 1  # unrelated random signatures


def test_match_says_why_runs_cannot_be_compared(served):
    server, _ = served
    for second, note in (("other_probe", "different probes: base has 64 examples"),
                         ("unsigned", "no signatures in unsigned: turned off")):
        answer = _match(server, "base", second)
        assert answer["comparable"] is False and answer["note"].startswith(note), answer["note"]
        assert answer["matches"] == [] and answer["cka"] is None and answer["shared"] is None
        assert answer["filters"] == FILTERS


def test_match_refuses_layers_too_big_for_the_tab(served, tmp_path, monkeypatch):
    server, _ = served
    monkeypatch.setattr(queries, "MAX_MATCH_FILTERS", FILTERS - 1)
    answer = _match(server, "base", "other")
    assert not answer["comparable"] and answer["note"].startswith("too big to match here: 12 and 12 filters")


@pytest.mark.parametrize("params, status, message", [
    ([("run", "base"), ("layer", LAYER)], 400, "Expected two values of run (run=A&run=B). Received: 1 value"),
    ([("run", "base")] * 3 + [("layer", LAYER)], 400, "Expected at most 2 values of run. Received: 3"),
    ([("run", "base"), ("run", "other")], 400, "Expected parameter layer. Received: none"),
    ([("run", "base"), ("run", "other"), ("layer", LAYER), ("other_step", "x")], 400,
     "Expected an integer other_step. Received: other_step='x'"),
    ([("run", "base"), ("run", "nope"), ("layer", LAYER)], 404, 'No run "nope" with filters data'),
    ([("run", "base"), ("run", "other"), ("layer", "nope")], 404, 'No layer "nope" in run "base"'),
    ([("run", "base"), ("run", "other"), ("layer", LAYER), ("other_step", 5)], 404,
     'No step 5 in layer "conv1d" of run "other". Steps: 0'),
])
def test_match_bad_requests(served, params, status, message):
    server, _ = served
    response = server.get("match", params)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_dynamics_answers_what_tb_filters_dynamics_computes(served):
    server, reports = served
    answer = server.json("dynamics", {"run": "base", "layer": LAYER})
    expected = tb_filters.dynamics(list(reports["base"].items()))
    assert answer["steps"] == [0, 1] and answer["latest"] == 1 and answer["note"] == ""
    assert (answer["correlation_threshold"], answer["jaccard_threshold"]) == (0.9, 0.5)
    assert [f["filter"] for f in answer["filters"]] == [f.index for f in expected.filters]
    assert [f["settled_step"] for f in answer["filters"]] == [f.settled_step for f in expected.filters]
    for got, want in zip(answer["filters"], expected.filters):
        assert got["jaccard"] == list(want.jaccard)
        assert got["correlation"] == list(want.correlation)  # the same arithmetic on the same bytes, as above
    unsigned = server.json("dynamics", {"run": "unsigned", "layer": LAYER})
    assert unsigned["note"] == "no signatures at step 0: correlations are null"
    assert all(f["correlation"] == [None] and f["settled_step"] is None for f in unsigned["filters"])


def test_dynamics_follows_a_filter_that_settles(tmp_path):
    """Filter 0 keeps its signature and windows from step 2 on; the others change at every step."""
    steps = {}
    for step in range(5):
        layer = _report(10 + step)
        if step >= 2:
            fixed = _report(12)
            rows = layer.signature_array()
            rows[0] = fixed.signature_array()[0]
            layer = dataclasses.replace(layer, filters=(fixed.filters[0], *layer.filters[1:]),
                                        signature_matrix=rows.astype("<f2").tobytes())
        steps[step] = layer
    _write(tmp_path, "run", steps)
    answer = serve(tmp_path).json("dynamics", {"run": "run", "layer": LAYER})
    assert answer["filters"][0]["settled_step"] == 2
    assert [f["settled_step"] for f in answer["filters"][1:]] == [None] * (FILTERS - 1)


def test_dynamics_bad_requests(served):
    server, _ = served
    assert server.get("dynamics", {"layer": LAYER}).status_code == 400
    response = server.get("dynamics", {"run": "base", "layer": "nope"})
    assert response.status_code == 404 and 'No layer "nope" in run "base"' in response.get_data(as_text=True)


def test_synthetic_signatures_share_one_probe():
    a, b = synthetic_signatures(3, 8, np.random.default_rng(0)), synthetic_signatures(4, 8, np.random.default_rng(1))
    assert a["probe_fingerprint"] == b["probe_fingerprint"] and len(a["signature_matrix"]) == 3 * 8 * 2
