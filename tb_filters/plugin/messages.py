"""Pieces of the routes' error messages: names quoted and lists kept short,
whatever the request held."""

from __future__ import annotations

import json
from typing import Any, Iterable

_MAX_NAMES_IN_MESSAGE = 10


def quoted(name: str, max_chars: int = 80) -> str:
    """A name for an error message: quoted, and short even when the request was huge."""
    shown = name if len(name) <= max_chars else name[:max_chars] + "..."
    return json.dumps(shown, ensure_ascii=False)


def name_list(names: Iterable[Any]) -> str:
    names = list(names)
    shown = ", ".join(quoted(n) if isinstance(n, str) else str(n)
                      for n in names[:_MAX_NAMES_IN_MESSAGE])
    more = len(names) - _MAX_NAMES_IN_MESSAGE
    return shown + (f" (and {more} more)" if more > 0 else "") if names else "(none)"
