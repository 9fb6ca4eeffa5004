"""Runs side by side lined up by matched filters (issue 17), in a real
TensorBoard and Chromium: the matched column and its deep link, the layer
line, hostile tokens in the matched filters' windows, the alignment toggle
and its link, the "least shared" sort, a different probe's note, and each
card's sparkline with its settled step.

The log dir (tab_logdir.write_match_logdir): "permuted" is "original"'s last
step with conv1d's filters permuted, so filter i of "original" is filter
MATCH_PERMUTATION.index(i) of "permuted", except REPLACED, whose copies were
re-drawn at random; "other_data" was probed on other examples.
"""

from __future__ import annotations

import math
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, plugin_page_url, wait_for_render
from tests.e2e.tab_logdir import (
    LAYER,
    MATCH_PERMUTATION,
    NUM_FILTERS,
    ORIGINAL_RUN,
    OTHER_DATA_RUN,
    PERMUTED_RUN,
    PLANTED,
    REPLACED,
    STEPS,
    XSS_TOKEN,
    write_match_logdir,
)

PERMUTED_INDEX = {original: k for k, original in enumerate(MATCH_PERMUTATION)}


def _ready(listing: dict) -> bool:
    runs = {run["run"]: run["layers"] for run in listing["runs"]}
    return len(runs) == 3 and all(len(layers) == 2 for layers in runs.values()) and all(
        layer["steps"] == list(STEPS) for layer in runs[ORIGINAL_RUN])


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    with TensorBoardProcess(write_match_logdir(tmp_path_factory.mktemp("match")), ready=_ready) as process:
        yield process


def _route(tb, route: str, **params) -> dict:
    query = urllib.parse.urlencode([(k, v) for k, values in params.items() for v in
                                    (values if isinstance(values, list) else [values])])
    return tb.get_json(f"data/plugin/filters/{route}?{query}")


def _open(page, tb, hash_: str):
    page.goto(plugin_page_url(tb.url, f"#{hash_}"))
    wait_for_render(page.main_frame)
    return page


def _card(page, row: int, run: str):
    return page.locator(f"#filter-{row} .filter-card[data-run='{run}']")


def _row_ids(page) -> list[int]:
    return [int(i.removeprefix("filter-")) for i in
            page.locator(".filter-row").evaluate_all("(rows) => rows.map((r) => r.id)")]


def _hash(page) -> dict[str, str]:
    fragment = urllib.parse.urlsplit(page.url).fragment
    return {k: urllib.parse.unquote(v) for k, v in (p.split("=", 1) for p in fragment.split("&") if "=" in p)}


def test_each_row_shows_the_other_runs_matched_filter_with_its_correlation(page, tb):
    match = _route(tb, "match", run=[ORIGINAL_RUN, PERMUTED_RUN], layer=LAYER)
    assert match["comparable"], match["note"]
    _open(page, tb, f"runs={ORIGINAL_RUN},{PERMUTED_RUN}&layer={LAYER}")
    expect(page.locator(".grid.compare")).to_have_attribute("data-align", "match")
    expect(page.locator(".filter-row")).to_have_count(NUM_FILTERS)
    expect(page.locator(f".match-line[data-run='{PERMUTED_RUN}']")).to_have_text(
        f"{PERMUTED_RUN} shares {match['shared']} of {NUM_FILTERS} filters with {ORIGINAL_RUN} "
        f"(CKA {match['cka']:.2f})")
    for m in match["matches"]:
        card = _card(page, m["filter"], PERMUTED_RUN)
        expect(card).to_have_attribute("data-filter", str(m["best"]))
        where = "shared" if m["shared"] else f"only in {ORIGINAL_RUN}"
        expect(card.locator(".match-text")).to_have_text(f"r {m['best_correlation']:.2f} · {where}")
        expect(card.locator(".match-open")).to_have_text(f"filter {m['best']}")
        if m["shared"]:  # a permuted copy: every shared filter is its own permuted self
            assert m["best"] == PERMUTED_INDEX[m["filter"]]
    # The re-drawn copies leave their originals alone, and only those.
    alone = page.locator(".match-mark.alone").evaluate_all(
        "(marks) => marks.map((m) => Number(m.closest('.filter-row').dataset.filter))")
    assert sorted(alone) == sorted(REPLACED)
    expect(page.locator(".match-mark.alone .match-text").first).to_contain_text(f"only in {ORIGINAL_RUN}")
    for index in PLANTED:
        expect(_card(page, index, PERMUTED_RUN)).to_have_attribute("data-filter", str(PERMUTED_INDEX[index]))
        expect(_card(page, index, PERMUTED_RUN).locator(".match-text")).to_have_text("r 1.00 · shared")
    # The first run's column is the row's own filter.
    assert page.locator(f".filter-card[data-run='{ORIGINAL_RUN}']").evaluate_all(
        "(cards) => cards.map((c) => Number(c.dataset.filter))") == _row_ids(page)


