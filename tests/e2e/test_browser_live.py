"""Steps written while the tab is open (a training job's FiltersCallback)
appear without reloading the page, on a log dir and TensorBoard of its own."""

from __future__ import annotations

from playwright.sync_api import expect

from tb_filters.format import report as report_lib
from tests.e2e.harness import TensorBoardProcess, open_filters_tab, wait_for_render
from tests.helpers.logdir_builder import Logdir, build_logdir, synthetic_layer_report

RUN = "live"
LAYER = "conv1d"
POLL_MS = 250  # the tab's default is 30 s; see pollInterval() in frontend/index.js
PICKED_UP_MS = 15_000  # TensorBoard rereads the log dir every second here, on a busy machine
BASE_WALL_TIME = 1_700_000_000.0  # build_logdir writes step s at this + s


def _write_step(built: Logdir, step: int, layer_report: report_lib.LayerReport, wall_time: float) -> None:
    from tb_filters.format import summary

    summary.write_report(built.run_dir(RUN), report_lib.Report({LAYER: layer_report}), step, wall_time=wall_time)


def _rewritten(built: Logdir, step: int) -> report_lib.LayerReport:
    """Another report for `step`, as from the CLI run again with the same --step."""
    return synthetic_layer_report(LAYER, num_filters=built.num_filters, top_k=built.top_k,
                                  kernel_size=built.kernel_size, vocabulary=built.vocabulary, seed=7_000 + step)


def _tokens(layer_report: report_lib.LayerReport, index: int = 0) -> list[list[str]]:
    return [list(window.tokens) for window in layer_report.filters[index].windows]


def _expect_windows(frame, expected: list[list[str]], index: int = 0) -> None:
    """Waits until filter `index`'s card lists exactly these windows, best first."""
    shown = """(index) => [...document.querySelectorAll(`#filter-${index} .window`)].map(
        (w) => [...w.querySelectorAll('.token')].map((t) => t.textContent))"""
    try:
        frame.wait_for_function(
            f"([index, expected]) => JSON.stringify(({shown})(index)) === JSON.stringify(expected)",
            arg=[index, expected], timeout=PICKED_UP_MS)
    except Exception:
        actual = frame.evaluate(shown, index)
        raise AssertionError(f"filter {index} shows {actual}, expected {expected}") from None


def test_steps_written_while_the_tab_is_open_appear_without_a_reload(page, tmp_path):
    built = build_logdir(tmp_path, runs=(RUN,), steps=2)
    assert _tokens(built.report(RUN, LAYER, 1)) != _tokens(built.report(RUN, LAYER, 2))
    first_listed = lambda listing: [la["steps"] for r in listing["runs"] for la in r["layers"]] == [[0, 1]]  # noqa: E731
    with TensorBoardProcess(built.path, ready=first_listed, extra_args=("--reload_interval", "1")) as tb:
        page.context.add_init_script(f"window.__tbFiltersPollMs = {POLL_MS}")
        frame = open_filters_tab(page, tb.url)
        frame.evaluate("() => { window.__sameDocument = true; }")
        label, news = frame.locator(".step-label"), frame.locator(".step-news")
        expect(label).to_have_text("step 1  (2 of 2)")
        _expect_windows(frame, _tokens(built.report(RUN, LAYER, 1)))

        # On the latest step, the view follows a new one.
        _write_step(built, 2, built.report(RUN, LAYER, 2), BASE_WALL_TIME + 2)
        expect(label).to_have_text("step 2  (3 of 3)", timeout=PICKED_UP_MS)
        expect(news).to_have_text("new step 2")
        _expect_windows(frame, _tokens(built.report(RUN, LAYER, 2)))
        assert "step=2" in frame.evaluate("() => window.location.hash")

        # The same step written again: its cached page gives way to the new report.
        rewritten = _rewritten(built, 2)
        assert _tokens(rewritten) != _tokens(built.report(RUN, LAYER, 2))
        _write_step(built, 2, rewritten, BASE_WALL_TIME + 10)
        expect(news).to_have_text("step 2 written again", timeout=PICKED_UP_MS)
        _expect_windows(frame, _tokens(rewritten))
        expect(label).to_have_text("step 2  (3 of 3)")

        # On an earlier step, the view stays; only the slider's range grows.
        renders = int(frame.evaluate("() => document.body.dataset.renderCount"))
        frame.locator(".step-slider").press("Home")
        wait_for_render(frame, renders + 1)
        expect(label).to_have_text("step 0  (1 of 3)")
        _expect_windows(frame, _tokens(built.report(RUN, LAYER, 0)))
        renders = int(frame.evaluate("() => document.body.dataset.renderCount"))
        _write_step(built, 3, built.report(RUN, LAYER, 3), BASE_WALL_TIME + 20)
        expect(label).to_have_text("step 0  (1 of 4)", timeout=PICKED_UP_MS)
        expect(news).to_have_text("new step 3")
        _expect_windows(frame, _tokens(built.report(RUN, LAYER, 0)))
        assert int(frame.evaluate("() => document.body.dataset.renderCount")) == renders  # grid not rebuilt
        assert frame.evaluate("() => window.__sameDocument") is True
