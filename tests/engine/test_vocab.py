"""Vocabularies from word_index.json, token-per-line files, lists, dicts and model layers."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tb_filters.engine import vocab as vocab_lib
from tb_filters.engine.vocab import PAD_TOKEN, load_vocabulary
from tb_filters.errors import FiltersError

WORD_INDEX = {"<OOV>": 1, "<user>": 2, "the": 3, "<img src=x onerror=alert(1)>": 4, "happy": 5}


def test_word_index_json(tmp_path):
    path = tmp_path / "word_index.json"
    path.write_text(json.dumps(WORD_INDEX), encoding="utf-8")
    vocab = load_vocabulary(str(path))
    assert vocab.size == 6
    assert vocab.tokens([0, 1, 2, 3, 4, 5, -1]) == [
        PAD_TOKEN, "<OOV>", "<user>", "the", "<img src=x onerror=alert(1)>", "happy", PAD_TOKEN
    ]
    assert vocab.oov_token == "<OOV>"
    assert vocab.is_padding(0) and vocab.is_padding(-1) and not vocab.is_padding(1)


def test_tokenizer_to_json_config(tmp_path):
    # Tokenizer.to_json() stores word_index as a JSON string inside its config.
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"class_name": "Tokenizer", "config": {"word_index": json.dumps(WORD_INDEX)}}))
    assert load_vocabulary(path).token(5) == "happy"


def test_one_token_per_line_file_keeps_line_numbers_as_ids(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n[UNK]\nthe\n<url>\n  spaced token \n", encoding="utf-8")
    vocab = load_vocabulary(path)
    assert vocab.size == 5
    assert vocab.tokens(range(5)) == [PAD_TOKEN, "[UNK]", "the", "<url>", "  spaced token "]
    assert vocab.oov_token == "[UNK]"


def test_crlf_lines_lose_their_carriage_return(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"\r\nhello\r\nworld\r\n")
    assert load_vocabulary(path).tokens([1, 2]) == ["hello", "world"]


def test_list_and_dicts_both_ways():
    as_list = load_vocabulary(["", "[UNK]", "cat"])
    word_to_id = load_vocabulary({"cat": 2, "[UNK]": 1})
    id_to_word = load_vocabulary({2: "cat", 1: "[UNK]"})
    string_ids = load_vocabulary({"2": "cat", "1": "[UNK]"})  # json.load of id -> word
    for vocab in (as_list, word_to_id, id_to_word, string_ids):
        assert vocab.tokens([0, 1, 2]) == [PAD_TOKEN, "[UNK]", "cat"]
        assert vocab.size == 3


def test_no_vocabulary_shows_ids():
    vocab = load_vocabulary(None)
    assert vocab.size is None
    assert vocab.tokens([0, 7, -1]) == [PAD_TOKEN, "7", PAD_TOKEN]


def test_holes_in_a_dict_show_the_oov_token_or_the_id():
    assert load_vocabulary({"a": 1, "<OOV>": 3}).token(2) == "<OOV>"
    assert load_vocabulary({"a": 1, "b": 3}).token(2) == "[2]"


def test_several_words_on_one_id_keep_the_first_by_id_order():
    vocab = load_vocabulary({"<OOV>": 1, "rare": 1, "the": 2})
    assert vocab.token(1) in ("<OOV>", "rare")


def test_a_vocabulary_passes_through():
    vocab = load_vocabulary(["a", "b"])
    assert load_vocabulary(vocab) is vocab


def test_from_text_vectorization_layer():
    layer = keras.layers.TextVectorization(output_sequence_length=4)
    layer.adapt(np.array(["the cat sat", "the dog"]))
    model = keras.Sequential([keras.Input((1,), dtype="string"), layer])
    vocab = load_vocabulary(None, model)
    assert vocab.token(0) == PAD_TOKEN
    assert vocab.token(1) == "[UNK]"
    assert vocab.token(2) == "the"
    assert vocab.size == len(layer.get_vocabulary())
    assert vocab.padding_id == 0


def test_from_string_lookup_without_mask_token_id_0_is_oov_not_padding():
    layer = keras.layers.StringLookup(vocabulary=["a", "b"])
    model = keras.Sequential([keras.Input((3,), dtype="string"), layer])
    vocab = load_vocabulary(None, model)
    assert vocab.tokens([0, 1, 2]) == ["[UNK]", "a", "b"]
    assert not vocab.is_padding(0) and vocab.is_padding(-1)


def test_from_string_lookup_with_mask_token():
    layer = keras.layers.StringLookup(vocabulary=["a", "b"], mask_token="")
    model = keras.Sequential([keras.Input((3,), dtype="string"), layer])
    vocab = load_vocabulary(None, model)
    assert vocab.tokens([0, 1, 2, 3]) == [PAD_TOKEN, "[UNK]", "a", "b"]


def test_model_without_vocabulary_layer_shows_ids():
    model = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(5, 2)])
    assert load_vocabulary(None, model).size is None


@pytest.mark.parametrize(
    "make_source, message",
    [
        (lambda p: str(p / "missing.json"), "not found"),
        (lambda p: _write(p / "bad.json", "{not json"), "does not parse"),
        (lambda p: _write(p / "list.json", "[1, 2]"), "Expected a vocabulary list of strings"),
        (lambda p: _write(p / "weird.json", '{"a": "b"}'), "word -> id or id -> word"),
        (lambda p: _write(p / "neg.json", '{"a": -3}'), "token ids >= 0"),
        (lambda p: _write(p / "empty.txt", ""), "empty"),
        (lambda p: _write_bytes(p / "latin.txt", b"caf\xe9\n"), "UTF-8"),
        (lambda p: str(p), "not found"),  # a directory
        (lambda p: 42, "Received: int"),
        (lambda p: {}, "empty mapping"),
    ],
    ids=["missing", "bad-json", "json-list-of-ints", "json-not-ids", "negative-id", "empty", "not-utf8",
         "directory", "int", "empty-dict"],
)
def test_bad_sources_raise_one_line_errors(tmp_path, make_source, message):
    with pytest.raises(FiltersError, match=message) as info:
        load_vocabulary(make_source(tmp_path))
    text = str(info.value)
    assert "\n" not in text and text.startswith("Expected")


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _write_bytes(path, data):
    path.write_bytes(data)
    return str(path)


def test_vocab_module_imports_no_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, tb_filters.engine.vocab, tb_filters.engine.receptive; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_repr_names_the_source():
    assert "list" in repr(vocab_lib.load_vocabulary(["a"]))
