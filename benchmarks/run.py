"""`make bench`: measures issue 4's targets (T1-T4) and issue 5's load, prints
the table and writes benchmarks/RESULTS.md.

    python benchmarks/run.py                 # everything, the notebook's sizes
    python benchmarks/run.py --only T1,T4    # some targets
    python benchmarks/run.py --quick         # smaller sizes, for iteration

Targets are measured, never asserted: a miss is a row saying by how much.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import table  # noqa: E402
from benchmarks.table import Measurement  # noqa: E402

PARTS = ("T1", "T2", "T3", "EFF", "SIG", "INT", "T4", "LOAD", "MATCH", "BEAM", "CB")
RESULTS = os.path.join(REPO, "benchmarks", "RESULTS.md")
NOTES = [
    "T1's baseline is the notebook's method reimplemented: per filter a new Keras sub-model "
    "(model inputs -> conv_1 output), `predict` on the 10,000 sequences with Keras' default batch "
    "size (32) and the meta input, argsort of that filter's whole [N, L] activations, top 10, words = "
    "tokens at position-1..position+1. A plain TensorFlow conv of another shape runs first, so that neither "
    "method pays TensorFlow's one-time start for the other; then interpret, whose first call pays its own "
    "tracing (and XLA compilation for inputs over 50M activations); a second call is reported beside it.",
    "T1's whole-process rows run `tb-filters interpret` (default options, both conv layers, the meta input, "
    "--vocab) and a `python -c` that loads the same .keras file with keras.saving.load_model and calls "
    "model.predict on the same 10,000 sequences and meta input at interpret's batch size (1024), each a process "
    "from exec to exit, alternately, five times; the medians' ratio, CPU time (user + system) beside it.",
    "T2: the forward pass is a compiled tf.function computing conv_1's output batch by batch from the "
    "same memmap with the same batch size, reduced to a per-filter max; both it and interpret are warmed "
    "up on two batches first. Its per-filter max is checked against interpret's statistics. The JAX row "
    "does the same in a process of its own under KERAS_BACKEND=jax: the reference is the sub-model's "
    "stateless_call in jax.jit; interpret runs the chain in jax.jit and folds its output in TensorFlow. "
    "Under TensorFlow interpret takes the table path at this size (conv_1 gathered from projection tables, "
    "engine/tables.py); its layers' path is timed with table_memory_mb=0.",
    "T3: each size runs in its own process; peak RSS is the process's high-water mark (VmHWM, what "
    "ru_maxrss reports) after interpret, reset through /proc/self/clear_refs once the model is built: the "
    "embedding's random initialization peaks higher than interpret and would otherwise hide it. Pages of "
    "the memory-mapped file count as resident once read (165 MB for the whole file) unless the reader "
    "releases them.",
    "EFF: the cost of the filters' effects (ablation of each filter over the first 10,000 sequences, "
    "the default effect_examples) as a ratio to interpret without them, on the same 10,000 sequences as T1, "
    "second calls (each variant warmed up once; the notebook-shaped pair timed three times alternately, the best "
    "of each kept); 'without' still finds dead and duplicate filters. The "
    "1024-filter layer is tokens -> embedding -> Conv1D(1024, 3) -> global max pool -> dense(1). The overview "
    "rows time the route on T4's log dir (1024 filters).",
    "SIG: the cost of the filter signatures (issue 17: each filter's maximum activation on each of the first "
    "2,048 sequences, the default probe_examples) as a ratio to interpret with probe_examples=0, in the process's "
    "CPU time (on shared cores wall time swings by 2x between calls; its ratio is in the notes), T2's call on the "
    "first 200,000 sequences of T2's token file; both variants warmed up, then timed five times alternately, the "
    "best of each kept. The default probe lies inside the default effect_examples sample, whose forward pass the "
    "signatures share.",
    "INT: the cost of interval samples (issue 18: per filter and positive histogram bucket, 5 windows "
    "sampled by the smallest hashes of (example, position)) on SIG's sequences, timed as SIG is, and the "
    "layer report's size with and without them; over the time target, so interval_samples is opt-in.",
    "T4: the log dir is written by tests/helpers/logdir_builder.py (1024 filters x top-100 x 10 steps, three "
    "tokens per window with contributions, token ids drawn from a 50,000-token vocabulary). Route latency pages through the "
    "latest step, one request at a time after the warm-ups (the plugin caches each page's JSON, so a page's "
    "first visit is measured apart, on a step nothing touched before); every response is checked against "
    "what was written. Requests accept gzip, as browsers do. The render time runs from navigating to the "
    "tab's page (plugin_entry.html, what TensorBoard puts in the tab's iframe) to the frontend's first-render "
    "marker, in a fresh browser context each time.",
    "LOAD: 20 threads, each with its own connection, request random (step, page) pairs of the same layer; "
    "every answer is checked once the load is over (status 200, the step, the page's filter indices, each "
    "filter's window count and top window): parsing a 1.6 MB page takes the client ~100 ms of CPU, which "
    "would otherwise sit inside the other threads' timings and on the server's two cores.",
    "MATCH: the match route (issue 17) in-process through the real plugin on two 1024-filter layers with a "
    "2,048-example probe: the first request (decoding, correlations, the stratified null, the one-to-one "
    "assignment, CKA) and the cached ones; one pair is a permuted copy (every filter shared), one unrelated.",
    "BEAM: the T1-T3 token file cut into 16 .npy shards, read by tb_filters.beam.ReadSequences and "
    "interpreted (conv_1, top-10 distinct, batch 1024) by Interpret on Beam's Python DirectRunner, the event "
    "file written by WriteReport; each Beam row is the whole pipeline (worker start-up and model loading "
    "included) over the in-process interpret of the same memmap. The merge rows time state.merge over "
    "simulated shard states (random values, disjoint example ranges, hashes shared across shards) in a "
    "balanced tree, per merge: at a thousand workers a combiner does about a thousand of them.",
    "CB: FiltersCallback (default options, effects on, the meta input passed) on the notebook-shaped model in "
    "one model.fit of 3 epochs over 100,000 sequences (Adam, batch 128, random labels), interpreting conv_1 and "
    "conv_2 on 10,000 other sequences at every epoch's end; a timing callback before it and one after it split "
    "each epoch into training and the callback's time. The first epoch's callback traces and compiles "
    "interpret's functions; the later ones reuse them.",
    "Other work shared the 2 cores while these figures were taken unless the load average above is near 0; "
    "ratios measured in one run are the figures to trust.",
]


def _quiet_tensorflow() -> None:
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def _failed(part: str, error: BaseException) -> Measurement:
    last = traceback.format_exception_only(type(error), error)[-1].strip().splitlines()[0]
    return Measurement(part, "could not be measured", float("nan"), "", passed=False, detail=last[:300])


def _engine_parts(parts: set[str], quick: bool) -> list[Measurement]:
    from benchmarks import effects_targets, engine_targets, payload_targets, process_targets

    sizes = engine_targets.EngineSizes.quick() if quick else engine_targets.EngineSizes()
    started = time.perf_counter()
    w = engine_targets.Workload(sizes)
    print(f"  workload: {len(w.tokens):,} x {w.tokens.shape[1]} token ids ({w.path}), model built, "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    rows: list[Measurement] = []
    for part, measure in (("T1", lambda w: engine_targets.t1_rows(w) + process_targets.process_rows(w)),
                          ("T2", engine_targets.t2_rows),
                          ("T3", engine_targets.t3_rows), ("EFF", effects_targets.effect_rows),
                          ("SIG", engine_targets.signature_rows), ("INT", engine_targets.interval_rows),
                          ("T4", payload_targets.engine_payload_rows)):
        if part in parts:
            rows += _guarded(part, lambda: measure(w))
    return rows


def _plugin_parts(parts: set[str], quick: bool) -> list[Measurement]:
    from benchmarks import plugin_targets as pt

    if quick:
        spec = pt.PluginWorkload(num_filters=256, top_k=20, steps=3)
        sizes = pt.Sizes(route_requests=20, route_warmups=3, render_repeats=2, load_requests=5)
    else:
        spec, sizes = pt.PluginWorkload(), pt.Sizes()
    return pt.measure(spec, sizes, parts)


def _beam_parts(quick: bool) -> list[Measurement]:
    from benchmarks import beam_targets

    sizes = beam_targets.BeamSizes.quick() if quick else beam_targets.BeamSizes()
    return beam_targets.pipeline_rows(sizes) + beam_targets.merge_rows(sizes)


def _callback_part(quick: bool) -> list[Measurement]:
    from benchmarks import callback_targets

    return callback_targets.callback_rows(
        callback_targets.CallbackSizes.quick() if quick else callback_targets.CallbackSizes())


def _guarded(part: str, measure) -> list[Measurement]:
    print(f"{part}:", flush=True)
    started = time.perf_counter()
    try:
        rows = measure()
    except Exception as e:  # one broken part must not hide the others' figures
        traceback.print_exc()
        rows = [_failed(part, e)]
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes; figures are not the targets'")
    parser.add_argument("--results", default=None,
                        help=f"where to write the table (default: {os.path.relpath(RESULTS, REPO)} for a "
                        "full run of every part, nowhere otherwise)")
    args = parser.parse_args(argv)
    parts = {p.strip().upper() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown or not parts:
        parser.error(f"Expected parts among {','.join(PARTS)}. Received: --only={args.only}")
    _quiet_tensorflow()

    info = table.machine()
    print("tb_filters benchmark" + (" (--quick: reduced sizes)" if args.quick else ""))
    print("\n".join(table.header_lines(info)), flush=True)
    started = time.perf_counter()
    rows: list[Measurement] = []
    if parts & {"T1", "T2", "T3", "EFF", "SIG", "INT", "T4"}:
        rows += _engine_parts(parts, args.quick)
    if parts & {"T4", "LOAD", "EFF", "MATCH"}:
        rows += _guarded("T4/LOAD/MATCH", lambda: _plugin_parts(parts, args.quick))
    if "BEAM" in parts:
        rows += _guarded("BEAM", lambda: _beam_parts(args.quick))
    if "CB" in parts:
        rows += _guarded("CB", lambda: _callback_part(args.quick))
    elapsed = time.perf_counter() - started

    print()
    print(table.markdown(rows))
    print(f"\n{len(rows)} rows, {sum(r.status == 'MISS' for r in rows)} missed, {elapsed / 60:.1f} min")
    results = args.results or (RESULTS if parts == set(PARTS) and not args.quick else None)
    if results:
        command = "make bench" if argv is None and sys.argv[1:] == [] else "python benchmarks/run.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        notes = NOTES + [f"The whole run took {elapsed / 60:.1f} minutes."]
        with open(results, "w") as f:
            f.write(table.results_markdown(rows, info, command, notes))
        print(f"wrote {os.path.relpath(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
