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

from tensorboard.backend import json_util


class EncodedJson(str):
    """JSON text spliced into a response as is (cached per-filter objects)."""


def dumps(value: Any) -> str:
    """Compact JSON; non-finite floats become "Infinity"/"-Infinity"/"NaN" as
    TensorBoard's `json_util.Cleanse` writes them, so browsers parse it."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(finite(value), ensure_ascii=False, separators=(",", ":"))


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
