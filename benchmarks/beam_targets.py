"""BEAM: the notebook-shaped workload in 16 `.npy` shards through tb_filters.beam on the
Python DirectRunner (1 worker in memory, 2 worker processes) vs the in-process engine,
and the cost of `state.merge` as the number of shard states grows."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks import workload
from benchmarks.table import Measurement

LAYER = workload.FIRST_CONV
TOP_K = 10


@dataclasses.dataclass(frozen=True)
class BeamSizes:
    data: workload.DataSpec = workload.DataSpec()
    filters: int = workload.NUM_FILTERS
    shards: int = 16
    batch_size: int = 1024
    merge_counts: tuple[int, ...] = (16, 256, 4096)

    @classmethod
    def quick(cls) -> "BeamSizes":
        return cls(data=dataclasses.replace(workload.DataSpec(), examples=100_000), merge_counts=(16, 256))


def shard_files(tokens: np.ndarray, shards: int, folder: str) -> str:
    """`tokens` split into `shards` .npy files in `folder`; returns their glob."""
    for i, part in enumerate(np.array_split(np.arange(len(tokens)), shards)):
        np.save(os.path.join(folder, f"part-{i:04d}.npy"), np.asarray(tokens[part[0]: part[-1] + 1]))
    return os.path.join(folder, "part-*.npy")


def _beam_seconds(pattern: str, model_path: str, vocab: list[str], sizes: BeamSizes, logdir: str, options) -> float:
    from tb_filters import beam as tb_beam

    started = time.perf_counter()
    with tb_beam.pipeline(options) as p:
        _ = (p | tb_beam.ReadSequences(pattern, batch_size=sizes.batch_size)
             | tb_beam.Interpret(model_path, layers=LAYER, vocab=vocab, top_k=TOP_K, batch_size=sizes.batch_size)
             | tb_beam.WriteReport(logdir))
    return time.perf_counter() - started


def pipeline_rows(sizes: BeamSizes, data_dir: str = workload.DATA_DIR, log=print) -> list[Measurement]:
    import tb_filters
    from tb_filters.beam import io as beam_io
    from tb_filters.format import report as report_lib
    from tb_filters.format import summary

    tokens = np.load(workload.token_file(sizes.data, data_dir), mmap_mode="r")
    model = workload.build_model(vocab_size=sizes.data.vocab_size, length=sizes.data.length, filters=sizes.filters)
    vocab = workload.vocabulary(sizes.data.vocab_size)
    work = tempfile.mkdtemp(prefix="tb_filters-beam-bench-")
    try:
        pattern = shard_files(tokens, sizes.shards, work)
        model_path = os.path.join(work, "model.keras")
        model.save(model_path)
        tb_filters.interpret(model, tokens[: 2 * sizes.batch_size], layers=LAYER, vocab=vocab, top_k=TOP_K)
        started = time.perf_counter()
        want = tb_filters.interpret(model, tokens, layers=LAYER, vocab=vocab, top_k=TOP_K,
                                    batch_size=sizes.batch_size)
        in_process = time.perf_counter() - started
        log(f"  in-process interpret, {len(tokens):,} sequences: {in_process:.1f} s")
        quiet = ["--default_sdk_harness_log_level=ERROR"]
        runs = {}
        for label, options in (("1 worker (in memory)", ["--direct_running_mode", "in_memory"]),
                               ("2 worker processes", ["--direct_num_workers", "2", "--direct_running_mode",
                                                       "multi_processing"])):
            logdir = os.path.join(work, label.split()[0])
            runs[label] = _beam_seconds(pattern, model_path, vocab, sizes, logdir, options + quiet)
            (written,) = beam_io.written_files(logdir, "")
            # What the payload stores of the in-process report (its contributions as float16).
            same = summary.read_report(written)[LAYER].filters == report_lib.from_proto(report_lib.to_proto(want[LAYER])).filters
            log(f"  DirectRunner, {label}: {runs[label]:.1f} s; windows equal in-process: {same}")
            runs[label] = (runs[label], same)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    what = f"{len(tokens):,} sequences in {sizes.shards} .npy shards"
    rows = []
    for label, (seconds, same) in runs.items():
        rows.append(Measurement(
            "BEAM", f"DirectRunner {label} / in-process interpret, {what}", seconds / in_process, "x",
            detail=f"Beam {seconds:.1f} s ({len(tokens) / seconds:,.0f} sequences/s), in-process {in_process:.1f} s "
            f"({len(tokens) / in_process:,.0f}/s); report equals in-process (windows, stats): "
            f"{'yes' if same else 'NO'}", passed=None if same else False))
    one, two = runs["1 worker (in memory)"][0], runs["2 worker processes"][0]
    rows.append(Measurement("BEAM", "DirectRunner speed-up, 2 worker processes vs 1", one / two, "x",
                            detail="the 2 cores are shared with the driver and other work"))
    return rows


def merge_rows(sizes: BeamSizes, log=print) -> list[Measurement]:
    """Simulated shard states: one real state's shape (filters x top-k distinct windows),
    random values, disjoint example ranges; merged pairwise in a balanced tree, as a
    combiner tree does."""
    from tb_filters.engine import receptive
    from tb_filters.engine import state as state_lib

    length = sizes.data.length
    layout = state_lib.Layout(LAYER, sizes.filters, TOP_K, True, receptive.Span(1, -1, 3), length, length,
                              tuple([1] + [0] * (length - 2) + [-1]))
    rng = np.random.default_rng(0)
    rows = []
    for count in sizes.merge_counts:
        states = [_simulated_state(layout, rng, shard, sizes.data.examples // max(count, 1)) for shard in range(count)]
        started = time.perf_counter()
        while len(states) > 1:
            states = [state_lib.merge(*states[i: i + 2]) if i + 1 < len(states) else states[i]
                      for i in range(0, len(states), 2)]
        seconds = time.perf_counter() - started
        log(f"  merge of {count:,} shard states: {seconds * 1000:.0f} ms")
        rows.append(Measurement("BEAM", f"merge cost, {count:,} shard states ({sizes.filters} filters, top-{TOP_K} "
                                "distinct)", seconds * 1000 / max(count - 1, 1), "ms per merge",
                                detail=f"{seconds * 1000:.0f} ms for all {count - 1:,} merges"))
    return rows


def _simulated_state(layout, rng, shard: int, examples: int):
    from tb_filters.engine import state as state_lib

    f, k = layout.num_filters, layout.top_k
    state = state_lib.LayerState.empty(layout)
    arrays = dict(state.arrays)
    arrays["value"] = -np.sort(-rng.random((f, k), dtype=np.float32), axis=1)
    first = shard * examples * layout.output_length
    arrays["flat"] = first + rng.integers(0, max(examples, 1) * layout.output_length, (f, k))
    arrays["count"] = rng.integers(1, 50, (f, k))
    arrays["tokens"] = rng.integers(1, 1000, (f, k, layout.width)).astype(np.int32)
    arrays["hash"] = rng.integers(0, 2**20, (f, k))  # some windows shared across shards
    arrays["sum"] = rng.random(f)
    return state_lib.LayerState(layout, examples, arrays)