def test_a_matched_filter_opens_with_its_run_first_in_a_link_of_its_own(page, tb):
    _open(page, tb, f"runs={ORIGINAL_RUN},{PERMUTED_RUN}&layer={LAYER}")
    target = PERMUTED_INDEX[0]
    _card(page, 0, PERMUTED_RUN).locator(".match-open").click()
    expect(page.locator(".filter-row.focused")).to_have_attribute("id", f"filter-{target}")
    expect(page.locator(".column-header .run-name").first).to_have_text(PERMUTED_RUN)
    # Matched back: the original's filter 0 in the focused row.
    expect(_card(page, target, ORIGINAL_RUN)).to_have_attribute("data-filter", "0")
    state = _hash(page)
    assert state["runs"] == f"{PERMUTED_RUN},{ORIGINAL_RUN}" and state["filter"] == str(target)
    assert "align" not in state  # lined up by match: the default, left out
    # The link opens that view again.
    again = page.context.new_page()
    _open(again, tb, urllib.parse.urlsplit(page.url).fragment)
    expect(again.locator(".filter-row.focused")).to_have_attribute("id", f"filter-{target}")
    expect(_card(again, target, ORIGINAL_RUN)).to_have_attribute("data-filter", "0")
    again.close()


def test_hostile_tokens_in_the_matched_filters_windows_stay_text(page, tb):
    _open(page, tb, f"runs={ORIGINAL_RUN},{PERMUTED_RUN}&layer={LAYER}")
    card = _card(page, 0, PERMUTED_RUN)
    expect(card).to_have_attribute("data-filter", str(PERMUTED_INDEX[0]))
    card.locator(".raw-windows > summary").click()
    rows = card.locator(".raw-windows li.window")
    expect(rows.first).to_be_visible()
    tokens = card.locator(".raw-windows .window .token").evaluate_all("(n) => n.map((x) => x.textContent)")
    assert XSS_TOKEN in tokens
    rows.first.click()  # its whole example, fetched for the matched filter's run
    expect(card.locator(".context-tokens .token", has_text=XSS_TOKEN).first).to_be_visible()
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    assert page.evaluate("() => window.__xss") is None


def test_the_toggle_lines_runs_up_by_index_and_back_and_the_link_keeps_it(page, tb):
    _open(page, tb, f"runs={ORIGINAL_RUN},{PERMUTED_RUN}&layer={LAYER}")
    expect(page.locator(".align-option.current")).to_have_attribute("data-align", "match")
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".align-option[data-align='index']").click()
    wait_for_render(page.main_frame, before + 1)
    expect(page.locator(".grid.compare")).to_have_attribute("data-align", "index")
    assert _hash(page)["align"] == "index"
    for row in range(NUM_FILTERS):
        expect(_card(page, row, PERMUTED_RUN)).to_have_attribute("data-filter", str(row))
    expect(page.locator(".match-mark")).to_have_count(0)
    # The layer line stays: it describes the runs, whatever the alignment.
    expect(page.locator(f".match-line[data-run='{PERMUTED_RUN}']")).to_contain_text("shares")

    reloaded = page.context.new_page()
    _open(reloaded, tb, urllib.parse.urlsplit(page.url).fragment)
    expect(reloaded.locator(".grid.compare")).to_have_attribute("data-align", "index")
    expect(reloaded.locator(".align-option.current")).to_have_attribute("data-align", "index")
    before = int(reloaded.evaluate("() => document.body.dataset.renderCount"))
    reloaded.locator(".align-option[data-align='match']").click()
    wait_for_render(reloaded.main_frame, before + 1)
    expect(_card(reloaded, 0, PERMUTED_RUN)).to_have_attribute("data-filter", str(PERMUTED_INDEX[0]))
    assert "align" not in _hash(reloaded)
    reloaded.close()


