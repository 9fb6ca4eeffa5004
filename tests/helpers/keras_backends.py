"""Runs tb_filters in a process of its own under another Keras backend.

The backend is fixed when Keras is imported, so the test process (TensorFlow)
cannot switch: `run_under("jax", outdir)` starts `python -m
tests.helpers.keras_backends` with KERAS_BACKEND set, which interprets and
trains the test models there and leaves in `outdir`:

    models.pkl              {model name: {distinct: Report}} from tb_filters.interpret
    <model>.weights.h5      the weights those reports were computed with
    trained.keras, run/     a classifier trained with FiltersCallback (one report per epoch)
    refused.txt             (other backends) the errors of FiltersCallback and interpret
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP_K = 4
EPOCHS = 2
VOCAB_SIZE = 50  # text_models.VOCAB_SIZE, without importing Keras here
VOCAB = ["<pad>"] + [f"w{i}" for i in range(1, VOCAB_SIZE)]


def run_under(backend: str, outdir: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "tests.helpers.keras_backends", outdir], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def compared_models():
    """name -> a seeded model: pooling between two convs, and normalization (non-trainable variables)."""
    import keras

    from tests.helpers import text_models

    def normalized():
        # Every layer named: the reports name the path, and automatic names depend on the process's history.
        tokens = text_models.tokens_input()
        x = text_models.embedding(tokens)
        x = keras.layers.BatchNormalization(name="normalization")(x)
        x = keras.layers.ZeroPadding1D(2, name="padding")(x)
        x = text_models.conv(5, 3, "conv_bn", activation="relu", dilation_rate=2)(x)
        return text_models.randomize_normalization(keras.Model(tokens, x, name="normalized"))

    return {"notebook": text_models.notebook_model, "normalized": normalized}


def classifier():
    import keras

    from tests.helpers import text_models

    tokens = text_models.tokens_input()
    x = text_models.embedding(tokens)
    x = keras.layers.ZeroPadding1D(1)(x)
    x = text_models.conv(4, 3, "conv_1", activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    model = keras.Model(tokens, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    return model


def training_data():
    from tests.helpers.text_models import token_data

    x = token_data(96, seed=3)
    return x, (x[:, 0] % 2).astype("float32")


def _interpret_models(outdir: str) -> None:
    import tb_filters
    from tests.helpers.text_models import token_data

    reports = {}
    for name, build in compared_models().items():
        model = build()
        model.save_weights(os.path.join(outdir, f"{name}.weights.h5"))
        reports[name] = {distinct: tb_filters.interpret(model, token_data(300), top_k=TOP_K, distinct=distinct,
                                                        batch_size=64, inhibiting=True, contexts=True)
                         for distinct in (True, False)}
    with open(os.path.join(outdir, "models.pkl"), "wb") as f:
        pickle.dump(reports, f)


def _train_with_callback(outdir: str) -> None:
    import tb_filters

    x, y = training_data()
    callback = tb_filters.FiltersCallback(x, vocab=VOCAB, log_dir=os.path.join(outdir, "run"), top_k=TOP_K)
    model = classifier()
    model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0, callbacks=[callback])
    if len(callback.written) != EPOCHS:
        raise SystemExit(f"the callback wrote {callback.written}")
    model.save(os.path.join(outdir, "trained.keras"))


def _refusals(outdir: str) -> None:
    import keras

    import tb_filters

    messages = []
    for attempt in (lambda: tb_filters.FiltersCallback(training_data()[0]),
                    lambda: tb_filters.interpret(keras.Sequential([keras.Input((4,))]), training_data()[0])):
        try:
            attempt()
            messages.append("accepted")
        except tb_filters.FiltersError as e:
            messages.append(str(e))
    with open(os.path.join(outdir, "refused.txt"), "w") as f:
        f.write("\n".join(messages) + "\n")


def main(outdir: str) -> None:
    import keras

    if keras.backend.backend() == "jax":
        _interpret_models(outdir)
        _train_with_callback(outdir)
    else:
        _refusals(outdir)


if __name__ == "__main__":
    main(sys.argv[1])
