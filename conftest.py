"""Test-wide set-up: markers for the fast lane (`pytest -m "not e2e and not slow"`).

Everything under tests/e2e is `e2e` (a real tensorboard and Chromium); the
modules below are `slow` as a whole (subprocesses, training, benchmarks);
single slow tests carry `@pytest.mark.slow` themselves.
"""

from __future__ import annotations

import pathlib

import pytest

SLOW_MODULES = {
    "tests/cli/test_interrupt.py",
    "tests/cli/test_demo.py",
    "tests/test_benchmarks_smoke.py",
    "tests/plugin/test_plugin_concurrency.py",
    "tests/plugin/test_no_tf_import.py",
}
ROOT = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = pathlib.Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if path.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)
        if path in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
