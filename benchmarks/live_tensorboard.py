"""A real `tensorboard --logdir` on loopback, for T4 and the load measurement."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Iterator

ROUTE_PREFIX = "/data/plugin/filters/"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _log_tail(path: str, lines: int = 15) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def _steps_served(port: int, run: str, layer: str) -> list[int]:
    client = Client(port, timeout=10)
    try:
        status, body, _ = client.get("runs")
    except OSError:
        return []
    finally:
        client.close()
    if status != 200:
        return []
    for entry in json.loads(body)["runs"]:
        for info in entry["layers"] if entry["run"] == run else ():
            if info["layer"] == layer:
                return list(info["steps"])
    return []


@contextlib.contextmanager
def serve(logdir: str, run: str, layer: str, steps: int, timeout: float = 240.0) -> Iterator[Server]:
    """Starts TensorBoard on a free loopback port, yields it once every step
    of (run, layer) is served, and stops it afterwards."""
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="tensorboard-", suffix=".log", delete=False)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
               "--port", str(port), "--samples_per_plugin", f"filters={max(steps, 100)}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while len(_steps_served(port, run, layer)) < steps:
            if process.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {process.returncode}:\n{_log_tail(log.name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tensorboard served fewer than {steps} steps of {run}/{layer} "
                                   f"after {timeout:.0f} s:\n{_log_tail(log.name)}")
            time.sleep(0.5)
        yield Server(port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)
