"""`tb_filters.Options`: one declaration, checked once, and every path takes it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import tb_filters
from tb_filters import options as options_lib
from tb_filters.errors import FiltersError

BAD = {
    "top_k": (0, "Expected top_k >= 1 (an integer). Received: top_k=0"),
    "batch_size": (2.5, "Expected batch_size >= 1 (an integer). Received: batch_size=2.5"),
    "effect_examples": (-1, "Expected effect_examples >= 0 (an integer). Received: effect_examples=-1"),
    "slot_top_n": (True, "Expected slot_top_n >= 0 (an integer). Received: slot_top_n=True"),
    "min_count": ("3", "Expected min_count >= 0 (an integer). Received: min_count='3'"),
    "duplicate_threshold": (1.5, "Expected duplicate_threshold between -1 and 1. Received: duplicate_threshold=1.5"),
    "pattern_share": (0, "Expected 0 < pattern_share <= 1. Received: pattern_share=0"),
    "inhibiting": ("yes", "Expected inhibiting to be True or False. Received: inhibiting='yes'"),
    "class_names": ([1, 2], "Expected class_names: a non-empty list of strings, or None. Received: class_names=[1, 2]"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_value_is_one_line_that_says_what_was_received(name):
    value, message = BAD[name]
    with pytest.raises(FiltersError) as caught:
        tb_filters.Options(**{name: value})
    assert str(caught.value) == message


def test_every_field_has_a_check_and_help_and_its_default_passes_it():
    for field in dataclasses.fields(tb_filters.Options):
        assert field.metadata["help"], field.name
        assert field.metadata["check"](field.name, field.default) == field.default


def test_build_takes_keywords_over_an_options_object_and_refuses_unknown_names():
    base = tb_filters.Options(top_k=3, inhibiting=True)
    assert tb_filters.Options.build(base, top_k=5) == tb_filters.Options(top_k=5, inhibiting=True)
    assert tb_filters.Options.build(None) == tb_filters.Options()
    assert tb_filters.Options.build(class_names=["a"]).class_names == ("a",)
    with pytest.raises(FiltersError, match="Expected options among top_k, .*Received: topk"):
        tb_filters.Options.build(topk=3)
    with pytest.raises(FiltersError, match="Expected options: a tb_filters.Options. Received: dict"):
        tb_filters.Options.build({"top_k": 3})


def test_the_cli_has_one_flag_per_option_with_its_default_in_the_help():
    from tb_filters.cli import commands

    interpret = commands.build_parser()._subparsers._group_actions[0].choices["interpret"]
    by_flag = {flag: action for action in interpret._actions for flag in action.option_strings}
    for name, flag in options_lib.flags():
        action = by_flag[flag]
        assert action.dest == name
        assert "(default: " in action.help, flag
    assert interpret.format_help().count("(default: ") >= len(options_lib.names())


def test_cli_arguments_become_the_same_options_as_keywords(tmp_path):
    from tb_filters.cli import commands

    names = tmp_path / "classes.txt"
    names.write_text("negative\npositive\n")
    args = commands.build_parser().parse_args([
        "interpret", "m.keras", "--data", "x.npy", "--logdir", "l", "--top-k", "4", "--no-distinct",
        "--no-effects", "--class-names", str(names), "--inhibiting", "--pattern-share", "0.5",
        "--duplicate-threshold", "0.9", "--effect-examples", "0"])
    assert tb_filters.Options.from_arguments(args) == tb_filters.Options(
        top_k=4, distinct=False, effects=False, class_names=("negative", "positive"), inhibiting=True,
        pattern_share=0.5, duplicate_threshold=0.9, effect_examples=0)


def test_every_entry_point_takes_options_and_no_option_by_its_own_parameter():
    from tb_filters.beam import Interpret
    from tb_filters.engine import interpret as interpret_lib

    names = set(options_lib.names())
    for entry in (tb_filters.interpret, interpret_lib.start, tb_filters.FiltersCallback.__init__, Interpret.__init__):
        parameters = inspect.signature(entry).parameters
        assert "options" in parameters, entry.__qualname__
        assert not names & set(parameters), f"{entry.__qualname__} declares {names & set(parameters)} again"
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()), entry.__qualname__
