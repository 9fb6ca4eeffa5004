"""Fixtures for the browser tests: real event files, a real `tensorboard`
process, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import re

import pytest

from tests.e2e.harness import ARTIFACTS, CHROMIUM, TensorBoardProcess, launch_chromium


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return  # CI installs Chromium (`make browser`): its absence must fail there.
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (`make browser` installs it)")
    for item in items:
        if "/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def e2e_logdir(tmp_path_factory) -> str:
    from tests.e2e.tab_logdir import write_logdir

    return write_logdir(tmp_path_factory.mktemp("e2e_logdir"))


def _everything_loaded(listing: dict) -> bool:
    """TensorBoard reads event files in the background: wait for every step."""
    from tests.e2e.tab_logdir import RUNS, STEPS

    layers = [layer for run in listing["runs"] for layer in run["layers"]]
    return len(listing["runs"]) == len(RUNS) and len(layers) == 2 * len(RUNS) and all(
        layer["steps"] == list(STEPS) for layer in layers
    )


@pytest.fixture(scope="session")
def tensorboard(e2e_logdir):
    with TensorBoardProcess(e2e_logdir, ready=_everything_loaded) as tb:
        yield tb


# Module scope: Playwright's sync API keeps an event loop on this thread while it
# runs, and any later test that starts its own (the benchmark smoke test) would fail.
@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def page(browser, request):
    """A fresh browser context per test; a screenshot of it is kept as an artifact."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.script_errors = errors
    yield page
    os.makedirs(ARTIFACTS, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=False)
    finally:
        context.close()
    assert not errors, f"script errors or dialogs in the page: {errors}"
