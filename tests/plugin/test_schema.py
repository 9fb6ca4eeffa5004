"""The routes' declared shapes (views.py) against everything that repeats them:
the answers the routes really send, api.js's FLOAT_FIELDS and http_api.md's
field reference. A key added, renamed or retyped in one place only fails here."""

from __future__ import annotations

import dataclasses
import os
import shutil

import pytest

from tb_filters.format import payload
from tb_filters.format import report as report_lib
from tb_filters.plugin import schema_docs, views
from tests.helpers.logdir_builder import default_vocabulary, synthetic_layer_report
from tests.helpers.plugin_harness import serve
from tests.plugin.test_plugin_faults import filters_value, write_values

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "payload_v1")
NON_FINITE = ("Infinity", "-Infinity", "NaN")


def _read(name: str) -> str:
    return schema_docs.source_files()[name].read_text(encoding="utf-8")


def test_api_js_float_fields_are_the_ones_the_shapes_declare():
    written = schema_docs.between(_read("api.js"), schema_docs.BEGIN_JS, schema_docs.END_JS)
    assert written == schema_docs.float_fields_js(), "run `python -m tb_filters.plugin.schema_docs`"


def test_http_api_md_field_reference_is_the_declared_shapes():
    written = schema_docs.between(_read("http_api.md"), schema_docs.BEGIN_MD, schema_docs.END_MD)
    assert written == schema_docs.field_tables_md(), "run `python -m tb_filters.plugin.schema_docs`"


def test_the_float_fields_hold_every_float_the_shapes_declare():
    fields = schema_docs.float_fields(views.FILTER)
    assert fields["windows"] == [{"activation": views.FLOAT, "contributions": [views.FLOAT]}]
    assert fields["stats"] == {k: views.FLOAT for k in ("max", "min", "mean", "positive_fraction")}
    assert schema_docs.float_fields(views.CONTEXT) is None
    assert schema_docs.float_fields(views.OVERVIEW)["effect_mean"] == [[views.FLOAT]]


