"""Measurements, the machine they were taken on, and the table `make bench` prints."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import os
import platform


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One row of the table.

    `limit` is the target (None for a figure reported without one);
    `at_least` says which side of it passes. `passed` overrides the numeric
    comparison for pass/fail checks such as "every response correct".
    """

    target: str
    what: str
    value: float
    unit: str
    limit: float | None = None
    at_least: bool = False
    detail: str = ""
    passed: bool | None = None

    @property
    def status(self) -> str:
        if self.passed is not None:
            return "PASS" if self.passed else "MISS"
        if self.limit is None:
            return "INFO"
        ok = self.value >= self.limit if self.at_least else self.value <= self.limit
        return "PASS" if ok else "MISS"

    @property
    def ratio(self) -> float | None:
        """measured / target."""
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    def target_text(self) -> str:
        if self.limit is None:
            return "-"
        return f"{'>=' if self.at_least else '<='} {_number(self.limit)} {self.unit}".strip()

    def note(self) -> str:
        """The detail, plus by how much a numeric target was missed."""
        notes = [self.detail] if self.detail else []
        if self.status == "MISS" and self.ratio is not None:
            short = 1 / self.ratio if self.at_least else self.ratio
            notes.append(f"missed by {short:.2f}x")
        return "; ".join(notes)


def _number(value: float) -> str:
    if value != value:  # NaN: nothing was measured
        return "-"
    if float(value).is_integer() or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def rows(measurements: list[Measurement]) -> list[list[str]]:
    header = ["target", "what", "measured", "target", "measured/target", "result", "notes"]
    body = [
        [
            m.target,
            m.what,
            f"{_number(m.value)} {m.unit}".strip(),
            m.target_text(),
            "-" if m.ratio is None else f"{m.ratio:.2f}",
            m.status,
            m.note(),
        ]
        for m in measurements
    ]
    return [header] + body


def markdown(measurements: list[Measurement]) -> str:
    table = rows(measurements)
    escape = lambda cell: cell.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(escape(c) for c in row) + " |" for row in table]
    lines.insert(1, "|" + "|".join("---" for _ in table[0]) + "|")
    return "\n".join(lines)


def _meminfo_total() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str:
    for name in (distribution, distribution + "-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cores": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        "memory": _meminfo_total(),
        "cpu": _cpu_model(),
        # Others sharing the cores make every figure noisy; the load says how much.
        "load average at start": " ".join(f"{x:.2f}" for x in load),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "tensorboard": _version("tensorboard"),
        "numpy": _version("numpy"),
    }


def header_lines(info: dict[str, str]) -> list[str]:
    return [f"- {key}: {value}" for key, value in info.items()]


def results_markdown(measurements: list[Measurement], info: dict[str, str], command: str,
                     notes: list[str]) -> str:
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {date}.",
        "",
        "## Machine",
        "",
        *header_lines(info),
        "",
        "## Targets",
        "",
        markdown(measurements),
    ]
    if notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"
