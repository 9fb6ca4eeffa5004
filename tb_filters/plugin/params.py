"""Request parameters, checked: each parser raises `InvalidArgumentError` (400)
with a message that says what was received and what is valid."""

from __future__ import annotations

import re

from tensorboard import context as tb_context
from tensorboard import errors as tb_errors
from tensorboard import plugin_util
from werkzeug import wrappers

_INTEGER = re.compile(r"-?[0-9]{1,18}")


def where(request: wrappers.Request) -> tuple[tb_context.RequestContext, str]:
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def run_layer_step(request: wrappers.Request) -> dict[str, str | int | None]:
    """The run, layer and (optional: None for the latest) step most routes are asked about."""
    return {"run": text(request, "run"), "layer": text(request, "layer"), "step": integer(request, "step", None)}


def shown(value: str, max_chars: int = 40) -> str:
    """A received value for an error message, kept short and printable."""
    return repr(value if len(value) <= max_chars else value[:max_chars] + "...")


def texts(request: wrappers.Request, name: str, required: bool, most: int | None) -> list[str]:
    values = request.args.getlist(name)
    if required and not values:
        raise tb_errors.InvalidArgumentError(f"Expected parameter {name}. Received: none")
    if most is not None and len(values) > most:
        raise tb_errors.InvalidArgumentError(
            f"Expected at most {most} values of {name}. Received: {len(values)}")
    for value in values:
        if "\x00" in value:
            raise tb_errors.InvalidArgumentError(
                f"Expected {name} without NUL characters. Received: {name}={shown(value)}")
    return values


def text(request: wrappers.Request, name: str, required: bool = True) -> str | None:
    values = texts(request, name, required=required, most=None)
    if len(values) > 1:
        raise tb_errors.InvalidArgumentError(
            f"Expected one value of {name}. Received: {len(values)} values")
    return values[0] if values else None


def integer(request: wrappers.Request, name: str, default: int | None,
            low: int | None = None, high: int | None = None) -> int | None:
    value_text = text(request, name, required=False)
    if value_text is None:
        return default
    if not _INTEGER.fullmatch(value_text):
        raise tb_errors.InvalidArgumentError(
            f"Expected an integer {name}. Received: {name}={shown(value_text)}")
    value = int(value_text)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
        raise tb_errors.InvalidArgumentError(f"Expected {bounds}. Received: {name}={value}")
    return value


def integers(request: wrappers.Request, name: str, most: int, low: int | None = None) -> list[int]:
    """A repeated integer parameter (`index=3&index=17`), in the order given."""
    values = []
    for value_text in texts(request, name, required=False, most=most):
        if not _INTEGER.fullmatch(value_text):
            raise tb_errors.InvalidArgumentError(
                f"Expected integer values of {name}. Received: {name}={shown(value_text)}")
        value = int(value_text)
        if low is not None and value < low:
            raise tb_errors.InvalidArgumentError(f"Expected {low} <= {name}. Received: {name}={value}")
        values.append(value)
    return values


def required_integer(request: wrappers.Request, name: str, low: int | None = None) -> int:
    value = integer(request, name, None, low=low)
    if value is None:
        raise tb_errors.InvalidArgumentError(f"Expected parameter {name}. Received: none")
    return value


def bounded_text(request: wrappers.Request, name: str, most_chars: int) -> str:
    value = text(request, name)
    if not 1 <= len(value) <= most_chars:
        raise tb_errors.InvalidArgumentError(
            f"Expected a {name} of 1 to {most_chars} characters. "
            f"Received: {len(value)} characters")
    return value


def choice(request: wrappers.Request, name: str, choices: tuple[str, ...]) -> str:
    value = text(request, name, required=False) or choices[0]
    if value not in choices:
        raise tb_errors.InvalidArgumentError(
            f"Expected {name} in {choices}. Received: {name}={shown(value)}")
    return value


def pair(request: wrappers.Request, name: str) -> list[str]:
    """A parameter given exactly twice (`run=A&run=B`), in the order given."""
    values = texts(request, name, required=True, most=2)
    if len(values) != 2:
        raise tb_errors.InvalidArgumentError(
            f"Expected two values of {name} ({name}=A&{name}=B). Received: {len(values)} value")
    return values
