"""The Filters plugin's routes over real event files, read by TensorBoard's own loader."""

from __future__ import annotations

import gzip
import json
import math
import os

import pytest
from tensorboard import context as tb_context
from tensorboard import errors as tb_errors
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_filters.format import metadata, summary
from tb_filters.format import report as report_lib
from tb_filters.plugin import jsontext, schema_docs, views
from tb_filters.plugin import queries as plugin_queries
from tb_filters.plugin.jsontext import EncodedJson, to_json
from tb_filters.plugin.responses import GzipCache, StaticFiles
from tb_filters.plugin.store import ReportStore
from tests.helpers.logdir_builder import HOSTILE_TOKEN, build_logdir
from tests.helpers.old_payloads import without_effects_as_version_1
from tests.helpers.plugin_harness import MODEL_VOCABULARY, build_model_logdir, serve, strict_json
from tests.helpers.tolerances import stored_contributions

STEPS = (0, 2, 5)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_logdir(tmp_path_factory.mktemp("synthetic"), runs=("kernel3", "kernel5"),
                        layers=("conv1d", "conv1d_1"), num_filters=7, top_k=5, steps=STEPS)


@pytest.fixture(scope="module")
def served(built):
    return serve(built.path)


@pytest.fixture(scope="module")
def model_logdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    return path, build_model_logdir(path)


def _window_dict(w, has_contributions: bool) -> dict:
    return {
        "activation": w.activation, "example": w.example, "position": w.position,
        "span_start": w.span_start, "tokens": list(w.tokens), "token_ids": list(w.token_ids),
        "padding": list(w.padding),
        "contributions": stored_contributions(w.contributions) if has_contributions else None,
        "count": w.count,
        "originals": list(w.originals) if w.originals else None,
    }


def _scores(entries) -> list[dict]:
    return [{"token": t.token, "id": t.id, "score": t.score, "occurrences": t.occurrences} for t in entries]


def expected_filter(f, has_contributions: bool, windows_limit: int | None = None) -> dict:
    windows = f.windows if windows_limit is None else f.windows[:windows_limit]
    inhibiting = None if f.inhibiting is None else f.inhibiting[:windows_limit]
    patterns = None if f.patterns is None else f.patterns[:windows_limit]
    return {
        "summary": f.summary,
        "slot_preferences": None if f.slot_preferences is None else [
            {"slot": s.slot, "raises": _scores(s.raises), "lowers": _scores(s.lowers)} for s in f.slot_preferences],
        "num_patterns": None if f.patterns is None else len(f.patterns),
        "patterns": None if patterns is None else [
            {"tokens": list(p.tokens), "activation": p.activation, "windows": list(p.windows), "count": p.count}
            for p in patterns],
        "num_inhibiting": None if f.inhibiting is None else len(f.inhibiting),
        "inhibiting": None if inhibiting is None else [_window_dict(w, has_contributions) for w in inhibiting],
        "num_intervals": None if f.intervals is None else len(f.intervals),
        "intervals": None if f.intervals is None else [
            {"low": i.low, "high": "Infinity" if i.high == math.inf else i.high, "count": i.count, "share": i.share,
             "windows": [_window_dict(w, has_contributions) for w in i.windows]} for i in f.intervals],
        "active_examples": f.active_examples,
        "index": f.index,
        "bias": f.bias,
        "stats": {
            "max": f.stats.max, "min": f.stats.min, "mean": f.stats.mean,
            "positive_fraction": f.stats.positive_fraction, "positions": f.stats.positions,
            "histogram": list(f.stats.histogram),
        },
        "num_windows": len(f.windows),
        "windows": [_window_dict(w, has_contributions) for w in windows],
    }


def expected_edges(data: dict) -> list:
    return ["-Infinity" if e == -math.inf else "Infinity" if e == math.inf else e
            for e in data["histogram_edges"]]


# Plugin identity --------------------------------------------------------------

def test_plugin_identity_and_activity(served, tmp_path):
    plugin = served.plugin
    assert plugin.plugin_name == metadata.PLUGIN_NAME == "filters"
    frontend = plugin.frontend_metadata()
    assert (frontend.es_module_path, frontend.tab_name) == ("/index.bundle.js", "Filters")
    assert plugin.is_active()
    assert not serve(tmp_path).plugin.is_active()
    assert {"/runs", "/filters", "/filter", "/compare", "/search", "/index.js"} <= set(
        plugin.get_plugin_apps())


