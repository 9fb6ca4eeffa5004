"""`tb-filters demo`: the trained filters find the planted phrases."""

from __future__ import annotations

import re

import numpy as np
import pytest
from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

from tb_filters.cli import commands as cli
from tb_filters.cli import demo
from tests.helpers.readback import read_reports
from tests.helpers.tolerances import ACTIVATION_ATOL, ACTIVATION_RTOL

EPOCHS = 2
TOP = 5  # a phrase counts as found when it is among a filter's first TOP windows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("demo") / "runs"
    assert cli.main(["demo", "--logdir", str(logdir), "--epochs", str(EPOCHS)]) == 0
    return logdir


def _covers(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    """The window holds the whole phrase, or (narrower than it) a stretch of it."""
    inner, outer = (phrase, tokens) if len(tokens) >= len(phrase) else (tokens, phrase)
    return any(outer[i: i + len(inner)] == inner for i in range(len(outer) - len(inner) + 1))


def test_every_planted_phrase_is_among_the_top_windows(runs):
    reports = read_reports(runs)
    assert sorted(reports) == ["kernel3", "kernel5"]
    for run, tags in reports.items():
        steps = tags[demo.LAYER_NAME]
        assert sorted(steps) == list(range(EPOCHS))
        last = steps[EPOCHS - 1]
        assert last.geometry.span_width == int(run.removeprefix("kernel"))
        top_windows = [w.tokens for f in last.filters for w in f.windows[:TOP]]
        missing = [" ".join(p) for p in demo.PHRASES if not any(_covers(t, p) for t in top_windows)]
        assert not missing, f"{run}: planted phrases not found: {missing}"


def test_the_demo_corpus_looks_like_tweets():
    """Words and GloVe-style placeholders only: hostile strings are the tests' fixtures, not the demo's."""
    vocabulary = demo.vocabulary()
    assert vocabulary[0] == "<pad>" and len(set(vocabulary)) == len(vocabulary)
    odd = [t for t in vocabulary[1:] if not re.fullmatch(r"[a-z]+|<[a-z]+>", t)]
    assert not odd


def test_loss_and_accuracy_scalars_are_written(runs):
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(runs))
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, str(runs))
    scalars = provider.read_scalars(
        tb_context.RequestContext(), experiment_id="", plugin_name="scalars", downsample=100
    )
    for run in ("kernel3", "kernel5"):
        assert {"epoch_loss", "epoch_accuracy", "epoch_val_accuracy"} <= set(scalars[run])
        assert [d.step for d in scalars[run]["epoch_loss"]] == list(range(EPOCHS))


def test_the_saved_demo_data_reproduces_the_last_step_with_the_cli(runs, tmp_path):
    data = runs / "demo_data"
    assert cli.main([
        "interpret", str(data / "kernel5.keras"), "--data", str(data / "sequences.npy"),
        "--vocab", str(data / "vocab.txt"), "--logdir", str(tmp_path / "again"), "--step", "9",
    ]) == 0
    again = read_reports(tmp_path)["again"][demo.LAYER_NAME][9]
    trained = read_reports(runs)["kernel5"][demo.LAYER_NAME][EPOCHS - 1]
    for ours, theirs in zip(again.filters, trained.filters):
        assert [w.tokens for w in ours.windows] == [w.tokens for w in theirs.windows]
        # The callback's pass during training and the CLI's on the reloaded model: float32 rounding apart.
        np.testing.assert_allclose([w.activation for w in ours.windows],
                                   [w.activation for w in theirs.windows], rtol=ACTIVATION_RTOL, atol=ACTIVATION_ATOL)


def test_the_corpus_is_deterministic_and_labelled_by_its_phrases():
    first, second = demo.make_corpus(50, seed=4), demo.make_corpus(50, seed=4)
    np.testing.assert_array_equal(first.sequences, second.sequences)
    ids = {w: i for i, w in enumerate(first.vocabulary)}
    for row, label, which in zip(first.sequences, first.labels, first.phrase_index):
        phrase = [ids[w] for w in demo.PHRASES[which]]
        assert _covers(tuple(row.tolist()), tuple(phrase))
        assert label == (demo.PHRASES[which] in demo.POSITIVE_PHRASES)


