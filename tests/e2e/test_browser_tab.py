"""The Filters tab in a real TensorBoard, driven in headless Chromium.

The log dir is written by the real engine (tab_logdir.py): runs kernel3 and
kernel5, steps 0-2, layers conv1d (12 filters) and conv1d_b (6 filters);
filter 0 of conv1d responds to XSS_TOKEN and filter 1 to "<user>".
"""

from __future__ import annotations

import re
import urllib.parse

from playwright.sync_api import expect

from tests.e2e.harness import open_filters_tab, plugin_page_url, wait_for_render
from tests.e2e.tab_logdir import LAYER, NUM_FILTERS, SECOND_LAYER, STEPS, USER_TOKEN, XSS_TOKEN

RUN_A, RUN_B = "kernel3", "kernel5"
TAB_ENTRY = "plugin_entry.html?name=filters"
SPAN_WIDTH = {RUN_A: 3, RUN_B: 5}


def _render_count(frame) -> int:
    return int(frame.evaluate("() => document.body.dataset.renderCount || '0'"))


def _act(frame, action) -> None:
    """Runs `action` and waits until the tab has shown the view it asked for."""
    before = _render_count(frame)
    action()
    wait_for_render(frame, before + 1)


def _token_texts(locator) -> list[str]:
    return locator.evaluate_all("(nodes) => nodes.map((n) => n.textContent)")


def _hash_state(frame) -> dict[str, str]:
    hash_ = frame.evaluate("() => window.location.hash").lstrip("#")
    return {k: urllib.parse.unquote(v) for k, v in (p.split("=", 1) for p in hash_.split("&") if "=" in p)}


def _pick_runs(frame, wanted: list[str]) -> None:
    for run in (RUN_A, RUN_B):
        box = frame.locator(f".run-option input[value='{run}']")
        if box.is_checked() != (run in wanted):
            _act(frame, box.click)


def test_tab_lists_each_filters_top_windows_with_statistics(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)

    expect(frame.locator(".run-option")).to_have_count(2)
    expect(frame.locator(".layer-select")).to_have_value(LAYER)
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[-1]}")
    expect(frame.locator(".filter-row")).to_have_count(NUM_FILTERS)
    card = frame.locator(f"#filter-0 .filter-card[data-run='{RUN_A}']")
    expect(card.locator(".stat-max .stat-value")).to_have_text(re.compile(r"^\d"))
    expect(card.locator(".stat-mean")).to_be_visible()
    expect(card.locator(".stat-active .stat-value")).to_have_text(re.compile(r"%$"))
    drawn = card.locator("canvas.histogram").evaluate(
        "(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)")
    assert drawn
    first_window = card.locator(".window").first
    expect(first_window.locator(".rank")).to_have_text("1")
    expect(first_window.locator(".count")).to_have_text(re.compile(r"^×\d+$"))
    assert first_window.locator(".bar-cell").evaluate("(bar) => bar.style.getPropertyValue('--fill')") == "100.0%"
    # The planted filters: their strongest token is the planted one, shown literally.
    expect(first_window.locator(".token.strongest")).to_have_text(XSS_TOKEN)
    user_window = frame.locator(f"#filter-1 .filter-card[data-run='{RUN_A}'] .window").first
    expect(user_window.locator(".token.strongest")).to_have_text(USER_TOKEN)
    coloured = user_window.locator(".token.strongest").evaluate("(t) => t.style.backgroundColor")
    assert coloured.startswith("rgba(245, 124, 0")
    expect(frame.locator(".layer-summary")).to_contain_text(f"{NUM_FILTERS} filters")

    # Hovering tells where a window comes from and what each token adds (the raw
    # windows sit under the card's patterns, opened on demand).
    card.locator(".raw-windows > summary").click()
    strongest = first_window.locator(".token.strongest")
    strongest.hover()
    expect(first_window).to_have_attribute("title", re.compile(r"example \d+, output position \d+"))
    expect(strongest).to_have_attribute("title", re.compile(r"^<img src=x onerror=window\.__xss=1>: contribution \d"))