# runs -------------------------------------------------------------------------

def test_runs_lists_every_run_layer_and_step(served, built):
    data = served.json("runs")
    assert data["skipped"] == []
    assert [r["run"] for r in data["runs"]] == ["kernel3", "kernel5"]
    for run in data["runs"]:
        assert [layer["layer"] for layer in run["layers"]] == ["conv1d", "conv1d_1"]
        for layer in run["layers"]:
            truth = built.report(run["run"], layer["layer"], STEPS[-1])
            assert layer["steps"] == list(STEPS)
            assert layer["wall_times"] == [1_700_000_000.0 + s for s in STEPS]
            assert layer["latest_step"] == STEPS[-1]
            assert (layer["num_filters"], layer["top_k"], layer["distinct"]) == (7, 5, True)
            assert layer["num_examples"] == truth.num_examples
            assert layer["has_contributions"] is True
            geometry = dict(vars(truth.geometry), path=list(truth.geometry.path))
            assert layer["geometry"] == geometry


# filters ----------------------------------------------------------------------

def test_filters_page_equals_the_written_report_at_every_step(served, built):
    for run in built.runs:
        for layer in built.layers:
            for step in STEPS:
                data = served.json("filters", {"run": run, "layer": layer, "step": step})
                truth = built.report(run, layer, step)
                assert (data["run"], data["layer"], data["step"]) == (run, layer, step)
                assert data["wall_time"] == 1_700_000_000.0 + step
                assert data["num_filters"] == 7 and (data["offset"], data["limit"]) == (0, 64)
                assert data["histogram_edges"][0] == "-Infinity"
                assert data["histogram_edges"][-1] == "Infinity"
                assert data["filters"] == [expected_filter(f, True) for f in truth.filters]


def test_filters_defaults_to_the_latest_step_and_pages(served, built):
    latest = served.json("filters", {"run": "kernel5", "layer": "conv1d"})
    assert latest["step"] == STEPS[-1]
    pages = [served.json("filters", {"run": "kernel5", "layer": "conv1d", "offset": o, "limit": 3})
             for o in (0, 3, 6, 9)]
    assert [len(p["filters"]) for p in pages] == [3, 3, 1, 0]
    assert [f for p in pages for f in p["filters"]] == latest["filters"]
    assert all(p["num_filters"] == 7 for p in pages)


def test_windows_limit_trims_windows_but_reports_how_many_exist(served, built):
    data = served.json("filters", {"run": "kernel3", "layer": "conv1d", "windows_limit": 2})
    truth = built.report("kernel3", "conv1d", STEPS[-1])
    assert data["filters"] == [expected_filter(f, True, 2) for f in truth.filters]
    assert all(f["num_windows"] == 5 and len(f["windows"]) == 2 for f in data["filters"])
    none = served.json("filters", {"run": "kernel3", "layer": "conv1d", "windows_limit": 0})
    assert all(f["windows"] == [] for f in none["filters"])


# filter -----------------------------------------------------------------------

def test_filter_history_follows_one_filter_across_steps(served, built):
    data = served.json("filter", {"run": "kernel3", "layer": "conv1d_1", "filter": 4})
    assert (data["run"], data["layer"], data["filter"]) == ("kernel3", "conv1d_1", 4)
    assert [s["step"] for s in data["steps"]] == list(STEPS)
    for entry in data["steps"]:
        truth = built.report("kernel3", "conv1d_1", entry["step"]).filters[4]
        assert entry["filter"] == expected_filter(truth, True)
        assert entry["wall_time"] == 1_700_000_000.0 + entry["step"]


# compare ----------------------------------------------------------------------

def test_compare_puts_runs_side_by_side_and_says_which_step(served, built):
    data = served.json("compare", [("run", "kernel5"), ("run", "kernel3"), ("run", "kernel5"),
                                   ("run", "missing"), ("layer", "conv1d"), ("filter", 2),
                                   ("step", 2)])
    assert [c["run"] for c in data["columns"]] == ["kernel5", "kernel3", "missing"]
    assert data["requested_step"] == 2
    for column in data["columns"][:2]:
        assert column["error"] is None and column["step"] == 2 and column["step_matches"]
        truth = built.report(column["run"], "conv1d", 2)
        assert column["filter"] == expected_filter(truth.filters[2], True)
        assert column["geometry"]["kernel_size"] == 3
    missing = data["columns"][2]
    assert missing["filter"] is None and missing["step"] is None
    assert "missing" in missing["error"] and "kernel3" in missing["error"]


