"""The benchmark's code paths at tiny sizes, so `make bench` never rots.

These check what the benchmark computes (the workload, the notebook baseline
and its agreement check, the forward-pass reference, the memory probe, the
live-TensorBoard checks, the table), never how fast anything is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import (  # noqa: E402
    beam_targets,
    callback_targets,
    effects_targets,
    engine_targets,
    forward,
    notebook,
    payload_targets,
    plugin_targets,
    process_targets,
    run,
    table,
    workload,
)
from tests.helpers.tolerances import ACTIVATION_ATOL, ACTIVATION_RTOL  # noqa: E402

VOCAB = 300
LENGTH = 12


@pytest.fixture(scope="module")
def tiny_model():
    return workload.build_model(vocab_size=VOCAB, length=LENGTH, embedding_dim=8, filters=4, meta_features=3)


@pytest.fixture(scope="module")
def tiny_tokens(tmp_path_factory):
    spec = workload.DataSpec(examples=700, length=LENGTH, vocab_size=VOCAB, chunk_rows=256, seed=5)
    return np.load(workload.token_file(spec, str(tmp_path_factory.mktemp("data"))))


def test_token_file_is_zipf_ids_padded_at_the_end(tmp_path):
    spec = workload.DataSpec(examples=2_500, length=LENGTH, vocab_size=VOCAB, min_length=3, chunk_rows=1_000)
    tokens = np.load(workload.token_file(spec, str(tmp_path)), mmap_mode="r")
    assert tokens.shape == (2_500, LENGTH) and tokens.dtype == np.int32
    assert tokens.min() == 0 and tokens.max() < VOCAB
    lengths = (tokens != 0).sum(axis=1)
    assert lengths.min() >= 3 and lengths.max() <= LENGTH and len(set(lengths.tolist())) > 3
    # Zeros only at the end: the first `length` slots are all real tokens.
    assert all((row[:n] != 0).all() for row, n in zip(tokens, lengths))
    frequencies = np.bincount(tokens[tokens != 0], minlength=VOCAB)
    assert frequencies.argmax() == 1 and frequencies[1] > frequencies[2] > frequencies[10] > 0


def test_token_file_is_reused_only_for_the_same_spec(tmp_path):
    spec = workload.DataSpec(examples=300, length=LENGTH, vocab_size=VOCAB, chunk_rows=128)
    path = workload.token_file(spec, str(tmp_path))
    first = np.load(path)
    written = os.stat(path).st_mtime_ns
    assert workload.token_file(spec, str(tmp_path)) == path and os.stat(path).st_mtime_ns == written
    os.remove(path)
    assert (np.load(workload.token_file(spec, str(tmp_path))) == first).all()  # seeded: same content
    other = np.load(workload.token_file(dataclasses.replace(spec, seed=spec.seed + 1), str(tmp_path)))
    assert not (other == first).all()
    assert not [n for n in os.listdir(tmp_path) if "partial" in n]


def test_model_has_the_notebooks_shape(tiny_model):
    conv_1, conv_2 = tiny_model.get_layer(workload.FIRST_CONV), tiny_model.get_layer(workload.SECOND_CONV)
    assert [len(i.shape) for i in tiny_model.inputs] == [2, 2]
    assert conv_1.kernel_size == (3,) and conv_1.filters == 4 and conv_2.filters == 4
    assert tiny_model.get_layer("pad_1").padding == (1, 1)


def test_notebook_method_is_the_brute_force_top_k(tiny_model, tiny_tokens):
    tokens = tiny_tokens[:150]
    export, activations = notebook.top_windows(tiny_model, workload.FIRST_CONV, tokens,
                                               workload.meta_features(150, 3), workload.vocabulary(VOCAB), 5)
    assert activations.shape == (150, LENGTH, 4)
    vocab = workload.vocabulary(VOCAB)
    for f in range(4):
        windows = export[f"Filter_{f}"]
        assert [w["activation"] for w in windows] == pytest.approx(np.sort(activations[:, :, f].ravel())[::-1][:5])
        for w in windows:
            assert activations[w["tweet"], w["position"], f] == pytest.approx(w["activation"])
            slots = [tokens[w["tweet"]][i] if 0 <= i < LENGTH else 0 for i in range(w["position"] - 1, w["position"] + 2)]
            assert w["words"] == " ".join(vocab[t] for t in slots)


def test_agreement_check_accepts_the_engine_and_rejects_a_wrong_answer(tiny_model, tiny_tokens):
    import tb_filters

    tokens, vocab = tiny_tokens[:200], workload.vocabulary(VOCAB)
    theirs, activations = notebook.top_windows(tiny_model, workload.FIRST_CONV, tokens,
                                               workload.meta_features(200, 3), vocab, 6)
    report = tb_filters.interpret(tiny_model, tokens, layers=[workload.FIRST_CONV], vocab=vocab, top_k=6,
                                  distinct=False, batch_size=64)
    ours = report[workload.FIRST_CONV].to_notebook_json()
    agreement = notebook.compare(ours, theirs, activations)
    assert agreement.agrees and agreement.filters_agreeing == 4, agreement.problems

    shifted = json.loads(json.dumps(ours))
    shifted["Filter_2"][0]["position"] = (shifted["Filter_2"][0]["position"] + 1) % LENGTH
    assert not notebook.compare(shifted, theirs, activations).agrees
    lowered = json.loads(json.dumps(ours))
    lowered["Filter_1"][3]["activation"] -= 1e-3
    rejected = notebook.compare(lowered, theirs, activations)
    assert not rejected.agrees and rejected.filters_agreeing == 3 and "Filter_1" in rejected.problems[0]


def test_forward_reference_computes_the_layers_maximum(tiny_model, tiny_tokens):
    import keras

    step = forward.conv_maximum_step(tiny_model, workload.FIRST_CONV)
    seconds, maxima = forward.run(step, tiny_tokens, batch_size=96)  # 700 rows: a short last batch
    sub_model = keras.Model(tiny_model.inputs[0], tiny_model.get_layer(workload.FIRST_CONV).output)
    expected = sub_model.predict(tiny_tokens, verbose=0).max(axis=(0, 1))
    # The benchmark's step and `predict` run other kernels on other batch shapes: float32 rounding.
    assert seconds > 0 and maxima == pytest.approx(expected, rel=ACTIVATION_RTOL, abs=ACTIVATION_ATOL)


def test_table_path_gathers_compute_the_layers_maximum(tiny_model, tiny_tokens):
    reference = forward.run(forward.conv_maximum_step(tiny_model, workload.FIRST_CONV), tiny_tokens, 96)[1]
    seconds, maxima = forward.run(forward.table_maximum_step(tiny_model, workload.FIRST_CONV), tiny_tokens, 96)
    # Sums of the same products in another order (gathered projections vs the convolution): float32 rounding.
    assert seconds > 0 and maxima == pytest.approx(reference, rel=ACTIVATION_RTOL, abs=ACTIVATION_ATOL)


def test_engine_targets_end_to_end_at_tiny_sizes(tmp_path):
    sizes = engine_targets.EngineSizes(
        data=workload.DataSpec(examples=1_200, length=LENGTH, vocab_size=VOCAB, chunk_rows=500),
        filters=4, notebook_examples=150, small_examples=300, batch_size=128)
    w = engine_targets.Workload(sizes, data_dir=str(tmp_path))
    quiet = lambda *args: None  # noqa: E731
    speedup_raw, speedup_again, speedup_distinct, agreement = engine_targets.t1_rows(w, log=quiet)
    assert agreement.status == "PASS" and agreement.value == 4
    assert speedup_raw.value > 0 and speedup_again.value > 0 and speedup_distinct.passed is not False
    table, native, raw, layers_path, under_jax, opt_in, without_detects = engine_targets.t2_rows(w, log=quiet)
    assert "KERAS_BACKEND=jax" in under_jax.what and "distinct=False" in raw.what
    for ratio in (table, native, raw, under_jax):
        assert ratio.value > 0 and ratio.passed is not False and "forward pass's" in ratio.detail
        assert ": NO" not in ratio.detail
    assert "of 4 filters list the same windows" in native.detail and "what blocks the target" in native.detail
    assert "table_memory_mb=0" in layers_path.what and "the table path is" in layers_path.detail
    assert opt_in.value > 0 and "hence opt-in" in opt_in.detail
    assert without_detects.value > 0 and "slot preferences cost" in without_detects.detail
    memory, streamed = engine_targets.t3_rows(w, log=quiet)
    assert "table_memory_mb=0" in streamed.what and streamed.unit == "MB" and "projection tables" in memory.detail
    # The probes report how many examples their interpret saw.
    assert "1,200 vs 300 sequences" in memory.what and "peak (VmHWM) reset" in memory.detail
    assert memory.unit == "MB" and abs(memory.value) < 2_000
    sampled = dataclasses.replace(sizes, signature_examples=600, signature_repeats=1)
    time_ratio, payload_ratio = engine_targets.interval_rows(engine_targets.Workload(sampled, data_dir=str(tmp_path)),
                                                             log=quiet)
    assert time_ratio.value > 0 and time_ratio.passed is not False  # the intervals were computed
    assert payload_ratio.value > 1 and payload_ratio.unit == "x"


def test_process_rows_at_tiny_sizes(tmp_path):
    sizes = engine_targets.EngineSizes(
        data=workload.DataSpec(examples=400, length=LENGTH, vocab_size=VOCAB, chunk_rows=200),
        filters=4, notebook_examples=150, batch_size=64)
    w = engine_targets.Workload(sizes, data_dir=str(tmp_path))
    effects, no_effects = process_targets.process_rows(w, log=lambda *args: None, repeats=1)
    assert effects.target == no_effects.target == "T1" and effects.passed is not False  # its event file written
    assert "150 sequences, both conv layers (4 filters each), batch 64" in effects.what
    assert effects.value > 0 and no_effects.value > 0 and "CPU time" in effects.detail


def test_engine_payload_row_at_tiny_sizes(tmp_path):
    sizes = engine_targets.EngineSizes(
        data=workload.DataSpec(examples=400, length=LENGTH, vocab_size=VOCAB, chunk_rows=200), batch_size=128)
    w = engine_targets.Workload(sizes, data_dir=str(tmp_path))
    (row,) = payload_targets.engine_payload_rows(w, filters=6, examples=300)
    assert row.target == "T4" and row.unit == "MiB" and 0 < row.value < 8
    assert "6 filters x top-100 on 300 sequences" in row.what and "contexts; deflated bytes" in row.detail
    shares = dict(part.rsplit(" ", 1) for part in row.detail.split(": ", 1)[1].removesuffix(" MiB").split(", "))
    assert set(shares) == {"signatures", "contexts", "token table", "windows", "inhibiting", "patterns",
                           "slot preferences", "intervals"}
    assert sum(float(mib) for mib in shares.values()) > 0


def test_effect_costs_at_tiny_sizes(tmp_path):
    sizes = engine_targets.EngineSizes(
        data=workload.DataSpec(examples=400, length=LENGTH, vocab_size=VOCAB, chunk_rows=200),
        filters=4, small_examples=300, batch_size=128, wide_filters=16)
    w = engine_targets.Workload(sizes, data_dir=str(tmp_path))
    notebook_shaped, wide = effects_targets.effect_rows(w, log=lambda *args: None)
    for row in (notebook_shaped, wide):
        assert row.target == "EFF" and row.value > 0 and row.passed is not False
        assert "effects computed: yes" in row.detail and "(effects over the first 300)" in row.detail
    assert "4 filters of conv_1" in notebook_shaped.what and "16-filter layer" in wide.what


def test_callback_rows_at_tiny_sizes(tmp_path):
    sizes = callback_targets.CallbackSizes(train_examples=600, callback_examples=200, epochs=2, batch_size=100,
                                           vocab_size=VOCAB, length=LENGTH, filters=4)
    later, first = callback_targets.callback_rows(sizes, data_dir=str(tmp_path), log=lambda *args: None)
    assert later.target == first.target == "CB" and later.passed is not False  # a report at every epoch
    assert "reports written: 2 of 2" in later.detail and "600 sequences" in later.what
    assert later.value > 0 and first.value > 0


@pytest.fixture(scope="module")
def tiny_plugin_workload():
    # 80 filters: a full first page and a short second one.
    return plugin_targets.PluginWorkload(num_filters=80, top_k=5, steps=2, vocab_size=400)


def _page(spec, expected, step, offset, tamper=None, card=False) -> bytes:
    shown = lambda i: min(expected[step][i].num_windows, 10) if card else expected[step][i].num_windows  # noqa: E731
    filters = [{"index": i, "num_windows": expected[step][i].num_windows,
                "windows": [{"activation": expected[step][i].first_activation,
                             "tokens": list(expected[step][i].first_tokens)}] + [{}] * (shown(i) - 1),
                **dict.fromkeys(plugin_targets.ON_DEMAND, None if card else [])}
               for i in range(offset, min(offset + spec.page_size, spec.num_filters))]
    page = {"step": step, "offset": offset, "num_filters": spec.num_filters, "filters": filters,
            "on_demand": list(plugin_targets.ON_DEMAND) if card else []}
    if tamper:
        tamper(page)
    return json.dumps(page).encode()


def test_page_check_catches_wrong_answers(tiny_plugin_workload):
    spec = tiny_plugin_workload
    rng = np.random.default_rng(0)
    expected = {s: [plugin_targets.ExpectedFilter(5, float(rng.random()), ("a", "b", "c")) for _ in range(80)]
                for s in range(2)}
    check = lambda body, step=1, offset=64: plugin_targets.page_problems(200, body, spec, expected, step, offset)  # noqa: E731
    assert check(_page(spec, expected, 1, 64)) == []
    assert check(_page(spec, expected, 0, 64))  # another step's page
    assert check(_page(spec, expected, 1, 0))  # another page
    assert check(_page(spec, expected, 1, 64, lambda p: p["filters"].pop()))
    assert check(_page(spec, expected, 1, 64, lambda p: p["filters"][3]["windows"][0].update(activation=9.0)))
    assert check(_page(spec, expected, 1, 64, lambda p: p["filters"][0]["windows"].pop()))
    assert plugin_targets.page_problems(500, b"oops", spec, expected, 1, 64)
    tab = lambda body: plugin_targets.page_problems(200, body, spec, expected, 1, 64, plugin_targets.TAB_PAGE)  # noqa: E731
    assert tab(_page(spec, expected, 1, 64, card=True)) == []
    assert tab(_page(spec, expected, 1, 64))  # the whole page where closed cards were asked
    assert tab(_page(spec, expected, 1, 64, lambda p: p["filters"][2].update(intervals=[]), card=True))


def test_plugin_targets_against_a_live_tensorboard(tiny_plugin_workload):
    sizes = plugin_targets.Sizes(route_requests=4, route_warmups=1, render_repeats=1, load_clients=4,
                                 load_requests=3, load_time_limit=120)
    rows = plugin_targets.measure(tiny_plugin_workload, sizes, {"T4", "LOAD"}, log=lambda *a: None)
    assert [r.target for r in rows] == ["T4"] * 8 + ["EFF"] * 2 + ["LOAD"] * 2
    payload = rows[7]
    assert payload.unit == "MiB" and payload.value > 0 and "without them" in payload.detail
    assert "closed cards in the background" in rows[0].detail and "builds its own cards" in rows[1].detail
    wrong = [r for r in rows if r.passed is False]
    assert not wrong, [r.detail for r in wrong]
    assert rows[9].unit == "KB" and 0 < rows[9].value < 100
    correct = rows[10]
    assert (correct.value, correct.unit, correct.status) == (12, "of 12", "PASS")
    assert all(r.value > 0 for r in rows)


def test_table_rows_and_results_file():
    rows = [
        table.Measurement("T1", "speed-up", 150.0, "x", limit=100, at_least=True),
        table.Measurement("T2", "ratio", 1.8, "x", limit=1.5, detail="slow step"),
        table.Measurement("LOAD", "correct", 499, "of 500", passed=False),
        table.Measurement("LOAD", "p50", 12.5, "ms"),
    ]
    assert [r.status for r in rows] == ["PASS", "MISS", "MISS", "INFO"]
    assert rows[0].ratio == 1.5 and rows[1].ratio == pytest.approx(1.2)
    assert rows[1].note() == "slow step; missed by 1.20x"
    assert table.Measurement("T1", "s", 50.0, "x", limit=100, at_least=True).note() == "missed by 2.00x"
    text = table.markdown(rows)
    lines = text.splitlines()
    assert len(lines) == 2 + len(rows) and lines[2].startswith("| T1 | speed-up | 150 x | >= 100 x | 1.50 | PASS |")
    info = table.machine()
    assert {"cores", "memory", "cpu", "python", "tensorflow", "keras", "tensorboard", "numpy"} <= set(info)
    results = table.results_markdown(rows, info, "make bench", ["a note"])
    assert "`make bench`" in results and text in results and "- a note" in results


@pytest.mark.slow
def test_beam_rows_at_tiny_sizes(tmp_path):
    sizes = beam_targets.BeamSizes(
        data=workload.DataSpec(examples=900, length=LENGTH, vocab_size=VOCAB, chunk_rows=500),
        filters=4, shards=3, batch_size=128, merge_counts=(4, 16))
    quiet = lambda *args: None  # noqa: E731
    one, two, speedup = beam_targets.pipeline_rows(sizes, data_dir=str(tmp_path), log=quiet)
    assert "900 sequences in 3 .npy shards" in one.what and "2 worker processes" in two.what
    assert one.passed is None and two.passed is None, (one.detail, two.detail)  # reports equal in-process
    assert one.value > 0 and two.value > 0 and speedup.value > 0
    merges = beam_targets.merge_rows(sizes, log=quiet)
    assert [m.what.split(",")[1].strip() for m in merges] == ["4 shard states (4 filters", "16 shard states (4 filters"]
    assert all(m.value > 0 and m.unit == "ms per merge" for m in merges)


def test_run_refuses_unknown_parts():
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--only", "T1,T9"])
    assert exit_info.value.code == 2
