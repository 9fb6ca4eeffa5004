"""Token strings for token ids, from whatever the user trained with.

Sources: a Keras Tokenizer `word_index.json` (word -> id, id 0 reserved for
padding) or a saved Tokenizer config, a text file with one token per line
(line i is id i, like `TextVectorization.get_vocabulary()`), a Python list or
dict (either direction), or the TextVectorization/StringLookup layer of a
model. Pure: the model is only duck-typed.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping

from tb_filters.errors import FiltersError
from tb_filters.format.report import PAD_TOKEN

OUTSIDE_ID = -1  # a span slot outside the sequence


class Vocabulary:
    """Maps token ids to strings.

    `tokens[i]` is the string of id i (None where the source has no entry).
    `padding_id` is the id that means padding (0 for Keras tokenizers and
    TextVectorization; None for a StringLookup without a mask token, where 0
    is the OOV token). `size` is None when ids are shown as numbers.
    """

    def __init__(
        self,
        tokens: list[str | None] | None,
        padding_id: int | None = 0,
        oov_token: str | None = None,
        source: str = "",
    ):
        self._tokens = tokens
        self.padding_id = padding_id
        self.oov_token = oov_token
        self.source = source

    @property
    def size(self) -> int | None:
        """Max id + 1, or None when any id is accepted."""
        return None if self._tokens is None else len(self._tokens)

    def is_padding(self, token_id: int) -> bool:
        return token_id == OUTSIDE_ID or token_id == self.padding_id

    def token(self, token_id: int) -> str:
        token_id = int(token_id)
        if self.is_padding(token_id):
            return PAD_TOKEN
        if self._tokens is None:
            return str(token_id)
        if 0 <= token_id < len(self._tokens) and self._tokens[token_id] is not None:
            return self._tokens[token_id]
        # An id the source skipped (a hole in a dict) still shows as something.
        return self.oov_token if self.oov_token is not None else f"[{token_id}]"

    def tokens(self, token_ids: Iterable[int]) -> list[str]:
        return [self.token(i) for i in token_ids]

    def __len__(self) -> int:
        return 0 if self._tokens is None else len(self._tokens)

    def __repr__(self) -> str:
        return f"Vocabulary(size={self.size}, source={self.source!r})"


def load_vocabulary(source: Any, model: Any = None) -> Vocabulary:
    """A Vocabulary from a path, list, dict, Vocabulary, or (source None) the model."""
    if isinstance(source, Vocabulary):
        return source
    if source is None:
        return _from_model(model) or Vocabulary(None, source="token ids")
    if isinstance(source, (str, os.PathLike)):
        return _from_path(os.fspath(source))
    if isinstance(source, Mapping):
        return _from_mapping(source, "dict")
    if isinstance(source, (list, tuple)):
        return _from_list(list(source), "list")
    raise FiltersError(
        "Expected vocab to be a path to word_index.json or a one-token-per-line file, "
        f"a list, a dict, or None. Received: {type(source).__name__}"
    )


def _from_list(tokens: list, source: str) -> Vocabulary:
    """`tokens` is the caller's own new list: kept as is, not copied."""
    # Checking the set of item types loops in C: a notebook-sized vocabulary (721k) takes ~15 ms.
    if not all(issubclass(kind, str) for kind in set(map(type, tokens))):
        bad = next(t for t in tokens if not isinstance(t, str))
        raise FiltersError(
            f"Expected a vocabulary list of strings (index = token id). Received an item {bad!r} in {source}"
        )
    oov = "[UNK]" if len(tokens) > 1 and tokens[1] == "[UNK]" else None
    return Vocabulary(tokens, oov_token=oov, source=source)


def _from_mapping(mapping: Mapping, source: str) -> Vocabulary:
    """word -> id (Keras Tokenizer) or id -> word, told apart by the key types."""
    if not mapping:
        raise FiltersError(f"Expected a non-empty vocabulary. Received an empty mapping from {source}")
    items = list(mapping.items())
    if all(isinstance(w, str) and _is_int(i) for w, i in items):
        pairs = [(int(i), w) for w, i in items]
    elif all(_is_int(i) and isinstance(w, str) for i, w in items):
        pairs = [(int(i), w) for i, w in items]
    else:
        raise FiltersError(
            "Expected a vocabulary dict of word -> id or id -> word. "
            f"Received entries like {items[0]!r} in {source}"
        )
    if min(i for i, _ in pairs) < 0:
        raise FiltersError(f"Expected token ids >= 0 in the vocabulary. Received {min(pairs)[0]} in {source}")
    tokens: list[str | None] = [None] * (max(i for i, _ in pairs) + 1)
    for i, word in sorted(pairs):
        if tokens[i] is None:  # Tokenizer may map several words to the OOV id; keep the first.
            tokens[i] = word
    oov = next((w for w in ("<OOV>", "<oov>", "[UNK]", "<unk>", "<UNK>") if w in mapping), None)
    return Vocabulary(tokens, oov_token=oov, source=source)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("-").isdigit()


def _from_path(path: str) -> Vocabulary:
    if not os.path.isfile(path):
        raise FiltersError(
            "Expected vocab to be an existing word_index.json or one-token-per-line file. "
            f"Received: {path!r} (not found)"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise FiltersError(f"Expected a readable UTF-8 vocabulary file. Received: {path!r} ({e})") from None
    if path.lower().endswith(".json") or text.lstrip().startswith("{"):
        return _from_json(text, path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last token, it is no token itself
    if not lines:
        raise FiltersError(f"Expected at least one token in the vocabulary file. Received: {path!r} (empty)")
    return _from_list([line.rstrip("\r") for line in lines], path)


def _from_json(text: str, path: str) -> Vocabulary:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FiltersError(
            f"Expected a word_index.json of word -> id. Received: {path!r} (does not parse: {e})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and "word_index" in data["config"]:
        data = _tokenizer_word_index(data["config"]["word_index"], path)  # Tokenizer.to_json()
    if isinstance(data, list):
        return _from_list(data, path)
    if isinstance(data, dict):
        return _from_mapping(data, path)
    raise FiltersError(f"Expected a JSON object of word -> id. Received: {path!r} (a {type(data).__name__})")


def _tokenizer_word_index(value: Any, path: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise FiltersError(f"Expected the Tokenizer config's word_index to be JSON. Received: {path!r}") from None
    return value


def _from_model(model: Any) -> Vocabulary | None:
    """The vocabulary of the first TextVectorization/StringLookup layer, if any."""
    layer = next((layer for layer in all_layers(model) if hasattr(layer, "get_vocabulary")), None)
    return None if layer is None else from_layer(layer)


def from_layer(layer: Any) -> Vocabulary:
    """The vocabulary of a TextVectorization or StringLookup layer."""
    tokens = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in layer.get_vocabulary()]
    # TextVectorization always reserves id 0 for padding; StringLookup only with a mask token.
    masked = type(layer).__name__ == "TextVectorization" or getattr(layer, "mask_token", None) is not None
    return Vocabulary(
        tokens, padding_id=0 if masked else None, oov_token=_oov(layer, "[UNK]"), source=f"layer {layer.name!r}"
    )


def _oov(layer: Any, default: str) -> str:
    oov = getattr(layer, "oov_token", default)
    return oov.decode("utf-8") if isinstance(oov, bytes) else str(oov)


def all_layers(model: Any) -> list:
    """The model's layers, nested models' layers included."""
    if model is None:
        return []
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if hasattr(layer, "layers") and not hasattr(layer, "get_vocabulary"):
            found.extend(all_layers(layer))
    return found