def test_compare_falls_back_to_each_runs_latest_step(served):
    data = served.json("compare", [("run", "kernel3"), ("layer", "conv1d"), ("filter", 0), ("step", 3)])
    (column,) = data["columns"]
    assert (column["step"], column["step_matches"]) == (STEPS[-1], False)
    without_step = served.json("compare", [("run", "kernel3"), ("layer", "conv1d"), ("filter", 0)])
    assert without_step["requested_step"] is None
    assert without_step["columns"][0]["step"] == STEPS[-1]


def test_compare_is_404_only_when_no_run_has_the_filter(served):
    response = served.get("compare", [("run", "nope"), ("run", "kernel3"), ("layer", "conv1d"),
                                      ("filter", 99)])
    assert response.status_code == 404
    assert b"No filter 99" in response.data and b"nope" in response.data


# search -----------------------------------------------------------------------

def brute_force_search(built, token: str, substring: bool = False) -> set:
    found = set()
    for run in built.runs:
        for layer in built.layers:
            for f in built.report(run, layer, STEPS[-1]).filters:
                ranks = [r for r, w in enumerate(f.windows)
                         if any((token.lower() in t.lower()) if substring else t == token for t in w.tokens)]
                if ranks:
                    found.add((run, layer, f.index, min(ranks), len(ranks)))
    return found


def test_search_finds_exactly_the_filters_whose_windows_hold_the_token(served, built):
    data = served.json("search", {"token": "<user>", "limit": 1000})
    expected = brute_force_search(built, "<user>")
    assert expected, "the Zipf tokens make <user> common: the fixture must contain it"
    got = {(r["run"], r["layer"], r["filter"], r["rank"], r["matches"]) for r in data["results"]}
    assert got == expected and not data["truncated"]
    keys = [(r["rank"], -r["activation"]) for r in data["results"]]
    assert keys == sorted(keys)
    for r in data["results"]:
        window = built.report(r["run"], r["layer"], r["step"]).filters[r["filter"]].windows[r["rank"]]
        assert (r["tokens"], r["activation"], r["count"]) == (list(window.tokens), window.activation, window.count)
        assert r["step"] == STEPS[-1]


def test_search_substring_mode_ignores_case(served, built):
    data = served.json("search", {"token": "KA", "mode": "substring", "limit": 1000})
    got = {(r["run"], r["layer"], r["filter"], r["rank"], r["matches"]) for r in data["results"]}
    assert got == brute_force_search(built, "ka", substring=True) != set()
    assert served.json("search", {"token": "KA", "limit": 1000})["results"] == []


def test_search_limits_runs_layers_steps_and_result_count(served, built):
    only = served.json("search", [("token", "<user>"), ("run", "kernel5"), ("layer", "conv1d"),
                                  ("limit", 1000)])
    assert {(r["run"], r["layer"]) for r in only["results"]} == {("kernel5", "conv1d")}
    at_step = served.json("search", {"token": "<user>", "step": 0, "limit": 1000})
    assert {r["step"] for r in at_step["results"]} == {0}
    capped = served.json("search", {"token": "<user>", "limit": 1})
    assert len(capped["results"]) == 1 and capped["truncated"]
    assert served.json("search", {"token": "no such token"}) == {
        "token": "no such token", "mode": "exact", "results": [], "truncated": False, "wants": [], "patterns": []}


# errors -----------------------------------------------------------------------

