"""T3's probe, run in its own process: interpret the first N sequences of the
memory-mapped token file and print the peak RSS as one JSON line.

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
    args = parser.parse_args(argv)

    import numpy as np

    import tb_filters
    from benchmarks import workload

    tokens = np.load(args.data, mmap_mode="r")[: args.examples]
    model = workload.build_model(vocab_size=args.vocab_size, length=tokens.shape[1], filters=args.filters)
    vocab = workload.vocabulary(args.vocab_size)
    started = time.perf_counter()
    report = tb_filters.interpret(model, tokens, layers=[workload.FIRST_CONV], vocab=vocab, top_k=10,
                                  distinct=True, batch_size=args.batch_size)
    seconds = time.perf_counter() - started
    # Linux reports ru_maxrss in KiB; the target is in MB (10**6 bytes).
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    layer = report[workload.FIRST_CONV]
    print(json.dumps({"examples": layer.num_examples, "filters": len(layer.filters),
                      "seconds": seconds, "peak_rss_mb": peak_mb}))


if __name__ == "__main__":
    main()
