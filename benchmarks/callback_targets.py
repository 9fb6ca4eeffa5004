"""CB: what FiltersCallback adds to training (issue 19), in one model.fit.

The notebook-shaped model (workload.build_model: conv_1 -> pool -> conv_2 ->
dense, with the meta input) trains on 100,000 sequences per epoch; the callback
interprets both conv layers on 10,000 other sequences at the end of every
epoch, effects on (default options, the meta input passed). A timing callback
before it and one after it split each epoch into training and the callback's
time, so both are measured in the same run on the same machine state. The
first epoch's callback pays the tracing (and XLA compilation) of interpret's
functions; the later ones reuse them, reading the weights as training left them.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import numpy as np

from benchmarks import workload
from benchmarks.table import Measurement


@dataclasses.dataclass(frozen=True)
class CallbackSizes:
    train_examples: int = 100_000
    callback_examples: int = 10_000  # interpreted per epoch: the notebook's 10,000 tweets, the default effect_examples
    epochs: int = 3
    batch_size: int = 128  # training
    vocab_size: int = workload.NOTEBOOK_VOCAB
    length: int = workload.SEQUENCE_LENGTH
    filters: int = workload.NUM_FILTERS
    target: float = 5.0  # the callback's time per epoch, in % of a training epoch's

    @classmethod
    def quick(cls) -> "CallbackSizes":
        return cls(train_examples=10_000, callback_examples=2_000, epochs=2)

    @property
    def data(self) -> workload.DataSpec:
        return workload.DataSpec(examples=self.train_examples + self.callback_examples, length=self.length,
                                 vocab_size=self.vocab_size, chunk_rows=min(100_000, self.train_examples))


def _clocks(begun: list, trained: list, done: list, log) -> tuple:
    """Keras calls callbacks in list order: one clock goes before FiltersCallback, one after."""
    import keras

    class Before(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            begun.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            trained.append(time.perf_counter())

    class After(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            done.append(time.perf_counter())
            log(f"  epoch {epoch}: training {trained[-1] - begun[-1]:.1f} s, callback {done[-1] - trained[-1]:.2f} s")

    return Before(), After()


def callback_rows(sizes: CallbackSizes, data_dir: str = workload.DATA_DIR, log=print) -> list[Measurement]:
    import tb_filters

    tokens = workload.load_tokens(sizes.data, data_dir)
    train = np.ascontiguousarray(tokens[: sizes.train_examples])
    watched = np.ascontiguousarray(tokens[sizes.train_examples:])
    meta_features = workload.META_FEATURES
    train_meta = workload.meta_features(len(train), meta_features, seed=1)
    watched_meta = workload.meta_features(len(watched), meta_features, seed=2)
    labels = (np.random.default_rng(3).random(len(train)) < 0.5).astype(np.float32)
    model = workload.build_model(vocab_size=sizes.vocab_size, length=sizes.length, filters=sizes.filters)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    begun, trained, done = [], [], []
    before, after = _clocks(begun, trained, done, log)
    with tempfile.TemporaryDirectory() as log_dir:
        callback = tb_filters.FiltersCallback(watched, vocab=workload.vocabulary(sizes.vocab_size), log_dir=log_dir,
                                              inputs={"meta": watched_meta})
        model.fit([train, train_meta], labels, epochs=sizes.epochs, batch_size=sizes.batch_size, verbose=0,
                  callbacks=[before, callback, after])
        written = len(callback.written)
    epochs = [(t - b, d - t) for b, t, d in zip(begun, trained, done)]  # (training, callback) seconds
    later = epochs[1:] or epochs
    training = float(np.mean([t for t, _ in later]))
    cost = float(np.mean([c for _, c in later]))
    first = epochs[0][1]
    ok = written == sizes.epochs
    what = (f"FiltersCallback's time per epoch, % of a training epoch ({sizes.train_examples:,} sequences, batch "
            f"{sizes.batch_size}; the callback interprets conv_1 and conv_2 on {len(watched):,} sequences, effects on)")
    return [
        Measurement("CB", what + ", epochs 2+", 100 * cost / training, "%", limit=sizes.target,
                    detail=f"callback {cost:.2f} s, training {training:.1f} s (mean of epochs 2-{sizes.epochs}); "
                           f"reports written: {written} of {sizes.epochs}", passed=None if ok else False),
        Measurement("CB", "the same, first epoch (tracing and compiling interpret's functions)",
                    100 * first / epochs[0][0], "%",
                    detail=f"callback {first:.2f} s, training {epochs[0][0]:.1f} s; later epochs' callback "
                           f"{cost:.2f} s ({first / max(cost, 1e-9):.1f}x less)"),
    ]