BAD_REQUESTS = [
    ("filters", {}, "Expected parameter run"),
    ("filters", {"run": "kernel3"}, "Expected parameter layer"),
    ("filters", [("run", "kernel3"), ("run", "kernel5"), ("layer", "conv1d")], "Expected one value of run"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "limit": 257}, "Expected 1 <= limit <= 256. Received: limit=257"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "limit": 0}, "Expected 1 <= limit"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "offset": -1}, "Expected 0 <= offset"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "step": "NaN"}, "Expected an integer step"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "step": "1e3"}, "Expected an integer step"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "offset": "9" * 40}, "Expected an integer offset"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "windows_limit": 1001}, "windows_limit <= 1000"),
    ("filters", {"run": "kernel3\x00", "layer": "conv1d"}, "without NUL"),
    ("filter", {"run": "kernel3", "layer": "conv1d"}, "Expected parameter filter"),
    ("filter", {"run": "kernel3", "layer": "conv1d", "filter": -1}, "Expected 0 <= filter"),
    ("compare", {"layer": "conv1d", "filter": 0}, "Expected parameter run"),
    ("compare", [("run", f"r{i}") for i in range(65)] + [("layer", "conv1d"), ("filter", 0)], "at most 64"),
    ("search", {}, "Expected parameter token"),
    ("search", {"token": ""}, "Expected a token of 1 to 200 characters"),
    ("search", {"token": "x" * 201}, "Received: 201 characters"),
    ("search", {"token": "a", "mode": "regex"}, "Expected mode in"),
    ("search", {"token": "a", "limit": 1001}, "limit <= 1000"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "parts": "closed"},
     "Expected parts in ('all', 'card'). Received: parts='closed'"),
    ("details", {"run": "kernel3", "layer": "conv1d"}, "Expected parameter filter"),
    ("details", {"run": "kernel3", "layer": "conv1d", "filter": "1.5"}, "Expected an integer filter"),
]


@pytest.mark.parametrize("route,params,message", BAD_REQUESTS)
def test_malformed_parameters_are_400_with_what_was_received(served, route, params, message):
    response = served.get(route, params)
    assert response.status_code == 400
    assert response.data.decode().startswith("Invalid argument: ")
    assert message in response.data.decode()


UNKNOWN = [
    ("filters", {"run": "nope", "layer": "conv1d"}, 'No run "nope" with filters data. Runs: "kernel3", "kernel5"'),
    ("filters", {"run": "kernel3", "layer": "dense"}, 'No layer "dense" in run "kernel3". Layers: "conv1d", "conv1d_1"'),
    ("filters", {"run": "kernel3", "layer": "conv1d", "step": 1}, "No step 1 in layer"),
    ("filters", {"run": "kernel3", "layer": "conv1d", "step": -5}, "Steps: 0, 2, 5"),
    ("filter", {"run": "kernel3", "layer": "conv1d", "filter": 7},
     "No filter 7 in layer \"conv1d\" of run \"kernel3\". Filters: 0 to 6"),
    ("filter", {"run": "x" * 5000, "layer": "conv1d", "filter": 0}, "No run"),
    ("details", {"run": "kernel3", "layer": "conv1d", "filter": 7},
     "No filter 7 in layer \"conv1d\" of run \"kernel3\". Filters: 0 to 6"),
    ("details", {"run": "kernel3", "layer": "conv1d", "filter": 0, "step": 1}, "No step 1 in layer"),
]


@pytest.mark.parametrize("route,params,message", UNKNOWN)
def test_unknown_names_are_404_naming_what_exists(served, route, params, message):
    response = served.get(route, params)
    assert response.status_code == 404
    assert message in response.data.decode()
    assert len(response.data) < 1000  # a huge name is not echoed back whole


# The *_impl functions, without HTTP -------------------------------------------

def test_impl_functions_return_plain_dicts(served, built):
    store = ReportStore(served.provider)
    ctx = tb_context.RequestContext()
    runs = plugin_queries.runs_impl(store, ctx, "")
    assert [r["run"] for r in runs["runs"]] == list(built.runs)
    page = plugin_queries.filters_impl(store, ctx, "", "kernel3", "conv1d", None, 1, 2, None)
    assert all(isinstance(f, EncodedJson) for f in page["filters"])
    decoded = strict_json(to_json(page).encode())
    truth = built.report("kernel3", "conv1d", STEPS[-1])
    assert decoded["filters"] == [expected_filter(f, True) for f in truth.filters[1:3]]
    with pytest.raises(tb_errors.NotFoundError):
        plugin_queries.filters_impl(store, ctx, "", "kernel3", "conv1d", 4, 0, 64, None)
    with pytest.raises(tb_errors.NotFoundError):
        plugin_queries.filter_impl(store, ctx, "", "kernel3", "nope", 0, None)
    found = plugin_queries.search_impl(store, ctx, "", "<user>", "exact", ["kernel3"], None, None, 5)
    assert {r["run"] for r in found["results"]} == {"kernel3"}


