"""T3's probe, run in its own process: interpret the first N sequences of the
memory-mapped token file and print the peak RSS as one JSON line: the peak
(VmHWM) after interpret, reset to the current RSS just before it, and the
whole process's ru_maxrss.

    python -m benchmarks.rss_probe --examples 10000 --data benchmarks/data/tokens_....npy --vocab-size 721696
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, required=True)
    parser.add_argument("--data", required=True, help="a .npy of token ids [N, L]")
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--table-memory-mb", type=int, default=None, help="Options.table_memory_mb (default: its)")
    args = parser.parse_args(argv)

    import numpy as np

    import tb_filters
    from benchmarks import workload

    tokens = np.load(args.data, mmap_mode="r")[: args.examples]
    model = workload.build_model(vocab_size=args.vocab_size, length=tokens.shape[1], filters=args.filters)
    vocab = workload.vocabulary(args.vocab_size)
    setup_peak_mb = _max_rss_mb()
    # Building the model peaks far above what it keeps (the embedding's random
    # initialization); without a reset that peak would hide interpret's own.
    peak_was_reset = _reset_peak_rss()
    resident_before_mb = _high_water_mb() if peak_was_reset else float("nan")
    started = time.perf_counter()
    tables = {} if args.table_memory_mb is None else {"table_memory_mb": args.table_memory_mb}
    report = tb_filters.interpret(model, tokens, layers=[workload.FIRST_CONV], vocab=vocab, top_k=10,
                                  distinct=True, batch_size=args.batch_size, **tables)
    seconds = time.perf_counter() - started
    layer = report[workload.FIRST_CONV]
    print(json.dumps({"examples": layer.num_examples, "filters": len(layer.filters), "seconds": seconds,
                      "peak_rss_mb": _high_water_mb() if peak_was_reset else _max_rss_mb(),
                      "ru_maxrss_mb": _max_rss_mb(), "setup_peak_rss_mb": setup_peak_mb,
                      "resident_before_mb": resident_before_mb,
                      "peak_was_reset": peak_was_reset}))


def _max_rss_mb() -> float:
    """ru_maxrss: the whole process's peak. Linux reports KiB; the target is in MB (10**6 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _high_water_mb() -> float:
    """VmHWM: the peak since the last reset (ru_maxrss also keeps the peaks of exited threads' accounting)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise OSError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _high_water_mb()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
