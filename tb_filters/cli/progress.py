"""Progress of a long interpret on stderr.

Hand-written rather than tqdm: in logs and CI (no TTY) tqdm still redraws
with carriage returns, where this writes one plain line every few seconds,
and the CLI's tests and users' log scrapers read these exact lines.
"""

from __future__ import annotations

import time
from typing import Callable, TextIO

PROG = "tb-filters"


class ProgressLine:
    """`progress(examples_done)` for the engine: a bar redrawn in place on a
    TTY; elsewhere (logs, CI) a plain line every few seconds, and nothing at
    all for runs shorter than `quiet_seconds`."""

    def __init__(
        self,
        total: int | None,
        stream: TextIO,
        quiet_seconds: float = 1.0,
        line_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = total
        self.stream = stream
        self.quiet_seconds = quiet_seconds
        self.interval = 0.1 if _is_tty(stream) else line_interval
        self.clock = clock
        self.started = clock()
        self.last_drawn: float | None = None
        self.drawn_in_place = False

    def __call__(self, done: int) -> None:
        now = self.clock()
        elapsed = now - self.started
        if elapsed < self.quiet_seconds:
            return
        if self.last_drawn is not None and now - self.last_drawn < self.interval and done != self.total:
            return
        self.last_drawn = now
        self._draw(self.format(done, elapsed))

    def format(self, done: int, elapsed: float) -> str:
        rate = done / elapsed if elapsed > 0 else 0.0
        if not self.total:
            return f"{PROG}: {done:,} examples, {rate:,.0f} examples/s"
        fraction = min(done / self.total, 1.0)
        filled = int(fraction * 24)
        bar = "#" * filled + "-" * (24 - filled)
        remaining = (self.total - done) / rate if rate > 0 else 0.0
        return (f"{PROG}: [{bar}] {done:,}/{self.total:,} examples ({fraction:.0%}), "
                f"{rate:,.0f} examples/s, {remaining:.0f} s left")

    def _draw(self, line: str) -> None:
        if _is_tty(self.stream):
            self.stream.write("\r\x1b[K" + line)
            self.drawn_in_place = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn_in_place:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn_in_place = False


def _is_tty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())
