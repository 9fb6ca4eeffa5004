"""Filter signatures (issue 17): each probe example's maximum activation over positions, per filter,
checked against a Keras sub-model's activations, across batchings, shards and entry points."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tb_filters
from tb_filters.cli import commands as cli
from tb_filters.engine import assemble
from tb_filters.engine import interpret as interpret_lib
from tb_filters.engine import state as state_lib
from tests.helpers.readback import read_reports
from tests.helpers.text_models import conv, embedding, kim_cnn, notebook_model, submodel_outputs, token_data, tokens_input
from tests.helpers.tolerances import ACTIVATION_ATOL, ACTIVATION_RTOL, assert_within

# A float16 keeps 11 significant bits: storing rounds by at most half its eps, relative, plus
# the float32 noise of activations from other kernels; below float16's normal range its
# spacing is absolute (2**-24), far under ACTIVATION_ATOL.
FLOAT16_RTOL = float(np.finfo(np.float16).eps) / 2 + ACTIVATION_RTOL
FLOAT16_ATOL = 2.0**-24 + ACTIVATION_ATOL


def brute_signatures(model: keras.Model, layer: str, data: np.ndarray) -> np.ndarray:
    """[filters, examples]: each example's maximum over positions of the layer's activations."""
    return submodel_outputs(model, layer, data).max(axis=1).T


def assert_signatures_match(layer: tb_filters.LayerReport, want: np.ndarray) -> None:
    got = layer.signature_array()
    assert got.shape == want.shape
    assert_within(got, want, FLOAT16_ATOL + FLOAT16_RTOL * np.abs(want), err_msg=layer.name)


def assert_within_a_float16_ulp(got: tb_filters.LayerReport, want: tb_filters.LayerReport) -> None:
    """Float32 activations that round apart (other batch shapes) may land on neighbouring float16s."""
    assert (got.signatures, got.probe_examples, got.probe_fingerprint) == (
        want.signatures, want.probe_examples, want.probe_fingerprint)
    reference = want.signature_array()
    ulp = np.spacing(np.abs(reference).astype(np.float16)).astype(np.float32)
    assert_within(got.signature_array(), reference, ulp, err_msg=want.name)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data(150, seed=4)


@pytest.mark.parametrize("probe, effects", [(140, False), (100, True), (1000, False)])
def test_signatures_are_each_probe_examples_maximum_over_positions(data, probe, effects):
    # 150 examples in batches of 64: the probe of 140 ends inside the padded last batch, whose
    # padding rows must not count; 1000 is more than the data, so the probe is all of it.
    model = notebook_model()
    report = tb_filters.interpret(model, data, batch_size=64, probe_examples=probe, effects=effects,
                                  effect_examples=40, inputs={"meta": np.zeros((len(data), 24), np.float32)})
    probed = min(probe, len(data))
    for layer in report:
        assert layer.signatures == "computed" and layer.probe_examples == probed
        assert len(layer.signature_matrix) == 2 * len(layer.filters) * probed
        assert_signatures_match(layer, brute_signatures(model, layer.name, data[:probed]))


def test_every_branch_of_a_model_gets_its_signatures(data):
    model = kim_cnn()
    report = tb_filters.interpret(model, data, batch_size=32, probe_examples=50)
    assert len({layer.probe_fingerprint for layer in report}) == 1  # one probe for every layer
    for layer in report:
        assert_signatures_match(layer, brute_signatures(model, layer.name, data[:50]))


def test_probe_examples_zero_turns_signatures_off(data):
    layer = tb_filters.interpret(notebook_model(), data, probe_examples=0, effects=False)["conv_1"]
    assert (layer.signatures, layer.probe_examples, layer.probe_fingerprint, layer.signature_matrix) == (
        "turned off", 0, "", b"")
    assert layer.signature_array().shape == (len(layer.filters), 0)


def test_the_fingerprint_follows_the_probes_token_ids_and_their_order(data):
    model = notebook_model()

    def fingerprint(tokens, **options):
        return tb_filters.interpret(model, tokens, probe_examples=60, effects=False, **options)["conv_1"].probe_fingerprint

    same = fingerprint(data, batch_size=16)
    assert len(same) == 64 and same == fingerprint(data.copy(), batch_size=100)
    one_token = data.copy()
    one_token[37, 5] = (one_token[37, 5] + 1) % 50
    assert fingerprint(one_token) != same
    swapped = data.copy()
    swapped[[3, 4]] = data[[4, 3]]
    assert not np.array_equal(swapped, data) and fingerprint(swapped) != same
    outside = data.copy()
    outside[100, 0] = (outside[100, 0] + 1) % 50  # past the probe: not part of it
    assert fingerprint(outside) == same
    # The probe's size is part of what is compared.
    assert tb_filters.interpret(model, data, probe_examples=59, effects=False)["conv_1"].probe_fingerprint != same


def test_streaming_in_batches_of_any_size_equals_one_shot(data):
    model = notebook_model()
    reports = {size: tb_filters.interpret(model, data, batch_size=size, probe_examples=130, effects=False)
               for size in (len(data), 7, 32, 100)}
    for size, report in reports.items():
        for layer in report:
            assert_within_a_float16_ulp(layer, reports[len(data)][layer.name])


def _shard_states(model, tokens, first, options, batch_size=16):
    run = interpret_lib.start(model, options=options, expected_examples=len(tokens))
    for start in range(0, len(tokens), batch_size):
        run.feed(tokens[start: start + batch_size], first + start)
    return run, run.layer_states()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shard_states_merged_in_random_partitions_equal_one_pass(data, seed):
    model = notebook_model()
    options = tb_filters.Options(probe_examples=90, effects=False, top_k=3)
    run, whole = _shard_states(model, data, 0, options)
    rng = np.random.default_rng(seed)
    bounds = [0, *sorted(rng.choice(np.arange(1, len(data)), size=3, replace=False).tolist()), len(data)]
    shards = [_shard_states(model, data[a:b], a, options)[1] for a, b in zip(bounds, bounds[1:])]
    order = rng.permutation(len(shards))
    merged = {name: state_lib.merge_all(shards[i][name] for i in order) for name in whole}
    for name, state in merged.items():
        # Every probe row comes from exactly one shard: the hashes add up exactly.
        np.testing.assert_array_equal(state.arrays["probe_hash"], whole[name].arrays["probe_hash"])
        assert_within(state.arrays["signature"], whole[name].arrays["signature"],
                      ACTIVATION_ATOL + ACTIVATION_RTOL * np.abs(whole[name].arrays["signature"]), err_msg=name)
    settled = {name: state_lib.settle(state, [data]) for name, state in merged.items()}
    got = assemble.report(run.chains, settled, run.vocabulary, run.described, options)
    want = assemble.report(run.chains, whole, run.vocabulary, run.described, options)
    for layer in want:
        assert_within_a_float16_ulp(got[layer.name], layer)
        assert_signatures_match(got[layer.name], brute_signatures(model, layer.name, data[:90]))


def test_a_shard_past_the_probe_adds_nothing_to_it(data):
    options = tb_filters.Options(probe_examples=20, effects=False)
    _, states = _shard_states(notebook_model(), data[40:80], 40, options)
    assert not states["conv_1"].arrays["signature"].any() and not states["conv_1"].arrays["probe_hash"].any()


def test_the_cli_writes_the_apis_signatures(tmp_path, data):
    model = notebook_model()
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", data)
    (tmp_path / "vocab.txt").write_text("\n".join(f"w{i}" for i in range(50)) + "\n")
    code = cli.main(["interpret", str(tmp_path / "model.keras"), "--data", str(tmp_path / "x.npy"),
                     "--vocab", str(tmp_path / "vocab.txt"), "--logdir", str(tmp_path / "logs" / "run"),
                     "--probe-examples", "70", "--no-effects"])
    assert code == 0
    written = read_reports(tmp_path / "logs")["run"]
    want = tb_filters.interpret(model, data, probe_examples=70, effects=False)
    for layer in want:
        assert_within_a_float16_ulp(written[layer.name][0], layer)


def tiny_classifier() -> keras.Model:
    tokens = tokens_input()
    x = conv(4, 3, "conv_1", activation="relu")(embedding(tokens))
    model = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalMaxPooling1D()(x)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    return model


def test_the_callback_writes_signatures_at_each_epoch(tmp_path, data):
    model = tiny_classifier()
    expected = []
    # Called after the filters callback at each epoch's end, on the same weights.
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: expected.append(brute_signatures(model, "conv_1", data[:80])))
    filters = tb_filters.FiltersCallback(data, log_dir=str(tmp_path / "logs" / "run"), probe_examples=80)
    model.fit(data, (data[:, 0] % 2).astype("float32"), epochs=3, batch_size=32, verbose=0,
              callbacks=[filters, record])
    reports = read_reports(tmp_path / "logs")["run"]["conv_1"]
    assert sorted(reports) == [0, 1, 2]
    assert len({layer.probe_fingerprint for layer in reports.values()}) == 1
    for epoch, layer in reports.items():
        assert layer.signatures == "computed" and layer.probe_examples == 80
        assert_signatures_match(layer, expected[epoch])
    assert not np.array_equal(reports[0].signature_array(), reports[2].signature_array())


@pytest.mark.slow
def test_beam_shards_give_the_one_pass_signatures(tmp_path):
    pytest.importorskip("apache_beam")
    from tb_filters import beam as tb_beam
    from tests.beam.test_beam import IN_MEMORY, run_pipeline

    data = token_data(200, seed=7)
    bounds = (0, 23, 24, 64, 81, 145, 200)  # the probe of 100 spans five shards, one of a single example
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        np.save(tmp_path / f"part-{i:02d}.npy", data[a:b])
    model = notebook_model()
    model.save(tmp_path / "model.keras")
    run_pipeline(IN_MEMORY, tb_beam.ReadSequences(str(tmp_path / "part-*.npy"), batch_size=16),
                 str(tmp_path / "model.keras"), str(tmp_path / "logs"), batch_size=16, probe_examples=100)
    written = read_reports(tmp_path / "logs")["."]
    want = tb_filters.interpret(model, data, batch_size=16, probe_examples=100)
    for layer in want:
        assert_within_a_float16_ulp(written[layer.name][0], layer)
        assert_signatures_match(written[layer.name][0], brute_signatures(model, layer.name, data[:100]))