def test_to_json_splices_fragments_and_cleanses_non_finite_floats():
    fragment = EncodedJson('{"a":[1,2]}')
    tricky = "\ue000tb_filters:0123456789abcdef:0"  # looks like a marker, is data
    text = to_json({"x": [fragment, {"y": fragment}], "edges": [-math.inf, 0.5, math.inf, math.nan],
                    "token": tricky})
    assert strict_json(text.encode()) == {
        "x": [{"a": [1, 2]}, {"y": {"a": [1, 2]}}],
        "edges": ["-Infinity", 0.5, "Infinity", "NaN"],
        "token": tricky,
    }


FLOATS = {"activation": "float", "windows": [{"activation": "float", "contributions": ["float"]}]}


@pytest.mark.parametrize("value", [
    {"activation": 0.5, "windows": [{"activation": 1e-5, "contributions": [1e308, 1e308]}], "token": "café"},
    {"activation": -0.0, "windows": [{"activation": 2, "contributions": None}], "id": 2**40},
    {"activation": None, "windows": [], "token": "\u2028<b>\"x\"\n"},
])
def test_dumps_through_orjson_where_every_declared_float_is_finite_writes_the_same_json(value):
    assert jsontext.finite_at(value, FLOATS)
    text = jsontext.dumps(value, FLOATS)
    assert strict_json(text.encode()) == json.loads(jsontext.dumps(value)) == value


@pytest.mark.parametrize("value", [
    {"activation": math.nan, "windows": []},
    {"activation": 1.0, "windows": [{"activation": 1.0, "contributions": [0.5, math.inf]}]},
    {"activation": 1.0, "windows": [{"activation": -math.inf, "contributions": [0.5, None, 1.0]}]},
    {"activation": 1.0, "windows": [{"activation": 1.0, "contributions": [1e308, 1e308, math.nan]}]},
])
def test_a_non_finite_float_where_floats_sit_is_written_as_cleanse_does(value):
    assert not jsontext.finite_at(value, FLOATS)
    assert strict_json(jsontext.dumps(value, FLOATS).encode()) == strict_json(jsontext.dumps(value).encode())
    assert any(v in jsontext.dumps(value, FLOATS) for v in ('"NaN"', '"Infinity"', '"-Infinity"'))


def test_what_orjson_refuses_or_does_not_fit_the_declared_floats_takes_json():
    for value in ({"activation": 1.0, "windows": [], "big": 2**70},  # beyond 64 bits
                  {"activation": 1.0, "windows": [], "token": "\ud800"},  # a lone surrogate
                  {"activation": "1.0", "windows": []},  # not the declared shape
                  {"activation": 1.0, "windows": {"activation": 1.0}}):
        assert jsontext.dumps(value, FLOATS) == jsontext.dumps(value)


def test_a_page_of_filter_objects_through_orjson_is_the_json_path_s_answer(served):
    store = ReportStore(served.provider)
    layer_step = store.series(tb_context.RequestContext(), "", "kernel3", "conv1d").at(STEPS[-1])
    floats = schema_docs.float_fields(views.FILTER)
    for index in range(len(layer_step.proto.filters)):
        for card in (False, True):
            obj = layer_step.filter_object(index, 3, card)
            # A closed card's floats are finite; the whole filter's intervals end at +inf: json writes it.
            assert jsontext.finite_at(obj, floats) is card
            assert strict_json(jsontext.dumps(obj, floats).encode()) == strict_json(jsontext.dumps(obj).encode())


# Sampling, caching and reloads -----------------------------------------------

def test_samples_per_plugin_hint_bounds_the_steps_read(built):
    limited = serve(built.path, sampling_hints={"filters": 2})
    layer = limited.json("runs")["runs"][0]["layers"][0]
    assert len(layer["steps"]) == 2 and layer["latest_step"] == STEPS[-1]
    # filters=0 makes TensorBoard's loader keep every step: read them all.
    unlimited = serve(built.path, sampling_hints={"filters": 0}, samples_kept=0)
    assert unlimited.json("runs")["runs"][0]["layers"][0]["steps"] == list(STEPS)


class CountingProvider:
    """The real data provider, counting the reads that go through it."""

    def __init__(self, provider):
        self._provider, self.reads = provider, 0

    def list_tensors(self, *args, **kwargs):
        return self._provider.list_tensors(*args, **kwargs)

    def read_tensors(self, *args, **kwargs):
        self.reads += 1
        return self._provider.read_tensors(*args, **kwargs)


