"""The checks of user input shared by the Python API, the callback and the CLI,
each in one place, each failing with one FiltersError line that says what was
expected and what was received."""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

import numpy as np

from tb_filters.errors import FiltersError


def integer_at_least(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise FiltersError(f"Expected {name} >= {minimum} (an integer). Received: {name}={value!r}")
    return int(value)


def number_between(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
        raise FiltersError(f"Expected {name} between {low:g} and {high:g}. Received: {name}={value!r}")
    return float(value)


def layer_names(layers: str | Sequence[Any] | None) -> list[str] | None:
    """None (every conv layer), or names without repeats, in order; a layer
    object stands for its name."""
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = [layers]
    names = [item if isinstance(item, str) else getattr(item, "name", item) for item in layers]
    bad = [item for item in names if not isinstance(item, str)]
    if bad or not names:
        raise FiltersError(
            "Expected layers to be conv layer names (None or a non-empty list of layer names). "
            f"Received: {bad[0] if bad else 'an empty list'!r}"
        )
    return list(dict.fromkeys(names))


def named_inputs(inputs: Any) -> dict[str, Any]:
    """A model's other inputs, {input name: array}; None is none ({})."""
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping) or not all(isinstance(name, str) for name in inputs):
        raise FiltersError(f"Expected inputs as a dict {{input name: array}}. Received: {type(inputs).__name__}")
    return dict(inputs)


def token_ids(array: np.ndarray, what: str, hint: str = "", allow_empty: bool = False) -> np.ndarray:
    """A 2-D integer array [examples, tokens], with at least one token unless `allow_empty`
    (an empty batch of a stream is skipped, not refused)."""
    if array.ndim != 2 or array.dtype.kind not in "iu":
        raise FiltersError(
            "Expected token ids as a 2-D integer array [examples, tokens]. "
            f"Received: {what} of shape {tuple(array.shape)}, dtype {array.dtype}{hint}"
        )
    if 0 in array.shape and not allow_empty:
        raise FiltersError(
            "Expected a non-empty 2-D integer array (at least one example of at least one token). "
            f"Received: {what} of shape {tuple(array.shape)}"
        )
    return array


def share(name: str, value: Any) -> float:
    """A number in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise FiltersError(f"Expected 0 < {name} <= 1. Received: {name}={value!r}")
    return float(value)
