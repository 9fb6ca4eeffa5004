"""A real `tensorboard --logdir` on loopback, for T4 and the load measurement."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.client
import os
import time
import urllib.parse
from typing import Iterator

# Importable wherever `benchmarks` is: both live in the repository's root.
from tests.e2e.harness import TensorBoardProcess

ROUTE_PREFIX = "/data/plugin/filters/"


class Client:
    """One keep-alive connection to the plugin's routes (one per thread).

    It accepts gzip, as the browser does; the time is to the last byte
    received, and the body is decompressed after the clock stops.
    """

    def __init__(self, port: int, timeout: float = 30.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def _fetch(self, url: str) -> tuple[http.client.HTTPResponse, bytes, float]:
        started = time.perf_counter()
        self.connection.request("GET", url, headers={"Accept-Encoding": "gzip"})
        response = self.connection.getresponse()
        body = response.read()
        return response, body, time.perf_counter() - started

    def get_raw(self, route: str, **params) -> tuple[int, bytes, bool, float]:
        """(status, body as received, whether it is gzipped, seconds) of `GET data/plugin/filters/<route>?params`."""
        url = ROUTE_PREFIX + route + "?" + urllib.parse.urlencode(params)
        try:
            response, body, seconds = self._fetch(url)
        except (http.client.HTTPException, OSError):
            # The server may close a kept-alive connection: one retry on a new one.
            self.connection.close()
            response, body, seconds = self._fetch(url)
        return response.status, body, response.getheader("Content-Encoding") == "gzip", seconds

    def get(self, route: str, **params) -> tuple[int, bytes, float]:
        """(status, body, seconds) of `GET data/plugin/filters/<route>?params`."""
        status, body, gzipped, seconds = self.get_raw(route, **params)
        return status, gzip.decompress(body) if gzipped else body, seconds

    def close(self) -> None:
        self.connection.close()


@dataclasses.dataclass(frozen=True)
class Server:
    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of TensorBoard and its child processes (the data server)."""
        return sum(_cpu_seconds(pid) for pid in [self.pid, *_children(self.pid)])

    def wait_idle(self, quiet: float = 1.0, busy_share: float = 0.05, timeout: float = 120.0) -> float:
        """Waits until TensorBoard spent under `busy_share` of a core for `quiet` seconds (its own
        background work done: the plugin's warming of a latest step, an earlier part's `dynamics`);
        returns the seconds waited, `timeout` at most."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(quiet)
            if self.cpu_seconds() - before < busy_share * quiet:
                break
        return time.perf_counter() - started


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # the fields after the command name


def _cpu_seconds(pid: int) -> float:
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat_fields(int(entry))[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _steps_served(runs: dict, run: str, layer: str) -> list[int]:
    for entry in runs["runs"]:
        for info in entry["layers"] if entry["run"] == run else ():
            if info["layer"] == layer:
                return list(info["steps"])
    return []


@contextlib.contextmanager
def serve(logdir: str, run: str, layer: str, steps: int, timeout: float = 240.0) -> Iterator[Server]:
    """Starts TensorBoard on a free loopback port, yields it once every step
    of (run, layer) is served, and stops it afterwards."""
    with TensorBoardProcess(logdir, ready=lambda runs: len(_steps_served(runs, run, layer)) >= steps,
                            extra_args=("--samples_per_plugin", f"filters={max(steps, 100)}"),
                            timeout=timeout) as tensorboard:
        yield Server(tensorboard.port, tensorboard.pid)
