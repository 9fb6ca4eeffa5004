"""Writing while reading (issue 5, item 2), against a live `tensorboard --logdir`.

A thread writes new steps the way FiltersCallback does (`summary.write_report`,
one new event file per step) while another requests every route in a loop.
Every answer must be 200, and each new step must appear after a reload. Both
loaders users get are tested: TensorBoard's default (the Rust data server,
`--load_fast=auto`) and the Python multiplexer (`--load_fast=false`). The loops
are bounded in requests and time, and stop by themselves.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tb_filters.format import summary
from tests.e2e.harness import TensorBoardProcess
from tests.helpers.logdir_builder import build_logdir

FIRST_STEPS = (0, 1)
NEW_STEPS = (2, 3, 4, 5)
TIME_LIMIT_S = 60.0
MAX_REQUESTS = 3000


def fetch(base_url: str, route: str, params: dict | list | None = None) -> tuple[int, bytes]:
    query = urllib.parse.urlencode(params or {}, doseq=True)
    url = f"{base_url}/data/plugin/filters/{route}" + ("?" + query if query else "")
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Reader(threading.Thread):
    """Requests every route for whatever `runs` lists, until told to stop."""

    def __init__(self, base_url: str):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        # Set when a run directory is deleted: a run listed a moment before
        # may then answer a clean 404, as any unknown run does.
        self.deleted_run: str | None = None
        self.failures: list[str] = []
        self.requests = 0
        self.steps_seen: set[int] = set()

    def get(self, route: str, params=None) -> dict | None:
        status, body = fetch(self.base_url, route, params)
        self.requests += 1
        vanished = status == 404 and (params or {}).get("run") == self.deleted_run
        if status != 200 and not vanished:
            self.failures.append(f"{route} {params}: {status} {body[:200]!r}")
            return None
        try:
            return json.loads(body) if status == 200 else None
        except ValueError as e:
            self.failures.append(f"{route} {params}: {status} {e}: {len(body)} bytes {body[:200]!r}")
            return None

    def run(self) -> None:
        deadline = time.monotonic() + TIME_LIMIT_S
        try:
            while not self.stop.is_set() and time.monotonic() < deadline and self.requests < MAX_REQUESTS:
                runs = self.get("runs")
                for run in (runs or {}).get("runs", []):
                    self.read_run(run)
        except Exception as e:  # noqa: BLE001 - the test asserts on failures, not a dead thread
            self.failures.append(f"reader stopped: {e!r}")

    def read_run(self, run: dict) -> None:
        name, layer = run["run"], run["layers"][0]
        self.steps_seen.update(layer["steps"])
        base = {"run": name, "layer": layer["layer"]}
        for step in (layer["steps"][0], layer["latest_step"]):
            self.get("filters", {**base, "step": step, "limit": 4})
        self.get("filters", base)
        self.get("filter", {**base, "filter": 1})
        self.get("compare", {**base, "filter": 0, "step": layer["latest_step"]})
        self.get("search", {"token": "<user>", "run": name})


@pytest.mark.parametrize("load_fast", ["auto", "false"])
def test_new_steps_appear_while_every_request_answers(tmp_path, load_fast):
    built = build_logdir(tmp_path, runs=("training", "doomed"), num_filters=4, top_k=3,
                         steps=FIRST_STEPS)
    training_dir = built.run_dir("training")
    with TensorBoardProcess(built.path, ready=lambda runs: len(runs["runs"]) == 2,
                            extra_args=("--reload_interval", "1", "--load_fast", load_fast)) as tb:
        reader = Reader(tb.url)
        reader.start()
        try:
            for step in NEW_STEPS:
                summary.write_report(training_dir, built.report("training", "conv1d", step), step)
                time.sleep(0.3)
            reader.deleted_run = "doomed"
            shutil.rmtree(built.run_dir("doomed"))
            wait_until(lambda: latest_step(tb.url, "training") == NEW_STEPS[-1], "the last step")
            wait_until(lambda: run_names(tb.url) == ["training"], "the deleted run to go")
        finally:
            reader.stop.set()
            reader.join(timeout=TIME_LIMIT_S)
        assert not reader.is_alive()
        assert reader.failures == []
        assert reader.requests > 20
        assert set(NEW_STEPS) & reader.steps_seen, "the reader saw steps arrive while reading"

        for step in FIRST_STEPS + NEW_STEPS:
            status, body = fetch(tb.url, "filters", {"run": "training", "layer": "conv1d", "step": step})
            assert status == 200
            truth = built.report("training", "conv1d", step)
            page = json.loads(body)
            assert [w["tokens"] for f in page["filters"] for w in f["windows"]] == [
                list(w.tokens) for f in truth.filters for w in f.windows]
        assert fetch(tb.url, "filters", {"run": "doomed", "layer": "conv1d"})[0] == 404


def latest_step(base_url: str, run: str) -> int | None:
    status, body = fetch(base_url, "runs")
    assert status == 200
    for entry in json.loads(body)["runs"]:
        if entry["run"] == run:
            return entry["layers"][0]["latest_step"]
    return None


def run_names(base_url: str) -> list[str]:
    status, body = fetch(base_url, "runs")
    assert status == 200
    return [entry["run"] for entry in json.loads(body)["runs"]]


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
