"""The layer overview above the cards: a map of a 1024-filter layer, dead and
duplicate filters marked, cards sorted by effect, the sort in the deep link,
runs side by side in the first run's order."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, plugin_page_url, wait_for_render
from tests.helpers.logdir_builder import SYNTHETIC_OUTPUTS, build_logdir, synthetic_dead, synthetic_duplicate_of

FILTERS = 1024
PAGE = 64


@pytest.fixture(scope="module")
def built_logdir(tmp_path_factory):
    built = build_logdir(tmp_path_factory.mktemp("overview"), runs=("first", "second"), num_filters=FILTERS,
                         top_k=3, steps=1)
    with TensorBoardProcess(built.path, ready=lambda listing: len(listing["runs"]) == 2) as tb:
        yield built, tb


def _row_ids(page) -> list[int]:
    return [int(i.removeprefix("filter-")) for i in
            page.locator(".filter-row").evaluate_all("(rows) => rows.map((r) => r.id)")]


def _by_effect(built, run: str, output: int) -> list[int]:
    report = built.report(run, "conv1d", 0)
    return [f.index for f in sorted(report.filters, key=lambda f: (-f.effects[output].mean, f.index))]


def test_the_map_shows_every_filter_without_scrolling_dead_and_duplicates_marked(page, built_logdir):
    built, tb = built_logdir
    page.goto(plugin_page_url(tb.url, "#runs=first&layer=conv1d"))
    wait_for_render(page.main_frame)
    cells = page.locator(".filter-map .map-cell")
    expect(cells).to_have_count(FILTERS)
    box = page.locator(".filter-map").bounding_box()
    assert box["x"] + box["width"] <= 1400 and box["height"] < 400, box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1400
    dead = [i for i in range(FILTERS) if synthetic_dead(i)]
    expect(page.locator(".filter-map .map-cell.dead")).to_have_count(len(dead))
    expect(page.locator(f".map-cell[data-filter='{dead[0]}']")).to_have_class("map-cell dead")
    duplicate = next(i for i in range(FILTERS) if synthetic_duplicate_of(i) is not None)
    cell = page.locator(f".map-cell[data-filter='{duplicate}']")
    expect(cell).to_have_attribute("title", f"filter {duplicate}" + cell.get_attribute("title")[len(f"filter {duplicate}"):])
    assert f"duplicate of filter {duplicate - 1}" in cell.get_attribute("title")
    cell.hover()
    expect(page.locator(f".map-cell[data-filter='{duplicate - 1}']")).to_have_class("map-cell linked")
    # Coloured by effect on the chosen output: the strongest push up is the deepest blue.
    strongest = _by_effect(built, "first", 0)[0]
    colour = page.locator(f".map-cell[data-filter='{strongest}']").evaluate("(c) => getComputedStyle(c).backgroundColor")
    assert colour != "rgba(0, 0, 0, 0)"
    # A click jumps to the filter's card.
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".map-cell[data-filter='700']").click()
    wait_for_render(page.main_frame, before + 1)
    expect(page.locator(".filter-row.focused")).to_have_attribute("id", "filter-700")


def test_sorting_by_effect_orders_the_cards_and_survives_a_reload(page, built_logdir):
    built, tb = built_logdir
    page.goto(plugin_page_url(tb.url, "#runs=first,second&layer=conv1d"))
    wait_for_render(page.main_frame)
    assert _row_ids(page) == list(range(PAGE))
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".output-select").select_option(label=SYNTHETIC_OUTPUTS[1])
    wait_for_render(page.main_frame, before + 1)
    before += 1
    page.locator(".sort-select").select_option("effect")
    wait_for_render(page.main_frame, before + 1)
    expected = _by_effect(built, "first", 1)[:PAGE]
    assert _row_ids(page) == expected  # runs side by side follow the first run's order
    assert expected != _by_effect(built, "second", 1)[:PAGE]
    second = page.locator(f"#filter-{expected[0]} .filter-card[data-run='second']")
    expect(second).to_have_count(1)
    assert "sort=effect" in page.url and "output=1" in page.url

    page.reload()
    wait_for_render(page.main_frame)
    expect(page.locator(".sort-select")).to_have_value("effect")
    expect(page.locator(".output-select")).to_have_value("1")
    assert _row_ids(page) == expected

    # The next page continues the order.
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".pager").first.get_by_text("next").click()
    wait_for_render(page.main_frame, before + 1)
    assert _row_ids(page) == _by_effect(built, "first", 1)[PAGE:2 * PAGE]
