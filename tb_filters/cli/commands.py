"""`tb-filters`: interpret a saved model's conv filters into a TensorBoard log dir,
or write the demo runs.

    tb-filters interpret MODEL (--data SEQ | --texts TEXTS [--tokenizer FILE]) [--vocab VOCAB]
                         --logdir DIR [--layer NAME]... [--step S] [--json FILE] [--weights FILE]
                         [--input NAME=FILE.npy]... [every tb_filters.Options field as a flag:
                         --top-k K, --no-distinct, --class-names FILE, --no-effects, ...]
                         [--runner RUNNER [--feature KEY] [Beam pipeline options]...]
    tb-filters demo --logdir runs [--epochs N]

Exit status: 0 done; 2 bad input (one line on stderr, nothing written);
130 / 143 interrupted by SIGINT / SIGTERM (nothing half-written); 1 anything
unexpected (one line too; TB_FILTERS_DEBUG=1 raises it with its traceback).
Everything is validated and computed before the first byte is written, and every file appears whole (temporary name, then rename).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from typing import Any, Iterator, NoReturn, Sequence

# Before TensorFlow is imported anywhere: its C++ start-up logging reads this.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tb_filters import checks  # noqa: E402
from tb_filters.cli.progress import PROG, ProgressLine  # noqa: E402
from tb_filters.errors import FiltersError  # noqa: E402
from tb_filters.options import Options  # noqa: E402

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
LAYER_PLACEHOLDER = "{layer}"


class Terminated(BaseException):
    """SIGTERM as an exception, so `finally` blocks (temp-file cleanup) run."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other error of ours
        raise FiltersError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    from tb_filters.version import __version__

    parser = _ArgumentParser(prog=PROG, description="What has each Conv1D filter of a Keras text model learned?")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    _add_interpret(commands.add_parser(
        "interpret",
        help="interpret a saved model's conv layers into a TensorBoard log dir",
        description="One pass over SEQ; each conv filter's top-k token windows are written to DIR "
                    "as a `filters` summary (one tag per layer) for TensorBoard's Filters tab.",
    ))
    match = commands.add_parser(
        "match", help="which filters of two runs do the same thing (shared) and which only one run has",
        description="Matches each layer's filters of RUN_A and RUN_B (their latest reports) by the correlation of "
                    "their signatures, and prints the shared filters and those only in one run, with their summaries.")
    match.add_argument("run_a", metavar="RUN_A", help="a run directory of filters reports (e.g. logs/kernel3)")
    match.add_argument("run_b", metavar="RUN_B", help="another run directory, interpreted on the same probe")
    match.add_argument("--layer", action="append", metavar="NAME", dest="layers",
                       help="a layer to match; repeat for several (default: every layer both runs hold)")
    demo = commands.add_parser("demo", help="train two small text CNNs on a synthetic corpus, with FiltersCallback")
    demo.add_argument("--logdir", required=True, help="writes runs kernel3/ and kernel5/ here")
    demo.add_argument("--epochs", type=int, default=4, help="epochs per model (default: 4)")
    return parser


