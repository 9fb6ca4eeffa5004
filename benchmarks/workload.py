"""The benchmark's workload, built from code: a model shaped like the
notebook's and Zipf-distributed token ids saved as a reusable `.npy`.

Sizes are parameters so the smoke test can build a tiny version of the same
thing; the defaults are the notebook's.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

NOTEBOOK_EXAMPLES = 1_293_005
NOTEBOOK_VOCAB = 721_696
SEQUENCE_LENGTH = 32
META_FEATURES = 24
EMBEDDING_DIM = 100
NUM_FILTERS = 64
FIRST_CONV = "conv_1"
SECOND_CONV = "conv_2"
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Everything that decides the content of a token file."""

    examples: int = NOTEBOOK_EXAMPLES
    length: int = SEQUENCE_LENGTH
    vocab_size: int = NOTEBOOK_VOCAB
    zipf_exponent: float = 1.05
    min_length: int = 3
    seed: int = 1234
    chunk_rows: int = 100_000

    def file_name(self) -> str:
        return f"tokens_{self.examples}x{self.length}_v{self.vocab_size}_s{self.seed}.npy"


def build_model(
    vocab_size: int = NOTEBOOK_VOCAB,
    length: int = SEQUENCE_LENGTH,
    embedding_dim: int = EMBEDDING_DIM,
    filters: int = NUM_FILTERS,
    meta_features: int = META_FEATURES,
    seed: int = 7,
):
    """The notebook's architecture, random (seeded) weights.

    Tokens -> Embedding -> ZeroPadding1D(1) -> conv_1 -> MaxPooling1D ->
    ZeroPadding1D(1) -> conv_2 -> GlobalMaxPooling1D, concatenated with a meta
    input the conv layers never see -> Dense.
    """
    import keras

    keras.utils.set_random_seed(seed)
    tokens = keras.Input(shape=(length,), dtype="int32", name="tokens")
    meta = keras.Input(shape=(meta_features,), dtype="float32", name="meta")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    x = keras.layers.ZeroPadding1D(1, name="pad_1")(x)
    x = keras.layers.Conv1D(filters, 3, activation="relu", name=FIRST_CONV)(x)
    x = keras.layers.MaxPooling1D(name="pool_1")(x)
    x = keras.layers.ZeroPadding1D(1, name="pad_2")(x)
    x = keras.layers.Conv1D(filters, 3, activation="relu", name=SECOND_CONV)(x)
    x = keras.layers.GlobalMaxPooling1D(name="global_pool")(x)
    x = keras.layers.Concatenate(name="with_meta")([x, meta])
    x = keras.layers.Dense(32, activation="relu", name="dense")(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="output")(x)
    return keras.Model([tokens, meta], output, name="enhanced_meta")


def vocabulary(vocab_size: int) -> list[str]:
    """Token strings by id, id 0 the padding, like a Tokenizer's word_index."""
    return ["<pad>"] + [f"w{i}" for i in range(1, vocab_size)]


def _zipf_cdf(spec: DataSpec) -> np.ndarray:
    # Truncated at the vocabulary rather than clipped: clipping would pile the
    # whole tail onto the last id and make it one of the commonest tokens.
    ranks = np.arange(1, spec.vocab_size, dtype=np.float64)
    weights = ranks ** -spec.zipf_exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _chunk(spec: DataSpec, cdf: np.ndarray, rng: np.random.Generator, rows: int) -> np.ndarray:
    ids = np.searchsorted(cdf, rng.random((rows, spec.length)), side="right") + 1
    ids = np.minimum(ids, spec.vocab_size - 1).astype(np.int32)
    # Tweet-like lengths: most short, some at the cap; zeros pad the end.
    lengths = np.clip(rng.normal(spec.length * 0.55, spec.length * 0.25, rows), spec.min_length, spec.length)
    lengths = lengths.astype(np.int64)
    ids[np.arange(spec.length)[None, :] >= lengths[:, None]] = 0
    return ids


def _write(spec: DataSpec, path: str) -> None:
    cdf = _zipf_cdf(spec)
    rng = np.random.default_rng(spec.seed)
    temp_path = path + ".partial.npy"
    out = np.lib.format.open_memmap(temp_path, mode="w+", dtype=np.int32, shape=(spec.examples, spec.length))
    for start in range(0, spec.examples, spec.chunk_rows):
        rows = min(spec.chunk_rows, spec.examples - start)
        out[start : start + rows] = _chunk(spec, cdf, rng, rows)
    out.flush()
    del out
    os.replace(temp_path, path)


def _spec_path(path: str) -> str:
    return path + ".json"


def token_file(spec: DataSpec, data_dir: str = DATA_DIR) -> str:
    """The path of the `.npy` for `spec`, generated (in chunks) only if missing or stale."""
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, spec.file_name())
    wanted = dataclasses.asdict(spec)
    try:
        with open(_spec_path(path)) as f:
            if json.load(f) == wanted and os.path.exists(path):
                return path
    except (OSError, ValueError):
        pass
    _write(spec, path)
    with open(_spec_path(path), "w") as f:
        json.dump(wanted, f)
    return path


def load_tokens(spec: DataSpec, data_dir: str = DATA_DIR) -> np.ndarray:
    """The token ids, memory-mapped read-only."""
    return np.load(token_file(spec, data_dir), mmap_mode="r")


def meta_features(examples: int, features: int = META_FEATURES, seed: int = 99) -> np.ndarray:
    """The second input the notebook fed to predict; the conv layers ignore it."""
    return np.random.default_rng(seed).random((examples, features), dtype=np.float32)
