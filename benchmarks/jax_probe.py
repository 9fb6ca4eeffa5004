"""T2 under the JAX backend, run in its own process (the Keras backend is fixed
at import): the bare jitted forward pass to conv_1 vs interpret(distinct=True)
over the same memory-mapped tokens, both warmed up on two batches first.
Prints one JSON line.

    KERAS_BACKEND=jax python -m benchmarks.jax_probe --data benchmarks/data/tokens_....npy --vocab-size 721696
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="a .npy of token ids [N, L]")
    parser.add_argument("--vocab-size", type=int, required=True)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    import tb_filters
    from benchmarks import forward, workload

    if keras.backend.backend() != "jax":
        raise SystemExit(f"run with KERAS_BACKEND=jax (received {keras.backend.backend()!r})")
    tokens = np.load(args.data, mmap_mode="r")
    model = workload.build_model(vocab_size=args.vocab_size, length=tokens.shape[1], filters=args.filters)
    vocab = workload.vocabulary(args.vocab_size)
    batch = args.batch_size

    def interpret(data):
        started = time.perf_counter()
        report = tb_filters.interpret(model, data, layers=[workload.FIRST_CONV], vocab=vocab, top_k=10,
                                      distinct=True, batch_size=batch)
        return report[workload.FIRST_CONV], time.perf_counter() - started

    step = forward.jax_conv_maximum_step(model, workload.FIRST_CONV)
    forward.run(step, tokens[: 2 * batch], batch)
    interpret(tokens[: 2 * batch])
    forward_s, maxima = forward.run(step, tokens, batch)
    layer, interpret_s = interpret(tokens)
    reported = np.array([f.stats.max for f in layer.filters], dtype=np.float32)
    print(json.dumps({"examples": layer.num_examples, "forward_s": forward_s, "interpret_s": interpret_s,
                      "maxima_agree": bool(np.allclose(reported, maxima, atol=1e-5))}))


if __name__ == "__main__":
    main()
