"""Raw texts to token ids, the way the model's users tokenized them.

Tokenizers: the model's own TextVectorization or StringLookup layer (also one
kept in the data pipeline, passed as `tokenizer=`), or a Keras 2 `Tokenizer`
(its `to_json()` text or file, or the object itself). `KerasTokenizer`
re-implements the Tokenizer's `texts_to_sequences` (lowercasing, `filters`
turned into `split`, OOV and `num_words` rules) so that neither tf_keras nor
Keras 2 is needed.

Sequences are padded with id 0 at the end (and cut at the end) to the model's
input length, or to the longest text when the model takes any length. After
the pass, each window's slots get the text they came from
(`Window.originals`): the whitespace-separated piece of the raw text that
produced the token, looked up only for the examples the report shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from tb_filters.engine import vocab as vocab_lib
from tb_filters.errors import FiltersError
from tb_filters.format.report import LayerReport, Report, Window

_TOKENIZE_BATCH = 4096  # texts per call of a Keras layer: bounds the padded batch it returns

Tokenize = Callable[[Sequence[str]], list[list[int]]]


@dataclasses.dataclass(frozen=True)
class KerasTokenizer:
    """Keras 2's `Tokenizer` (keras.preprocessing.text), from its `to_json()` config."""

    word_index: dict[str, int]
    filters: str = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    lower: bool = True
    split: str = " "
    char_level: bool = False
    oov_token: str | None = None
    num_words: int | None = None

    @classmethod
    def from_json(cls, text: str, source: str = "tokenizer JSON") -> "KerasTokenizer":
        try:
            config = json.loads(text)["config"]
            word_index = config["word_index"]
            word_index = json.loads(word_index) if isinstance(word_index, str) else word_index
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FiltersError(
                f"Expected a Keras Tokenizer saved with tokenizer.to_json(). Received: {source} "
                f"({type(e).__name__}: {e})"
            ) from None
        if not isinstance(word_index, dict) or not word_index:
            raise FiltersError(f"Expected a Tokenizer with a word_index. Received: {source} (none in its config)")
        known = {field.name for field in dataclasses.fields(cls)} - {"word_index"}
        return cls(word_index={str(w): int(i) for w, i in word_index.items()},
                   **{key: config[key] for key in known if config.get(key) is not None})

    def words(self, text: str) -> list[str]:
        if self.char_level:
            return list(text.lower() if self.lower else text)
        if self.lower:
            text = text.lower()
        text = text.translate(str.maketrans({c: self.split for c in self.filters}))
        return [word for word in text.split(self.split) if word]

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        sequences = []
        for text in texts:
            ids = []
            for word in self.words(text):
                i = self.word_index.get(word)
                if i is not None and (not self.num_words or i < self.num_words):
                    ids.append(i)
                elif oov is not None:
                    ids.append(oov)
            sequences.append(ids)
        return sequences


def load_tokenizer(source: Any) -> KerasTokenizer | Any:
    """A path to tokenizer.json, its JSON text, a Keras 2 Tokenizer object, or a vectorizer layer."""
    if isinstance(source, KerasTokenizer):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if path.lstrip().startswith("{"):
            return KerasTokenizer.from_json(path)
        if not os.path.isfile(path):
            raise FiltersError(
                f"Expected tokenizer to be a Tokenizer.to_json() file. Received: {path!r} (not found)"
            )
        with open(path, encoding="utf-8") as f:
            return KerasTokenizer.from_json(f.read(), repr(path))
    if hasattr(source, "to_json") and hasattr(source, "texts_to_sequences"):
        return KerasTokenizer.from_json(source.to_json(), "the Tokenizer given")
    if _is_vectorizer(source):
        return source
    raise FiltersError(
        "Expected tokenizer: a Tokenizer.to_json() path or text, a Keras Tokenizer, or a TextVectorization/"
        f"StringLookup layer. Received: {type(source).__name__}"
    )


def _is_vectorizer(layer: Any) -> bool:
    return type(layer).__name__ in ("TextVectorization", "StringLookup") and hasattr(layer, "get_vocabulary")


def model_vectorizer(model: Any) -> Any | None:
    """The model's TextVectorization/StringLookup layer, if it has one."""
    return next((layer for layer in vocab_lib.all_layers(model) if _is_vectorizer(layer)), None)


def tokenizer_function(tokenizer: Any) -> Tokenize:
    if isinstance(tokenizer, KerasTokenizer):
        return tokenizer
    return _layer_function(tokenizer)


def tokenizer_vocabulary(tokenizer: Any) -> vocab_lib.Vocabulary:
    if isinstance(tokenizer, KerasTokenizer):
        return vocab_lib.load_vocabulary(dict(tokenizer.word_index))
    return vocab_lib.from_layer(tokenizer)


def _layer_function(layer: Any) -> Tokenize:
    """A Keras layer as a tokenizer: TextVectorization splits itself; StringLookup gets
    whitespace-separated words. Ids come back without the layer's end padding."""
    import keras

    is_lookup = type(layer).__name__ == "StringLookup"

    def tokenize(texts: Sequence[str]) -> list[list[int]]:
        result: list[list[int]] = []
        for start in range(0, len(texts), _TOKENIZE_BATCH):
            chunk = list(texts[start: start + _TOKENIZE_BATCH])
            if is_lookup:
                words = [text.split() for text in chunk]
                flat = [w for ws in words for w in ws]
                ids = keras.ops.convert_to_numpy(layer(np.array(flat or [""], dtype=object))).tolist()
                ends = np.cumsum([len(ws) for ws in words]).tolist()
                result += [ids[end - len(ws): end] for ws, end in zip(words, ends)]
            else:
                padded = keras.ops.convert_to_numpy(layer(np.array(chunk, dtype=object)))
                result += [_strip_padding(row) for row in padded.tolist()]
        return result

    return tokenize


