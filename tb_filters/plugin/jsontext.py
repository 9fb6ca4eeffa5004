"""JSON text for the routes, with cached fragments spliced in.

A page of a 1024-filter layer is 1.6 MB of JSON, mostly filter objects that
earlier requests already encoded: those are kept as `EncodedJson` text and
spliced in, so a page costs one `json.dumps` of its small skeleton.
"""

from __future__ import annotations

import functools
import json
import math
import re
import secrets
from typing import Any, Callable

import orjson
from tensorboard.backend import json_util


class EncodedJson(str):
    """JSON text spliced into a response as is (cached per-filter objects)."""


def dumps(value: Any, floats: Any = None) -> str:
    """Compact JSON; non-finite floats become "Infinity"/"-Infinity"/"NaN" as
    TensorBoard's `json_util.Cleanse` writes them, so browsers parse it.

    `floats`: where `value`'s floats sit (`schema_docs.float_fields` of its shape). When given and
    every float there is finite, orjson writes it: a page's filter objects took ~4.2 ms through
    `json` and ~0.6 ms through orjson, the same JSON. orjson writes a non-finite float as null,
    so anything else (or what orjson refuses: ints beyond 64 bits, lone surrogates) takes `json`."""
    if floats is not None and finite_at(value, floats):
        try:
            return orjson.dumps(value).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):
            pass
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(finite(value), ensure_ascii=False, separators=(",", ":"))


def finite_at(value: Any, floats: Any) -> bool:
    """Whether every float where `floats` says (a string: a float; [inner]: a list of them; {key: inner}:
    an object's keys) is finite; False too when `value` does not have that shape."""
    try:
        return _checker(frozen(floats))(value)
    except (TypeError, AttributeError):
        return False


@functools.lru_cache(maxsize=None)
def _checker(floats: Any) -> Callable[[Any], bool]:
    """`finite_at` for one `floats`, built once: it runs on every filter object a page builds."""
    if isinstance(floats, str):
        return _finite_number
    if isinstance(floats, tuple):  # [inner], made hashable by frozen
        inner = _checker(floats[0])
        if inner is _finite_number:
            return _finite_numbers
        return lambda value: value is None or all(map(inner, value))
    # One expression over the object's keys, as Shape.make is generated: a list of checks per object
    # was 12% of a first-visit page (cProfile).
    namespace = {f"_check{i}": _checker(inner) for i, (_, inner) in enumerate(floats)}
    tests = " and ".join(f"_check{i}(value.get({key!r}))" for i, (key, _) in enumerate(floats))
    exec(f"def check(value):\n    return value is None or ({tests or 'True'})\n", namespace)  # noqa: S102 - keys are repr()'d
    return namespace["check"]


def _finite_number(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and value - value == 0)  # inf - inf, nan - nan: nan


def _finite_numbers(values: Any) -> bool:
    if values is None:
        return True
    if None not in values:
        total = sum(values)  # finite: so is every value; else one may only have overflowed the sum
        if total - total == 0:
            return True
    return all(map(_finite_number, values))


def frozen(floats: Any) -> Any:
    """`floats` hashable, for `_checker`'s cache (a list as a 1-tuple, an object as (key, inner) pairs);
    frozen already, as it is."""
    if isinstance(floats, list):
        return (frozen(floats[0]),)
    if isinstance(floats, dict):
        return frozenset((key, frozen(inner)) for key, inner in floats.items())
    return floats


def finite(value: Any) -> Any:
    """`json_util.Cleanse`'s answer for the plain values routes send, walking only dicts and
    lists: Cleanse also visits every string and number, which made it most of a page's time."""
    if isinstance(value, float):
        return value if math.isfinite(value) else json_util.Cleanse(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


# A marker no data holds: random once per process, so no report written before or after can know it.
# Drawn per answer it was 5% of TensorBoard's samples under LOAD (os.urandom, taking turns on the GIL).
_MARKER = "\ue000tb_filters:" + secrets.token_hex(8) + ":"
_MARKED = re.compile('"' + re.escape(_MARKER) + '([0-9]+)"')


def to_json(obj: Any) -> str:
    """Serializes dicts/lists of plain values with EncodedJson leaves spliced in.

    The structure is encoded by one C-speed `json.dumps` with a unique marker
    in place of each EncodedJson, then the markers are replaced by the texts.
    """
    if isinstance(obj, EncodedJson):
        return obj
    fragments: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, EncodedJson):
            fragments.append(value)
            return _MARKER + str(len(fragments) - 1)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return value

    text = dumps(swap(obj))
    if not fragments:
        return text
    return _MARKED.sub(lambda m: fragments[int(m.group(1))], text)
