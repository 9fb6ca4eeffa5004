"""The card's "across its range" (issue 18): the density line, the section collapsed until opened,
one row per interval (highest first) with its share and sampled windows, hostile tokens as text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.harness import TensorBoardProcess, plugin_page_url, wait_for_render
from tests.e2e.tab_logdir import XSS_TOKEN
from tests.helpers.logdir_builder import build_logdir, default_vocabulary

RUN, LAYER = "sampled", "conv1d"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    vocabulary = list(default_vocabulary())
    vocabulary[1] = vocabulary[2] = XSS_TOKEN  # the Zipf ids' most frequent: in most windows
    built = build_logdir(tmp_path_factory.mktemp("intervals"), runs=(RUN,), num_filters=4, top_k=5, steps=1,
                         vocabulary=vocabulary)
    with TensorBoardProcess(built.path) as tb:
        yield built, tb


def test_the_range_section_opens_on_its_intervals_with_hostile_tokens_inert(page, sampled):
    built, tb = sampled
    want = built.report(RUN, LAYER, 0).filters[0]
    page.goto(plugin_page_url(tb.url, f"#runs={RUN}&layer={LAYER}"))
    wait_for_render(page.main_frame)
    card = page.locator(f"#filter-0 .filter-card[data-run='{RUN}']")
    expect(card.locator(".density")).to_have_text(re.compile(r"^fires on \d+(\.\d)?% of examples, \d+(\.\d)?% of "
                                                             r"positions$"))
    section = card.locator("details.intervals")
    expect(section.locator("> summary")).to_have_text(f"across its range ({len(want.intervals)} intervals)")
    expect(section.locator(".interval")).to_have_count(0)  # collapsed: nothing built for a closed section
    section.locator("> summary").click()
    expect(section.locator(".interval")).to_have_count(len(want.intervals))
    top = max(want.intervals, key=lambda i: i.low)
    expect(section.locator(".interval-windows").first.locator("li.window")).to_have_count(len(top.windows))
    hostile = section.locator(".interval .tokens span", has_text=XSS_TOKEN)
    assert hostile.count() > 0
    expect(hostile.first).to_have_text(XSS_TOKEN)
    assert card.locator("img").count() == 0 and page.evaluate("window.__xss") is None
