"""`tb-filters interpret`: the happy path in-process, every bad input in a real subprocess.

Each bad input must end with exit status 2, one line on stderr and no
traceback, and leave the log dir exactly as it was (a report written there
before stays readable).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.cli import commands as cli
from tb_filters.cli.progress import ProgressLine
from tb_filters.format import summary
from tests.helpers.readback import listing, read_reports
from tests.helpers.text_models import LENGTH, VOCAB_SIZE, notebook_model, token_data

VOCAB = ["<pad>", "<user>", "<url>", "<allcaps>"] + [f"w{i}" for i in range(4, VOCAB_SIZE)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Model, data and vocabulary files, good and bad, shared by the tests here."""
    root = tmp_path_factory.mktemp("cli")
    paths: dict[str, str] = {}

    def path(name: str) -> str:
        paths[name] = str(root / name)
        return paths[name]

    model = notebook_model()
    model.save(path("model.keras"))
    np.save(path("data.npy"), token_data(64))
    np.save(path("meta.npy"), np.random.default_rng(0).random((64, 24), dtype=np.float32))
    Path(path("classes.txt")).write_text("positive\n", encoding="utf-8")
    Path(path("vocab.txt")).write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    _save_bad_models(model, path)
    _save_bad_data(path)
    _save_bad_vocabularies(path)
    _save_texts(path)
    # A log dir holding a report written before the failing runs.
    summary.write_report(path("existing_logdir"), tb_filters.interpret(model, token_data(16), top_k=2), step=7)
    return paths


def _save_bad_models(model: keras.Model, path) -> None:
    kernel, bias = model.get_layer("conv_1").get_weights()
    nan_kernel = kernel.copy()
    nan_kernel[:, :, 2] = np.nan
    model.get_layer("conv_1").set_weights([nan_kernel, bias])
    model.save(path("nan.keras"))
    inf_bias = bias.copy()
    inf_bias[1] = np.inf
    model.get_layer("conv_1").set_weights([kernel, inf_bias])
    model.save(path("inf.keras"))
    model.get_layer("conv_1").set_weights([kernel, bias])
    Path(path("garbage.keras")).write_bytes(b"this is not a zip archive")


def _save_bad_data(path) -> None:
    np.save(path("floats.npy"), token_data(8).astype("float32"))
    np.save(path("3d.npy"), token_data(8)[:, :, None])
    np.save(path("empty.npy"), np.zeros((0, LENGTH), "int32"))
    np.save(path("long.npy"), np.ones((8, LENGTH + 5), "int32"))
    too_big = token_data(8)
    too_big[5, 3] = VOCAB_SIZE + 20
    np.save(path("beyond_vocab.npy"), too_big)
    np.savez(path("arrays.npz"), x=token_data(8), y=np.zeros(8))
    Path(path("garbage.npy")).write_bytes(b"\x93NUMPY garbage")
    # A vocabulary larger than the embedding: the embedding is the limit.
    Path(path("big_vocab.txt")).write_text("\n".join(["<pad>"] + [f"t{i}" for i in range(1, 200)]) + "\n")
    beyond_embedding = token_data(8)
    beyond_embedding[2, 1] = VOCAB_SIZE + 50
    np.save(path("beyond_embedding.npy"), beyond_embedding)


TEXTS = ["Not GOOD at all!!", "love this, so much", "worst service EVER", "", "never buying again..."]


