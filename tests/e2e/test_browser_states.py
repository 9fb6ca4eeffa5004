"""The tab at scale (1024 filters x top-100 windows) and in its empty and
error states, each on its own real TensorBoard."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tb_filters.format import metadata
from tests.e2e.harness import TensorBoardProcess, open_filters_tab, plugin_page_url, wait_for_render
from tests.e2e.tab_logdir import NUM_FILTERS
from tests.helpers.logdir_builder import build_logdir

WIDE_FILTERS = 1024
WIDE_TOP_K = 100
PAGE = 64
LATE_FILTERS = 16
LATE_STEP = 5


@pytest.fixture(scope="module")
def wide_tensorboard(tmp_path_factory):
    built = build_logdir(tmp_path_factory.mktemp("wide"), runs=("wide",), num_filters=WIDE_FILTERS,
                         top_k=WIDE_TOP_K, steps=1)
    # A smaller run with a later step only, as a CLI report next to a training run.
    build_logdir(built.path, runs=("late",), num_filters=LATE_FILTERS, top_k=5, steps=[LATE_STEP])
    with TensorBoardProcess(built.path, ready=lambda listing: len(listing["runs"]) == 2) as tb:
        yield tb


def _write_broken_and_scalar_runs(logdir: str) -> None:
    """A run whose filters payload does not parse, and a run with scalars only."""
    broken = EventFileWriter(os.path.join(logdir, "broken"))
    value = summary_pb2.Summary.Value(
        tag="conv1d", metadata=metadata.create_summary_metadata(display_name="conv1d"),
        tensor=tensor_util.make_tensor_proto(b"\x08\xff\xff not a LayerReport"))
    broken.add_event(event_pb2.Event(step=0, wall_time=1.0, summary=summary_pb2.Summary(value=[value])))
    broken.close()
    scalars = EventFileWriter(os.path.join(logdir, "scalars_only"))
    loss = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    scalars.add_event(event_pb2.Event(step=0, wall_time=1.0, summary=summary_pb2.Summary(value=[loss])))
    scalars.close()


def test_a_page_of_a_1024_filter_layer_and_its_pager(page, wide_tensorboard):
    page.goto(plugin_page_url(wide_tensorboard.url, "#runs=wide&layer=conv1d"))
    wait_for_render(page.main_frame)
    expect(page.locator(".filter-row")).to_have_count(PAGE)
    expect(page.locator(".filter-card .window")).to_have_count(PAGE * 10)  # ten windows a card until "more"
    expect(page.locator(".page-label").first).to_have_text(f"filters 0–{PAGE - 1} of {WIDE_FILTERS}")
    card = page.locator("#filter-0 .filter-card")
    expect(card.locator(".window")).to_have_count(10)

    card.locator(".raw-windows > summary").click()  # under the patterns, on demand
    card.locator(".more").click()
    expect(card.locator(".window")).to_have_count(WIDE_TOP_K)
    expect(card.locator(".window").last.locator(".rank")).to_have_text(str(WIDE_TOP_K))

    page.locator(".pager").first.get_by_text("next").click()
    expect(page.locator(".page-label").first).to_have_text(f"filters {PAGE}–{2 * PAGE - 1} of {WIDE_FILTERS}")
    expect(page.locator(".filter-row").first).to_have_attribute("id", f"filter-{PAGE}")

    page.locator(".filter-jump").fill("1000")
    page.locator(".filter-jump").press("Enter")
    expect(page.locator(".filter-row.focused")).to_have_attribute("id", "filter-1000")
    expect(page.locator(".page-label").first).to_have_text(f"filters 960–1023 of {WIDE_FILTERS}")


def test_runs_with_other_steps_and_fewer_filters_side_by_side(page, wide_tensorboard):
    # Lined up by index: each run's filter i side by side, and "late" out of filters from 16 on.
    page.goto(plugin_page_url(wide_tensorboard.url, "#runs=wide,late&layer=conv1d&align=index"))
    wait_for_render(page.main_frame)
    expect(page.locator(".step-label")).to_contain_text(f"step {LATE_STEP}  (2 of 2)")
    # "wide" has no step 5: it shows its nearest earlier step, and says so.
    wide = page.locator("#filter-0 .filter-card[data-run='wide']")
    expect(wide.locator(".step-badge")).to_have_text(f"step 0 (no step {LATE_STEP} in this run)")
    expect(page.locator("#filter-0 .filter-card[data-run='late'] .step-badge")).to_have_count(0)
    beyond = page.locator(f"#filter-{LATE_FILTERS} .filter-card.missing[data-run='late']")
    expect(beyond).to_contain_text(f"This run's layer has {LATE_FILTERS} filters only.")
    expect(page.locator(".filter-row")).to_have_count(PAGE)


def test_no_filters_data_says_how_to_write_it_and_lists_what_was_skipped(page, tmp_path):
    _write_broken_and_scalar_runs(str(tmp_path))
    with TensorBoardProcess(str(tmp_path), ready=lambda listing: bool(listing["skipped"])) as tb:
        page.goto(plugin_page_url(tb.url))
        wait_for_render(page.main_frame)
        empty = page.locator(".empty-state")
        expect(empty).to_contain_text("No filters data yet")
        expect(empty).to_contain_text("tb-filters interpret")
        expect(empty).to_contain_text("FiltersCallback")
        skipped = page.locator(".skipped")
        expect(skipped.locator("summary")).to_have_text("1 report(s) could not be read and are not shown")
        skipped.locator("summary").click()
        expect(skipped.locator("li")).to_have_count(1)
        expect(skipped.locator("li")).to_contain_text("broken / conv1d / step 0: ")

    # TensorBoard is gone: a route error is said in words, not swallowed.
    page.locator(".search-input").fill("love")
    page.locator(".search-input").press("Enter")
    expect(page.locator(".search-panel .error")).to_contain_text("Search failed: Could not reach TensorBoard")


def test_tab_works_under_a_path_prefix(page, e2e_logdir):
    """Relative fetches only: the same tab under --path_prefix, deep link included."""
    with TensorBoardProcess(e2e_logdir, path_prefix="/team/tb") as tb:
        assert tb.url.endswith("/team/tb")
        frame = open_filters_tab(page, tb.url)
        expect(frame.locator(".filter-row")).to_have_count(NUM_FILTERS)
        page.goto(f"{tb.url}/#filters&runs=kernel5&layer=conv1d&step=1&filter=3")
        frame = page.wait_for_selector("iframe[src*='plugin_entry.html?name=filters']").content_frame()
        wait_for_render(frame)
        expect(frame.locator(".filter-row.focused")).to_have_attribute("id", "filter-3")
        expect(frame.locator(".step-label")).to_contain_text("step 1")
        frame.locator(".search-input").fill("<user>")
        expect(frame.locator(".search-result").first).to_be_visible()