def test_a_shape_refuses_missing_and_unknown_keys():
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'reason'"):
        views.SKIPPED.make(run="r", layer="l", step=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'extra'"):
        views.SKIPPED.make(run="r", layer="l", step=None, reason="x", extra=1)
    with pytest.raises(ValueError, match="each key of the twice object once"):
        views.Shape("twice", (views.Key("a", views.INT), views.Key("a", views.INT)))


# Every route on reports with every feature on --------------------------------------------------

RUN, LAYER = "every", "conv1d"


def _with_originals(window: report_lib.Window) -> report_lib.Window:
    return dataclasses.replace(window, originals=tuple(t.upper() for t in window.tokens))


def _every_feature() -> report_lib.LayerReport:
    """Effects, dead and duplicate filters, slot preferences, patterns, contexts, inhibiting
    windows and raw-text originals."""
    layer = synthetic_layer_report(LAYER, num_filters=12, top_k=4, kernel_size=3,
                                   vocabulary=default_vocabulary(), seed=3)
    filters = tuple(dataclasses.replace(f, windows=tuple(map(_with_originals, f.windows)),
                                        inhibiting=tuple(map(_with_originals, f.inhibiting)))
                    for f in layer.filters)
    assert any(f.dead for f in filters) and any(f.duplicate_of is not None for f in filters)
    return dataclasses.replace(layer, filters=filters)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tb_filters.format import summary  # imports TensorFlow: only writers pay for it

    path = tmp_path_factory.mktemp("schema")
    layer = _every_feature()
    for step in (0, 1):
        summary.write_report(str(path / RUN), report_lib.Report({LAYER: layer}), step,
                             wall_time=1_700_000_000.0 + step)
    shutil.copytree(os.path.join(FIXTURE, "v1run"), path / "v1run")
    write_values(str(path / "broken"), [(0, filters_value(b"not a report"))])  # listed in runs.skipped
    return serve(path), layer


def _answers(served, layer: report_lib.LayerReport) -> dict[str, list]:
    """Each route's answers over both payload versions, and a compare column without its run."""
    example = layer.filters[0].windows[0].example
    v1 = ("v1run", "conv1d")
    return {
        "runs": [served.json("runs")],
        "filters": [served.json("filters", {"run": run, "layer": name, "parts": parts})
                    for run, name in ((RUN, LAYER), v1) for parts in ("all", "card")],
        "details": [served.json("details", {"run": run, "layer": name, "filter": 0}) for run, name in ((RUN, LAYER), v1)],
        "overview": [served.json("overview", {"run": run, "layer": name}) for run, name in ((RUN, LAYER), v1)],
        "filter": [served.json("filter", {"run": RUN, "layer": LAYER, "filter": 0})],
        "compare": [served.json("compare", [("run", RUN), ("run", "missing"), ("layer", LAYER), ("filter", 0),
                                            ("step", 0)])],
        "search": [served.json("search", {"token": "a", "mode": "substring", "limit": 1000})],
        "context": [served.json("context", {"run": RUN, "layer": LAYER, "example": example})],
        "match": [served.json("match", [("run", RUN), ("run", RUN), ("layer", LAYER), ("step", 0)]),
                  served.json("match", [("run", RUN), ("run", "v1run"), ("layer", LAYER)])],
        "dynamics": [served.json("dynamics", {"run": RUN, "layer": LAYER}),
                     served.json("dynamics", {"run": "v1run", "layer": "conv1d"})],
    }


def _problems(value, kind, nullable: bool, where: str, seen: set) -> list[str]:
    """What in `value` (parsed JSON) does not fit `kind`; records each (shape, key) seen non-null."""
    if value is None:
        return [] if nullable else [f"{where}: null"]
    if isinstance(kind, views.ListOf):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for i, item in enumerate(value)
                for p in _problems(item, kind.item, kind.nullable_items, f"{where}[{i}]", seen)]
    if isinstance(kind, views.Shape):
        if not isinstance(value, dict) or list(value) != [k.name for k in kind.keys]:
            return [f"{where}: keys {list(value) if isinstance(value, dict) else value!r} are not the "
                    f"{kind.name} object's {[k.name for k in kind.keys]}"]
        problems = []
        for key in kind.keys:
            if value[key.name] is not None:
                seen.add((kind.name, key.name))
            problems += _problems(value[key.name], key.kind, key.nullable, f"{where}.{key.name}", seen)
        return problems
    fits = {
        views.FLOAT: lambda v: isinstance(v, float) or v in NON_FINITE,
        views.INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        views.STR: lambda v: isinstance(v, str),
        views.BOOL: lambda v: isinstance(v, bool),
    }[kind]
    return [] if fits(value) else [f"{where}: {value!r} is not a {kind}"]


def test_every_route_answers_exactly_its_declared_shape(served):
    server, layer = served
    seen: set = set()
    for route, answers in _answers(server, layer).items():
        for answer in answers:
            assert _problems(answer, views.ROUTES[route], False, route, seen) == []
    declared = {(shape.name, key.name) for shape in schema_docs.reachable_shapes() for key in shape.keys}
    assert declared - seen == set(), "declared keys no answer filled: the check above would miss their types"


def test_the_declared_routes_are_the_served_routes(served):
    server, _ = served
    data_routes = {path.lstrip("/") for path in server.plugin.get_plugin_apps() if "." not in path}
    assert data_routes == set(views.ROUTES)


def test_version_1_payloads_answer_with_their_features_absent(served):
    server, _ = served
    page = server.json("filters", {"run": "v1run", "layer": "conv1d"})
    assert {page["detects"][f] for f in payload.DETECTS_FEATURES} == {payload.NOT_IN_REPORT}
    assert all(f["patterns"] is None and f["inhibiting"] is None for f in page["filters"])
    overview = server.json("overview", {"run": "v1run", "layer": "conv1d"})
    assert overview["dead"] is None and overview["duplicate_threshold"] is None and overview["outputs"] == []