def _strip_padding(row: list[int]) -> list[int]:
    end = len(row)
    while end and row[end - 1] == 0:  # TextVectorization pads with 0, never a token's id
        end -= 1
    return row[:end]


@dataclasses.dataclass
class TokenizedTexts:
    """Texts, their padded ids [N, length], and how to find each token's original text."""

    texts: list[str]
    ids: np.ndarray
    tokenize: Tokenize

    def originals(self, examples: Sequence[int]) -> dict[int, list[str] | None]:
        """Per example, per token: the whitespace-separated piece of its text the token came from.
        None for an example whose pieces, tokenized one by one, do not give its tokens (n-grams, a
        custom split). Two tokenizer calls for all the examples."""
        examples = sorted(set(examples))
        pieces = [self.texts[e].split() for e in examples]
        wholes = self.tokenize([self.texts[e] for e in examples])
        flat = self.tokenize([p for ps in pieces for p in ps])
        length = self.ids.shape[1]
        found: dict[int, list[str] | None] = {}
        at = 0
        for example, example_pieces, whole in zip(examples, pieces, wholes):
            per_piece = flat[at: at + len(example_pieces)]
            at += len(example_pieces)
            joined = [(piece, token) for piece, ids in zip(example_pieces, per_piece) for token in ids]
            same = [token for _, token in joined][:length] == whole[:length]
            found[example] = [piece for piece, _ in joined] if same else None
        return found


def tokenize_texts(texts: Any, tokenizer: Any, length: int | None) -> TokenizedTexts:
    """Ids for `texts` (a list of str), padded or cut at the end to `length` (None: the longest)."""
    texts = _checked_texts(texts)
    tokenize = tokenizer_function(tokenizer)
    sequences = tokenize(texts)
    width = length or max(1, max(len(s) for s in sequences))
    ids = np.zeros((len(sequences), width), np.int32)
    for row, sequence in enumerate(sequences):
        kept = sequence[:width]
        ids[row, : len(kept)] = kept
    return TokenizedTexts(texts, ids, tokenize)


def tokenized_input(
    model: Any, chains: Sequence[Any], sequences: Any, texts: Any, tokenizer: Any, vocab: Any
) -> tuple[TokenizedTexts, Any]:
    """`interpret`'s texts= and tokenizer=: the tokenized texts, and the vocabulary source
    (the tokenizer's, unless `vocab` is given)."""
    if (sequences is None) == (texts is None):
        given = "both sequences and texts" if texts is not None else "neither"
        raise FiltersError(f"Expected either sequences (token ids) or texts (raw strings). Received {given}")
    if texts is None:
        raise FiltersError(
            "Expected tokenizer= only with texts=; token ids are already tokenized (vocab= names them). "
            "Received sequences and a tokenizer"
        )
    if tokenizer is not None:
        tokenizer = load_tokenizer(tokenizer)
    else:
        tokenizer = model_vectorizer(model)
    if tokenizer is None:
        raise FiltersError(
            "Expected a tokenizer for raw texts: the model has no TextVectorization or StringLookup layer; "
            "pass tokenizer= (a Keras Tokenizer.to_json() file, or the vectorizer layer). Received: none"
        )
    tokenized = tokenize_texts(texts, tokenizer, chains[0].fixed_length)
    return tokenized, vocab if vocab is not None else tokenizer_vocabulary(tokenizer)


def _checked_texts(texts: Any) -> list[str]:
    if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
        raise FiltersError(f"Expected texts: a list of strings, one example each. Received: {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise FiltersError("Expected at least one text. Received an empty list")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise FiltersError(f"Expected texts: a list of strings. Received an item {bad!r} ({type(bad).__name__})")
    return texts


def with_originals(report: Report, tokenized: TokenizedTexts) -> Report:
    """The report with each window's original text per slot ("" for padding and outside the text),
    top, inhibiting and interval windows alike."""
    examples = [w.example for layer in report for f in layer.filters
                for w in f.windows + (f.inhibiting or ()) + tuple(w for i in f.intervals or () for w in i.windows)]
    originals = tokenized.originals(examples)
    return Report(layers={name: _layer_with_originals(layer, originals) for name, layer in report.layers.items()})


def _layer_with_originals(layer: LayerReport, originals: dict[int, list[str] | None]) -> LayerReport:
    filters = tuple(
        dataclasses.replace(f, windows=_windows_with_originals(f.windows, originals),
                            inhibiting=None if f.inhibiting is None else _windows_with_originals(f.inhibiting, originals),
                            intervals=None if f.intervals is None else tuple(
                                dataclasses.replace(i, windows=_windows_with_originals(i.windows, originals))
                                for i in f.intervals))
        for f in layer.filters
    )
    return dataclasses.replace(layer, filters=filters)


def _windows_with_originals(windows: tuple[Window, ...], originals: dict[int, list[str] | None]) -> tuple[Window, ...]:
    result = []
    for w in windows:
        pieces = originals[w.example]
        if pieces is not None:
            slots = range(w.span_start, w.span_start + len(w.tokens))
            w = dataclasses.replace(w, originals=tuple(
                pieces[i] if 0 <= i < len(pieces) and not pad else "" for i, pad in zip(slots, w.padding)))
        result.append(w)
    return tuple(result)