def test_hostile_token_shows_as_text_and_runs_nothing(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    frame.locator(".search-input").fill(XSS_TOKEN)
    expect(frame.locator(".search-result").first).to_be_visible()
    frame.locator("#filter-0 .history-button").click()
    expect(frame.locator(".history-step").first).to_be_visible()

    tokens = _token_texts(frame.locator(".token"))
    assert XSS_TOKEN in tokens and USER_TOKEN in tokens
    assert frame.evaluate("() => document.querySelectorAll('img, script:not([type=module])').length") == 0
    assert frame.evaluate("() => window.__xss") is None
    assert page.evaluate("() => window.__xss") is None
    # Shown, not parsed: the visible text is the raw markup.
    expect(frame.locator(".search-panel .token-literal")).to_have_text(XSS_TOKEN)

    # Markup in a deep link (a run, a layer) is only ever compared, never shown.
    hostile = urllib.parse.quote(XSS_TOKEN)
    page.goto(f"{tensorboard.url}/#filters&runs={hostile}&layer={hostile}&step=1")
    frame = page.wait_for_selector("iframe[src*='plugin_entry.html?name=filters']").content_frame()
    wait_for_render(frame)
    expect(frame.locator(".layer-select")).to_have_value(LAYER)
    assert frame.evaluate("() => document.querySelectorAll('img').length") == 0
    assert frame.evaluate("() => window.__xss") is None and page.evaluate("() => window.__xss") is None


def test_two_runs_side_by_side_one_column_per_run(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    _pick_runs(frame, [RUN_A])
    expect(frame.locator(".grid.single")).to_have_count(1)
    expect(frame.locator("#filter-0 .filter-card")).to_have_count(1)

    _pick_runs(frame, [RUN_A, RUN_B])
    expect(frame.locator(".grid.compare")).to_have_count(1)
    assert _token_texts(frame.locator(".column-header .column-run .run-name")) == [RUN_A, RUN_B]
    for index in range(NUM_FILTERS):
        runs = frame.locator(f"#filter-{index} .filter-card").evaluate_all(
            "(cards) => cards.map((c) => c.dataset.run)")
        assert runs == [RUN_A, RUN_B], (index, runs)
    # Kernel 3 and kernel 5 read 3 and 5 tokens per window: the columns differ visibly.
    for run, width in SPAN_WIDTH.items():
        window = frame.locator(f"#filter-0 .filter-card[data-run='{run}'] .window").first
        expect(window.locator(".token")).to_have_count(width)
    assert _hash_state(frame)["runs"] == f"{RUN_A},{RUN_B}"


def test_step_slider_shows_the_windows_of_that_step(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    _pick_runs(frame, [RUN_A])
    cards = frame.locator(".filter-card .tokens")
    latest_tokens = _token_texts(cards)
    # The planted filter's top activation is 1 + step.
    top_value = frame.locator("#filter-0 .window .bar-cell").first
    expect(top_value).to_have_text(str(1 + STEPS[-1]))

    slider = frame.locator(".step-slider")
    _act(frame, lambda: slider.press("Home"))
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[0]}")
    expect(top_value).to_have_text(str(1 + STEPS[0]))
    assert _token_texts(cards) != latest_tokens
    assert _hash_state(frame)["step"] == str(STEPS[0])
    expect(frame.locator(".step-badge")).to_have_count(0)  # every run has every step

    _act(frame, lambda: slider.press("ArrowRight"))
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[1]}")
    expect(top_value).to_have_text(str(1 + STEPS[1]))


def test_search_a_token_and_jump_to_a_filter(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    _pick_runs(frame, [RUN_A])
    frame.locator(".search-input").fill(USER_TOKEN)
    results = frame.locator(".search-result")
    expect(results.first).to_be_visible()
    found = results.evaluate_all("(rs) => rs.map((r) => ({...r.dataset}))")
    assert {"run": RUN_B, "layer": LAYER, "step": str(STEPS[-1]), "filter": "1"} in found
    assert {r["run"] for r in found} == {RUN_A, RUN_B}

    target = frame.locator(f".search-result[data-run='{RUN_B}'][data-layer='{LAYER}'][data-filter='1']")
    _act(frame, target.click)
    focused = frame.locator(".filter-row.focused")
    expect(focused).to_have_attribute("id", "filter-1")
    expect(focused).to_be_in_viewport()
    # The run of the result was added to the picked runs, and its window shows the token.
    expect(frame.locator(f".run-option input[value='{RUN_B}']")).to_be_checked()
    expect(focused.locator(f".filter-card[data-run='{RUN_B}'] .token.match").first).to_have_text(USER_TOKEN)
    assert _hash_state(frame)["filter"] == "1"

    # Partial matching ignores case and finds the token inside others.
    frame.locator(".search-partial").check()
    frame.locator(".search-input").fill("USER")
    expect(frame.locator(".search-panel .token.match").first).to_have_text(USER_TOKEN)
    expect(focused.locator(".token.match").first).to_have_text(USER_TOKEN)


def test_search_result_in_another_layer_switches_the_layer(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    frame.locator(".search-input").fill(USER_TOKEN)
    target = frame.locator(f".search-result[data-layer='{SECOND_LAYER}']").first
    expect(target).to_be_visible()
    wanted = target.evaluate("(r) => r.dataset.filter")
    _act(frame, target.click)
    expect(frame.locator(".layer-select")).to_have_value(SECOND_LAYER)
    expect(frame.locator(".filter-row.focused")).to_have_attribute("id", f"filter-{wanted}")


def test_deep_link_opens_the_same_view(page, tensorboard):
    hash_ = f"#runs={RUN_B}&layer={SECOND_LAYER}&step={STEPS[1]}&filter=4"
    page.goto(plugin_page_url(tensorboard.url, hash_))
    frame = page.main_frame
    wait_for_render(frame)
    expect(frame.locator(f".run-option input[value='{RUN_B}']")).to_be_checked()
    expect(frame.locator(f".run-option input[value='{RUN_A}']")).not_to_be_checked()
    expect(frame.locator(".layer-select")).to_have_value(SECOND_LAYER)
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[1]}")
    expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-4")
    expect(frame.locator(".filter-row.focused")).to_be_in_viewport()

    # "copy link" gives a URL that reopens this view, also after changing it.
    _act(frame, lambda: frame.locator(".step-slider").press("End"))
    frame.locator(".copy-link").click()
    link = frame.locator(".link-output")
    expect(link).to_have_value(re.compile(r"plugin_entry\.html\?name=filters#"))
    url = link.input_value()
    assert f"step={STEPS[-1]}" in url and "filter=4" in url

    other = page.context.new_page()
    other.goto(url)
    wait_for_render(other.main_frame)
    expect(other.locator(".step-label")).to_contain_text(f"step {STEPS[-1]}")
    expect(other.locator(".layer-select")).to_have_value(SECOND_LAYER)
    expect(other.locator(".filter-row.focused")).to_have_attribute("id", "filter-4")
    other.close()


def test_deep_link_to_tensorboard_opens_the_tab_with_that_view(page, tensorboard):
    view = f"runs={RUN_B}&layer={SECOND_LAYER}&step={STEPS[1]}&filter=4"
    page.goto(f"{tensorboard.url}/#filters&{view}")
    frame = page.wait_for_selector(f"iframe[src*='{TAB_ENTRY}']").content_frame()
    wait_for_render(frame)
    expect(frame.locator(".layer-select")).to_have_value(SECOND_LAYER)
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[1]}")
    expect(frame.locator(f".run-option input[value='{RUN_A}']")).not_to_be_checked()
    expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-4")

    # Changing the view rewrites TensorBoard's URL; "copy link" gives that URL.
    _act(frame, lambda: frame.locator(".step-slider").press("Home"))
    assert page.url == f"{tensorboard.url}/#filters&runs={RUN_B}&layer={SECOND_LAYER}&step={STEPS[0]}&filter=4"
    frame.locator(".copy-link").click()
    expect(frame.locator(".link-output")).to_have_value(page.url)


def test_view_survives_switching_to_another_tensorboard_tab_and_back(page, tensorboard):
    # Not the default view: runs in reverse order, the first step.
    page.goto(f"{tensorboard.url}/#filters&runs={RUN_B},{RUN_A}&step={STEPS[0]}")
    frame = page.wait_for_selector(f"iframe[src*='{TAB_ENTRY}']").content_frame()
    wait_for_render(frame)
    assert _token_texts(frame.locator(".column-header .run-name")) == [RUN_B, RUN_A]

    page.get_by_role("tab", name=re.compile("scalars", re.I)).click()
    expect(page).to_have_url(re.compile(r"#scalars"))
    page.get_by_role("tab", name=re.compile("filters", re.I)).click()
    expect(page).to_have_url(re.compile(r"#filters"))
    frame = page.wait_for_selector(f"iframe[src*='{TAB_ENTRY}']").content_frame()
    wait_for_render(frame)
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[0]}")
    assert _token_texts(frame.locator(".column-header .run-name")) == [RUN_B, RUN_A]