def test_unchanged_data_is_read_once_and_a_new_step_appears_after_reload(tmp_path):
    built = build_logdir(tmp_path, runs=("live",), num_filters=3, top_k=2, steps=2)
    served = serve(tmp_path)
    counting = CountingProvider(served.provider)
    store = ReportStore(counting)
    ctx = tb_context.RequestContext()
    for _ in range(3):
        plugin_queries.filters_impl(store, ctx, "", "live", "conv1d", None, 0, 64, None)
        plugin_queries.runs_impl(store, ctx, "")
    assert counting.reads == 1

    before = store.series(ctx, "", "live", "conv1d").steps
    summary.write_report(built.run_dir("live"), built.report("live", "conv1d", 7), step=7)
    assert plugin_queries.runs_impl(store, ctx, "")["runs"][0]["layers"][0]["steps"] == [0, 1]
    served.reload()
    assert plugin_queries.runs_impl(store, ctx, "")["runs"][0]["layers"][0]["steps"] == [0, 1, 7]
    page = plugin_queries.filters_impl(store, ctx, "", "live", "conv1d", None, 0, 64, None)
    assert page["step"] == 7 and counting.reads == 2
    after = store.series(ctx, "", "live", "conv1d").steps
    # The old steps were not parsed again: their objects (and cached JSON) stay.
    assert after[0] is before[0] and after[1] is before[1]


def test_gzip_answers_decode_to_the_same_json(served):
    params = {"run": "kernel3", "layer": "conv1d"}
    plain = served.get("filters", params)
    for _ in range(2):
        zipped = served.get("filters", params, **{"Accept-Encoding": "gzip"})
        body = gzip.decompress(zipped.data) if zipped.headers.get("Content-Encoding") == "gzip" else zipped.data
        assert strict_json(body) == strict_json(plain.data)


