"""`Options`: every interpretation option, declared once.

`interpret`, `start`, `FiltersCallback`, Beam's `Interpret` and `tb-filters
interpret` all take one `Options`; keyword arguments (`interpret(model, x,
top_k=5)`) are a convenience that builds it (`Options.build`). Each field
declares its default, its check and its command-line flag with help text, so
the CLI's flags are generated from this class and no path can miss an option.

Adding an option: one field below (plus its use in the engine).
"""

from __future__ import annotations

import argparse
import dataclasses
import numbers
from typing import Any, Callable, Iterator

import numpy as np

from tb_filters import checks
from tb_filters.errors import FiltersError


def _option(default: Any, help: str, *, check: Callable[[str, Any], Any], metavar: str | None = None,
            from_text: Callable[[str], Any] | None = None) -> Any:
    """A field with what the CLI needs: `help` (the flag's text; booleans read it as what the flag
    that flips the default does), `metavar`, and `from_text` for flags whose text is not the value
    (a file to read)."""
    return dataclasses.field(default=default, metadata={
        "help": help, "check": check, "metavar": metavar, "from_text": from_text})


def _at_least(minimum: int) -> Callable[[str, Any], int]:
    return lambda name, value: checks.integer_at_least(name, value, minimum)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, numbers.Integral, np.bool_)) or value not in (0, 1):
        raise FiltersError(f"Expected {name} to be True or False. Received: {name}={value!r}")
    return bool(value)


def _names(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    try:
        items = tuple(items)
    except TypeError:
        items = (value,)
    if not items or not all(isinstance(item, str) for item in items):
        raise FiltersError(f"Expected {name}: a non-empty list of strings, or None. Received: {name}={value!r}")
    return items


def _lines_of(path: str) -> tuple[str, ...]:
    """A names file: one name per line (blank lines at the end ignored)."""
    try:
        with open(path, encoding="utf-8") as f:
            names = f.read().rstrip("\n").split("\n")
    except (OSError, UnicodeDecodeError) as e:
        reason = (str(e).strip() or type(e).__name__).splitlines()[0][:300]
        raise FiltersError(f"Expected a readable UTF-8 --class-names file. Received: {path} ({reason})") from None
    return tuple(name.rstrip("\r") for name in names)


@dataclasses.dataclass(frozen=True)
class Options:
    """What an interpretation computes and keeps. Every field is checked when the object is made.

    Example:
        options = tb_filters.Options(top_k=20, inhibiting=True)
        report = tb_filters.interpret(model, x, options=options)
        report = tb_filters.interpret(model, x, top_k=20, inhibiting=True)  # the same
    """

    top_k: int = _option(10, "windows kept per filter", check=_at_least(1), metavar="K")
    distinct: bool = _option(
        True, "raw top-k (example, position) pairs, as the original notebook, instead of distinct token "
              "windows with occurrence counts", check=_boolean)
    batch_size: int = _option(1024, "examples per forward pass", check=_at_least(1), metavar="B")
    effects: bool = _option(
        True, "skip the filters' effects on the outputs (dead and duplicate filters are still found)",
        check=_boolean)
    effect_examples: int = _option(
        10_000, "effects and duplicate filters over the first N examples (0: all)", check=_at_least(0),
        metavar="N")
    class_names: tuple[str, ...] | None = _option(
        None, "a file naming the model's output units, one per line; without it they are called OUTPUT:UNIT", check=_names,
        metavar="FILE", from_text=_lines_of)
    duplicate_threshold: float = _option(
        0.95, "a filter whose activations correlate above T with an earlier filter's is its duplicate",
        check=lambda name, value: checks.number_between(name, value, -1.0, 1.0), metavar="T")
    slot_top_n: int = _option(
        10, "per filter and slot, the N tokens that raise its activation most and the N that lower it most "
            "(0: none)", check=_at_least(0), metavar="N")
    min_count: int = _option(
        3, "slot preferences consider tokens occurring at least M times in the data (0: every token id)",
        check=_at_least(0), metavar="M")
    inhibiting: bool = _option(
        False, "also keep each filter's windows of lowest pre-activation, the 'switched off by' list "
               "(a second top-k fold per batch, about +25%% of the time)", check=_boolean)
    contexts: bool = _option(
        False, "also keep each window's whole example, opened from the window in the tab "
               "(about +3%% of the time, ~5x the report size at top-100)", check=_boolean)
    pattern_share: float = _option(
        0.2, "a slot is part of a window's pattern when its contribution is at least this share of the "
             "window's positive total", check=checks.share, metavar="S")
    probe_examples: int = _option(
        2048, "each filter's signature (its maximum activation on each of the first N examples, the probe), "
              "what matches filters across runs (0: none)", check=_at_least(0), metavar="N")
    interval_samples: int = _option(
        0, "per filter and activation interval (each positive histogram bucket), N windows sampled uniformly "
           "and reproducibly, the N smallest hashes of (example, position); 0: none (opt-in: at N=5 about "
           "+20-40%% of the time and +22%% of the report size, make bench INT)", check=_at_least(0), metavar="N")
    table_memory_mb: int = _option(
        1024, "a conv reading the embedding is computed from projection tables (taps x vocabulary x filters "
              "float32) of at most M MiB, gathered at each window's ids instead of convolved, when the data "
              "pays for building them; 0: never (make bench T2)", check=_at_least(0), metavar="M")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = field.metadata["check"](field.name, getattr(self, field.name))
            object.__setattr__(self, field.name, value)

    @classmethod
    def build(cls, options: "Options | None" = None, **overrides: Any) -> "Options":
        """`options` (default: every default) with `overrides` by keyword; unknown names are an error."""
        if options is not None and not isinstance(options, cls):
            raise FiltersError(f"Expected options: a tb_filters.Options. Received: {type(options).__name__}")
        unknown = sorted(set(overrides) - set(names()))
        if unknown:
            raise FiltersError(f"Expected options among {', '.join(names())}. Received: {', '.join(unknown)}")
        base = options or cls()
        return dataclasses.replace(base, **overrides) if overrides else base

    # -- the command line -----------------------------------------------------------------------

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per field (`--top-k K`; `--no-distinct`, `--inhibiting` for booleans), with its default."""
        for field in dataclasses.fields(cls):
            meta, flag = field.metadata, field.name.replace("_", "-")
            if isinstance(field.default, bool):
                flag = f"--{flag}" if not field.default else f"--no-{flag}"
                action = "store_false" if field.default else "store_true"
                default = "off" if not field.default else f"{field.name.replace('_', ' ')} on"
                parser.add_argument(flag, action=action, dest=field.name, help=f"{meta['help']} (default: {default})")
                continue
            kind = str if meta["from_text"] else type(field.default)
            default = "none" if field.default is None else field.default
            parser.add_argument(f"--{flag}", type=kind, default=field.default, dest=field.name,
                                metavar=meta["metavar"], help=f"{meta['help']} (default: {default})")

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> "Options":
        """The Options of parsed arguments (files named by flags are read here)."""
        values = {}
        for field in dataclasses.fields(cls):
            value = getattr(args, field.name)
            convert = field.metadata["from_text"]
            values[field.name] = convert(value) if convert and value is not None else value
        return cls(**values)


def names() -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(Options))


def flags() -> Iterator[tuple[str, str]]:
    """(field name, CLI flag) per option."""
    for field in dataclasses.fields(Options):
        flag = field.name.replace("_", "-")
        if isinstance(field.default, bool):
            flag = flag if not field.default else f"no-{flag}"
        yield field.name, f"--{flag}"