def _add_interpret(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a .keras or .h5 model, or a .json architecture with --weights")
    p.add_argument("--weights", metavar="FILE", help="HDF5 weights (Keras 2 save_weights or Keras 3 .weights.h5)")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", metavar="SEQ", help="token ids [N, L]: file.npy, or file.npz:KEY")
    data.add_argument("--texts", metavar="TEXTS",
                      help="raw texts, one example each: file.txt (a line each), file.csv:COLUMN or "
                           "file.jsonl:FIELD; tokenized by the model's TextVectorization/StringLookup or --tokenizer")
    p.add_argument("--tokenizer", metavar="FILE",
                   help="with --texts: a Keras Tokenizer saved with tokenizer.to_json()")
    p.add_argument("--vocab", metavar="VOCAB",
                   help="word_index.json or one token per line (line i = id i); "
                        "optional if the model has a TextVectorization/StringLookup layer")
    p.add_argument("--logdir", required=True, metavar="DIR", help="TensorBoard log dir (a run directory)")
    p.add_argument("--layer", action="append", metavar="NAME", dest="layers",
                   help="a conv layer to interpret; repeat for several (default: every Conv1D)")
    p.add_argument("--step", type=int, default=0, metavar="S", help="summary step (default: 0)")
    Options.add_arguments(p)  # every interpretation option, from its one declaration
    p.add_argument("--input", action="append", metavar="NAME=FILE.npy", dest="inputs",
                   help="another model input by name (a row per example), for the filters' effects on the "
                        "outputs; repeat for several")
    p.add_argument("--json", metavar="FILE",
                   help="also write the notebook's JSON export of the first layer, and beside it "
                        "FILE.summary.json ({\"Filter_i\": one-line summary}); "
                        f"with {LAYER_PLACEHOLDER} in FILE, one file per layer")
    p.add_argument("--runner", metavar="RUNNER",
                   help="run as an Apache Beam pipeline (pip install tb_filters[beam]): DirectRunner, "
                        "DataflowRunner, FlinkRunner, SparkRunner; SEQ is then a glob of .npy shards "
                        "(or TFRecord files with --feature), and options tb-filters does not know "
                        "go to Beam, e.g. --direct_num_workers 2 --direct_running_mode multi_processing")
    p.add_argument("--feature", metavar="KEY",
                   help="with --runner: SEQ are TFRecord files of tf.train.Example with the ids under KEY")


# -- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    # Complete files written so far, for the message if we are stopped; the
    # demo writes as it trains, so it can only promise complete reports.
    written: list[str] = []
    with _signals_as_exceptions():
        try:
            args, beam_args = _parse(argv)
            if args.command == "demo":
                written.append("the demo's reports so far")
                return _run_demo(args)
            if args.command == "match":
                from tb_filters.cli import match

                match.run(args.run_a, args.run_b, args.layers)
                return EXIT_OK
            if args.runner:
                return _run_interpret_beam(args, beam_args, written)
            code = _run_interpret(args, written)
            if argv is None:  # the console script's (or python -m tb_filters') own process
                _exit_now(code)
            return code
        except FiltersError as e:
            return _fail(f"error: {_one_line(str(e))}", EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            return _fail(f"interrupted, {_what_was_written(written)}", EXIT_SIGINT)
        except Terminated:
            return _fail(f"terminated, {_what_was_written(written)}", EXIT_SIGTERM)
        except Exception as e:  # a bug or a model that breaks: still one line, no traceback
            if os.environ.get("TB_FILTERS_DEBUG"):
                raise
            message = f"error: unexpected {type(e).__name__}: {_one_line(str(e))} (TB_FILTERS_DEBUG=1 shows the traceback)"
            return _fail(message, EXIT_INTERNAL)


def _exit_now(code: int) -> NoReturn:
    """Ends the process once every file is complete, closed and renamed, and the summary printed:
    the interpreter's teardown (TensorFlow's and Keras' finalizers and thread pools, ~3 s of
    a ~20 s run for the notebook-shaped model on 2 cores) would only keep the user waiting.
    Only after an in-process interpret: the demo's TensorFlow summary writers and Beam's
    workers keep their normal exit."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe: the files are written all the same
            stream.flush()
    os._exit(code)


def _parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The arguments, and those left for Beam: only `interpret --runner` takes unknown ones."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "runner", None):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "feature", None) and not args.runner:
        parser.error("--feature reads TFRecord shards, with --runner only")
    if getattr(args, "texts", None) and getattr(args, "runner", None):
        parser.error("--runner reads token ids (--data); --texts are interpreted in this process")
    return args, unknown


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return code


def _what_was_written(written: list[str]) -> str:
    if not written:
        return "nothing written"
    return f"only complete files written: {', '.join(written)}"


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM raises Terminated; SIGINT keeps Python's KeyboardInterrupt."""
    if not _in_main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# -- interpret -----------------------------------------------------------------------------


def _run_interpret(args: argparse.Namespace, written: list[str]) -> int:
    """Cheap checks first, TensorFlow last, and nothing written until the
    report is complete in memory."""
    options = _checked_options(args)
    _check_outputs(args)
    from tb_filters.cli import loading
    from tb_filters.engine import models, vocab

    models.check_model_paths(args.model, args.weights)
    data = _load_data(args)
    inputs = loading.load_named_inputs(args.inputs)
    vocabulary = vocab.load_vocabulary(args.vocab) if args.vocab else None
    with _quiet_tensorflow_import():
        import keras  # noqa: F401  (its import is the noisy one)
    model = models.load_model(args.model, weights=args.weights)
    if args.data:
        vocabulary = vocabulary or _vocabulary_from_model(model, vocab)
    started = time.monotonic()
    report = _interpret(model, data, vocabulary, args.layers, options, inputs)
    seconds = time.monotonic() - started
    _write_outputs(report, args, written)
    _print_summary(report, seconds, written, args, options)
    return EXIT_OK


def _run_interpret_beam(args: argparse.Namespace, beam_args: list[str], written: list[str]) -> int:
    """The same interpretation as an Apache Beam pipeline; the same files at the end.
    The event file is written by the pipeline's last step (nothing if it fails), the
    JSON export from that file, once it exists."""
    options = _checked_options(args)
    _check_outputs(args)
    _quiet_beam_logging()
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise FiltersError(
            "Expected Apache Beam for --runner (pip install 'tb_filters[beam]'). Received: no apache_beam module"
        ) from None
    from tb_filters.cli import loading
    from tb_filters.engine import models

    if "://" not in args.model:
        models.check_model_paths(args.model, args.weights)
    inputs = loading.load_named_inputs(args.inputs)
    with _quiet_tensorflow_import():
        import tensorflow  # noqa: F401
    from tb_filters import beam as tb_beam

    pipeline_options = tb_beam.pipeline_options(["--runner", args.runner, *_quiet_workers(beam_args)])
    write = tb_beam.WriteReport(args.logdir, args.step)
    started = time.monotonic()
    with tb_beam.pipeline(pipeline_options) as pipeline:
        _ = (
            pipeline
            | "ReadSequences" >> tb_beam.ReadSequences(args.data, feature=args.feature, batch_size=options.batch_size)
            | "Interpret" >> tb_beam.Interpret(args.model, layers=args.layers, vocab=args.vocab, weights=args.weights,
                                               options=options, inputs=inputs)
            | "WriteReport" >> write
        )
    seconds = time.monotonic() - started
    from tb_filters.beam import io as beam_io
    from tb_filters.format import summary

    event_file = beam_io.written_files(args.logdir, write.suffix)[0]
    written.append(event_file)
    report = summary.read_report(event_file)
    _write_json_exports(report, args, written)
    _print_summary(report, seconds, written, args, options)
    return EXIT_OK


def _quiet_beam_logging() -> None:
    """Beam logs a failed bundle's traceback and notes about optional packages; our
    one line says what failed (TB_FILTERS_DEBUG=1 keeps Beam's logs)."""
    import logging

    if os.environ.get("TB_FILTERS_DEBUG"):
        return
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    logging.getLogger().setLevel(logging.ERROR)  # import-time notes go to the root logger


def _quiet_workers(beam_args: list[str]) -> list[str]:
    """Beam's workers log every start and stop at INFO; errors are enough unless asked."""
    if os.environ.get("TB_FILTERS_DEBUG") or any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        return beam_args
    return [*beam_args, "--default_sdk_harness_log_level=ERROR"]


def _load_data(args: argparse.Namespace) -> dict[str, Any]:
    """interpret's data arguments: sequences=, or texts= (and tokenizer=)."""
    from tb_filters.cli import loading
    from tb_filters.engine import texts

    if args.tokenizer and not args.texts:
        raise FiltersError(f"Expected --tokenizer only with --texts. Received: --tokenizer {args.tokenizer} with --data")
    if args.data:
        return {"sequences": loading.load_sequences(args.data)}
    tokenizer = texts.load_tokenizer(args.tokenizer) if args.tokenizer else None
    return {"texts": loading.load_texts(args.texts), "tokenizer": tokenizer}


def _checked_options(args: argparse.Namespace) -> Options:
    checks.integer_at_least("step", args.step, 0)
    return Options.from_arguments(args)


def _check_outputs(args: argparse.Namespace) -> None:
    logdir = args.logdir
    if os.path.exists(logdir) and not os.path.isdir(logdir):
        raise FiltersError(f"Expected --logdir to be a directory. Received: {logdir} (a file)")
    existing = _nearest_existing(logdir)
    if not os.path.isdir(existing):
        raise FiltersError(f"Expected --logdir to be a directory path. Received: {logdir} ({existing} is a file)")
    if not os.access(existing, os.W_OK):
        raise FiltersError(f"Expected a writable --logdir. Received: {logdir} ({existing} is not writable)")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder):
            raise FiltersError(f"Expected --json in an existing directory. Received: {args.json}")


def _nearest_existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _vocabulary_from_model(model, vocab):
    vocabulary = vocab.load_vocabulary(None, model)
    if vocabulary.size is None:
        raise FiltersError(
            "Expected --vocab VOCAB (word_index.json or one token per line): the model has no "
            "TextVectorization or StringLookup layer to read it from. Received: no --vocab"
        )
    return vocabulary


@contextlib.contextmanager
def _quiet_tensorflow_import() -> Iterator[None]:
    """TensorFlow's C++ libraries log to fd 2 while they load, whatever
    TF_CPP_MIN_LOG_LEVEL says; hide fd 2 for the import only."""
    if "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    _silence_python_logging()


def _silence_python_logging() -> None:
    import logging
    import warnings

    for module in ("keras", "tensorflow", "absl", "h5py"):
        warnings.filterwarnings("ignore", module=module)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)