def gzipped_json(served, route: str, params: dict) -> dict:
    response = served.get(route, params, **{"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers.get("Content-Encoding") == "gzip"
    return strict_json(gzip.decompress(response.data))


def test_big_pages_come_compressed_and_each_request_gets_its_own_page(tmp_path):
    built = build_logdir(tmp_path, runs=("big",), num_filters=48, top_k=30, steps=(0, 1))
    served = serve(tmp_path)
    asked = [{"step": 0}, {"step": 1}, {}, {"step": 1, "offset": 16, "limit": 16},
             {"step": 1, "offset": 16, "limit": 32}, {"step": 1, "windows_limit": 3}]
    for _ in range(2):  # the second round comes from the compressed cache
        for extra in asked:
            params = {"run": "big", "layer": "conv1d", **extra}
            page = gzipped_json(served, "filters", params)
            assert page == served.json("filters", params)
            report = built.report("big", "conv1d", extra.get("step", 1))
            first, limit = extra.get("offset", 0), extra.get("limit", 64)
            assert page["step"] == extra.get("step", 1)
            assert page["filters"] == [expected_filter(f, True, extra.get("windows_limit"))
                                       for f in report.filters[first:first + limit]]


def test_a_compressed_page_of_a_step_written_again_is_the_later_report(tmp_path):
    built = build_logdir(tmp_path, runs=("big",), num_filters=48, top_k=30, steps=(0, 1))
    served = serve(tmp_path)
    params = {"run": "big", "layer": "conv1d", "step": 1}
    assert gzipped_json(served, "filters", params)["filters"][0] == expected_filter(
        built.report("big", "conv1d", 1).filters[0], True)
    again = built.report("big", "conv1d", 9)  # other windows, written as step 1
    summary.write_report(built.run_dir("big"), again, step=1, wall_time=1_800_000_000.0)
    served.reload()
    page = gzipped_json(served, "filters", params)
    assert page["filters"] == [expected_filter(f, True) for f in again.filters]
    assert page["wall_time"] == 1_800_000_000.0


def test_gzip_cache_is_bounded_by_compressed_bytes_and_builds_again_after_eviction():
    request = wrappers.Request(werkzeug_test.EnvironBuilder(
        headers={"Accept-Encoding": "gzip"}).get_environ())
    texts = {key: json.dumps({"key": key, "data": list(range(key, key + 30_000))}) for key in range(3)}
    built: list[int] = []

    def answer(key: int):
        return cache.respond(request, lambda: built.append(key) or texts[key], key=("page", key))

    zipped_size = len(gzip.compress(texts[0].encode(), compresslevel=3, mtime=0))
    cache = GzipCache(budget_bytes=2 * zipped_size + zipped_size // 2, min_chars=1000)
    for key in (0, 1, 0, 2, 1, 0):
        assert strict_json(gzip.decompress(answer(key).get_data())) == json.loads(texts[key])
    # 0 and 1 fit, 2 evicts 1 (0 was used more recently), 1 then evicts 0.
    assert built == [0, 1, 2, 1, 0]
    assert len(cache._cache) == 2


# Static files -----------------------------------------------------------------

def test_frontend_files_are_served_with_their_content_types(served):
    import importlib.resources

    root = importlib.resources.files("tb_filters.frontend")
    static = StaticFiles(root)
    assert "index.js" in static.names
    for name in static.names:
        response = served.get(name)
        assert response.status_code == 200
        assert response.mimetype == ("text/css" if name.endswith(".css") else "text/javascript")
        assert response.data == (root / name).read_bytes()


def test_the_bundle_answers_requests_arriving_together_from_cold_each_with_the_same_module():
    import importlib.resources
    from concurrent.futures import ThreadPoolExecutor

    # Fresh StaticFiles each round: every round's first requests find no bundle built yet.
    for _ in range(5):
        static = StaticFiles(importlib.resources.files("tb_filters.frontend"), bundle_as=("b.js", "index.js"))
        app = static.routes()["/b.js"]
        encodings = ["gzip", ""] * 4
        with ThreadPoolExecutor(len(encodings)) as pool:
            responses = list(pool.map(
                lambda enc: werkzeug_test.Client(app).get("/", headers={"Accept-Encoding": enc}), encodings))
        assert [r.status_code for r in responses] == [200] * len(encodings)
        texts = {gzip.decompress(r.data) if enc else r.data for r, enc in zip(responses, encodings)}
        assert texts == {static.bundle_text("index.js").encode()}


TRAVERSALS = ["../index.js", "..%2Findex.js", "%2e%2e/%2e%2e/setup.py", "views/../index.js",
              "views/..%2f..%2fsetup.py", "/etc/passwd", "//etc/passwd", "__init__.py",
              "index.js%00.css", "..\\..\\setup.py", "%252e%252e%252fsetup.py", "views",
              "views/", "index.js/.."]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_outside_the_allow_list_are_404(served, path):
    response = served.client.get("/data/plugin/filters/" + path)
    assert response.status_code == 404, path
    assert b"import" not in response.data and b"setup(" not in response.data


def test_static_allow_list_takes_only_plain_js_and_css_names(tmp_path):
    (tmp_path / "views").mkdir()
    (tmp_path / "deeper").mkdir()
    for name in ("index.js", "style.css", "views/list.js", "secret.py", ".hidden.js",
                 "views/style.css", "deeper/x.js", "notes.md", "we ird.js"):
        (tmp_path / name).write_text("x")
    os.symlink("/etc", tmp_path / "etc.js")
    assert StaticFiles(tmp_path).names == ["index.js", "style.css", "views/list.js"]


# A real Keras model through tb_filters.interpret ------------------------------

def test_reports_of_a_real_model_serve_tokens_literally(model_logdir):
    path, reports = model_logdir
    served = serve(path)
    runs = served.json("runs")["runs"]
    assert [(r["run"], [layer["steps"] for layer in r["layers"]]) for r in runs] == [
        ("kernel3", [[0, 1, 2]]), ("kernel5", [[0, 1, 2]])]
    assert [r["layers"][0]["geometry"]["kernel_size"] for r in runs] == [3, 5]
    for (run, step), report in reports.items():
        page = served.json("filters", {"run": run, "layer": "conv1d", "step": step})
        layer = report["conv1d"]
        assert page["filters"] == [expected_filter(f, layer.has_contributions) for f in layer.filters]
    raw = served.get("filters", {"run": "kernel3", "layer": "conv1d"}).data.decode()
    assert json.dumps(HOSTILE_TOKEN, ensure_ascii=False) in raw  # the bytes as written, no escaping
    found = served.json("search", {"token": HOSTILE_TOKEN, "limit": 1000})["results"]
    assert found and all(HOSTILE_TOKEN in r["tokens"] for r in found)
    assert {r["run"] for r in found} == {"kernel3", "kernel5"}
    assert set(MODEL_VOCABULARY) >= {t for r in found for t in r["tokens"]}


def test_a_step_written_twice_shows_the_later_report(tmp_path):
    built = build_logdir(tmp_path, runs=("rerun",), num_filters=2, top_k=2, steps=(0, 1))
    again = built.report("rerun", "conv1d", 9)  # other windows, written as step 1
    summary.write_report(built.run_dir("rerun"), again, step=1, wall_time=1_800_000_000.0)
    served = serve(tmp_path)
    page = served.json("filters", {"run": "rerun", "layer": "conv1d", "step": 1})
    assert page["filters"] == [expected_filter(f, True) for f in again.filters]
    assert served.json("runs")["runs"][0]["layers"][0]["steps"] == [0, 1]


def test_a_cache_over_budget_evicts_and_still_answers_right(served, built):
    counting = CountingProvider(served.provider)
    store = ReportStore(counting, cache_bytes=1, fragment_chars=1)  # room for one series
    ctx = tb_context.RequestContext()
    for _ in range(2):
        for run in built.runs:
            page = plugin_queries.filters_impl(store, ctx, "", run, "conv1d", 2, 0, 64, None)
            truth = built.report(run, "conv1d", 2)
            assert strict_json(to_json(page).encode())["filters"] == [
                expected_filter(f, True) for f in truth.filters]
    assert counting.reads == 4  # each run evicted the other


# --- overview -------------------------------------------------------------------------------------


def test_overview_has_every_filters_effects_dead_and_duplicates(served, built):
    for run in built.runs:
        for step in built.steps:
            data = served.json("overview", {"run": run, "layer": "conv1d", "step": step})
            written = built.report(run, "conv1d", step)
            assert data["num_filters"] == len(written.filters) and data["step"] == step
            assert data["outputs"] == list(written.output_names) and data["duplicate_threshold"] == 0.95
            assert data["index"] == [f.index for f in written.filters]
            for o, name in enumerate(written.output_names):
                assert data["effect_mean"][o] == [f.effects[o].mean for f in written.filters]
                assert data["effect_mean_abs"][o] == [f.effects[o].mean_abs for f in written.filters]
            assert data["dead"] == [f.dead for f in written.filters]
            assert data["duplicate_of"] == [f.duplicate_of for f in written.filters]
            assert data["max"] == [f.stats.max for f in written.filters]
            assert data["positive_fraction"] == [f.stats.positive_fraction for f in written.filters]
    latest = served.json("overview", {"run": built.runs[0], "layer": "conv1d"})
    assert latest["step"] == built.steps[-1]


def test_overview_of_a_real_model_and_of_a_version_1_report(model_logdir):
    path, reports = model_logdir
    data = serve(path).json("overview", {"run": "kernel3", "layer": "conv1d", "step": 1})
    written = reports[("kernel3", 1)]["conv1d"]
    assert data["outputs"] == list(written.output_names) and len(data["outputs"]) == 4
    assert data["effect_mean"][2] == [f.effects[2].mean for f in written.filters]
    assert data["dead"] == [f.dead for f in written.filters]
    # A version-1 payload, written before effects existed, still answers, with nothing to show.
    pb = without_effects_as_version_1(report_lib.to_proto(written))
    old = views.overview_columns(pb)
    assert old["outputs"] == [] and old["effect_mean"] == [] and old["dead"] is None
    assert old["duplicate_of"] == [None] * 4 and old["duplicate_threshold"] is None


def test_overview_of_1024_filters_is_small(tmp_path):
    from tests.helpers.logdir_builder import build_logdir

    built = build_logdir(tmp_path, runs=("big",), num_filters=1024, top_k=1, steps=1)
    response = serve(built.path).get("overview", {"run": "big", "layer": "conv1d"}, **{"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers.get("Content-Encoding") == "gzip"
    assert len(response.data) < 100_000
    assert len(strict_json(gzip.decompress(response.data))["index"]) == 1024


def test_filters_in_an_order_given_by_index(served, built):
    run, step = built.runs[0], built.steps[-1]
    data = served.json("filters", [("run", run), ("layer", "conv1d"), ("step", step),
                                   ("index", 5), ("index", 2), ("index", 999), ("index", 5), ("index", 0)])
    written = built.report(run, "conv1d", step)
    assert [f["index"] for f in data["filters"]] == [5, 2, 0]
    assert data["filters"][0] == expected_filter(written.filters[5], True)
    bad = served.get("filters", [("run", run), ("layer", "conv1d"), ("index", "x")])
    assert bad.status_code == 400 and b"Expected integer values of index. Received: index='x'" in bad.data
