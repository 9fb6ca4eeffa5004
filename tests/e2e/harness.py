"""A real TensorBoard process and a real Chromium, for the browser tests,
scripts/screenshot.py and the benchmark.

    with TensorBoardProcess(logdir) as tb, launch_chromium() as browser:
        page = browser.new_page()
        frame = open_filters_tab(page, tb.url)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Callable, Iterator

CHROMIUM = "/usr/bin/chromium"
# Screenshots the browser tests leave behind (gitignored).
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")
# Without the background-networking flags Chromium keeps dialing Google's
# hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tensorboard_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "tensorboard.main"]


class TensorBoardProcess:
    """`tensorboard --logdir LOGDIR` on a free loopback port, killed on exit.

    Ready means the filters plugin is listed and `ready(runs)` holds for the
    JSON of its `runs` route (TensorBoard loads event files in the
    background); by default, when at least one run is listed.
    """

    def __init__(self, logdir: str, ready: Callable[[dict], bool] | None = None,
                 path_prefix: str = "", extra_args: tuple[str, ...] = (),
                 timeout: float = STARTUP_TIMEOUT_S, command: list[str] | None = None):
        self.logdir = logdir
        self.command = command or _tensorboard_command()
        self.timeout = timeout
        self.ready = ready or (lambda listing: len(listing["runs"]) >= 1)
        self.extra_args = (("--path_prefix", path_prefix) if path_prefix else ()) + tuple(extra_args)
        self.port = free_port()
        # Everything TensorBoard serves is under the prefix, its own pages included.
        self.url = f"http://127.0.0.1:{self.port}{path_prefix.rstrip('/')}"
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="w+")

    def __enter__(self) -> "TensorBoardProcess":
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        command = self.command + [
            "--logdir", self.logdir, "--host", "127.0.0.1", "--port", str(self.port),
            *self.extra_args,
        ]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_until_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    @property
    def pid(self) -> int:
        return self._process.pid

    def get_json(self, path: str):
        with urllib.request.urlopen(f"{self.url}/{path.lstrip('/')}", timeout=10) as response:
            return json.load(response)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {self._process.returncode}:\n{self.output()}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                listing = self.get_json("data/plugins_listing")
                if "filters" not in listing:
                    raise RuntimeError(f"the filters plugin is not registered: {sorted(listing)}")
                if self.ready(self.get_json("data/plugin/filters/runs")):
                    return
            time.sleep(0.25)
        raise TimeoutError(f"tensorboard not ready after {self.timeout:.0f}s:\n{self.output()}")


@contextlib.contextmanager
def launch_chromium(headless: bool = True) -> Iterator:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=headless)
        try:
            yield browser
        finally:
            browser.close()


def plugin_page_url(base_url: str, hash_: str = "") -> str:
    """The tab's own page, outside TensorBoard's frame: what "copy link" gives."""
    return f"{base_url}/data/plugin_entry.html?name=filters{hash_}"


def open_filters_tab(page, base_url: str):
    """Opens TensorBoard's Filters tab and returns the plugin iframe's Frame."""
    page.goto(f"{base_url}/#filters")
    handle = page.wait_for_selector("iframe[src*='plugin_entry.html?name=filters']", timeout=30_000)
    frame = handle.content_frame()
    wait_for_render(frame)
    return frame


def wait_for_render(frame, count: int = 1) -> None:
    """Waits until the tab has finished `count` views (document.body.dataset.renderCount).

    The frame may still be committing plugin_entry.html when the wait starts, and a document
    between its commit and its parsed <body> has none: the predicate must not throw there
    (a throw ends the wait at once, and the test then tears down the module still loading)."""
    frame.wait_for_function(
        "(n) => Number(document.body?.dataset.renderCount || 0) >= n", arg=count, timeout=30_000
    )