def _interpret(model, data: dict[str, Any], vocabulary, layers, options: Options, inputs):
    import warnings

    from tb_filters.engine.effects import EffectsSkipped
    from tb_filters.engine.interpret import interpret

    progress = ProgressLine(total=len(next(iter(data.values()))), stream=sys.stderr)
    try:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", EffectsSkipped)
            report = interpret(model, layers=layers, vocab=vocabulary, options=options, progress=progress,
                               inputs=inputs, **data)
    finally:
        progress.close()
    for note in notes:
        if issubclass(note.category, EffectsSkipped):
            print(f"{PROG}: note: {_one_line(str(note.message)).removeprefix('tb_filters: ')}", file=sys.stderr)
        else:
            warnings.warn_explicit(note.message, note.category, note.filename, note.lineno)
    return report


def _write_outputs(report, args: argparse.Namespace, written: list[str]) -> None:
    from tb_filters.format import summary

    written.append(summary.write_report(args.logdir, report, step=args.step))
    _write_json_exports(report, args, written)


def _write_json_exports(report, args: argparse.Namespace, written: list[str]) -> None:
    from tb_filters.format import files

    if args.json:
        for path, layer in _json_targets(args.json, report):
            files.write_json(path, layer.to_notebook_json())
            written.append(path)
            # Beside it, not inside: the notebook's keys and values stay as they were.
            files.write_json(summary_path(path), layer.to_summary_json())
            written.append(summary_path(path))


