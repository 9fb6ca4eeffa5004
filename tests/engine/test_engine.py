"""interpret() against brute-force numpy on small real Keras models."""

from __future__ import annotations

import os

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_filters
from tb_filters.engine import receptive
from tb_filters.format.report import HISTOGRAM_EDGES, PAD_TOKEN
from tests.helpers.text_models import (
    LENGTH,
    VOCAB_SIZE,
    chain_model,
    conv,
    kim_cnn,
    notebook_model,
    randomize_normalization,
    submodel_outputs,
    token_data,
)

# Activations of order 1 from the compiled step against the model's own call: float32 rounding of
# two kernel paths (tests/helpers/tolerances.py), also the gap within which a near tie may order either way.
TOLERANCE = 1e-5
WORDS = ["", "<oov>", "<user>", "<url>"] + [f"w{i}" for i in range(4, VOCAB_SIZE)]


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return token_data()


@pytest.fixture(scope="module")
def notebook() -> keras.Model:
    return notebook_model()


# --- brute-force references -----------------------------------------------------------------


def span_windows(data: np.ndarray, span: receptive.Span, output_length: int) -> np.ndarray:
    """[N, output_length, width] token ids of every span, -1 outside the sequence."""
    slots = (np.arange(output_length) * span.stride + span.offset)[:, None] + np.arange(span.width)
    inside = (slots >= 0) & (slots < data.shape[1])
    return np.where(inside[None], data[:, np.clip(slots, 0, data.shape[1] - 1)], -1)


