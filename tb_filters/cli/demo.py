"""`tb-filters demo`: two small text CNNs on a synthetic tweet-like corpus whose
labels are decided by planted phrases, with FiltersCallback writing a report
per epoch. The filters should learn the planted phrases, and the Filters tab
shows it.

Writes, under `logdir`:
    kernel3/, kernel5/   two runs (Conv1D kernel 3 vs 5): `filters` reports at
                         every epoch, and loss/accuracy scalars
    demo_data/           vocab.txt (line i = token id i), sequences.npy (the
                         interpreted examples), kernel3.keras, kernel5.keras:
                         the inputs `tb-filters interpret` needs to redo it
"""

from __future__ import annotations

import dataclasses
import os
import time

import keras
import numpy as np

from tb_filters.errors import FiltersError
from tb_filters.format.files import TEMP_PREFIX

SEQUENCE_LENGTH = 32
LAYER_NAME = "conv_1"  # the same in both runs, so the tab can put them side by side
# The placeholders of GloVe's Twitter preprocessing, as tweet corpora have them.
# (Hostile strings belong to the tests' fixtures: tests/e2e/tab_logdir.py, tests/helpers/.)
SPECIAL_TOKENS = ("<user>", "<url>", "<hashtag>", "<allcaps>", "<number>", "<repeat>", "<elong>")

# Label 0 (negative) and label 1 (positive): every example holds one phrase of its label.
NEGATIVE_PHRASES = (("not", "good", "at", "all"), ("worst", "service", "ever"), ("never", "buying", "again"))
POSITIVE_PHRASES = (("love", "this", "so", "much"), ("best", "day", "ever"), ("so", "proud", "of", "you"))
PHRASES = NEGATIVE_PHRASES + POSITIVE_PHRASES
OUTPUT_NAMES = ("positive",)  # the model's one output unit: the probability of label 1

_FILLER = """
the a to and of i you it in is that for my on this be have with so me just but at was are
not all what your up like do out now no if about get can when its from one they day go he
good will how time know we love new today too see an got going back more she there think
am would really much people been had by want work ever still lol some well off only need
great home feel night were last make here then week come tomorrow why oh his right over
thanks them school haha best take way gonna hope first her twitter say bad next bed tonight
thing could watch than life happy little morning yes miss something look because sleep
sad sure even tired fun getting where wait yeah nice again our let wish though show said
any before better done friends way who ready amazing hate sorry already long game soon
again late yet always keep another movie birthday weekend watching year tweet guys summer
man never girl old music follow check hard after pretty lot cool these call hey which hour
coffee rain city song phone friday monday weather early food pizza dinner lunch team win
lost class test exam party trip beach car bus train late money house room dog cat kids mom
dad sister brother family baby boy love office boss meeting email news video photo picture
buying service worst someone anyone everyone place story plan idea point head eyes face
hand heart mind word name world state country town street store shop market order price
""".split()


@dataclasses.dataclass
class Corpus:
    vocabulary: list[str]  # index = token id; 0 is padding
    sequences: np.ndarray  # int32 [N, SEQUENCE_LENGTH], zero-padded at the end
    labels: np.ndarray  # int32 [N]
    phrase_index: np.ndarray  # int32 [N]: which planted phrase each example holds


def vocabulary() -> list[str]:
    words = ["<pad>", *SPECIAL_TOKENS]
    for phrase in PHRASES:
        words.extend(w for w in phrase if w not in words)
    words.extend(w for w in dict.fromkeys(_FILLER) if w not in words)
    return words


