"""The browser tests' log dir, written by the real engine on tiny Keras models.

Two runs ("kernel3", "kernel5"), steps 0-2, two conv layers each, and a
"loss" scalar. Filter 0 of
"conv1d" is set to respond to XSS_TOKEN and filter 1 to "<user>", so both
are certain to be among the top windows the tab shows. Between steps the
other filters drift, as they would in training, so their windows change.
"""

from __future__ import annotations

import os

import numpy as np

XSS_TOKEN = "<img src=x onerror=window.__xss=1>"
USER_TOKEN = "<user>"
VOCABULARY = (
    "<pad>", "<oov>", USER_TOKEN, "<url>", "<allcaps>", XSS_TOKEN,
    "love", "hate", "this", "movie", "great", "awful", "the", "a", "so", "not",
    "really", "fun", "boring", "plot", "actor", "scene", "music", "ending",
)
RUNS = {"kernel3": 3, "kernel5": 5}
STEPS = (0, 1, 2)
LAYER = "conv1d"
SECOND_LAYER = "conv1d_b"
NUM_FILTERS = 12
TOP_K = 5
SEQUENCE_LENGTH = 12
NUM_SEQUENCES = 240
PLANTED = {0: XSS_TOKEN, 1: USER_TOKEN}


def sequences(seed: int = 0) -> np.ndarray:
    """Token ids with padding at the end of short sequences, like tokenized tweets."""
    rng = np.random.default_rng(seed)
    weights = np.ones(len(VOCABULARY))
    weights[:2] = 0.0  # no padding or OOV inside the text
    weights[[VOCABULARY.index(t) for t in PLANTED.values()]] = 2.0
    ids = rng.choice(len(VOCABULARY), size=(NUM_SEQUENCES, SEQUENCE_LENGTH), p=weights / weights.sum())
    lengths = rng.integers(SEQUENCE_LENGTH // 2, SEQUENCE_LENGTH + 1, NUM_SEQUENCES)
    ids[np.arange(SEQUENCE_LENGTH)[None, :] >= lengths[:, None]] = 0
    return ids.astype("int32")


def build_model(kernel_size: int, seed: int, outputs: int = 1):
    """One sigmoid output unit, or `outputs` softmax units."""
    import keras

    keras.utils.set_random_seed(seed)
    tokens = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(len(VOCABULARY), 8, name="embedding")(tokens)
    x = keras.layers.ZeroPadding1D(1, name="zero_padding1d")(x)
    x = keras.layers.Conv1D(NUM_FILTERS, kernel_size, activation="relu", name=LAYER)(x)
    x = keras.layers.MaxPooling1D(2, name="max_pooling1d")(x)
    x = keras.layers.Conv1D(6, 2, activation="relu", name=SECOND_LAYER)(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    output = keras.layers.Dense(outputs, activation="sigmoid" if outputs == 1 else "softmax", name="label")(x)
    return keras.Model(tokens, output)


def _set_step_weights(model, base_kernel: np.ndarray, step: int, rng: np.random.Generator) -> None:
    """The first conv layer at a training `step`: drifted weights, planted filters kept.

    A planted filter reads only its centre slot, along the planted token's
    embedding scaled to give exactly 1 + step there; other tokens project
    less (write_logdir checks that they do).
    """
    conv = model.get_layer(LAYER)
    embedding = model.get_layer("embedding").get_weights()[0]
    kernel = base_kernel + step * 0.6 * rng.standard_normal(base_kernel.shape).astype("float32")
    centre = kernel.shape[0] // 2
    for index, token in PLANTED.items():
        vector = embedding[VOCABULARY.index(token)]
        kernel[:, :, index] = 0.0
        kernel[centre, :, index] = (1.0 + step) * vector / float(np.dot(vector, vector))
    conv.set_weights([kernel, np.zeros(kernel.shape[-1], dtype="float32")])


def write_logdir(path: str | os.PathLike) -> str:
    """Writes both runs; returns the log dir."""
    import tb_filters
    from tb_filters.format import summary

    logdir = os.fspath(path)
    data = sequences()
    for seed, (run, kernel_size) in enumerate(RUNS.items()):
        model = build_model(kernel_size, seed)
        base_kernel = model.get_layer(LAYER).get_weights()[0]
        rng = np.random.default_rng(seed)
        for step in STEPS:
            _set_step_weights(model, base_kernel, step, rng)
            report = tb_filters.interpret(
                model, data, layers=[LAYER, SECOND_LAYER], vocab=list(VOCABULARY), top_k=TOP_K,
                batch_size=64, inhibiting=True, contexts=True,
            )
            _check_planted(report[LAYER], run, step)
            summary.write_report(os.path.join(logdir, run), report, step)
        _write_loss(os.path.join(logdir, run))
    return logdir


# The browser words test's log dir: "bare" computed nothing optional, "named" names its two outputs
# (one name hostile, so it must stay text wherever the tab writes it).
BARE_RUN, NAMED_RUN = "bare", "named"
OUTPUT_NAMES = ("negative", f"positive {XSS_TOKEN}")


def write_words_logdir(path: str | os.PathLike) -> str:
    """One step of each run, both layers; returns the log dir."""
    import tb_filters
    from tb_filters.format import summary

    logdir = os.fspath(path)
    data = sequences()
    options = {
        BARE_RUN: dict(inhibiting=False, contexts=False, slot_top_n=0, effects=False),
        NAMED_RUN: dict(class_names=list(OUTPUT_NAMES), inhibiting=True, contexts=True),
    }
    for run, chosen in options.items():
        model = build_model(3, seed=0, outputs=len(OUTPUT_NAMES))
        report = tb_filters.interpret(model, data, layers=[LAYER, SECOND_LAYER], vocab=list(VOCABULARY),
                                      top_k=TOP_K, batch_size=64, **chosen)
        summary.write_report(os.path.join(logdir, run), report, 0)
    return logdir


def _write_loss(run_dir: str) -> None:
    """A scalar per step, so TensorBoard has another tab to switch to and back."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(run_dir)
    for step in STEPS:
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (1 + step))
        writer.add_event(event_pb2.Event(step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=[value])))
    writer.close()


def _check_planted(layer, run: str, step: int) -> None:
    for index, token in PLANTED.items():
        windows = layer.filters[index].windows
        if not windows or any(w.tokens[len(w.tokens) // 2] != token for w in windows):
            raise AssertionError(f"{run} step {step}: filter {index} does not find {token!r}")


# The browser match test's log dir. "original" is the kernel-3 model at steps 0-2 (drifting like
# kernel3 above, filters 0 and 1 planted); "permuted" is a copy of its last step with conv1d's
# filters permuted (conv1d_b reads them permuted back): filter k of "permuted" is filter
# MATCH_PERMUTATION[k] of "original", except that the copies of REPLACED got fresh random
# kernels, so those filters are in "original" only. "other_data" is "permuted" probed on other
# examples, which must never be matched.
ORIGINAL_RUN, PERMUTED_RUN, OTHER_DATA_RUN = "original", "permuted", "other_data"
MATCH_PERMUTATION = (5, 9, 0, 11, 3, 7, 1, 10, 2, 8, 4, 6)
REPLACED = (4, 7, 10)


def write_match_logdir(path: str | os.PathLike) -> str:
    """Writes the three runs; returns the log dir."""
    import tb_filters
    from tb_filters.format import summary

    logdir = os.fspath(path)
    data = sequences()
    interpret = lambda model, examples: tb_filters.interpret(  # noqa: E731
        model, examples, layers=[LAYER, SECOND_LAYER], vocab=list(VOCABULARY), top_k=TOP_K, batch_size=64,
        contexts=True)
    model = build_model(3, seed=0)
    base_kernel = model.get_layer(LAYER).get_weights()[0]
    rng = np.random.default_rng(0)
    for step in STEPS:
        _set_step_weights(model, base_kernel, step, rng)
        summary.write_report(os.path.join(logdir, ORIGINAL_RUN), interpret(model, data), step)
    _permute_filters(model, MATCH_PERMUTATION)
    inverse = {original: k for k, original in enumerate(MATCH_PERMUTATION)}
    _replace_filters(model, [inverse[index] for index in REPLACED], rng)
    report = interpret(model, data)
    for index, token in PLANTED.items():  # the planted filters moved with the permutation
        if any(w.tokens[len(w.tokens) // 2] != token for w in report[LAYER].filters[inverse[index]].windows):
            raise AssertionError(f"permuted filter {inverse[index]} does not find {token!r}")
    summary.write_report(os.path.join(logdir, PERMUTED_RUN), report, STEPS[-1])
    summary.write_report(os.path.join(logdir, OTHER_DATA_RUN), interpret(model, sequences(seed=1)), STEPS[-1])
    return logdir


def _permute_filters(model, permutation) -> None:
    conv, after = model.get_layer(LAYER), model.get_layer(SECOND_LAYER)
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel[:, :, list(permutation)], bias[list(permutation)]])
    next_kernel, next_bias = after.get_weights()
    after.set_weights([next_kernel[:, list(permutation), :], next_bias])


def _replace_filters(model, indices, rng: np.random.Generator) -> None:
    conv = model.get_layer(LAYER)
    kernel, bias = conv.get_weights()
    fresh = rng.standard_normal(kernel[..., indices].shape).astype("float32") * kernel.std()
    kernel[..., indices] = fresh
    conv.set_weights([kernel, bias])
