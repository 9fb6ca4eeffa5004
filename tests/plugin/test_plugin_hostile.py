"""Hostile requests (issue 5, item 4): random and malicious query strings and paths
against every route of a real plugin over real event files.

Never a 5xx, never a hang (hypothesis' deadline), every answer bounded in
size, every 200 valid JSON, and static files only from the allow-list.
"""

from __future__ import annotations

import importlib.resources
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_filters.plugin.responses import StaticFiles
from tests.helpers.logdir_builder import build_logdir
from tests.helpers.plugin_harness import PREFIX, serve, strict_json

ROUTES = ("runs", "filters", "filter", "compare", "search")
NAMES = ("run", "layer", "step", "offset", "limit", "windows_limit", "filter", "token", "mode", "x")
# The largest honest answer for this log dir is a few tens of KB.
MAX_RESPONSE_BYTES = 256 * 1024
SETTINGS = settings(max_examples=300, deadline=2000, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

VALID = {"run": "kernel3", "layer": "conv1d", "filter": "1", "token": "<user>", "step": "1"}
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["NaN", "nan", "inf", "-inf", "1e309", "0x10", " 1", "1 ", "+1", "1.5", "",
                     "-0", "0" * 30 + "1", "9" * 5000, "1_000", "\uff11", "٣"]),
)
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["../../etc/passwd", "..%2f..%2f", "\x00", "a\x00b", "/etc/passwd", "\u202e",
                     "\ud7ff" * 3, "💥" * 300, "x" * 100_000, "<script>alert(1)</script>",
                     "kernel3/../kernel5", "conv1d\n", "%", "%zz", "exact\x00"]),
    st.sampled_from(["kernel3", "kernel5", "conv1d", "<user>", "exact", "substring", "0", "1", "2"]),
)
values = st.one_of(numbers, hostile_text)
pairs = st.lists(st.tuples(st.sampled_from(NAMES), values), max_size=8)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    built = build_logdir(tmp_path_factory.mktemp("hostile"), runs=("kernel3", "kernel5"),
                         num_filters=6, top_k=4, steps=(0, 1))
    return serve(built.path)


def check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.data[:300])
    assert response.status_code in (200, 400, 404), response.status_code
    assert len(response.data) <= MAX_RESPONSE_BYTES
    if response.status_code == 200:
        assert response.mimetype == "application/json"
        strict_json(response.data)


@SETTINGS
@given(route=st.sampled_from(ROUTES), params=pairs)
def test_random_parameters_never_break_a_route(served, route, params):
    check(served.get(route, params))


@SETTINGS
@given(route=st.sampled_from(ROUTES), keep=st.sets(st.sampled_from(sorted(VALID))),
       extra=pairs)
def test_hostile_values_beside_valid_ones(served, route, keep, extra):
    """Mostly-valid requests reach the deeper code: one bad value among good ones."""
    params = [(name, VALID[name]) for name in sorted(keep)] + extra
    check(served.get(route, params))


@SETTINGS
@given(route=st.sampled_from(ROUTES),
       query=st.text(alphabet="abcdefgkmnlorstuwxy%&=+;#?/.0123456789\\\x00é\u2028", max_size=80))
def test_raw_query_strings_with_broken_escapes(served, route, query):
    check(served.client.get(PREFIX + route + "?" + query))


@settings(max_examples=150, deadline=2000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(path=st.lists(st.sampled_from(["..", ".", "", "%2e%2e", "%2E", "%2f", "%5c", "\\", "views",
                                      "index.js", "api.js", "style.css", "etc", "passwd",
                                      "__init__.py", "%00", "~", "setup.py", "tb_filters"]),
                     max_size=5).map("/".join))
def test_static_paths_serve_only_allow_listed_files(served, path):
    response = served.client.get(PREFIX + path)
    assert response.status_code in (200, 404, 400), response.status_code
    if response.status_code == 200 and response.mimetype != "application/json":
        name = urllib.parse.unquote(path).rstrip("/")
        root = importlib.resources.files("tb_filters.frontend")
        assert name in StaticFiles(root).names, path
        assert response.data == (root / name).read_bytes()
