"""JSON text for the routes, with cached fragments spliced in.

A page of a 1024-filter layer is 1.6 MB of JSON, mostly filter objects that
earlier requests already encoded: those are kept as `EncodedJson` text and
spliced in, so a page costs one `json.dumps` of its small skeleton.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from typing import Any

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
        return _finite_at(value, floats)
    except (TypeError, AttributeError):
        return False


def _finite_at(value: Any, floats: Any) -> bool:
    if value is None:
        return True
    if isinstance(floats, str):
        return not isinstance(value, str) and value - value == 0  # inf - inf and nan - nan are nan
    if isinstance(floats, list):
        inner = floats[0]
        if isinstance(inner, str) and None not in value:
            total = sum(value)  # finite: so is every value; else one may only have overflowed the sum
            if total - total == 0:
                return True
        return all(_finite_at(v, inner) for v in value)
    return all(_finite_at(value.get(key), inner) for key, inner in floats.items())


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


def to_json(obj: Any) -> str:
    """Serializes dicts/lists of plain values with EncodedJson leaves spliced in.

    The structure is encoded by one C-speed `json.dumps` with a unique marker
    in place of each EncodedJson, then the markers are replaced by the texts.
    """
    if isinstance(obj, EncodedJson):
        return obj
    fragments: list[str] = []
    marker = "\ue000tb_filters:" + secrets.token_hex(8) + ":"

    def swap(value: Any) -> Any:
        if isinstance(value, EncodedJson):
            fragments.append(value)
            return marker + str(len(fragments) - 1)
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return value

    text = dumps(swap(obj))
    if not fragments:
        return text
    pattern = re.compile('"' + re.escape(marker) + '([0-9]+)"')
    return pattern.sub(lambda m: fragments[int(m.group(1))], text)