def test_a_second_demo_replaces_the_first_ones_runs(tmp_path):
    (tmp_path / "kernel3").mkdir()
    (tmp_path / "kernel3" / "events.out.tfevents.1.host.2.0.tb_filters").write_bytes(b"")
    (tmp_path / "demo_data").mkdir()
    (tmp_path / "demo_data" / "vocab.txt").write_text("<pad>\n")
    (tmp_path / "other_run").mkdir()
    demo._remove_previous_demo(str(tmp_path), ["kernel3", "kernel5"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_run"]


def test_the_demo_never_deletes_files_it_did_not_write(tmp_path, capsys):
    (tmp_path / "kernel5").mkdir()
    (tmp_path / "kernel5" / "notes.txt").write_text("mine")
    assert cli.main(["demo", "--logdir", str(tmp_path)]) == 2
    assert "holding 'notes.txt'" in capsys.readouterr().err
    assert (tmp_path / "kernel5" / "notes.txt").read_text() == "mine"


def _phrases_in_top_windows(f) -> set[tuple[str, ...]]:
    tops = [w.tokens for w in f.windows[:TOP]]
    return {p for p in demo.PHRASES if any(_covers(t, p) for t in tops)}


def test_filters_of_positive_phrases_push_the_positive_output_up_and_negative_ones_down(runs):
    for run, tags in read_reports(runs).items():
        last = tags[demo.LAYER_NAME][EPOCHS - 1]
        assert last.output_names == ("positive",) and last.sample_examples == 1000
        pushes = {"positive": [], "negative": []}
        for f in last.filters:
            found = _phrases_in_top_windows(f)
            positive, negative = found & set(demo.POSITIVE_PHRASES), found & set(demo.NEGATIVE_PHRASES)
            if positive and not negative:
                pushes["positive"].append(f.effects[0].mean)
            elif negative and not positive:
                pushes["negative"].append(f.effects[0].mean)
        assert pushes["positive"] and pushes["negative"], (run, pushes)
        assert all(effect > 0 for effect in pushes["positive"]), (run, pushes)
        assert all(effect < 0 for effect in pushes["negative"]), (run, pushes)


def _last_steps(runs):
    reports = read_reports(runs)
    return {run: tags[demo.LAYER_NAME][EPOCHS - 1] for run, tags in reports.items()}


def test_planted_phrases_show_in_the_slot_preferences_and_patterns_of_their_filters(runs):
    for run, last in _last_steps(runs).items():
        for phrase in demo.PHRASES:
            detecting = [f for f in last.filters if any(_covers(w.tokens, phrase) for w in f.windows[:TOP])]
            assert detecting, f"{run}: no filter detects {phrase}"
            wanted = [f.index for f in detecting
                      if set(phrase) & {t.token for slot in f.slot_preferences for t in slot.raises[:3]}]
            assert wanted, f"{run}: {phrase} is in no slot preference of filters {[f.index for f in detecting]}"
            patterned = [f.index for f in detecting for p in f.patterns
                         if {t for t in p.tokens if t is not None} and {t for t in p.tokens if t is not None} <= set(phrase)]
            assert patterned, f"{run}: {phrase} is in no pattern of filters {[f.index for f in detecting]}"


def test_kernel5_cards_show_fewer_patterns_than_windows_where_windows_share_pattern_slots(runs):
    last = _last_steps(runs)["kernel5"]
    shared = [f for f in last.filters if any(len(p.windows) > 1 for p in f.patterns)]
    assert shared, "no kernel-5 filter merges windows into a pattern"
    for f in shared:
        assert len(f.patterns) < len(f.windows)
        for p in f.patterns:
            for i in p.windows:
                window = f.windows[i]
                assert all(t is None or t == window.tokens[j] for j, t in enumerate(p.tokens))


def test_the_demo_samples_every_filter_across_its_range(runs):
    layer = read_reports(runs)["kernel3"][demo.LAYER_NAME][EPOCHS - 1]
    assert layer.intervals == "computed" and layer.interval_samples == 5
    for f in layer.filters:
        assert f.intervals and f.active_examples is not None
        for interval in f.intervals:
            assert 0 < len(interval.windows) <= min(5, interval.count)
            # Each sampled window lies in its interval (float32 activations, float64 edges).
            assert all(interval.low <= w.activation < interval.high or (interval.low == 0 and w.activation > 0)
                       for w in interval.windows)
