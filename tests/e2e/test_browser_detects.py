"""What a filter detects, in the tab: the summary line, patterns, slot
preferences, a window opened on its whole example, the "switched off by" list,
hostile tokens kept as text, and an old report's "not in this report"."""

from __future__ import annotations

import os
import shutil

from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, open_filters_tab
from tests.e2e.tab_logdir import NUM_FILTERS, XSS_TOKEN

RUN = "kernel3"
FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "payload_v1")


def _card(frame, index: int, run: str = RUN):
    return frame.locator(f"#filter-{index} .filter-card[data-run='{run}']")


def test_cards_lead_with_a_summary_and_patterns_raw_windows_on_demand(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    expect(frame.locator(".filter-row")).to_have_count(NUM_FILTERS)
    card = _card(frame, 0)
    expect(card.locator(".filter-summary")).to_be_visible()
    assert card.locator(".filter-summary").text_content().startswith("wants  ")
    expect(card.locator(".patterns .pattern").first).to_be_visible()
    expect(card.locator(".raw-windows li.window").first).to_be_hidden()
    card.locator(".raw-windows > summary").click()
    expect(card.locator(".raw-windows li.window").first).to_be_visible()
    assert card.locator(".pattern").count() <= card.locator(".raw-windows li.window").count()


def test_a_window_opens_on_its_whole_example(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    card = _card(frame, 0)
    card.locator(".raw-windows > summary").click()
    first = card.locator(".raw-windows li.window").first
    window_tokens = first.locator(".token").evaluate_all("(nodes) => nodes.map((n) => n.textContent)")
    first.click()
    context = card.locator(".raw-windows li.context .context-tokens")
    expect(context).to_be_visible()
    highlighted = context.locator(".token.in-window").evaluate_all("(nodes) => nodes.map((n) => n.textContent)")
    assert highlighted and all(t in window_tokens for t in highlighted)
    assert context.locator(".token").count() == 12  # the whole example, padding included
    first.click()
    expect(card.locator(".raw-windows li.context")).to_have_count(0)


def test_the_switched_off_list_and_slot_preferences(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    card = _card(frame, 1)
    inhibiting = card.locator("details.inhibiting")
    expect(inhibiting.locator("summary")).to_contain_text("switched off by")
    inhibiting.locator("summary").click()
    rows = inhibiting.locator("li.window-off")
    expect(rows.first).to_be_visible()
    values = [float(v) for v in rows.locator(".bar-cell").evaluate_all("(n) => n.map((x) => x.textContent)")]
    assert values == sorted(values) and values[0] < 0
    coloured = rows.first.locator(".token").evaluate_all("(n) => n.map((x) => x.style.backgroundColor)")
    assert any(coloured)
    prefs = card.locator("details.slot-preferences")
    prefs.locator("summary").click()
    expect(prefs.locator(".slot")).to_have_count(3)
    expect(prefs.locator(".raises .token").first).to_be_visible()


def test_hostile_tokens_stay_text_in_slot_preferences_and_contexts(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    card = _card(frame, 0)
    card.locator("details.slot-preferences > summary").click()
    expect(card.locator(".slot-preferences .token")).not_to_have_count(0)  # fetched when opened
    tokens = card.locator(".slot-preferences .token").evaluate_all("(n) => n.map((x) => x.textContent)")
    assert XSS_TOKEN in tokens
    card.locator(".raw-windows > summary").click()
    rows = card.locator(".raw-windows li.window")
    for i in range(rows.count()):
        rows.nth(i).click()
    contexts = card.locator(".context-tokens .token").evaluate_all("(n) => n.map((x) => x.textContent)")
    assert XSS_TOKEN in contexts
    assert frame.locator(".filter-card img").count() == 0
    assert not frame.evaluate("() => window.__xss")


def test_search_lists_the_filters_that_want_a_token(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    frame.locator(".search-input").fill(XSS_TOKEN)
    frame.locator(".search-input").press("Enter")
    wants = frame.locator(".search-wants .search-wants-result")
    expect(wants.first).to_be_visible()
    expect(wants.first.locator(".result-rank")).to_contain_text("slot ")


def test_an_old_report_says_what_is_not_in_it(page, tmp_path):
    logdir = tmp_path / "old"
    shutil.copytree(FIXTURE, logdir)
    ready = lambda listing: bool(listing.get("runs"))  # noqa: E731
    with TensorBoardProcess(str(logdir), ready=ready) as tb:
        frame = open_filters_tab(page, tb.url)
        card = frame.locator("#filter-0 .filter-card[data-run='v1run']")
        old = " not in this report (written by an older tb_filters; interpret again to add it)"
        expect(card.locator(".absent-patterns")).to_have_text("patterns:" + old)
        expect(card.locator(".absent-slot-preferences")).to_have_text("slot preferences:" + old)
        expect(card.locator(".absent-inhibiting")).to_have_text("inhibiting windows:" + old)
        expect(card.locator(".absent-contexts")).to_have_text("contexts:" + old)
        expect(card.locator(".absent-effects")).to_have_text("effects:" + old)
        expect(card.locator("li.window").first).to_be_visible()  # no patterns: the windows are the card
        expect(card.locator(".filter-summary")).to_contain_text("top  ")
