"""`tb-filters match RUN_A RUN_B`: which filters of two runs do the same thing, outside TensorBoard.

Reads every `filters` report in each run directory's event files (the latest step of each
layer), matches each layer both ways with `tb_filters.match` and prints, per layer, how many
filters B shares with A, the shared pairs and the filters only one run has, with their
one-line summaries.
"""

from __future__ import annotations

import glob
import os
from typing import Callable

from tb_filters.errors import FiltersError
from tb_filters.format import compare, metadata, summary
from tb_filters.format import report as report_lib

EVENT_FILES = "events.out.tfevents.*"


def latest_reports(run_dir: str) -> dict[str, tuple[int, report_lib.LayerReport]]:
    """Layer -> (step, report) of its latest step over every event file of the run directory
    (the later-written report wins a step written twice, as in TensorBoard)."""
    files = sorted(glob.glob(os.path.join(glob.escape(run_dir), EVENT_FILES))) if os.path.isdir(run_dir) else []
    found: dict[str, tuple[int, float, bytes]] = {}
    for path in files:
        for step, wall_time, tag, payload in summary.read_payloads(path):
            if tag not in found or (step, wall_time) >= found[tag][:2]:
                found[tag] = (step, wall_time, payload)
    if not found:
        raise FiltersError(f"Expected a run directory holding filters reports. Received: {run_dir}"
                           f"{_runs_inside(run_dir)}")
    return {layer: (step, report_lib.from_proto(metadata.parse_layer_report(payload)))
            for layer, (step, _, payload) in sorted(found.items())}


def _runs_inside(path: str) -> str:
    if not os.path.isdir(path):
        return " (not a directory)"
    runs = sorted({os.path.relpath(os.path.dirname(p), path)
                   for p in glob.glob(os.path.join(glob.escape(path), "**", EVENT_FILES), recursive=True)})
    return f" (no event files with them; runs inside: {', '.join(runs[:8])})" if runs else " (no event files with them)"


def run(run_a: str, run_b: str, layers: list[str] | None, out: Callable[[str], None] = print) -> None:
    a_reports, b_reports = latest_reports(run_a), latest_reports(run_b)
    name_a, name_b = _name(run_a), _name(run_b)
    common = [layer for layer in a_reports if layer in b_reports]
    wanted = layers or common
    missing = [layer for layer in wanted if layer not in common]
    if missing:
        raise FiltersError(f"Expected --layer among the layers both runs hold. Received: {missing[0]!r} "
                           f"(both hold: {', '.join(common) or 'none'})")
    compared = 0
    for layer in wanted:
        (step_a, a), (step_b, b) = a_reports[layer], b_reports[layer]
        why = compare.comparable(name_a, a.signatures, a.probe_examples, a.probe_fingerprint,
                                 name_b, b.signatures, b.probe_examples, b.probe_fingerprint)
        if why:
            out(f"{layer}: not comparable: {why}")
            continue
        _print_layer(layer, name_a, step_a, a, name_b, step_b, b, out)
        compared += 1
    if not compared:
        raise FiltersError(f"Expected a layer with signatures on the same probe in both runs. Received: none of "
                           f"{', '.join(wanted) or 'no common layer'} in {run_a} and {run_b}")


def _name(run_dir: str) -> str:
    return os.path.basename(os.path.normpath(run_dir)) or run_dir


def _print_layer(layer: str, name_a: str, step_a: int, a: report_lib.LayerReport,
                 name_b: str, step_b: int, b: report_lib.LayerReport, out: Callable[[str], None]) -> None:
    a_to_b, b_to_a = compare.match(a, b), compare.match(b, a)
    summaries_a = {f.index: f.summary for f in a.filters}
    summaries_b = {f.index: f.summary for f in b.filters}
    out(f"{layer}: {name_b} shares {b_to_a.shared_count} of {len(b.filters)} filters with {name_a} "
        f"(CKA {a_to_b.cka:.2f}; steps {step_a} and {step_b}; shared above correlation {a_to_b.threshold:.2f})")
    shared = [f for f in a_to_b.filters if f.shared]
    out(f"  shared ({name_a} -> {name_b}, correlation): {len(shared)}")
    for f in shared:
        out(f"    {f.index:>4} -> {f.best:<4} {f.best_correlation:.2f}  {summaries_a[f.index]}  |  {summaries_b[f.best]}")
    for title, filters, summaries in ((f"only in {name_a}", a_to_b.filters, summaries_a),
                                      (f"only in {name_b}", b_to_a.filters, summaries_b)):
        alone = [f for f in filters if not f.shared]
        out(f"  {title}: {len(alone)}")
        for f in alone:
            out(f"    {f.index:>4}  (best {f.best_correlation:.2f})  {summaries[f.index]}")