def test_deep_link_in_the_tensorboard_frame_follows_hash_changes(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    _act(frame, lambda: frame.evaluate(
        f"() => {{ window.location.hash = 'runs={RUN_A}&layer={LAYER}&step={STEPS[0]}&filter=7'; }}"))
    expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-7")
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[0]}")
    expect(frame.locator(f".run-option input[value='{RUN_B}']")).not_to_be_checked()


def test_filter_history_across_steps(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    frame.locator("#filter-0 .history-button").click()
    panel = frame.locator(".history-panel")
    expect(panel.locator(".history-column")).to_have_count(2)
    expect(panel.locator(".history-column").first.locator(".history-step")).to_have_count(len(STEPS))
    expect(panel.locator(".history-step.current").first).to_have_attribute("data-step", str(STEPS[-1]))
    tops = panel.locator(".history-column").first.locator(".history-step .bar-cell")
    values = [float(v) for v in _token_texts(tops)]
    assert values == sorted(values) and values[0] < values[-1]  # the planted filter grows

    expect(frame.locator("#filter-0 + .history-panel")).to_have_count(1)  # right under its row

    _act(frame, panel.locator(f".history-step[data-step='{STEPS[0]}']").first.click)
    expect(frame.locator(".step-label")).to_contain_text(f"step {STEPS[0]}")
    expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-0")
    expect(frame.locator("#filter-0 + .history-panel .history-step.current").first).to_have_attribute(
        "data-step", str(STEPS[0]))


def test_layer_picker_shows_the_other_layer(page, tensorboard):
    frame = open_filters_tab(page, tensorboard.url)
    _act(frame, lambda: frame.locator(".layer-select").select_option(SECOND_LAYER))
    expect(frame.locator(".filter-row")).to_have_count(6)
    expect(frame.locator(".layer-summary")).to_contain_text(SECOND_LAYER)
    # Behind a conv and a pooling layer there are no per-token contributions:
    # no colours, no strongest token, and the legend does not promise them.
    assert frame.locator(".filter-card .token").count() > 0
    expect(frame.locator(".filter-card .token.strongest")).to_have_count(0)
    assert frame.locator(".filter-card .token").evaluate_all(
        "(tokens) => tokens.every((t) => !t.style.backgroundColor)")
    expect(frame.locator(".legend")).not_to_contain_text("raises the activation")
    assert _hash_state(frame)["layer"] == SECOND_LAYER


def test_view_hash_round_trips_any_run_and_layer_name(page, tensorboard):
    """Run names are directory names: commas, '&', '=', '#', spaces and unicode included."""
    page.goto(plugin_page_url(tensorboard.url))
    wait_for_render(page.main_frame)
    names = ["a,b", "x&y=z", "sp ace#1", "日本/run", "%2C", "back\\slash,", XSS_TOKEN]
    parsed = page.evaluate(
        """async (names) => {
            const { formatHash, parseHash } = await import('./state.js');
            const hash = formatHash({ runs: names, layer: names[1], step: 12, filter: 70, offset: 64 });
            // What TensorBoard does to hash values when switching tabs.
            const reencoded = hash.split('&').map((part) => {
                const [key, value] = [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)];
                return `${key}=${encodeURIComponent(decodeURIComponent(value))}`;
            }).join('&');
            return [parseHash('#' + hash), parseHash('#filters&' + reencoded)];
        }""",
        names,
    )
    expected = {"runs": names, "layer": names[1], "step": 12, "filter": 70, "offset": 64,
                "sort": "index", "output": 0, "align": "match"}  # the defaults, left out of the hash
    assert parsed == [expected, expected]
