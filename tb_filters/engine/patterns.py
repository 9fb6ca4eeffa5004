"""Patterns: a filter's top windows grouped by the slots that carry them.

The rule. A window's positive total is the sum of its positive per-slot
contributions. Slot j is part of the window's pattern when its contribution
is at least `share` of that total (0.2 by default: on a kernel of 5 a
slot carrying no more than an even share stays in, filler words carrying a
tenth each drop out); when no slot reaches it, the slot with the largest
contribution alone. A window without any positive contribution (its
activation is the bias's doing) has no pattern slot.

Windows with the same token ids in the same pattern slots form one pattern,
shown with wildcards elsewhere ("buying again · · ·"). A pattern's count is
the sum of its windows' counts: the occurrences in the data of the top-k
windows that carry it. Every window of the data whose activation beats the
filter's k-th value is in the top-k (distinct or raw), so this counts all of
them, exactly, with no data beyond the top-k tables.
"""

from __future__ import annotations

from typing import Sequence

from tb_filters.format.report import Pattern, Window
from tb_filters.options import Options

DEFAULT_SHARE = Options().pattern_share


def pattern_slots(contributions: Sequence[float], share: float = DEFAULT_SHARE) -> tuple[int, ...]:
    """The slots of a window's pattern under the rule above, ascending."""
    total = sum(c for c in contributions if c > 0)
    if total <= 0:
        return ()
    slots = tuple(j for j, c in enumerate(contributions) if c > 0 and c >= share * total)
    if slots:
        return slots
    return (max(range(len(contributions)), key=lambda j: (contributions[j], -j)),)


def patterns(windows: Sequence[Window], share: float = DEFAULT_SHARE) -> tuple[Pattern, ...]:
    """The patterns of windows with contributions, best activation first (then first window)."""
    groups: dict[tuple, list[int]] = {}
    for i, window in enumerate(windows):
        slots = set(pattern_slots(window.contributions, share))
        key = tuple(window.token_ids[j] if j in slots else None for j in range(len(window.token_ids)))
        groups.setdefault(key, []).append(i)
    result = []
    for key, members in groups.items():
        first = windows[members[0]]
        result.append(Pattern(
            tokens=tuple(None if t is None else first.tokens[j] for j, t in enumerate(key)),
            token_ids=key,
            activation=max(windows[i].activation for i in members),
            windows=tuple(members),
            count=sum(windows[i].count for i in members),
        ))
    result.sort(key=lambda p: (-p.activation, p.windows[0]))
    return tuple(result)
