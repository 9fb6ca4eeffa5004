"""tb_filters.beam on Beam's Python DirectRunner (in memory and 2 worker processes):
the report equals `tb_filters.interpret` on the concatenated shards."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import apache_beam as beam  # noqa: E402
import tensorflow as tf  # noqa: E402

import tb_filters  # noqa: E402
from tb_filters import beam as tb_beam  # noqa: E402
from tb_filters.beam import io as beam_io  # noqa: E402
from tb_filters.errors import FiltersError  # noqa: E402
from tb_filters.format import summary  # noqa: E402
from tests.helpers.readback import listing, read_reports  # noqa: E402
from tests.helpers.text_models import chain_model, conv, notebook_model, token_data  # noqa: E402
from tests.helpers.tolerances import as_stored  # noqa: E402

IN_MEMORY = ["--direct_running_mode", "in_memory"]
TWO_PROCESSES = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing",
                 "--default_sdk_harness_log_level=WARNING"]
SHARD_SIZES = (23, 1, 40, 17, 64, 5, 31, 19)  # 200 rows in 8 shards of uneven sizes


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(sum(SHARD_SIZES), seed=7)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, data) -> str:
    folder = tmp_path_factory.mktemp("shards")
    bounds = np.cumsum((0,) + SHARD_SIZES)
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        np.save(folder / f"part-{i:02d}.npy", data[a:b])
    return str(folder / "part-*.npy")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("model") / "notebook.keras")
    notebook_model().save(path)
    return path


def run_pipeline(options, source, model_path, logdir, step=0, **interpret_args) -> None:
    with tb_beam.pipeline(options) as p:
        _ = (p | source | tb_beam.Interpret(model_path, **interpret_args) | tb_beam.WriteReport(logdir, step))


def assert_reports_equal(got: dict, want: tb_filters.Report) -> None:
    assert list(got) == list(want.layers)
    for name, layer in want.layers.items():
        read = got[name]
        # Shards batch examples apart: their float32 activations, hence the float16 signatures, may round apart.
        assert (dataclasses.replace(read, filters=(), signature_matrix=b"")
                == dataclasses.replace(layer, filters=(), signature_matrix=b""))
        ulp = np.spacing(np.abs(layer.signature_array()).astype(np.float16)).astype(np.float32)
        assert np.all(np.abs(read.signature_array() - layer.signature_array()) <= ulp), name
        for g, w in zip(read.filters, as_stored(layer).filters, strict=True):  # contributions read back as float16
            assert g.windows == w.windows and g.bias == w.bias, f"{name} filter {w.index}"
            assert (g.inhibiting, g.patterns) == (w.inhibiting, w.patterns), f"{name} filter {w.index}"
            assert g.slot_preferences == w.slot_preferences, f"{name} filter {w.index}"
            # XLA or not (the engine picks by data size) may round the mean's float32 sums apart.
            assert dataclasses.replace(g.stats, mean=0.0) == dataclasses.replace(w.stats, mean=0.0)
            assert g.stats.mean == pytest.approx(w.stats.mean, rel=1e-5, abs=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("distinct", [True, False])
def test_eight_shards_on_two_worker_processes_equal_interpret(tmp_path, shards, data, model_path, distinct):
    logdir = str(tmp_path / "logs")
    run_pipeline(TWO_PROCESSES, tb_beam.ReadSequences(shards, batch_size=16), model_path, logdir, step=4,
                 top_k=6, distinct=distinct, batch_size=16)
    want = tb_filters.interpret(notebook_model(), data, top_k=6, distinct=distinct, batch_size=16)
    reports = read_reports(logdir)
    assert list(reports) == ["."]
    assert_reports_equal({tag: steps[4] for tag, steps in reports["."].items()}, want)


@pytest.mark.slow
def test_tfrecord_shards_and_tied_windows_in_memory(tmp_path):
    # A dead relu filter: every window ties at 0, so merged counts must be recounted.
    layer = conv(3, 3, "conv", activation="relu", padding="same")
    net = chain_model(layer)
    kernel, bias = layer.get_weights()
    kernel[:, :, 0], bias[0] = 0.0, -1.0
    layer.set_weights([kernel, bias])
    net.save(tmp_path / "dead.keras")
    data = token_data(90, seed=3)
    for i, part in enumerate(np.array_split(data, 3)):
        with tf.io.TFRecordWriter(str(tmp_path / f"part-{i}.tfrecord")) as writer:
            for row in part:
                feature = tf.train.Feature(int64_list=tf.train.Int64List(value=row.tolist()))
                writer.write(tf.train.Example(features=tf.train.Features(feature={"ids": feature})).SerializeToString())
    logdir = str(tmp_path / "logs")
    run_pipeline(IN_MEMORY, tb_beam.ReadSequences(str(tmp_path / "*.tfrecord"), feature="ids", batch_size=8),
                 str(tmp_path / "dead.keras"), logdir, top_k=4, batch_size=8, slot_top_n=4, min_count=2,
                 inhibiting=True, contexts=True)
    want = tb_filters.interpret(net, data, top_k=4, batch_size=8, slot_top_n=4, min_count=2, inhibiting=True,
                                contexts=True)
    assert want["conv"].slot_top_n == 4  # what a filter detects follows the options through the pipeline too
    assert [w.count for w in want["conv"].filters[0].windows] != [1] * 4  # the tie case is exercised
    assert_reports_equal({tag: steps[0] for tag, steps in read_reports(logdir)["."].items()}, want)


def test_offsets_come_from_the_npy_headers_in_file_name_order(shards, data):
    ranges = list(beam_io.plan_ranges(shards, None, rows_per_range=16))
    assert [r.first_example for r in ranges if r.start == 0] == list(np.cumsum((0,) + SHARD_SIZES[:-1]))
    assert all(r.stop - r.start <= 16 for r in ranges)
    np.testing.assert_array_equal(np.concatenate([r.read() for r in ranges]), data)


def test_an_id_beyond_the_vocabulary_fails_naming_shard_and_example(tmp_path, model_path, data):
    folder = tmp_path / "shards"
    folder.mkdir()
    np.save(folder / "a.npy", data[:30])
    bad = data[30:60].copy()
    bad[12, 3] = 77
    np.save(folder / "b.npy", bad)
    logdir = tmp_path / "logs"
    with pytest.raises(FiltersError) as error:
        run_pipeline(IN_MEMORY, tb_beam.ReadSequences(str(folder / "*.npy"), batch_size=8), model_path,
                     str(logdir), batch_size=8)
    message = str(error.value)
    assert "\n" not in message and message.startswith("Expected token ids >= 0, < 50")
    assert "token id 77 in example 42" in message and str(folder / "b.npy") in message
    assert not logdir.exists()


def test_a_worker_traceback_becomes_the_one_line_error():
    text = ("Traceback (most recent call last):\n  ...\ntb_filters.errors.FiltersError: Expected token ids >= 0. "
            "Received token id -1 in example 3 (shard s.npy)\n\nDuring handling ...")
    found = tb_beam.runner.filters_error(RuntimeError(text))
    assert str(found) == "Expected token ids >= 0. Received token id -1 in example 3 (shard s.npy)"
    assert tb_beam.runner.filters_error(RuntimeError("disk full")) is None


def test_the_direct_runner_is_beams_python_runner_never_prism():
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    for argv in ([], ["--runner", "DirectRunner"], IN_MEMORY):
        assert isinstance(tb_beam.pipeline(argv).runner, fn_runner.FnApiRunner)


def test_a_retried_write_finds_its_file_and_writes_no_second(tmp_path, data):
    report = tb_filters.interpret(notebook_model(), data[:20], top_k=2)
    write = tb_beam.WriteReport(str(tmp_path), step=1)
    first = beam_io.write_once(report, str(tmp_path), 1, write.suffix)
    assert beam_io.write_once(report, str(tmp_path), 1, write.suffix) == first
    assert os.listdir(tmp_path) == [os.path.basename(first)]
    assert summary.read_report(first) == tb_filters.Report({name: as_stored(layer) for name, layer in report.layers.items()})


def test_merge_states_combine_fn_is_order_free(data):
    from tb_filters.beam.interpret import MergeStates
    from tb_filters.engine import interpret as interpret_lib

    net = notebook_model()

    def part(a, b):
        run = interpret_lib.start(net, top_k=3, expected_examples=b - a)
        run.feed(data[a:b], a)
        return run.layer_states()

    parts = [part(0, 30), part(30, 70), part(70, 100)]
    combine = MergeStates()
    one = combine.extract_output(combine.merge_accumulators(
        [combine.add_input(combine.create_accumulator(), p) for p in parts]))
    other = combine.merge_accumulators([combine.add_input(combine.add_input(None, parts[2]), parts[0]), parts[1]])
    for name in one:
        for key, array in one[name].arrays.items():
            if array.dtype == np.float64:  # float64 sums: equal up to the order of additions (state.py),
                # a few float64 ulps of the parts' magnitudes (effect sums may cancel towards 0)
                scale = sum(np.abs(p[name].arrays[key]) for p in parts)
                assert np.all(np.abs(array - other[name].arrays[key]) <= 1e-12 * scale), key
            else:
                np.testing.assert_array_equal(array, other[name].arrays[key], err_msg=key)
    assert combine.merge_accumulators([None, None]) is None


@pytest.mark.slow
def test_cli_runner_writes_the_same_files(tmp_path, shards, data, model_path):
    logdir, json_path = tmp_path / "logs", tmp_path / "conv.json"
    command = [sys.executable, "-m", "tb_filters", "interpret", model_path, "--data", shards, "--logdir", str(logdir),
               "--top-k", "4", "--layer", "conv_1", "--json", str(json_path), "--step", "2", "--batch-size", "32",
               "--runner", "DirectRunner", *TWO_PROCESSES]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "200 examples" in done.stdout
    want = tb_filters.interpret(notebook_model(), data, layers="conv_1", top_k=4, batch_size=32)
    assert_reports_equal({tag: steps[2] for tag, steps in read_reports(logdir)["."].items()}, want)
    import json

    assert json.loads(json_path.read_text()) == json.loads(json.dumps(want["conv_1"].to_notebook_json()))


def test_cli_runner_bad_shard_exits_2_with_one_line_and_writes_nothing(tmp_path, model_path, data):
    bad = data[:10].copy()
    bad[4, 0] = -3
    np.save(tmp_path / "bad.npy", bad)
    logdir = tmp_path / "logs"
    logdir.mkdir()
    before = listing(logdir)
    command = [sys.executable, "-m", "tb_filters", "interpret", model_path, "--data", str(tmp_path / "*.npy"),
               "--logdir", str(logdir), "--runner", "DirectRunner", *IN_MEMORY]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("tb-filters: error: Expected token ids >= 0") and "example 4" in last
    assert "bad.npy" in last and "Traceback" not in done.stderr
    assert listing(logdir) == before


def test_beam_options_without_runner_are_refused():
    from tb_filters.cli import commands

    assert commands.main(["interpret", "m.keras", "--data", "x.npy", "--logdir", "l", "--direct_num_workers", "2"]) == 2


def test_interpret_refuses_bad_numbers_at_construction():
    with pytest.raises(FiltersError, match="top_k >= 1"):
        tb_beam.Interpret("m.keras", top_k=0)
    assert isinstance(tb_beam.Interpret("m.keras"), beam.PTransform)


def assert_effects_equal(got: tb_filters.LayerReport, want: tb_filters.LayerReport) -> None:
    """Effects, dead and duplicate filters: float64 means of float32 outputs, from batches of other
    shapes on the workers, so equal to float32 rounding; names, counts and flags exactly."""
    assert (got.output_names, got.effects_note, got.sample_examples) == (
        want.output_names, want.effects_note, want.sample_examples)
    for g, w in zip(got.filters, want.filters, strict=True):
        assert (g.dead, g.duplicate_of) == (w.dead, w.duplicate_of), f"filter {w.index}"
        assert [e.output for e in g.effects] == [e.output for e in w.effects]
        for ge, we in zip(g.effects, w.effects):
            assert ge.mean == pytest.approx(we.mean, rel=1e-4, abs=1e-6), f"filter {w.index} {we.output}"
            assert ge.mean_abs == pytest.approx(we.mean_abs, rel=1e-4, abs=1e-6), f"filter {w.index} {we.output}"


@pytest.mark.slow
@pytest.mark.parametrize("effects", [True, False], ids=["effects", "no-effects"])
def test_cli_options_reach_the_beam_workers(tmp_path, shards, data, model_path, effects):
    from tb_filters.cli import commands

    meta = np.random.default_rng(4).random((len(data), 24), dtype=np.float32)
    np.save(tmp_path / "meta.npy", meta)
    np.save(tmp_path / "all.npy", data)
    (tmp_path / "classes.txt").write_text("positive\n")
    (tmp_path / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(int(data.max()) + 1)))
    options = ["--vocab", str(tmp_path / "vocab.txt"), "--input", f"meta={tmp_path / 'meta.npy'}",
               "--class-names", str(tmp_path / "classes.txt"), "--effect-examples", "150", "--top-k", "3",
               "--batch-size", "32", "--slot-top-n", "4", "--min-count", "2", "--pattern-share", "0.3",
               "--duplicate-threshold", "0.5", "--inhibiting", *([] if effects else ["--no-effects"])]
    runs = {"local": ["--data", str(tmp_path / "all.npy")],
            "beam": ["--data", shards, "--runner", "DirectRunner", *IN_MEMORY]}
    for name, how in runs.items():
        argv = ["interpret", model_path, "--logdir", str(tmp_path / name), *how, *options]
        assert commands.main(argv) == 0, name
    local, beamed = (read_reports(tmp_path / name)["."] for name in runs)
    assert_reports_equal({tag: steps[0] for tag, steps in beamed.items()},
                         tb_filters.Report(layers={tag: steps[0] for tag, steps in local.items()}))
    for tag in local:
        got, want = beamed[tag][0], local[tag][0]
        assert want.sample_examples == 150
        if tag == "conv_1":  # fed by the embedding: slot preferences and patterns are defined
            assert (want.slot_top_n, want.pattern_share) == (4, 0.3)
        assert want.output_names == (("positive",) if effects else ())
        assert want.duplicate_threshold == 0.5
        assert_effects_equal(got, want)
