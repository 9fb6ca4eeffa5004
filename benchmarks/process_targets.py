"""T1, whole process (issue 19): `tb-filters interpret` over T1's 10,000 sequences,
from exec to exit, against the process a user would write by hand to run the
same model on the same sequences: load it with Keras and `model.predict`.

The model (.keras), the tokens, the meta input and the vocabulary are written
to a temporary directory once; then each process runs several times,
alternately (the machine's other work slows one run, not one variant), and the
median of each is kept. Both processes inherit this one's environment, so
TF_CPP_MIN_LOG_LEVEL and the thread settings are the same for both.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import workload
from benchmarks.engine_targets import Workload
from benchmarks.table import Measurement

TARGET = 1.05
REPEATS = 5  # each round is ~40 s; wall times of one process swing by 1.5x on shared cores

# What a user writes by hand: load, read the arrays, predict at interpret's batch size.
PREDICT = """\
import sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
inputs = {"tokens": np.load(sys.argv[2]), "meta": np.load(sys.argv[3])}
model.predict(inputs, batch_size=int(sys.argv[4]), verbose=0)
"""


class Files:
    """The model and data of one T1 process run, as files."""

    def __init__(self, w: Workload, directory: str):
        n = min(w.sizes.notebook_examples, len(w.tokens))
        self.examples = n
        self.model = os.path.join(directory, "model.keras")
        self.tokens = os.path.join(directory, "tokens.npy")
        self.meta = os.path.join(directory, "meta.npy")
        self.vocab = os.path.join(directory, "vocab.txt")
        self.logs = os.path.join(directory, "logs")
        w.model.save(self.model)
        np.save(self.tokens, np.ascontiguousarray(w.tokens[-n:]))
        np.save(self.meta, workload.meta_features(n, int(w.model.inputs[1].shape[-1])))
        with open(self.vocab, "w") as f:
            f.write("\n".join(w.vocab) + "\n")


def tb_filters_command() -> list[str]:
    """The console script beside this interpreter (what `pip install` puts on PATH), else `-m tb_filters`."""
    script = os.path.join(os.path.dirname(sys.executable), "tb-filters")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "tb_filters"]


def interpret_command(files: Files, logdir: str, batch_size: int, effects: bool = True) -> list[str]:
    return [*tb_filters_command(), "interpret", files.model, "--data", files.tokens, "--vocab", files.vocab,
            "--input", f"meta={files.meta}", "--logdir", logdir, "--batch-size", str(batch_size),
            *([] if effects else ["--no-effects"])]


def predict_command(files: Files, batch_size: int) -> list[str]:
    return [sys.executable, "-c", PREDICT, files.model, files.tokens, files.meta, str(batch_size)]


def timed(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one process from exec to exit; CPU is user + system of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} ... exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def process_rows(w: Workload, log=print, repeats: int = REPEATS) -> list[Measurement]:
    """The three processes (load-and-predict, interpret with effects, without) timed in turn,
    `repeats` rounds; the medians' ratios, wall time (the target's) and CPU time beside it."""
    batch = w.sizes.batch_size
    with tempfile.TemporaryDirectory(prefix="tb_filters_t1_process_") as directory:
        files = Files(w, directory)
        commands = {
            "predict": predict_command(files, batch),
            "effects": interpret_command(files, os.path.join(files.logs, "effects"), batch),
            "no effects": interpret_command(files, os.path.join(files.logs, "no_effects"), batch, effects=False),
        }
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, command in commands.items():
                seconds, cpu_seconds = timed(command)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        written = len(os.listdir(os.path.join(files.logs, "effects")))
    median = {name: statistics.median(t) for name, t in wall.items()}
    median_cpu = {name: statistics.median(t) for name, t in cpu.items()}
    best = {name: min(t) / min(wall["predict"]) for name, t in wall.items()}  # shared cores: noise only adds
    for name in commands:
        log(f"  {name}: median {median[name]:.2f} s wall, {median_cpu[name]:.2f} s CPU (every run: "
            f"{', '.join(f'{s:.2f}' for s in wall[name])} s)")
    what = f"{files.examples:,} sequences, both conv layers ({w.sizes.filters} filters each), batch {batch}"
    return [
        _row(f"whole process, `tb-filters interpret` (defaults: effects on, with --input meta) / a "
             f"load-and-predict process, {what}", "effects", median, median_cpu, repeats,
             extra=f"; best runs {best['effects']:.2f}x; event files written: {written} of {repeats}; above "
             "--no-effects is the effects' sample pass, about a third of interpret's samples under py-spy "
             "(the rank-one ablations through the layer after each conv, compiled by XLA once a process); "
             "imports and load_model are four fifths of its samples",
             passed=None if written == repeats else False),
        _row("whole process, the same with --no-effects / load-and-predict", "no effects", median, median_cpu,
             repeats, extra=f"; best runs {best['no effects']:.2f}x"),
    ]


def _row(what: str, variant: str, wall: dict, cpu: dict, repeats: int, extra: str = "",
         passed: bool | None = None) -> Measurement:
    return Measurement("T1", what, wall[variant] / wall["predict"], "x", limit=TARGET, passed=passed,
                       detail=f"median of {repeats}, run alternately: {wall[variant]:.2f} s vs {wall['predict']:.2f} s "
                       f"(python -c: keras.saving.load_model, model.predict); CPU time {cpu[variant]:.2f} s vs "
                       f"{cpu['predict']:.2f} s ({cpu[variant] / cpu['predict']:.2f}x){extra}")
