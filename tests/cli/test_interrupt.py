"""Interrupted writing: SIGINT, SIGTERM and failures mid-run leave the log dir as
it was, or holding complete reports only; the CLI says so in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tb_filters
from tb_filters.cli import commands as cli
from tb_filters.format import summary
from tb_filters.format.files import write_json
from tests.helpers.readback import listing, read_reports
from tests.helpers.text_models import VOCAB_SIZE, notebook_model, token_data

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("interrupt")
    model = notebook_model()
    model.save(root / "model.keras")
    # Long enough that a small batch size keeps the CLI busy for many seconds.
    np.save(root / "many.npy", np.tile(token_data(1000), (500, 1)))
    (root / "vocab.txt").write_text("\n".join(["<pad>"] + [f"w{i}" for i in range(1, VOCAB_SIZE)]) + "\n")
    summary.write_report(root / "logdir", tb_filters.interpret(model, token_data(16), top_k=2), step=3)
    return {name: root / name for name in ("model.keras", "many.npy", "vocab.txt", "logdir")}


def _copy_logdir(files, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(files["logdir"], tmp_path / "logdir"))


def _default_sigint() -> None:
    """Runs in the child before exec. A parent started in the background (nohup, `cmd &` in a
    script) hands SIGINT on ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_line(stream, prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    for line in stream:
        if line.startswith(prefix):
            return line
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s")


# SIGINT is sent by the terminal test below (each CLI process costs a TensorFlow start-up).
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated")])
def test_cli_stopped_by_a_signal_writes_nothing(files, tmp_path, signum, code, word):
    logdir = _copy_logdir(files, tmp_path)
    before = listing(logdir)
    process = subprocess.Popen(
        [sys.executable, "-m", "tb_filters", "interpret", str(files["model.keras"]), "--data", str(files["many.npy"]),
         "--vocab", str(files["vocab.txt"]), "--logdir", str(logdir), "--batch-size", "16",
         "--json", str(tmp_path / "export.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )
    try:
        _wait_for_line(process.stderr, "tb-filters: [", timeout=240)  # the progress has started
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines()[-1] == f"tb-filters: {word}, nothing written"
    assert "Traceback" not in stderr and stdout == ""
    assert listing(logdir) == before
    assert not (tmp_path / "export.json").exists()


def test_cli_model_failing_mid_run_writes_nothing(files, tmp_path, capsys):
    """The model breaks on the last batches only (NaN embedding of a token
    that appears late): the pass is well under way when it fails."""
    model = notebook_model()
    embedding = model.get_layer("embedding")
    table = embedding.get_weights()[0]
    table[VOCAB_SIZE - 1] = np.nan
    embedding.set_weights([table])
    model.save(tmp_path / "late_nan.keras")
    data = np.minimum(token_data(64), VOCAB_SIZE - 2)
    data[60, 4] = VOCAB_SIZE - 1
    np.save(tmp_path / "data.npy", data)
    logdir = _copy_logdir(files, tmp_path)
    before = listing(logdir)

    code = cli.main([
        "interpret", str(tmp_path / "late_nan.keras"), "--data", str(tmp_path / "data.npy"),
        "--vocab", str(files["vocab.txt"]), "--logdir", str(logdir), "--batch-size", "8",
        "--json", str(tmp_path / "export.json"),
    ])

    *progress, error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert error.startswith("tb-filters: error: ") and "NaN or infinite" in error and "examples 56..63" in error
    assert all(line.startswith("tb-filters: [") for line in progress)
    assert listing(logdir) == before
    assert not (tmp_path / "export.json").exists()


def test_json_export_failing_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "filters.json"
    target.write_text('{"old": true}')

    class NotJson:
        pass

    with pytest.raises(TypeError):
        write_json(str(target), {"Filter_0": [{"activation": 1.0}], "Filter_1": [NotJson()]})

    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filters.json"]


TRAINING_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    import keras
    import tb_filters
    from tests.helpers.text_models import notebook_model, token_data

    model = notebook_model()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x = token_data(256)
    meta = np.zeros((len(x), 24), "float32")
    y = (x[:, 0] % 2).astype("float32")

    class Announce(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("epoch", epoch, flush=True)

    callback = tb_filters.FiltersCallback(x, layers=["conv_1"], log_dir={logdir!r}, top_k=3)
    model.fit([x, meta], y, epochs=10_000, batch_size=64, verbose=0, callbacks=[callback, Announce()])
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_training_killed_while_the_callback_writes_leaves_complete_reports(tmp_path, signum):
    logdir = tmp_path / "run"
    script = tmp_path / "train.py"
    script.write_text(TRAINING_SCRIPT.format(repo=str(REPO), logdir=str(logdir)))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_default_sigint)
    try:
        _wait_for_line(process.stdout, "epoch 2", timeout=240)
        # Reports are written back to back now; stop the job somewhere among them.
        time.sleep(0.3)
        process.send_signal(signum)
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode != 0

    event_files = [p for p in logdir.iterdir() if "tfevents" in p.name]
    assert len(event_files) >= 3
    for path in event_files:  # every report file is whole: both records read without a DataLossError
        assert sum(1 for _ in tf.data.TFRecordDataset(str(path))) == 2
    leftovers = [p.name for p in logdir.iterdir() if "tfevents" not in p.name]
    assert all(name.startswith(summary.TEMP_PREFIX) for name in leftovers), leftovers
    steps = sorted(read_reports(tmp_path)["run"]["conv_1"])
    assert steps == list(range(len(event_files)))


def test_ctrl_c_on_a_terminal_ends_the_bar_line_and_prints_one_line(files, tmp_path):
    """stderr on a real pseudo-terminal: the bar redraws in place (\\r), and
    the interruption message starts on a fresh line; nothing is written, the JSON export neither."""
    import pty
    import select

    logdir = _copy_logdir(files, tmp_path)
    before = listing(logdir)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tb_filters", "interpret", str(files["model.keras"]), "--data", str(files["many.npy"]),
         "--vocab", str(files["vocab.txt"]), "--logdir", str(logdir), "--batch-size", "16",
         "--json", str(tmp_path / "export.json")],
        stdout=subprocess.PIPE, stderr=terminal, preexec_fn=_default_sigint, text=True,
    )
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 240
        while seen.count(b"\r") < 3 and time.monotonic() < deadline:  # a few redraws
            if select.select([controller], [], [], 1.0)[0]:
                seen += os.read(controller, 4096)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        while select.select([controller], [], [], 0.5)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        stdout = process.stdout.read()
    finally:
        process.kill()
        process.stdout.close()
        os.close(controller)
    text = seen.decode()
    assert process.returncode == 130
    assert "\r\x1b[Ktb-filters: [" in text and "examples/s" in text
    assert text.replace("\r\n", "\n").endswith("\ntb-filters: interrupted, nothing written\n")
    assert "Traceback" not in text and stdout == ""
    assert listing(logdir) == before
    assert not (tmp_path / "export.json").exists()
