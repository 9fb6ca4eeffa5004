"""`tb-filters match`, in-process: real Keras models' reports in real event files."""

from __future__ import annotations

import numpy as np
import pytest

import tb_filters
from tb_filters.cli import commands
from tb_filters.format import report as report_lib
from tests.format.test_compare import with_signatures
from tests.helpers import text_models

LAYER = "conv"
FILTERS = 4
ORDER = np.array([2, 0, 3, 1])  # filter i of the copy is filter ORDER[i]


def _model(seed: int, order=None):
    model = text_models.chain_model(text_models.conv(FILTERS, 3, LAYER, seed=seed, activation="relu"))
    if order is not None:
        kernel, bias = model.get_layer(LAYER).get_weights()
        model.get_layer(LAYER).set_weights([kernel[..., order], bias[order]])
    return model


def _report(model, data) -> report_lib.Report:
    layer = tb_filters.interpret(model, data, layers=[LAYER], top_k=3, effects=False, probe_examples=len(data))[LAYER]
    return report_lib.Report({LAYER: with_signatures(layer, model, data)})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run a: an unrelated model at step 0, the model at step 1 (another event file); run b: the model's
    filters permuted."""
    from tb_filters.format import summary

    root = tmp_path_factory.mktemp("match")
    data = text_models.token_data(300)
    summary.write_report(str(root / "a"), _report(_model(seed=9), data), 0)
    summary.write_report(str(root / "a"), _report(_model(seed=2), data), 1)
    summary.write_report(str(root / "b"), _report(_model(seed=2, order=ORDER), data), 0)
    return root


def test_match_prints_the_shared_filters_of_the_latest_steps(runs, capsys):
    assert commands.main(["match", str(runs / "a"), str(runs / "b")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{LAYER}: b shares {FILTERS} of {FILTERS} filters with a (CKA 1.00; steps 1 and 0;")
    assert out[1] == f"  shared (a -> b, correlation): {FILTERS}"
    twin = {int(original): copy for copy, original in enumerate(ORDER)}
    pairs = [line.split()[:4] for line in out[2:2 + FILTERS]]
    assert pairs == [[str(i), "->", str(twin[i]), "1.00"] for i in range(FILTERS)]
    assert out[2 + FILTERS:] == ["  only in a: 0", "  only in b: 0"]


def test_match_against_an_unrelated_run_lists_filters_only_in_one(runs, tmp_path, capsys):
    from tb_filters.format import summary

    data = text_models.token_data(300)
    summary.write_report(str(tmp_path / "other"), _report(_model(seed=30), data), 0)
    assert commands.main(["match", str(runs / "a"), str(tmp_path / "other"), "--layer", LAYER]) == 0
    out = capsys.readouterr().out
    assert "  only in a: " in out and "  only in other: " in out
    assert f"{LAYER}: other shares " in out.splitlines()[0]


@pytest.mark.parametrize("args, message", [
    (["{root}/missing", "{root}/b"], "error: Expected a run directory holding filters reports. Received: "),
    (["{root}", "{root}/b"], "(no event files with them; runs inside: a, b)"),
    (["{root}/a", "{root}/b", "--layer", "nope"],
     "error: Expected --layer among the layers both runs hold. Received: 'nope' (both hold: conv)"),
    (["{root}/a"], "error: the following arguments are required: RUN_B"),
])
def test_match_bad_input_is_one_line_and_exit_2(runs, capsys, args, message):
    code = commands.main(["match", *(a.format(root=runs) for a in args)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
