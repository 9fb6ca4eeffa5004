"""The routes' view of what a filter detects: slot preferences, patterns,
inhibiting windows, contexts, summaries and search; and version-1 payloads."""

from __future__ import annotations

import os
import shutil

import pytest

from tb_filters.format.report import COMPUTED, NOT_IN_REPORT
from tests.helpers.logdir_builder import HOSTILE_TOKEN, build_logdir
from tests.helpers.plugin_harness import serve

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "payload_v1")
DETECTS = ("slot_preferences", "patterns", "contexts", "inhibiting")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("detects")
    built = build_logdir(path, runs=("kernel5",), num_filters=6, top_k=5, steps=1, kernel_size=5)
    shutil.copytree(os.path.join(FIXTURE, "v1run"), path / "v1run")
    return built


@pytest.fixture(scope="module")
def served(built):
    return serve(built.path)


def test_layers_say_which_features_their_reports_hold(served):
    runs = {r["run"]: r for r in served.json("runs")["runs"]}
    new, old = runs["kernel5"]["layers"][0], runs["v1run"]["layers"][0]
    assert {new["detects"][k] for k in DETECTS} == {COMPUTED}
    assert new["detects"]["slot_top_n"] == 10 and new["detects"]["pattern_share"] == pytest.approx(0.2)
    assert {old["detects"][k] for k in DETECTS} == {NOT_IN_REPORT}


def test_an_old_report_still_shows_its_windows_and_a_summary(served):
    page = served.json("filters", {"run": "v1run", "layer": "conv1d"})
    assert page["detects"]["patterns"] == NOT_IN_REPORT
    for f in page["filters"]:
        assert len(f["windows"]) == 3 and f["summary"] == "top  " + " ".join(f["windows"][0]["tokens"])
        assert f["slot_preferences"] is None and f["patterns"] is None and f["inhibiting"] is None
    response = served.get("context", {"run": "v1run", "layer": "conv1d", "example": 4})
    assert response.status_code == 404 and b"not in this report" in response.data


def test_filters_carry_slot_preferences_patterns_inhibiting_and_the_summary(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    page = served.json("filters", {"run": "kernel5", "layer": "conv1d", "windows_limit": 2})
    for f, want in zip(page["filters"], truth.filters, strict=True):
        assert f["summary"] == want.summary and f["summary"].startswith("wants  ")
        assert [s["slot"] for s in f["slot_preferences"]] == [0, 1, 2, 3, 4]
        assert [t["token"] for t in f["slot_preferences"][0]["raises"]] == [
            t.token for t in want.slot_preferences[0].raises]
        assert [p["tokens"] for p in f["patterns"]] == [list(p.tokens) for p in want.patterns[:2]]
        assert f["num_patterns"] == len(want.patterns)
        assert f["num_inhibiting"] == 5 and len(f["inhibiting"]) == 2
        assert [w["activation"] for w in f["inhibiting"]] == [w.activation for w in want.inhibiting[:2]]


def test_every_window_opens_on_its_example(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    for f in truth.filters[:3]:
        for w in f.windows + f.inhibiting:
            context = served.json("context", {"run": "kernel5", "layer": "conv1d", "example": w.example})
            want = truth.context(w)
            assert (context["tokens"], context["token_ids"], context["padding"]) == (
                list(want.tokens), list(want.token_ids), list(want.padding))
    response = served.get("context", {"run": "kernel5", "layer": "conv1d", "example": 10**9})
    assert response.status_code == 404 and b"only the examples of its windows" in response.data
    assert served.get("context", {"run": "kernel5", "layer": "conv1d", "example": -1}).status_code == 400


def test_search_finds_the_filters_that_want_a_token_with_slot_and_score(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    slot = truth.filters[2].slot_preferences[3]
    token = slot.raises[0].token
    found = served.json("search", {"token": token, "run": "kernel5", "limit": 1000})
    expected = {}
    for f in truth.filters:
        for s in f.slot_preferences:
            for t in s.raises:
                if t.token == token and (f.index not in expected or t.score > expected[f.index][1]):
                    expected[f.index] = (s.slot, t.score)
    assert {r["filter"]: (r["slot"], r["score"]) for r in found["wants"]} == expected
    assert [r["score"] for r in found["wants"]] == sorted((r["score"] for r in found["wants"]), reverse=True)


def test_search_finds_patterns_holding_a_token(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    pattern = truth.filters[1].patterns[0]
    token = next(t for t in pattern.tokens if t is not None)
    found = served.json("search", {"token": token, "run": "kernel5", "limit": 1000})
    holding = {f.index for f in truth.filters for p in f.patterns if token in p.tokens}
    assert {r["filter"] for r in found["patterns"]} == holding and 1 in holding


def test_hostile_tokens_come_back_as_plain_strings(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    assert any(HOSTILE_TOKEN in c.tokens for c in truth.examples.values())
    example = next(e for e, c in truth.examples.items() if HOSTILE_TOKEN in c.tokens)
    context = served.json("context", {"run": "kernel5", "layer": "conv1d", "example": example})
    assert HOSTILE_TOKEN in context["tokens"]


ON_DEMAND = ("slot_preferences", "inhibiting", "intervals")


@pytest.mark.parametrize("run,layer", [("kernel5", "conv1d"), ("v1run", "conv1d")])
def test_a_card_page_leaves_the_on_demand_parts_to_the_details_route(served, run, layer):
    full = served.json("filters", {"run": run, "layer": layer})
    card = served.json("filters", {"run": run, "layer": layer, "parts": "card"})
    computed = [key for key in ON_DEMAND if full["detects"][key] == COMPUTED]
    assert full["on_demand"] == [] and card["on_demand"] == computed
    assert {k: v for k, v in card.items() if k not in ("filters", "on_demand")} == {
        k: v for k, v in full.items() if k not in ("filters", "on_demand")}
    for whole, closed in zip(full["filters"], card["filters"], strict=True):
        assert {k: closed[k] for k in ON_DEMAND} == dict.fromkeys(ON_DEMAND)
        assert {k: v for k, v in closed.items() if k not in ON_DEMAND} == {
            k: v for k, v in whole.items() if k not in ON_DEMAND}
        details = served.json("details", {"run": run, "layer": layer, "filter": whole["index"]})
        assert (details["run"], details["layer"], details["step"], details["filter"]) == (
            run, layer, full["step"], whole["index"])
        assert {k: details[k] for k in ON_DEMAND} == {k: whole[k] for k in ON_DEMAND}


def test_details_hold_every_slot_preference_and_inhibiting_window_written(served, built):
    truth = built.report("kernel5", "conv1d", 0)
    for f in truth.filters:
        details = served.json("details", {"run": "kernel5", "layer": "conv1d", "filter": f.index, "step": 0})
        assert [[t["token"] for t in s["raises"]] for s in details["slot_preferences"]] == [
            [t.token for t in s.raises] for s in f.slot_preferences]
        assert [w["tokens"] for w in details["inhibiting"]] == [list(w.tokens) for w in f.inhibiting]