def make_corpus(examples: int, seed: int = 0) -> Corpus:
    """Tweet-like token ids: Zipf-ish filler, special tokens, one planted phrase each."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    ids = {w: i for i, w in enumerate(words)}
    filler = np.array([ids[w] for w in dict.fromkeys(_FILLER)], dtype=np.int32)
    zipf = 1.0 / np.arange(1, len(filler) + 1) ** 1.1
    zipf /= zipf.sum()
    phrases = [[ids[w] for w in phrase] for phrase in PHRASES]
    phrase_index = rng.integers(0, len(phrases), examples).astype(np.int32)
    labels = (phrase_index >= len(NEGATIVE_PHRASES)).astype(np.int32)
    sequences = np.zeros((examples, SEQUENCE_LENGTH), dtype=np.int32)
    for row, which in enumerate(phrase_index):
        tweet = _tweet(rng, filler, zipf, phrases[which], ids)
        sequences[row, : len(tweet)] = tweet
    return Corpus(words, sequences, labels, phrase_index)


def _tweet(rng, filler, zipf, phrase: list[int], ids: dict[str, int]) -> list[int]:
    length = int(rng.integers(10, SEQUENCE_LENGTH - 2))
    body = list(rng.choice(filler, size=length - len(phrase), p=zipf))
    if rng.random() < 0.4:
        body.insert(0, ids["<user>"])
    for token in ("<hashtag>", "<allcaps>", "<number>", "<elong>"):
        if rng.random() < 0.15:
            body.insert(int(rng.integers(0, len(body) + 1)), ids[token])
    at = int(rng.integers(0, len(body) + 1))
    tweet = body[:at] + phrase + body[at:]
    if rng.random() < 0.3:
        tweet.append(ids["<url>"])
    return tweet[:SEQUENCE_LENGTH]


def build_model(vocabulary_size: int, kernel_size: int, filters: int = 16, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((SEQUENCE_LENGTH,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocabulary_size, 24, name="embedding")(tokens)
    x = keras.layers.ZeroPadding1D(kernel_size // 2, name="zero_padding1d")(x)
    x = keras.layers.Conv1D(filters, kernel_size, activation="relu", name=LAYER_NAME)(x)
    x = keras.layers.GlobalMaxPooling1D(name="global_max_pooling1d")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(tokens, output, name=f"text_cnn_kernel{kernel_size}")
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="binary_crossentropy", metrics=["accuracy"])
    return model


@dataclasses.dataclass
class DemoResult:
    logdir: str
    runs: dict[str, str]  # run name -> run directory
    epochs: int
    accuracy: dict[str, float]  # run name -> final validation accuracy
    seconds: float

    def describe(self) -> str:
        lines = [f"Demo: {len(self.runs)} runs x {self.epochs} epochs in {self.seconds:.1f} s, written to {self.logdir}"]
        for name, path in self.runs.items():
            lines.append(f"  {name}: {path} (validation accuracy {self.accuracy[name]:.3f})")
        return "\n".join(lines)


def run(
    logdir: str,
    epochs: int = 4,
    train_examples: int = 4000,
    interpret_examples: int = 1000,
    kernel_sizes: tuple[int, ...] = (3, 5),
    seed: int = 0,
) -> DemoResult:
    """Trains one model per kernel size with FiltersCallback; deterministic for a seed."""
    from tb_filters.callback import FiltersCallback

    started = time.monotonic()
    names = [f"kernel{k}" for k in kernel_sizes]
    _remove_previous_demo(logdir, names)
    train = make_corpus(train_examples, seed=seed)
    held_out = make_corpus(interpret_examples, seed=seed + 1)
    data_dir = _write_data(logdir, held_out)
    runs, accuracy = {}, {}
    for kernel_size, name in zip(kernel_sizes, names):
        run_dir = os.path.join(logdir, name)
        model = build_model(len(train.vocabulary), kernel_size, seed=seed)
        callbacks = [
            # The demo shows everything the tab can: the opt-in windows that switch filters off, contexts and
            # interval samples too.
            # Its one sigmoid unit is the probability of a positive label: the tab names it so.
            FiltersCallback(held_out.sequences, vocab=held_out.vocabulary, layers=[LAYER_NAME], log_dir=run_dir,
                            top_k=10, inhibiting=True, contexts=True, interval_samples=5, class_names=OUTPUT_NAMES),
            EpochScalars(run_dir),
        ]
        history = model.fit(train.sequences, train.labels, validation_data=(held_out.sequences, held_out.labels),
                            epochs=epochs, batch_size=64, verbose=0, callbacks=callbacks)
        model.save(os.path.join(data_dir, f"{name}.keras"))
        runs[name], accuracy[name] = run_dir, float(history.history["val_accuracy"][-1])
    return DemoResult(logdir, runs, epochs, accuracy, time.monotonic() - started)


_DATA_DIR = "demo_data"
_DATA_FILES = ("vocab.txt", "sequences.npy")


def _remove_previous_demo(logdir: str, run_names: list[str]) -> None:
    """A second `make demo` replaces the first one's runs instead of adding a
    second report at every step. Only directories holding nothing but what
    the demo writes are removed; anything else stops the demo."""
    import shutil

    ours = {_DATA_DIR: lambda n: n in _DATA_FILES or n.endswith(".keras")}
    ours.update({name: _is_event_file for name in run_names})
    found = [d for d in ours if os.path.isdir(os.path.join(logdir, d))]
    for directory in found:
        path = os.path.join(logdir, directory)
        foreign = [n for n in _all_files(path) if not ours[directory](n)]
        if foreign:
            raise FiltersError(
                f"Expected --logdir without other files in the demo's directories. Received: {path} "
                f"holding {foreign[0]!r}; pick another --logdir"
            )
    for directory in found:
        shutil.rmtree(os.path.join(logdir, directory))


def _is_event_file(name: str) -> bool:
    # Temporary files are what a killed demo leaves of a report it was writing.
    return name.startswith("events.out.tfevents.") or name.startswith(TEMP_PREFIX)


def _all_files(directory: str) -> list[str]:
    return [os.path.relpath(os.path.join(root, n), directory) for root, _, files in os.walk(directory) for n in files]


def _write_data(logdir: str, corpus: Corpus) -> str:
    data_dir = os.path.join(logdir, _DATA_DIR)
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(data_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(corpus.vocabulary) + "\n")
    np.save(os.path.join(data_dir, "sequences.npy"), corpus.sequences)
    return data_dir


class EpochScalars(keras.callbacks.Callback):
    """Loss and accuracy per epoch as TensorBoard scalars, in the run directory
    itself (Keras' TensorBoard callback would add train/ and validation/ runs)."""

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"epoch_{key}", float(value), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