def summary_path(json_path: str) -> str:
    stem = json_path[: -len(".json")] if json_path.endswith(".json") else json_path
    return stem + ".summary.json"


def _json_targets(pattern: str, report) -> list[tuple[str, Any]]:
    layers = list(report)
    if LAYER_PLACEHOLDER not in pattern:
        return [(pattern, layers[0])]
    return [(pattern.replace(LAYER_PLACEHOLDER, _safe_file_part(layer.name)), layer) for layer in layers]


def _safe_file_part(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _print_summary(report, seconds: float, written: list[str], args: argparse.Namespace, options: Options) -> None:
    layers = list(report)
    examples = layers[0].num_examples if layers else 0
    rate = examples / seconds if seconds > 0 else float("inf")
    described = ", ".join(f"{layer.name} ({len(layer.filters)} filters)" for layer in layers)
    mode = "distinct windows" if options.distinct else "raw windows"
    print(f"Interpreted {described}: {examples:,} examples, top-{options.top_k} {mode}, "
          f"{seconds:.1f} s ({rate:,.0f} examples/s).")
    for layer in layers:
        _print_effects(layer)
        for f in layer.top_filters(TOP_FILTERS):
            print(f"  {layer.name} filter {f.index} (max {f.stats.max:.3g}): {f.summary}")
    print(f"Wrote step {args.step} to {written[0]}")
    for path in written[1:]:
        print(f"Wrote {path}")
    print(f"View: tensorboard --logdir {args.logdir}")


TOP_FILTERS = 5  # per layer: the largest effects per output, and the highest maxima with their summaries


def _print_effects(layer) -> None:
    """Per output, the filters with the largest mean |effect|; dead and duplicate counts."""
    dead = [f.index for f in layer.filters if f.dead]
    duplicates = [f.index for f in layer.filters if f.duplicate_of is not None]
    print(f"  {layer.name}: {len(dead)} dead filter(s){_listed(dead)}, {len(duplicates)} duplicate(s)"
          f"{_listed([f'{f.index}~{f.duplicate_of}' for f in layer.filters if f.duplicate_of is not None])}")
    for column, output in enumerate(layer.output_names):
        ranked = sorted(layer.filters, key=lambda f: (-f.effects[column].mean_abs, f.index))[:TOP_FILTERS]
        described = ", ".join(f"{f.index} ({f.effects[column].mean:+.3g}, |{f.effects[column].mean_abs:.3g}|)"
                              for f in ranked)
        print(f"    effect on {output} over {layer.sample_examples:,} examples, top {len(ranked)} by mean |change|: "
              f"{described}")


def _listed(items: list, limit: int = 8) -> str:
    if not items:
        return ""
    shown = ", ".join(str(i) for i in items[:limit])
    return f" ({shown}{', ...' if len(items) > limit else ''})"


# -- demo ----------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    checks.integer_at_least("epochs", args.epochs)
    with _quiet_tensorflow_import():
        import keras  # noqa: F401
    from tb_filters.cli import demo

    result = demo.run(args.logdir, epochs=args.epochs)
    print(result.describe())
    print(f"View: tensorboard --logdir {args.logdir}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
