"""Reading a LayerReport payload the one way: what its token references,
availability enums, optional fields and payload versions mean.

`report.py` (the dataclasses) and `plugin/views.py` (the routes' JSON) both
decode through these functions, so a payload cannot mean one thing in a
notebook and another in the tab. Pure protobuf: no TensorFlow.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from tb_filters.format.proto import filters_pb2

# Whether a feature of "what a filter detects" is in a layer report.
COMPUTED = "computed"
NOT_DEFINED = "not defined"  # e.g. slot preferences of a conv not fed by the embedding
TURNED_OFF = "turned off"  # switched off when interpreting
NOT_IN_REPORT = "not in this report"  # written by an older tb_filters
AVAILABILITY = {
    filters_pb2.NOT_IN_REPORT: NOT_IN_REPORT,
    filters_pb2.COMPUTED: COMPUTED,
    filters_pb2.NOT_DEFINED: NOT_DEFINED,
    filters_pb2.TURNED_OFF: TURNED_OFF,
}
AVAILABILITY_PB = {text: value for value, text in AVAILABILITY.items()}
# The report's optional features, each with a `{feature}_availability` in the payload.
DETECTS_FEATURES = ("slot_preferences", "patterns", "contexts", "inhibiting", "signatures", "intervals")

# The payload version that added effects, dead and duplicate filters: older
# payloads leave those unknown rather than empty.
EFFECTS_VERSION = 2


class CorruptReport(ValueError):
    """A payload that parsed but contradicts itself; its step is then skipped."""


def availability_of(pb: filters_pb2.LayerReport, feature: str) -> str:
    """COMPUTED, NOT_DEFINED, TURNED_OFF or NOT_IN_REPORT for one of DETECTS_FEATURES."""
    return AVAILABILITY.get(getattr(pb, f"{feature}_availability"), NOT_IN_REPORT)


def availability(pb: filters_pb2.LayerReport) -> dict[str, str]:
    """Every feature of DETECTS_FEATURES and whether the report holds it."""
    return {feature: availability_of(pb, feature) for feature in DETECTS_FEATURES}


def computed(pb: filters_pb2.LayerReport) -> dict[str, bool]:
    """Every feature of DETECTS_FEATURES -> whether its per-filter fields are filled."""
    return {feature: text == COMPUTED for feature, text in availability(pb).items()}


def signatures(matrix: bytes, filters: int, probe_examples: int) -> np.ndarray:
    """`signature_matrix` bytes (float16 little-endian, [filters, probe_examples]) as float32;
    CorruptReport when they do not hold that many."""
    expected = filters * probe_examples * 2
    if len(matrix) != expected or probe_examples < 0:
        raise CorruptReport(f"its signatures hold {len(matrix)} bytes, not {expected} "
                            f"({filters} filters x {probe_examples} probe examples x 2)")
    return np.frombuffer(matrix, dtype="<f2").astype(np.float32).reshape(filters, probe_examples)


def optional(message, field: str):
    """A proto3 `optional` field's value, None when unset."""
    return getattr(message, field) if message.HasField(field) else None


def knows_effects(pb: filters_pb2.LayerReport) -> bool:
    """Whether the payload is new enough to say whether filters are dead, duplicates or matter."""
    return pb.version >= EFFECTS_VERSION


class TokenTable:
    """LayerReport.token_table, read through checked references."""

    __slots__ = ("strings",)

    def __init__(self, strings: Iterable[str]):
        self.strings = list(strings)

    def __len__(self) -> int:
        return len(self.strings)

    def token(self, ref: int) -> str:
        if not 0 <= ref < len(self.strings):
            raise CorruptReport(f"token reference {ref} outside the token table of {len(self.strings)}")
        return self.strings[ref]

    def tokens(self, refs: Iterable[int]) -> list[str]:
        strings = self.strings
        refs = list(refs)
        if refs and not 0 <= min(refs) <= max(refs) < len(strings):
            bad = next(r for r in refs if not 0 <= r < len(strings))
            raise CorruptReport(f"token reference {bad} outside the token table of {len(strings)}")
        return [strings[r] for r in refs]

    def tokens_or_blank(self, refs: Iterable[int]) -> list[str]:
        """For indexes over possibly damaged steps (search): a bad reference reads as ""."""
        strings = self.strings
        return [strings[r] if 0 <= r < len(strings) else "" for r in refs]

    def pattern_tokens(self, p: filters_pb2.Pattern) -> list[str | None]:
        """The pattern's token per slot, None for a wildcard slot."""
        return [self.token(r) if inside else None for r, inside in zip(p.token_refs, p.in_pattern)]

    def context_strings(self, pb: filters_pb2.LayerReport) -> dict[int, str]:
        """Token id -> token of every id in the report's contexts (references outside the table left out)."""
        strings = self.strings
        return {i: strings[r] for i, r in zip(pb.context_vocab_ids, pb.context_vocab_refs)
                if 0 <= r < len(strings)}


def pattern_ids(p: filters_pb2.Pattern) -> list[int | None]:
    return [i if inside else None for i, inside in zip(p.token_ids, p.in_pattern)]


def window_slots(w: filters_pb2.Window, table: TokenTable, has_contributions: bool,
                 span_width: int | None = None) -> tuple[list[str], list[float] | None, list[str] | None]:
    """A window's (tokens, contributions, originals): contributions None unless the layer has
    them, originals None unless the examples were texts. CorruptReport when a reference leaves the
    token table or, given `span_width`, a slot list is not `span_width` long. One call per window:
    it runs for every window of every page."""
    strings = table.strings
    refs, originals = list(w.token_refs), list(w.original_refs)
    contributions = list(w.contributions) if has_contributions else None
    if span_width is not None:
        lengths = {len(refs), len(w.token_ids), len(w.padding), span_width}
        if contributions is not None:
            lengths.add(len(contributions))
        if originals:
            lengths.add(len(originals))
        if len(lengths) != 1:
            raise CorruptReport(f"a window does not match its span of {span_width} slots")
    every = refs + originals if originals else refs
    if every and not 0 <= min(every) <= max(every) < len(strings):
        raise CorruptReport(f"a window refers outside the token table of {len(strings)}")
    return [strings[r] for r in refs], contributions, [strings[r] for r in originals] if originals else None


def context_padding(pb: filters_pb2.LayerReport, token_ids: Iterable[int]) -> list[bool]:
    """Per token of a context: outside the sequence (-1) or the vocabulary's padding id."""
    padding_id = optional(pb, "padding_id")
    return [i < 0 or i == padding_id for i in token_ids]


def effects(f: filters_pb2.FilterReport, pb: filters_pb2.LayerReport) -> list[tuple[str, float, float]]:
    """(output name, mean, mean_abs) per output; CorruptReport when they do not match the outputs."""
    names = pb.output_names
    if len(f.effect_mean) != len(names) or len(f.effect_mean_abs) != len(names):
        raise CorruptReport("effects do not match the report's outputs")
    return list(zip(names, f.effect_mean, f.effect_mean_abs))


def duplicate(f: filters_pb2.FilterReport) -> tuple[int | None, float | None]:
    """(duplicate_of, its correlation), both None when the filter duplicates none."""
    if not f.HasField("duplicate_of"):
        return None, None
    return f.duplicate_of, f.duplicate_correlation