def brute_raw(acts: np.ndarray, k: int) -> list[list[tuple]]:
    """Per filter: (value, example, position) of the k best, ties by example then position."""
    n, length, filters = acts.shape
    result = []
    for f in range(filters):
        flat = acts[:, :, f].ravel()
        order = np.lexsort((np.arange(flat.size), -flat))[:k]
        result.append([(flat[i], i // length, i % length, 1) for i in order])
    return result


def brute_distinct(acts: np.ndarray, windows: np.ndarray, k: int, keys: np.ndarray | None = None) -> list[list[tuple]]:
    """Per filter: (max value, first example, first position, count) of the k best distinct windows."""
    n, length, filters = acts.shape
    rows = windows.reshape(n * length, -1)
    if keys is not None:
        rows = np.concatenate([rows, np.tile(keys, n)[:, None]], axis=1)
    _, first, inverse, counts = np.unique(rows, axis=0, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    result = []
    for f in range(filters):
        best = np.full(len(first), -np.inf, np.float32)
        np.maximum.at(best, inverse, acts[:, :, f].ravel())
        order = np.lexsort((first, -best))[:k]
        result.append([(best[u], first[u] // length, first[u] % length, counts[u]) for u in order])
    return result


def assert_windows_match(layer_report, expected: list[list[tuple]], windows: np.ndarray | None = None):
    assert len(layer_report.filters) == len(expected)
    for f, want in zip(layer_report.filters, expected, strict=True):
        got = f.windows
        assert len(got) == len(want), f"filter {f.index}"
        np.testing.assert_allclose([w.activation for w in got], [v for v, *_ in want], rtol=0, atol=TOLERANCE)
        values = np.array([v for v, *_ in want])
        for i, (w, (value, example, position, count)) in enumerate(zip(got, want, strict=True)):
            near = np.abs(values - value)
            if np.any((near > 0) & (near <= TOLERANCE)):
                continue  # a near tie: rounding may order it either way
            assert (w.example, w.position, w.count) == (example, position, count), f"filter {f.index} rank {i}"
            if windows is not None:
                assert w.token_ids == tuple(int(t) for t in windows[example, position])


def layer_geometry(report, name):
    g = report[name].geometry
    return receptive.Span(g.span_stride, g.span_offset, g.span_width), g.output_length


# --- the notebook's semantics -----------------------------------------------------------------


def test_raw_top_k_is_the_notebooks_computation(notebook, data):
    report = tb_filters.interpret(
        notebook, data, layers=["conv_1"], vocab=WORDS, top_k=10, distinct=False, batch_size=64
    )
    acts = submodel_outputs(notebook, "conv_1", data)  # [N, L, F]
    layer = report["conv_1"]
    assert layer.geometry.output_length == LENGTH and layer.num_examples == len(data)
    padded = np.pad(data, ((0, 0), (1, 1)), constant_values=-1)
    for f in layer.filters:
        flat = acts[:, :, f.index].ravel()
        best = np.argsort(-flat, kind="stable")[:10]
        np.testing.assert_allclose([w.activation for w in f.windows], flat[best], atol=TOLERANCE)
        assert [(w.example, w.position) for w in f.windows] == [divmod(int(i), LENGTH) for i in best]
        for w in f.windows:
            # words = the tokens at input positions position-1 .. position+1
            ids = padded[w.example, w.position: w.position + 3]
            assert w.words == " ".join(PAD_TOKEN if t <= 0 else WORDS[t] for t in ids)
            assert w.count == 1
    exported = layer.to_notebook_json()
    assert list(exported) == [f"Filter_{i}" for i in range(6)]
    assert set(exported["Filter_0"][0]) == {"activation", "tweet", "position", "words"}


# --- brute force on many chains -----------------------------------------------------------------

CHAINS = {
    "zeropad-k3": lambda: chain_model(keras.layers.ZeroPadding1D(1), conv(5, 3, "c", activation="relu")),
    "same-s2-k4": lambda: chain_model(conv(5, 4, "c", strides=2, padding="same")),
    "causal-d2": lambda: chain_model(conv(5, 3, "c", dilation_rate=2, padding="causal", activation="tanh")),
    "valid-s3-k2": lambda: chain_model(conv(5, 2, "c", strides=3)),
    "same-d3": lambda: chain_model(conv(4, 2, "c", dilation_rate=3, padding="same", activation="relu")),
    "maxpool-stack": lambda: chain_model(
        conv(4, 3, "c1", activation="relu"), keras.layers.MaxPooling1D(2), conv(5, 2, "c", seed=7, padding="same")
    ),
    "avgpool-same-stack": lambda: chain_model(
        keras.layers.ZeroPadding1D((2, 0)),
        conv(4, 2, "c1"),
        keras.layers.AveragePooling1D(3, strides=2, padding="same"),
        conv(5, 2, "c", seed=7, activation="relu"),
    ),
    "crop-then-pad": lambda: chain_model(
        keras.layers.Cropping1D((1, 2)), keras.layers.ZeroPadding1D(2), conv(5, 3, "c", activation="relu")
    ),
    "dropout-pad-same-d2": lambda: chain_model(
        keras.layers.SpatialDropout1D(0.3), keras.layers.ZeroPadding1D((2, 1)),
        conv(5, 3, "c", dilation_rate=2, padding="same", activation="relu"),
    ),
    "normalized": lambda: randomize_normalization(chain_model(
        keras.layers.BatchNormalization(),
        keras.layers.ZeroPadding1D(1),
        keras.layers.LayerNormalization(),
        keras.layers.Dropout(0.5),
        conv(5, 3, "c"),
    )),
}


@pytest.fixture(params=["plain", "xla", "tables"])
def path(request, monkeypatch) -> str:
    """Runs a test on each way the step computes a batch: the layers' own calls without XLA (small
    inputs skip it) and with it, and, where the first conv reads the embedding, the table path."""
    pin_path(monkeypatch, tables=request.param == "tables", xla=request.param != "plain")
    return request.param


def pin_path(monkeypatch, tables: bool, xla: bool = True) -> None:
    """Gather from projection tables wherever they apply (tables.py), or nowhere, whatever the data's size."""
    from tb_filters.engine import interpret as engine
    from tb_filters.engine import tables as tables_lib

    monkeypatch.setattr(engine, "XLA_MIN_ACTIVATIONS", 0 if xla else engine.XLA_MIN_ACTIVATIONS)
    monkeypatch.setattr(tables_lib, "worth_it", lambda plan, positions, max_bytes: tables and plan is not None)


@pytest.fixture(scope="module", params=sorted(CHAINS))
def chain_case(request, data):
    model = CHAINS[request.param]()
    return request.param, model, submodel_outputs(model, "c", data)


def test_raw_matches_brute_force(chain_case, data, path):
    _, model, acts = chain_case
    report = tb_filters.interpret(model, data, layers="c", top_k=7, distinct=False, batch_size=33)
    span, length = layer_geometry(report, "c")
    assert length == acts.shape[1]
    assert_windows_match(report["c"], brute_raw(acts, 7), span_windows(data, span, length))


def test_distinct_matches_brute_force(chain_case, data, path):
    name, model, acts = chain_case
    report = tb_filters.interpret(model, data, layers="c", top_k=7, distinct=True, batch_size=33)
    span, length = layer_geometry(report, "c")
    windows = span_windows(data, span, length)
    keys = None
    if name == "crop-then-pad":
        # There the window's tokens alone do not decide its value near the edges.
        steps = [receptive.cropping_step(1, 2), receptive.padding_step(2, 2),
                 receptive.window_step(3, 1, 1, "valid", LENGTH + 1)]
        keys = receptive.boundary_keys(steps, LENGTH)
    assert_windows_match(report["c"], brute_distinct(acts, windows, 7, keys), windows)
    for f in report["c"].filters:
        for w in f.windows:
            assert w.activation == pytest.approx(float(acts[w.example, w.position, f.index]), abs=TOLERANCE)


def test_stats_match_numpy(chain_case, data, path):
    _, model, acts = chain_case
    report = tb_filters.interpret(model, data, layers="c", top_k=2, batch_size=64)
    for f in report["c"].filters:
        values = acts[:, :, f.index].ravel()
        stats = f.stats
        assert stats.positions == values.size
        assert stats.max == pytest.approx(values.max(), abs=TOLERANCE)
        assert stats.min == pytest.approx(values.min(), abs=TOLERANCE)
        assert stats.mean == pytest.approx(values.astype(np.float64).mean(), abs=TOLERANCE)
        assert stats.positive_fraction == pytest.approx((values > 0).mean(), abs=1e-6)
        expected = np.bincount(np.digitize(values, HISTOGRAM_EDGES[1:-1]), minlength=len(HISTOGRAM_EDGES) - 1)
        assert stats.histogram == tuple(expected)


def test_contributions_sum_to_the_pre_activation(chain_case, data):
    name, model, acts = chain_case
    report = tb_filters.interpret(model, data, layers="c", top_k=5, batch_size=64)
    layer = report["c"]
    conv_layer = model.get_layer("c")
    stacked = name.endswith("stack")
    assert layer.has_contributions == (not stacked)
    if stacked:
        assert all(w.contributions is None for f in layer.filters for w in f.windows)
        return
    dilation = conv_layer.dilation_rate[0]
    for f in layer.filters:
        assert f.bias == pytest.approx(float(conv_layer.bias.numpy()[f.index]))
        for w in f.windows:
            assert len(w.contributions) == layer.geometry.span_width
            pre_activation = np.float32(sum(w.contributions) + f.bias)
            expected = float(conv_layer.activation(tf.constant([pre_activation])).numpy()[0])
            assert expected == pytest.approx(w.activation, rel=1e-4, abs=1e-6)
            off_taps = [c for j, c in enumerate(w.contributions) if j % dilation]
            outside = [c for c, t in zip(w.contributions, w.token_ids, strict=True) if t == -1]
            if name == "normalized":
                # LayerNormalization after the padding turns padding into its beta.
                assert all(c != 0.0 for c in outside)
            else:
                assert all(c == 0.0 for c in off_taps + outside)


def test_linear_contributions_are_dot_products_with_the_embedding(data):
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(3, 3, "c"))
    layer = tb_filters.interpret(model, data, top_k=3)["c"]
    embedding = model.layers[0].embeddings.numpy()
    kernel = model.get_layer("c").kernel.numpy()
    for f in layer.filters:
        for w in f.windows:
            for j, t in enumerate(w.token_ids):
                want = 0.0 if t == -1 else float(kernel[j, :, f.index] @ embedding[t])
                assert w.contributions[j] == pytest.approx(want, rel=1e-5, abs=1e-6)
            assert sum(w.contributions) + f.bias == pytest.approx(w.activation, rel=1e-4, abs=1e-6)


# --- models with several branches and inputs ---------------------------------------------------


def test_multi_input_model_needs_only_token_ids(notebook, data):
    report = tb_filters.interpret(notebook, data, top_k=4, distinct=False)
    assert list(report.layers) == ["conv_1", "conv_2"]
    for name in ("conv_1", "conv_2"):
        acts = submodel_outputs(notebook, name, data)
        span, length = layer_geometry(report, name)
        assert_windows_match(report[name], brute_raw(acts, 4), span_windows(data, span, length))
    assert report["conv_2"].geometry.path == ("tokens", "embedding", "zero_padding1d", "conv_1", "pool_1")
    assert report["conv_2"].geometry.padding == "same"


def test_kim_cnn_branches_share_one_pass(data):
    model = kim_cnn()
    report = tb_filters.interpret(model, data, top_k=5, batch_size=50)
    assert list(report.layers) == ["conv_k2", "conv_k3", "conv_k4"]
    for name in report.layers:
        acts = submodel_outputs(model, name, data)
        span, length = layer_geometry(report, name)
        windows = span_windows(data, span, length)
        assert_windows_match(report[name], brute_distinct(acts, windows, 5), windows)
    only = tb_filters.interpret(model, data, layers=["conv_k4", "conv_k2"], top_k=5, batch_size=50)
    assert list(only.layers) == ["conv_k4", "conv_k2"]
    assert only["conv_k2"] == report["conv_k2"]


def test_text_vectorization_front_feeds_ids_after_it():
    sentences = np.array(["the cat sat on the mat", "a dog sat", "the cat and the dog", "mat"] * 10)
    vectorizer = keras.layers.TextVectorization(output_sequence_length=6, name="vectorize")
    vectorizer.adapt(sentences)
    text = keras.Input((1,), dtype="string")
    x = keras.layers.Embedding(len(vectorizer.get_vocabulary()), 4, name="emb")(vectorizer(text))
    out = keras.layers.Conv1D(3, 2, name="c", activation="relu")(x)
    model = keras.Model(text, out)
    ids = vectorizer(sentences).numpy()
    report = tb_filters.interpret(model, ids, top_k=3)
    vocabulary = vectorizer.get_vocabulary()
    assert report["c"].geometry.path == ("vectorize", "emb")
    for f in report["c"].filters:
        for w in f.windows:
            assert w.tokens == tuple(PAD_TOKEN if t == 0 else vocabulary[t] for t in w.token_ids)


# --- distinct mode details ----------------------------------------------------------------------


def test_distinct_counts_are_exact_when_every_window_ties():
    # A dead relu filter: every activation is 0, so the k distinct windows are the
    # first k seen, and their counts must include the later batches.
    model = chain_model(conv(2, 2, "c", activation="relu"), length=6)
    weights = model.get_layer("c").get_weights()
    weights[1][0] = -100.0
    model.get_layer("c").set_weights(weights)
    rng = np.random.default_rng(3)
    data = rng.integers(1, 4, (300, 6)).astype(np.int32)  # few distinct windows, many repeats
    acts = submodel_outputs(model, "c", data)
    report = tb_filters.interpret(model, data, top_k=5, batch_size=16)
    span, length = layer_geometry(report, "c")
    windows = span_windows(data, span, length)
    assert_windows_match(report["c"], brute_distinct(acts, windows, 5), windows)
    assert all(w.activation == 0.0 for w in report["c"].filters[0].windows)
    assert sum(w.count for w in report["c"].filters[0].windows) > 5 * 16


def test_distinct_windows_are_distinct_and_counted_over_all_examples(notebook, data):
    layer = tb_filters.interpret(notebook, data, layers="conv_1", top_k=10)["conv_1"]
    for f in layer.filters:
        ids = [w.token_ids for w in f.windows]
        assert len(set(ids)) == len(ids) == 10
        padded = np.pad(data, ((0, 0), (1, 1)), constant_values=-1)
        for w in f.windows:
            occurrences = sum(
                1 for n in range(len(data)) for p in range(LENGTH) if tuple(padded[n, p: p + 3]) == w.token_ids
            )
            assert w.count == occurrences


def test_fewer_positions_than_k_gives_every_position(notebook):
    data = token_data(n=2)
    layer = tb_filters.interpret(notebook, data, layers="conv_1", top_k=50, distinct=False)["conv_1"]
    assert all(len(f.windows) == 2 * LENGTH for f in layer.filters)
    distinct = tb_filters.interpret(notebook, data, layers="conv_1", top_k=50)["conv_1"]
    assert all(sum(w.count for w in f.windows) == 2 * LENGTH for f in distinct.filters)


# --- streaming ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("tables", [False, True], ids=["layers", "tables"])
@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "raw"])
def test_streaming_equals_one_shot(notebook, data, tmp_path, distinct, tables, monkeypatch):
    pin_path(monkeypatch, tables)  # else data of unknown size (a generator) would take the layers' path
    n = len(data)

    def run(sequences, batch_size=1024):
        return tb_filters.interpret(notebook, sequences, top_k=6, distinct=distinct, batch_size=batch_size)

    one_shot = run(data, batch_size=n)
    np.save(tmp_path / "data.npy", data)
    dataset = tf.data.Dataset.from_tensor_slices((data, np.zeros(n))).batch(32)
    variants = {
        "batch 1": lambda: run(data[:40], batch_size=1),
        "batch 7": lambda: run(data, batch_size=7),
        "batch > N": lambda: run(data, batch_size=n + 13),
        "memmap": lambda: run(np.load(tmp_path / "data.npy", mmap_mode="r"), batch_size=50),
        "list of batches": lambda: run([data[i: i + 30] for i in range(0, n, 30)]),
        "generator": lambda: run(data[i: i + 64] for i in range(0, n, 64)),
        "tf.data (x, y)": lambda: run(dataset),
        "tensor": lambda: run(tf.constant(data), batch_size=64),
    }
    for label, make in variants.items():
        expected = run(data[:40], batch_size=40) if label == "batch 1" else one_shot
        assert make() == expected, label


def test_progress_reports_examples_done(notebook, data):
    seen = []
    tb_filters.interpret(notebook, data, layers="conv_1", top_k=2, batch_size=64, progress=seen.append)
    assert seen == [64, 128, 192, 200]


def test_activations_are_float32_values_as_python_floats(notebook, data):
    report = tb_filters.interpret(notebook, data, top_k=3)
    for layer in report:
        for f in layer.filters:
            for value in [w.activation for w in f.windows] + [f.stats.max, f.stats.mean, f.bias]:
                assert type(value) is float and float(np.float32(value)) == value


def test_padding_slots_and_token_zero(notebook, data):
    layer = tb_filters.interpret(notebook, data, layers="conv_1", vocab=WORDS, top_k=50, distinct=False)["conv_1"]
    windows = [w for f in layer.filters for w in f.windows]
    outside = [w for w in windows if w.position == 0]
    zeros = [w for w in windows if 0 in w.token_ids]
    assert outside and zeros
    for w in outside:
        assert w.span_start == -1 and w.token_ids[0] == -1 and w.tokens[0] == PAD_TOKEN and w.padding[0]
    for w in zeros:
        j = w.token_ids.index(0)
        assert w.tokens[j] == PAD_TOKEN and w.padding[j]
    oov = [w for w in windows if 1 in w.token_ids]
    assert all(w.tokens[w.token_ids.index(1)] == "<oov>" for w in oov)


def _resident_kib(path: str) -> int:
    """Resident memory of this process's mappings of `path`, from /proc/self/smaps."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and all(c in "0123456789abcdef-" for c in first):
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads Linux's /proc/self/smaps")
def test_memory_mapped_data_does_not_stay_resident(tmp_path):
    from tb_filters.engine import batches

    path = str(tmp_path / "tokens.npy")
    np.save(path, np.arange(4_000_000, dtype=np.int32).reshape(-1, 32))  # 16 MB
    tokens = np.load(path, mmap_mode="r")
    total = sum(int(batch.sum(dtype=np.int64)) for batch in batches.batches(tokens, 1024))
    assert total == 4_000_000 * 3_999_999 // 2  # every token was read
    assert _resident_kib(path) < 1024  # without releasing pages: all 16 MB
    copy_on_write = np.load(path, mmap_mode="c")
    assert sum(int(batch.sum(dtype=np.int64)) for batch in batches.batches(copy_on_write, 1024)) == total
    assert _resident_kib(path) > 8 * 1024  # a copy-on-write map keeps its pages: they may hold changes


@pytest.fixture(scope="module")
def tie_model() -> keras.Model:
    """Relu with a negative bias: many exact zeros, so ties everywhere."""
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(4, 3, "c", activation="relu"))
    kernel, bias = model.get_layer("c").get_weights()
    model.get_layer("c").set_weights([kernel, bias - 0.05])
    return model


@pytest.mark.slow
@hypothesis.settings(
    max_examples=8, deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture]
)
@hypothesis.given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 120),
    vocabulary=st.integers(2, 6),
    k=st.integers(1, 12),
    batch_size=st.integers(1, 130),
    distinct=st.booleans(),
)
def test_random_data_with_many_repeats_matches_brute_force(tie_model, seed, n, vocabulary, k, batch_size, distinct):
    data = np.random.default_rng(seed).integers(0, vocabulary, (n, LENGTH)).astype(np.int32)
    acts = submodel_outputs(tie_model, "c", data)
    report = tb_filters.interpret(tie_model, data, top_k=k, distinct=distinct, batch_size=batch_size)
    span, length = layer_geometry(report, "c")
    windows = span_windows(data, span, length)
    expected = brute_distinct(acts, windows, k) if distinct else brute_raw(acts, k)
    assert_windows_match(report["c"], expected, windows)


def test_a_second_call_sees_new_weights_and_new_lengths():
    # Compiled steps are reused across calls (a callback interprets every epoch):
    # they must read the weights as they are now, and not mix up sequence lengths.
    model = chain_model(keras.layers.ZeroPadding1D(1), conv(3, 3, "c", use_bias=False), length=None)
    data = token_data(n=50)
    before = tb_filters.interpret(model, data, top_k=3, distinct=False)["c"]
    layer = model.get_layer("c")
    layer.set_weights([layer.get_weights()[0] * 2.0])
    after = tb_filters.interpret(model, data, top_k=3, distinct=False)["c"]
    for f_before, f_after in zip(before.filters, after.filters, strict=True):
        assert [w.activation * 2 for w in f_before.windows] == pytest.approx([w.activation for w in f_after.windows])
    shorter = token_data(n=50, length=8)
    report = tb_filters.interpret(model, shorter, top_k=3, distinct=False)["c"]
    acts = submodel_outputs(model, "c", shorter)
    span, length = layer_geometry(tb_filters.Report({"c": report}), "c")
    assert length == 8 and report.geometry.input_length == 8
    assert_windows_match(report, brute_raw(acts, 3), span_windows(shorter, span, length))


def test_a_dropped_model_is_not_kept_alive():
    import gc
    import weakref

    from tb_filters.engine import interpret as engine

    model = chain_model(conv(2, 2, "c"))
    tb_filters.interpret(model, token_data(n=10), top_k=1)
    layer = weakref.ref(model.get_layer("c"))
    layer_id = id(layer())
    assert any(layer_id in chain for key in engine._STEPS for chain in key[0])
    del model
    gc.collect()  # the model goes, and its compiled step with it
    gc.collect()  # then the cycles the step's functions made
    assert layer() is None  # its weights are freed too
    assert not any(layer_id in chain for key in engine._STEPS for chain in key[0])
