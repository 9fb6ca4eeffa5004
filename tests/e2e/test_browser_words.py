"""The tab's words: what was not computed says so and how to turn it on, each card
gives its filter's signed effect on the output chosen in the overview, and the
short labels carry tooltips."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, plugin_page_url, wait_for_render
from tests.e2e.tab_logdir import (
    BARE_RUN,
    LAYER,
    NAMED_RUN,
    NUM_FILTERS,
    OUTPUT_NAMES,
    SECOND_LAYER,
    write_words_logdir,
)
from tests.helpers.readback import read_reports

EFFECT_LINE = re.compile(r"^effect on (.+): ([+−]?)([0-9.e+-]+) \(mean \|change\| ([0-9.e+-]+)\)$")


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    logdir = write_words_logdir(tmp_path_factory.mktemp("words"))
    ready = lambda listing: len(listing["runs"]) == 2 and all(len(r["layers"]) == 2 for r in listing["runs"])  # noqa: E731
    with TensorBoardProcess(logdir, ready=ready) as tb:
        yield read_reports(logdir), tb


def _open(page, tb, view: str):
    page.goto(plugin_page_url(tb.url, f"#{view}"))
    wait_for_render(page.main_frame)


def _card(page, index: int, run: str):
    return page.locator(f"#filter-{index} .filter-card[data-run='{run}']")


def test_what_was_not_computed_says_how_to_turn_it_on(page, words):
    _, tb = words
    _open(page, tb, f"runs={BARE_RUN}&layer={LAYER}")
    expect(page.locator(".filter-row")).to_have_count(NUM_FILTERS)
    card = _card(page, 0, BARE_RUN)
    expect(card.locator(".absent-inhibiting")).to_have_text(
        "inhibiting windows: not computed (pass --inhibiting / inhibiting=True)")
    expect(card.locator(".absent-slot-preferences")).to_have_text(
        "slot preferences: not computed (pass --slot-top-n N / slot_top_n=N)")
    expect(card.locator(".absent-contexts")).to_have_text("contexts: not computed (pass --contexts / contexts=True)")
    expect(card.locator(".absent-effects")).to_have_text("effects: not computed (drop --no-effects / effects=True)")
    expect(page.locator(".effects-note")).to_have_text("effects: not computed (drop --no-effects / effects=True)")
    expect(card.locator(".patterns .pattern").first).to_be_visible()  # patterns are never switched off
    assert "turned off" not in page.locator("body").inner_text()
    # Without contexts a window is not a link to its example.
    card.locator(".raw-windows > summary").click()
    card.locator("li.window").first.click()
    expect(card.locator("li.context")).to_have_count(0)
    assert card.locator("li.window").first.evaluate("(row) => getComputedStyle(row).cursor") != "pointer"

    # A conv fed by another conv has no per-token contributions: its own words, not "not computed".
    _open(page, tb, f"runs={BARE_RUN}&layer={SECOND_LAYER}")
    card = _card(page, 0, BARE_RUN)
    expect(card.locator(".absent-patterns")).to_have_text(re.compile(
        r"^patterns: not defined for this layer \(it is not fed by the embedding"))
    expect(card.locator(".absent-slot-preferences")).to_have_text(re.compile(
        r"^slot preferences: not computed"))  # turned off before asking whether it is defined


def _effect_on_card(page, index: int) -> tuple[str, float, float]:
    text = _card(page, index, NAMED_RUN).locator(".filter-effect").text_content()
    match = EFFECT_LINE.match(text)
    assert match, text
    name, sign, mean, absolute = match.groups()
    return name, (-1.0 if sign == "−" else 1.0) * float(mean), float(absolute)


def test_each_card_shows_its_signed_effect_on_the_chosen_output(page, words):
    reports, tb = words
    report = reports[NAMED_RUN][LAYER][0]
    _open(page, tb, f"runs={NAMED_RUN}&layer={LAYER}")
    for output in range(len(OUTPUT_NAMES)):
        if output:
            before = int(page.evaluate("() => document.body.dataset.renderCount"))
            page.locator(".output-select").select_option(str(output))
            wait_for_render(page.main_frame, before + 1)
        for f in report.filters:
            effect = f.effects[output]
            name, mean, absolute = _effect_on_card(page, f.index)
            assert name == OUTPUT_NAMES[output]  # the hostile name is text, never markup
            # The card prints the very float the report holds (one event file, read both ways) to three
            # significant digits, sign as written: half a unit of the third digit is at most 5e-3 of it.
            assert mean == pytest.approx(effect.mean, rel=5e-3, abs=0)
            assert absolute == pytest.approx(effect.mean_abs, rel=5e-3, abs=0)
    assert page.locator(".filter-card img").count() == 0
    assert not page.evaluate("() => window.__xss")
    # A softmax's two outputs move oppositely: some filter's effect shows a minus sign.
    signs = page.locator(".filter-effect").evaluate_all("(nodes) => nodes.map((n) => n.textContent)")
    assert any(": −" in s for s in signs) and any(": +" in s for s in signs), signs
    assert _card(page, 0, NAMED_RUN).locator(".filter-effect").get_attribute("title").startswith(
        "how much this filter moves the output")


def test_short_labels_have_tooltips(page, words):
    _, tb = words
    _open(page, tb, f"runs={NAMED_RUN}&layer={LAYER}")
    card = _card(page, 0, NAMED_RUN)
    card.locator(".slot-preferences > summary").click()  # its slots are fetched when it is opened
    for selector in (".stat-max", ".stat-mean", ".stat-active", ".histogram-wrap", ".filter-effect",
                     ".filter-summary", ".patterns-section h4", ".pattern-activation", ".pattern .count",
                     ".slot-preferences > summary", ".slot-name", ".raw-windows > summary", ".inhibiting > summary"):
        assert card.locator(selector).first.get_attribute("title"), selector
    for selector in (".sort-select option[value='abs_effect']", ".sort-select option[value='rate']",
                     ".overview-legend .legend-entry", ".layer-summary p", ".legend-item"):
        assert page.locator(selector).first.get_attribute("title"), selector
    row = card.locator("li.window").first
    card.locator(".raw-windows > summary").click()
    row.locator(".count").hover()
    expect(row).to_have_attribute("title", re.compile(r"×\d+: occurs \d+ times in the data"))
