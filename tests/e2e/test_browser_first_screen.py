"""A page's cards are built a screen first (issue 19): the rows the viewport shows at once, the
rest right after, in order; the view counts as rendered (renderCount) once every row is built.
A deep link far below the fold, the dynamics sparklines and the search's outlines reach the rows
built after the first screen."""

from __future__ import annotations

from collections import Counter

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, plugin_page_url, wait_for_render
from tests.helpers.logdir_builder import build_logdir

RUN = "wide"
LAYER = "conv1d"
FILTERS = 128
PAGE = 64
TOP_K = 10
STEPS = 2

# Records, when the first screen's mark appears, the rows built then: a MutationObserver's
# callback runs at the end of the task that set it, before the task building the next rows.
# Where the last row starts is read with every row at its real size, as the first frame lays
# out those near the viewport (until then, off-screen rows have an estimated size).
RECORD_FIRST_SCREEN = """
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver((changes, observer) => {
    if (!document.body.dataset.firstScreenAt) return;
    observer.disconnect();
    const rows = [...document.querySelectorAll(".filter-row")];
    const real = document.head.appendChild(document.createElement("style"));
    real.textContent = ".filter-row { content-visibility: visible !important; }";
    window.__firstScreen = {
      rows: rows.map((row) => Number(row.dataset.filter)),
      lastTop: rows[rows.length - 1].getBoundingClientRect().top,
      beforeLastBottom: rows.length > 1 ? rows[rows.length - 2].getBoundingClientRect().bottom : 0,
      viewport: window.innerHeight,
      rendered: document.body.dataset.renderCount ?? null,
    };
    real.remove();
  }).observe(document.body, { attributes: true });
});
"""


@pytest.fixture(scope="module")
def built_logdir(tmp_path_factory):
    built = build_logdir(tmp_path_factory.mktemp("first_screen"), runs=(RUN,), num_filters=FILTERS, top_k=TOP_K,
                         steps=STEPS)
    ready = lambda listing: [layer["steps"] for run in listing["runs"] for layer in run["layers"]] == [[0, 1]]  # noqa: E731
    with TensorBoardProcess(built.path, ready=ready) as tb:
        yield built, tb


def _open(page, tb, hash_: str):
    page.add_init_script(RECORD_FIRST_SCREEN)
    page.goto(plugin_page_url(tb.url, f"#runs={RUN}&layer={LAYER}&step={STEPS - 1}{hash_}"))
    wait_for_render(page.main_frame)
    return page.evaluate("() => window.__firstScreen")


def _card_ids(page) -> list[int]:
    return page.locator("article.filter-card").evaluate_all("(cards) => cards.map((c) => Number(c.dataset.filter))")


def test_the_first_screen_is_built_before_the_rest_and_every_card_follows_in_order(page, built_logdir):
    _, tb = built_logdir
    first = _open(page, tb, "")
    built = len(first["rows"])
    assert first["rendered"] is None, first  # the page was not whole yet
    assert first["rows"] == list(range(built)) and 0 < built < PAGE, first
    assert first["lastTop"] >= first["viewport"], first  # the screen was covered, the last row below it
    assert first["beforeLastBottom"] > first["viewport"] / 2, first  # by rows it shows
    assert page.evaluate("() => Number(document.body.dataset.firstScreenRows)") == built
    assert _card_ids(page) == list(range(PAGE))
    # Every card whole, also those built after: the top window's row and its tokens.
    expect(page.locator(f"#filter-{PAGE - 1} li.window").first).to_have_attribute("data-rank", "0")
    assert page.locator(".filter-row").count() == PAGE
    # Sparklines need the page whole: the last card has one too.
    expect(page.locator(f"#filter-{PAGE - 1} .filter-dynamics")).to_have_count(1)
    expect(page.locator(".filter-dynamics")).to_have_count(PAGE)


def test_a_deep_link_below_the_fold_lands_focused_on_its_row(page, built_logdir):
    _, tb = built_logdir
    target = 60
    first = _open(page, tb, f"&filter={target}")
    assert first["rows"][-1] >= target and first["rows"] == list(range(len(first["rows"]))), first
    focused = page.locator(".filter-row.focused")
    expect(focused).to_have_count(1)
    expect(focused).to_have_attribute("id", f"filter-{target}")
    expect(focused).to_be_in_viewport()
    assert _card_ids(page) == list(range(PAGE))
    # On the next page too: a row the first screen of that page would not have held.
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(f".map-cell[data-filter='{PAGE + target}']").click()
    wait_for_render(page.main_frame, before + 1)
    expect(focused).to_have_attribute("id", f"filter-{PAGE + target}")
    expect(focused).to_be_in_viewport()
    assert _card_ids(page) == list(range(PAGE, 2 * PAGE))


def test_the_searched_token_is_outlined_in_cards_built_after_the_first_screen(page, built_logdir):
    built, tb = built_logdir
    report = built.report(RUN, LAYER, STEPS - 1)
    shown = {f.index: [t for w in f.windows[:10] for t in w.tokens] for f in report.filters}
    # A token of the next page's last rows, far below its first screen.
    token, _ = Counter(t for i in range(2 * PAGE - 8, 2 * PAGE) for t in shown[i] if t.isalpha()).most_common(1)[0]
    _open(page, tb, "")
    page.locator(".search-input").fill(token)
    page.locator(".search-input").press("Enter")
    expect(page.locator(".search-result").first).to_be_visible()
    before = int(page.evaluate("() => document.body.dataset.renderCount"))
    page.locator(".pager").first.get_by_text("next").click()
    wait_for_render(page.main_frame, before + 1)
    for index in range(2 * PAGE - 8, 2 * PAGE):
        tokens = page.locator(f"#filter-{index} li.window .token")
        texts = tokens.evaluate_all("(ts) => ts.map((t) => [t.textContent, t.classList.contains('match')])")
        assert [text for text, match in texts if match] == [text for text, _ in texts if text == token], index
    last_rows = ", ".join(f"#filter-{index} li.window .token.match" for index in range(2 * PAGE - 8, 2 * PAGE))
    assert page.locator(last_rows).count() > 0
