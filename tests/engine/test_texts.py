"""Raw texts in: tokenized like Keras 2's Tokenizer (checked against the real one from tf_keras) or by
the model's own TextVectorization/StringLookup; answers equal interpreting the ids; originals kept."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tf_keras.preprocessing.text import Tokenizer

import tb_filters
from tb_filters.engine import texts as texts_lib
from tb_filters.errors import FiltersError
from tests.helpers.text_models import EMBED_DIM, LENGTH, conv, embedding, tokens_input

CORPUS = [
    "Not GOOD at all!!", "love this so much", "Worst service, EVER.", "never buying again...",
    "best day ever :)", "I  love\tit", "good-ish; not great", "the (best) day",
    "so much rain today", "buying a new phone", "Ever seen it?", "",
]
UNSEEN = ["Not bad at ALL", "zebra crossing, never!", "¡Olé! café au lait", "…", "LOVE   love love"]

TOKENIZER_CONFIGS = [
    {},
    {"oov_token": "<OOV>"},
    {"oov_token": "<OOV>", "num_words": 12},
    {"num_words": 10},
    {"lower": False},
    {"filters": "!.", "split": " "},
    {"split": ","},
    {"char_level": True, "oov_token": "?"},
]


def fitted(config: dict, corpus=CORPUS) -> Tokenizer:
    tokenizer = Tokenizer(**config)
    tokenizer.fit_on_texts(corpus)
    return tokenizer


@pytest.mark.parametrize("config", TOKENIZER_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_tokenizer_from_json_tokenizes_like_keras(config):
    real = fitted(config)
    ours = texts_lib.load_tokenizer(real.to_json())
    texts = CORPUS + UNSEEN
    assert ours(texts) == real.texts_to_sequences(texts)


@settings(max_examples=60, deadline=None)
@given(corpus=st.lists(st.text(st.characters(codec="utf-8"), max_size=30), min_size=1, max_size=8),
       texts=st.lists(st.text(st.characters(codec="utf-8"), max_size=30), max_size=8),
       oov=st.sampled_from([None, "<OOV>"]), lower=st.booleans(), num_words=st.sampled_from([None, 5]))
def test_tokenizer_matches_keras_on_any_text(corpus, texts, oov, lower, num_words):
    real = fitted({"oov_token": oov, "lower": lower, "num_words": num_words}, corpus)
    assume(real.word_index)  # a Tokenizer that knows no word is refused
    assert texts_lib.load_tokenizer(real.to_json())(corpus + texts) == real.texts_to_sequences(corpus + texts)


def text_cnn(length: int | None = LENGTH) -> keras.Model:
    tokens = tokens_input(length)
    x = embedding(tokens)
    x = keras.layers.ZeroPadding1D(1)(x)
    x = conv(4, 3, "conv_1", activation="relu")(x)
    return keras.Model(tokens, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x)))


def padded(sequences: list[list[int]], length: int) -> np.ndarray:
    ids = np.zeros((len(sequences), length), np.int32)
    for row, s in enumerate(sequences):
        ids[row, : min(len(s), length)] = s[:length]
    return ids


def without_originals(report):
    return [[[w.__class__(**{**w.__dict__, "originals": None}) for w in f.windows] for f in layer.filters]
            for layer in report]


def windows(report):
    return [[list(f.windows) for f in layer.filters] for layer in report]


@pytest.mark.parametrize("length", [LENGTH, None])
def test_texts_with_a_saved_tokenizer_equal_its_ids(tmp_path, length):
    real = fitted({"oov_token": "<OOV>"})
    path = tmp_path / "tokenizer.json"
    path.write_text(real.to_json())
    model = text_cnn(length)
    texts = CORPUS + UNSEEN
    sequences = real.texts_to_sequences(texts)
    width = length or max(len(s) for s in sequences)
    expected = tb_filters.interpret(model, padded(sequences, width), vocab=real.word_index, top_k=3)
    for tokenizer in (str(path), real, real.to_json()):
        report = tb_filters.interpret(model, texts=texts, tokenizer=tokenizer, top_k=3)
        assert without_originals(report) == windows(expected)
        assert report["conv_1"].geometry.input_length == width


ORIGINAL_TEXTS = ["Not GOOD at all!!", "(best) day, EVER."] * 3


def originals_differing(w, real: Tokenizer) -> int:
    """Checks each slot's original text against the window's example; the slots whose text is not the token."""
    pieces = ORIGINAL_TEXTS[w.example].split()
    differing = 0
    for slot, (token, original, pad) in enumerate(zip(w.tokens, w.originals, w.padding, strict=True)):
        position = w.span_start + slot
        if pad:
            assert original == ""
        else:
            assert original == pieces[position]
            assert real.texts_to_sequences([original]) == [[real.word_index[token]]]
            differing += original != token
    return differing


def test_windows_show_each_tokens_original_text():
    real = fitted({})
    report = tb_filters.interpret(text_cnn(), texts=ORIGINAL_TEXTS, tokenizer=real, top_k=20, distinct=False)
    seen = sum(originals_differing(w, real) for f in report["conv_1"].filters for w in f.windows)
    assert seen  # "GOOD" shows beside "good", "(best)" beside "best"


def test_inhibiting_windows_show_each_tokens_original_text_too():
    real = fitted({})
    report = tb_filters.interpret(text_cnn(), texts=ORIGINAL_TEXTS, tokenizer=real, top_k=20, distinct=False,
                                  inhibiting=True)
    inhibiting = [w for f in report["conv_1"].filters for w in f.inhibiting]
    assert len(inhibiting) == 20 * len(report["conv_1"].filters)
    assert all(w.originals is not None for w in inhibiting)
    assert sum(originals_differing(w, real) for w in inhibiting)


def string_model(layer: keras.layers.Layer, length: int = LENGTH) -> keras.Model:
    """An end-to-end model: raw strings in, the layer tokenizes."""
    strings = keras.Input((1,) if isinstance(layer, keras.layers.TextVectorization) else (length,), dtype="string")
    x = layer(strings)
    x = keras.layers.Embedding(layer.vocabulary_size(), EMBED_DIM,
                               embeddings_initializer=keras.initializers.RandomNormal(seed=1))(x)
    x = conv(4, 3, "conv_1", activation="relu", padding="same")(x)
    return keras.Model(strings, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(x)))


def adapted_vectorizer(**kwargs) -> keras.layers.TextVectorization:
    layer = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=LENGTH, **kwargs)
    layer.adapt(CORPUS)
    return layer


def test_end_to_end_model_tokenizes_with_its_own_text_vectorization():
    layer = adapted_vectorizer()
    model = string_model(layer)
    texts = CORPUS + UNSEEN
    ids = keras.ops.convert_to_numpy(layer(np.array(texts, dtype=object)))
    expected = tb_filters.interpret(model, ids, top_k=3)
    report = tb_filters.interpret(model, texts=texts, top_k=3)
    assert without_originals(report) == windows(expected)
    originals = {(t, o) for f in report["conv_1"].filters for w in f.windows for t, o in zip(w.tokens, w.originals)}
    assert all(o == "" for t, o in originals if t == "<pad>")
    assert all(layer(np.array([o], dtype=object)).numpy()[0][0] == layer.get_vocabulary().index(t)
               for t, o in originals if o)


def test_a_pipeline_text_vectorization_passed_as_tokenizer():
    layer = adapted_vectorizer()
    model = text_cnn()
    texts = CORPUS + UNSEEN
    ids = keras.ops.convert_to_numpy(layer(np.array(texts, dtype=object)))
    report = tb_filters.interpret(model, texts=texts, tokenizer=layer, top_k=3)
    expected = tb_filters.interpret(model, ids, vocab=layer.get_vocabulary(), top_k=3)
    assert without_originals(report) == windows(expected)


def test_a_string_lookup_front_splits_on_whitespace():
    lookup = keras.layers.StringLookup(vocabulary=sorted({w for t in CORPUS for w in t.split()}), mask_token="")
    model = string_model(lookup)
    texts = CORPUS + UNSEEN
    ids = padded([[lookup.get_vocabulary().index(w) if w in lookup.get_vocabulary() else 1 for w in t.split()]
                  for t in texts], LENGTH)
    report = tb_filters.interpret(model, texts=texts, top_k=3)
    assert without_originals(report) == windows(tb_filters.interpret(model, ids, top_k=3))


def test_ngrams_give_no_originals_rather_than_wrong_ones():
    layer = adapted_vectorizer(ngrams=2)
    report = tb_filters.interpret(string_model(layer), texts=CORPUS, top_k=2)
    assert all(w.originals is None for f in report["conv_1"].filters for w in f.windows)


def test_originals_survive_the_summary_round_trip():
    from tb_filters.format import report as report_lib
    from tests.helpers.tolerances import as_stored

    report = tb_filters.interpret(text_cnn(), texts=CORPUS, tokenizer=fitted({}), top_k=2)
    layer = report["conv_1"]
    assert report_lib.from_proto(report_lib.to_proto(layer)) == as_stored(layer)
    ids_only = tb_filters.interpret(text_cnn(), np.ones((3, LENGTH), np.int32), top_k=2)["conv_1"]
    assert report_lib.from_proto(report_lib.to_proto(ids_only)).filters[0].windows[0].originals is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(texts=["a b"]), "Expected a tokenizer for raw texts: the model has no TextVectorization"),
    (dict(sequences=np.ones((2, LENGTH), np.int32), texts=["a"]), "Received both sequences and texts"),
    (dict(), "Expected either sequences .* Received neither"),
    (dict(sequences=np.ones((2, LENGTH), np.int32), tokenizer="{}"), "tokenizer= only with texts="),
    (dict(texts=[], tokenizer=json.dumps({"config": {"word_index": {"a": 1}}})), "at least one text"),
    (dict(texts="one text", tokenizer=json.dumps({"config": {"word_index": {"a": 1}}})), "a list of strings"),
    (dict(texts=["ok", 3], tokenizer=json.dumps({"config": {"word_index": {"a": 1}}})), r"an item 3 \(int\)"),
    (dict(texts=["a"], tokenizer="{not json"), "Tokenizer saved with tokenizer.to_json"),
    (dict(texts=["a"], tokenizer="/no/such/tokenizer.json"), "not found"),
    (dict(texts=["a"], tokenizer=42), "Received: int"),
])
def test_bad_text_input_is_refused(kwargs, match):
    with pytest.raises(FiltersError, match=match):
        tb_filters.interpret(text_cnn(), **kwargs)