def _save_texts(path) -> None:
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(oov_token="<OOV>")
    tokenizer.fit_on_texts(TEXTS)
    Path(path("tokenizer.json")).write_text(tokenizer.to_json(), encoding="utf-8")
    Path(path("texts.txt")).write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    Path(path("texts.csv")).write_text("id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(TEXTS)))
    Path(path("texts.jsonl")).write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    Path(path("empty.txt")).write_text("")
    Path(path("blank.txt")).write_text("\n  \n")


def _save_bad_vocabularies(path) -> None:
    Path(path("latin1.txt")).write_bytes("caf\xe9\n".encode("latin-1"))
    Path(path("bad.json")).write_text("{not json")


# -- happy path, in-process ----------------------------------------------------------------


def test_interpret_writes_a_report_and_the_notebook_json(files, tmp_path, capsys):
    logdir, export = tmp_path / "logs" / "run1", tmp_path / "filters.json"
    code = cli.main([
        "interpret", files["model.keras"], "--data", files["data.npy"], "--vocab", files["vocab.txt"],
        "--logdir", str(logdir), "--layer", "conv_1", "--top-k", "4", "--step", "5", "--json", str(export),
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "conv_1 (6 filters): 64 examples, top-4 distinct windows" in out
    assert str(logdir) in out and str(export) in out
    report = read_reports(tmp_path / "logs")["run1"]["conv_1"][5]
    assert report.num_examples == 64 and report.top_k == 4 and report.distinct
    assert json.loads(export.read_text()) == report.to_notebook_json()
    summaries = tmp_path / "filters.summary.json"
    assert json.loads(summaries.read_text()) == {f"Filter_{f.index}": f.summary for f in report.filters}
    assert str(summaries) in out
    for f in report.top_filters(5):
        assert f"conv_1 filter {f.index} (max {f.stats.max:.3g}): {f.summary}" in out
    assert all(f.summary.startswith("wants  ") for f in report.filters)
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".tb_filters-")] == []


def test_raw_mode_every_layer_and_one_json_per_layer(files, tmp_path, capsys):
    code = cli.main([
        "interpret", files["model.keras"], "--data", f"{files['arrays.npz']}:x", "--vocab", files["vocab.txt"],
        "--logdir", str(tmp_path / "run"), "--no-distinct", "--batch-size", "3",
        "--json", str(tmp_path / "{layer}.json"),
    ])
    assert code == 0, capsys.readouterr().err
    reports = read_reports(tmp_path)["run"]
    assert sorted(reports) == ["conv_1", "conv_2"]
    for name, steps in reports.items():
        assert not steps[0].distinct and all(w.count == 1 for f in steps[0].filters for w in f.windows)
        assert json.loads((tmp_path / f"{name}.json").read_text()) == steps[0].to_notebook_json()


def test_effects_with_the_other_input_and_class_names(files, tmp_path, capsys):
    code = cli.main([
        "interpret", files["model.keras"], "--data", files["data.npy"], "--vocab", files["vocab.txt"],
        "--logdir", str(tmp_path / "run"), "--input", f"meta={files['meta.npy']}",
        "--class-names", files["classes.txt"], "--effect-examples", "40",
    ])
    out, err = capsys.readouterr()
    assert code == 0 and "note" not in err, err
    reports = read_reports(tmp_path)["run"]
    expected = tb_filters.interpret(keras.models.load_model(files["model.keras"]), np.load(files["data.npy"]),
                                    inputs={"meta": np.load(files["meta.npy"])}, class_names=["positive"],
                                    effect_examples=40)
    for name in ("conv_1", "conv_2"):
        layer = reports[name][0]
        assert layer.output_names == ("positive",) and layer.sample_examples == 40
        np.testing.assert_allclose([f.effects[0].mean for f in layer.filters],
                                   [f.effects[0].mean for f in expected[name].filters], atol=1e-7)
        top = sorted(layer.filters, key=lambda f: (-f.effects[0].mean_abs, f.index))[:5]
        lines = out.splitlines()
        line = lines[next(i for i, text in enumerate(lines) if text.startswith(f"  {name}: ")) + 1]
        assert line.startswith("    effect on positive over 40 examples, top")
        assert [int(part.split(" (")[0]) for part in line.split(": ", 1)[1].split("|), ")] == [f.index for f in top]


def test_without_the_other_input_the_effects_are_skipped_with_a_note(files, tmp_path, capsys):
    code = cli.main(["interpret", files["model.keras"], "--data", files["data.npy"], "--vocab", files["vocab.txt"],
                     "--logdir", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0
    assert [line for line in err.splitlines() if "examples/s" not in line] == [
        "tb-filters: note: effects skipped: the model's other input(s) ['meta'] were not given "
        "(pass inputs={'meta': array}, or --input meta=FILE.npy)"]
    layer = read_reports(tmp_path)["run"]["conv_1"][0]
    assert "meta" in layer.effects_note and all(f.effects == () for f in layer.filters)
    assert "effect on" not in out and "dead filter(s)" in out


def test_json_matches_the_notebook_method(files, tmp_path):
    """--no-distinct --json equals the notebook's computation: per filter the k
    largest values of conv_1's output over all (example, position), with the
    words at input positions position-1 .. position+1."""
    export = tmp_path / "conv_1.json"
    assert cli.main([
        "interpret", files["model.keras"], "--data", files["data.npy"], "--vocab", files["vocab.txt"],
        "--logdir", str(tmp_path / "run"), "--layer", "conv_1", "--no-distinct", "--top-k", "5",
        "--json", str(export),
    ]) == 0
    model, data = keras.models.load_model(files["model.keras"]), np.load(files["data.npy"])
    activations = np.asarray(keras.Model(model.inputs[0], model.get_layer("conv_1").output)(data))
    padded = np.pad(data, ((0, 0), (1, 1)), constant_values=-1)
    exported = json.loads(export.read_text())
    for f in range(activations.shape[2]):
        values = activations[:, :, f].ravel()
        top = np.sort(values)[::-1][:5]
        np.testing.assert_allclose([w["activation"] for w in exported[f"Filter_{f}"]], top, atol=1e-5)
        for window in exported[f"Filter_{f}"]:
            ids = padded[window["tweet"], window["position"]: window["position"] + 3]
            assert window["words"] == " ".join("<pad>" if i <= 0 else VOCAB[i] for i in ids)
            assert abs(activations[window["tweet"], window["position"], f] - window["activation"]) < 1e-5


@pytest.mark.parametrize("texts", ["texts.txt", "texts.csv:text", "texts.jsonl:text"])
def test_raw_texts_with_a_saved_tokenizer(files, tmp_path, capsys, texts):
    from tf_keras.preprocessing.text import tokenizer_from_json

    path, _, key = texts.partition(":")
    code = cli.main(["interpret", files["model.keras"], "--texts", files[path] + (f":{key}" if key else ""),
                     "--tokenizer", files["tokenizer.json"], "--logdir", str(tmp_path / "run"), "--top-k", "3",
                     "--layer", "conv_1"])
    assert code == 0, capsys.readouterr().err
    report = read_reports(tmp_path)["run"]["conv_1"][0]
    assert report.num_examples == len(TEXTS)
    keras_tokenizer = tokenizer_from_json(Path(files["tokenizer.json"]).read_text())
    ids = np.zeros((len(TEXTS), LENGTH), np.int32)
    for row, sequence in enumerate(keras_tokenizer.texts_to_sequences(TEXTS)):
        ids[row, : len(sequence)] = sequence
    expected = tb_filters.interpret(keras.models.load_model(files["model.keras"]), ids, layers="conv_1",
                                    vocab=keras_tokenizer.word_index, top_k=3)["conv_1"]
    assert [[(w.example, w.position, w.tokens, w.count) for w in f.windows] for f in report.filters] == \
        [[(w.example, w.position, w.tokens, w.count) for w in f.windows] for f in expected.filters]
    originals = {(t, o) for f in report.filters for w in f.windows for t, o in zip(w.tokens, w.originals)}
    assert ("good", "GOOD") in originals or ("not", "Not") in originals or ("ever", "EVER") in originals


def test_vocabulary_from_the_models_string_lookup(tmp_path, capsys):
    words = keras.Input((LENGTH,), dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=VOCAB[1:], mask_token="<pad>", name="lookup")
    x = keras.layers.Embedding(VOCAB_SIZE, 4)(lookup(words))
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(2, 3, name="conv")(x))
    keras.Model(words, x).save(tmp_path / "lookup.keras")
    np.save(tmp_path / "ids.npy", token_data(8))
    assert cli.main([
        "interpret", str(tmp_path / "lookup.keras"), "--data", str(tmp_path / "ids.npy"),
        "--logdir", str(tmp_path / "run"), "--top-k", "2",
    ]) == 0, capsys.readouterr().err
    report = read_reports(tmp_path)["run"]["conv"][0]
    assert {t for f in report.filters for w in f.windows for t in w.tokens} <= set(VOCAB) | {"[UNK]"}


def test_progress_on_a_tty_redraws_one_line():
    class Terminal:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    now = [0.0]
    terminal = Terminal()
    progress = ProgressLine(total=1000, stream=terminal, quiet_seconds=1.0, clock=lambda: now[0])
    progress(100)  # before quiet_seconds: nothing
    now[0] = 2.0
    progress(500)
    now[0] = 2.05
    progress(600)  # within the redraw interval: skipped
    now[0] = 4.0
    progress(1000)
    progress.close()
    assert terminal.text.count("\r") == 2 and terminal.text.endswith("\n")
    assert "500/1,000 examples (50%), 250 examples/s" in terminal.text
    assert "1,000/1,000 examples (100%)" in terminal.text


# -- bad input, in subprocesses --------------------------------------------------------------


def _case(model="model.keras", data="data.npy", vocab="vocab.txt", extra=()):
    return dict(model=model, data=data, vocab=vocab, extra=list(extra))


def _texts_case(texts="texts.txt", tokenizer="tokenizer.json", extra=()):
    return _case(data=None, vocab=None, extra=["--texts", texts] + (["--tokenizer", tokenizer] if tokenizer else [])
                 + list(extra))


BAD_INPUTS = {
    "missing model": (_case(model="missing.keras"), "model file does not exist"),
    "unreadable model": (_case(model="garbage.keras"), "Could not load the model"),
    "missing data": (_case(data="missing.npy"), "data file does not exist"),
    "unreadable data": (_case(data="garbage.npy"), "not a numeric .npy array"),
    "missing vocabulary": (_case(vocab="missing.txt"), "not found"),
    "unreadable vocabulary": (_case(vocab="latin1.txt"), "readable UTF-8"),
    "vocabulary not json": (_case(vocab="bad.json"), "does not parse"),
    "layer not found": (_case(extra=["--layer", "conv_9"]), r"one of the conv layers \['conv_1', 'conv_2'\]"),
    "not a conv layer": (_case(extra=["--layer", "embedding"]), "Expected a Conv1D layer.*'embedding' \\(Embedding\\)"),
    "data not integers": (_case(data="floats.npy"), "dtype float32"),
    "data not 2-D": (_case(data="3d.npy"), r"shape \(8, 12, 1\)"),
    "npz key missing": (_case(data="arrays.npz:z"), "valid keys: x, y"),
    "token id beyond vocabulary": (_case(data="beyond_vocab.npy"), f"token id {VOCAB_SIZE + 20} in example 5"),
    "token id beyond embedding": (_case(data="beyond_embedding.npy", vocab="big_vocab.txt"),
                                  f"< {VOCAB_SIZE} \\(embedding 'embedding' input_dim\\)"),
    "wrong sequence length": (_case(data="long.npy"), f"sequences of {LENGTH} tokens.*Received sequences of {LENGTH + 5}"),
    "empty data": (_case(data="empty.npy"), r"at least one example.*\(0, 12\)"),
    "top-k 0": (_case(extra=["--top-k", "0"]), "Expected top_k >= 1 .*Received: top_k=0"),
    "slot-top-n negative": (_case(extra=["--slot-top-n", "-1"]), "Expected slot_top_n >= 0 .*Received: slot_top_n=-1"),
    "min-count negative": (_case(extra=["--min-count", "-2"]), "Expected min_count >= 0 .*Received: min_count=-2"),
    "pattern share 0": (_case(extra=["--pattern-share", "0"]), "Expected 0 < pattern_share <= 1"),
    "top-k not a number": (_case(extra=["--top-k", "ten"]), "invalid int value: 'ten'"),
    "nan activations": (_case(model="nan.keras"), "NaN or infinite values in layer 'conv_1', filter 2"),
    "inf activations": (_case(model="inf.keras"), "NaN or infinite values in layer 'conv_1', filter 1"),
    "no vocabulary anywhere": (_case(vocab=None), "Expected --vocab"),
    "input without a file": (_case(extra=["--input", "meta"]), "Expected --input NAME=FILE.npy. Received: --input meta"),
    "effect examples negative": (_case(extra=["--effect-examples", "-1"]), "effect_examples >= 0"),
    "json export dir missing": (_case(extra=["--json", "/nonexistent/dir/f.json"]), "--json in an existing directory"),
    "empty texts file": (_texts_case(texts="empty.txt"), "at least one non-empty text"),
    "blank texts file": (_texts_case(texts="blank.txt"), r"at least one non-empty text.*\(2 empty examples\)"),
    "csv column missing": (_texts_case(texts="texts.csv:body"), "Expected a column 'body'.*Received columns: id, text"),
    "csv without a column": (_texts_case(texts="texts.csv"), "texts.csv:COLUMN"),
    "jsonl field missing": (_texts_case(texts="texts.jsonl:body"), r"field 'body' .* line 1 with keys \['id', 'text'\]"),
    "texts without a tokenizer": (_texts_case(tokenizer=None), "Expected a tokenizer for raw texts"),
    "tokenizer not a tokenizer": (_texts_case(tokenizer="bad.json"), "Tokenizer saved with tokenizer.to_json"),
    "tokenizer without texts": (_case(extra=["--tokenizer", "tokenizer.json"]), "--tokenizer only with --texts"),
    "data and texts": (_case(extra=["--texts", "texts.txt"]), "not allowed with argument"),
}


def run_cli(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tb_filters", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def _bad_input_args(files: dict[str, str], name: str, root: Path) -> tuple[list[str], Path]:
    case, _ = BAD_INPUTS[name]
    logdir = root / name.replace(" ", "_")
    shutil.copytree(files["existing_logdir"], logdir)
    folder = Path(files["model.keras"]).parent
    args = ["interpret", str(folder / case["model"]), "--logdir", str(logdir)]
    if case["data"]:
        args += ["--data", str(folder / case["data"])]
    if case["vocab"]:
        args += ["--vocab", str(folder / case["vocab"])]
    extra = [str(folder / a) if a.startswith(("texts", "tokenizer", "empty", "blank", "bad.json")) else a
             for a in case["extra"]]
    return args + extra, logdir


def _assert_refused(name: str, code: int, out: str, err: str, logdir: Path, before) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("tb-filters: error: "), err
    assert "Traceback" not in err
    assert re.search(BAD_INPUTS[name][1], lines[0]), lines[0]
    assert out == ""
    assert listing(logdir) == before
    assert list(read_reports(logdir)["."]["conv_1"]) == [7]


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(files, tmp_path, capsys, name):
    """In process: `cli.main(argv)` is what the console script runs."""
    before = listing(files["existing_logdir"])
    args, logdir = _bad_input_args(files, name, tmp_path)
    capsys.readouterr()
    code = cli.main(args)
    captured = capsys.readouterr()
    _assert_refused(name, code, captured.out, captured.err, logdir, before)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unreadable model", "token id beyond vocabulary"])
def test_bad_input_as_a_real_process(files, tmp_path, name):
    """The same contract end to end: exit status 2 and one line from a fresh `python -m tb_filters`."""
    before = listing(files["existing_logdir"])
    args, logdir = _bad_input_args(files, name, tmp_path)
    result = run_cli(args)
    _assert_refused(name, result.returncode, result.stdout, result.stderr, logdir, before)


def test_importing_the_cli_does_not_import_tensorflow():
    """Cheap mistakes (a typo in a path) fail before TensorFlow's seconds-long import."""
    code = ("import sys, tb_filters.cli.commands, tb_filters.cli.loading; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


# Modules an in-process interpret never uses: Beam (--runner only), the TensorBoard plugin and
# event-file reading, the callback, the demo and match commands, test tools. scipy is not here:
# `import keras` imports it, in a hand-written load-and-predict process too.
UNUSED_BY_INTERPRET = ("apache_beam", "tb_filters.beam", "tb_filters.plugin", "tb_filters.callback",
                       "tb_filters.cli.demo", "tb_filters.cli.match", "tb_filters.format.compare",
                       "tensorboard.plugins", "tensorboard.backend", "hypothesis", "pytest")


def _interpret_args(files: dict[str, str], logdir: Path) -> list[str]:
    return ["interpret", files["model.keras"], "--data", files["data.npy"], "--vocab", files["vocab.txt"],
            "--input", f"meta={files['meta.npy']}", "--logdir", str(logdir), "--json", str(logdir.parent / "conv_1.json")]


@pytest.mark.slow
def test_interpret_imports_nothing_it_does_not_use(files, tmp_path):
    """Issue 19: the whole process costs what a load-and-predict process costs; an unused import is seconds."""
    code = ("import json, sys; from tb_filters.cli import commands; code = commands.main(sys.argv[1:]); "
            "print(json.dumps([code, sorted(sys.modules)]))")
    result = subprocess.run([sys.executable, "-c", code, *_interpret_args(files, tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    exit_code, modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert exit_code == 0, result.stderr
    assert "tensorflow" in modules and "tb_filters.engine.effects" in modules  # it did interpret, effects on
    unused = [m for m in modules if any(m == u or m.startswith(u + ".") for u in UNUSED_BY_INTERPRET)]
    assert unused == []


@pytest.mark.slow
def test_the_console_process_exits_at_once_with_every_file_and_line_out(files, tmp_path):
    """`python -m tb_filters` (as the console script) skips the interpreter's teardown: what it
    printed through a pipe and the files it wrote are complete all the same."""
    logdir = tmp_path / "run"
    result = run_cli(_interpret_args(files, logdir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Interpreted conv_1 (") and lines[-1] == f"View: tensorboard --logdir {logdir}"
    assert "Traceback" not in result.stderr
    reports = read_reports(logdir)["."]
    assert set(reports) == {"conv_1", "conv_2"} and list(reports["conv_1"]) == [0]
    assert len(json.loads((tmp_path / "conv_1.json").read_text())) == 6  # one entry per conv_1 filter


def test_a_directory_given_as_the_model(files, tmp_path, capsys):
    logdir = tmp_path / "run"
    (tmp_path / "saved.keras").mkdir()
    code = cli.main(["interpret", str(tmp_path / "saved.keras"), "--data", files["data.npy"],
                     "--vocab", files["vocab.txt"], "--logdir", str(logdir)])
    err = capsys.readouterr().err
    assert code == 2 and "model file is a directory" in err
    assert not logdir.exists()