def test_least_shared_first_puts_what_one_run_learned_alone_first(page, tb):
    match = _route(tb, "match", run=[ORIGINAL_RUN, PERMUTED_RUN], layer=LAYER)
    best = {m["filter"]: _number(m["best_correlation"]) for m in match["matches"]}
    _open(page, tb, f"runs={ORIGINAL_RUN},{PERMUTED_RUN}&layer={LAYER}")
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".sort-select").select_option("least_shared")
    wait_for_render(page.main_frame, before + 1)
    assert _row_ids(page) == sorted(best, key=lambda i: (best[i], i))
    assert set(_row_ids(page)[:len(REPLACED)]) == set(REPLACED)  # what "original" learned alone comes first
    assert _hash(page)["sort"] == "least_shared"
    # Each row still shows its own match.
    for m in match["matches"]:
        expect(_card(page, m["filter"], PERMUTED_RUN)).to_have_attribute("data-filter", str(m["best"]))


def test_runs_probed_on_other_examples_get_the_routes_note_not_numbers(page, tb):
    match = _route(tb, "match", run=[ORIGINAL_RUN, OTHER_DATA_RUN], layer=LAYER)
    assert not match["comparable"] and match["note"]
    _open(page, tb, f"runs={ORIGINAL_RUN},{OTHER_DATA_RUN}&layer={LAYER}")
    expect(page.locator(f".match-line[data-run='{OTHER_DATA_RUN}']")).to_have_text(
        f"{OTHER_DATA_RUN} and {ORIGINAL_RUN}: {match['note']}")
    expect(page.locator(".grid.compare")).to_have_attribute("data-align", "index")
    expect(page.locator(".align-note")).to_be_visible()
    expect(page.locator(".match-mark")).to_have_count(0)


def test_each_card_shows_its_correlation_with_the_latest_step_and_when_it_settled(page, tb):
    dynamics = _route(tb, "dynamics", run=ORIGINAL_RUN, layer=LAYER)
    assert dynamics["steps"] == list(STEPS)
    _open(page, tb, f"runs={ORIGINAL_RUN}&layer={LAYER}")
    for entry in dynamics["filters"]:
        card = _card(page, entry["filter"], ORIGINAL_RUN)
        if not any(_finite(value) for value in entry["correlation"]):
            expect(card.locator(".filter-dynamics")).to_have_count(0)
            continue
        settled = entry["settled_step"]
        expect(card.locator(".filter-dynamics .settled")).to_have_text(
            "not settled" if settled is None else f"settled at step {settled}")
        # One point per step with a correlation: on lines, or a dot where a line has one point.
        points = card.locator(".filter-dynamics svg.sparkline > *").evaluate_all(
            "(marks) => marks.map((m) => m.tagName === 'circle' ? 1 : m.getAttribute('points').split(' ').length)")
        assert sum(points) == sum(_finite(v) for v in entry["correlation"])
    # Planted filters never change what they detect: settled from the first step.
    for index in PLANTED:
        expect(_card(page, index, ORIGINAL_RUN).locator(".settled")).to_have_text(f"settled at step {STEPS[0]}")
    # A run with one step has no history to draw.
    _open(page, tb, f"runs={PERMUTED_RUN}&layer={LAYER}")
    expect(page.locator(".filter-row")).to_have_count(NUM_FILTERS)
    expect(page.locator(".filter-dynamics")).to_have_count(0)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _number(value) -> float:
    """A correlation as served: a number, or "NaN" for a constant signature (sorted first by the tab)."""
    return value if _finite(value) else -math.inf
