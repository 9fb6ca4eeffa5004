"""Reading a LayerReport payload the one way: what its token references,
availability enums, optional fields and payload versions mean.

`report.py` (the dataclasses) and `plugin/views.py` (the routes' JSON) both
decode through these functions, so a payload cannot mean one thing in a
notebook and another in the tab. Pure protobuf: no TensorFlow.
"""

from __future__ import annotations

import array
import bisect
import functools
import struct
import zlib
from typing import Any, Iterable, NamedTuple, Sequence

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
# The payload version whose windows and patterns leave out what derives from the rest (docs/payload.md).
COMPACT_VERSION = 3
# The payload version whose deflated report holds its signatures byte-planar (`byte_planes`).
PLANAR_SIGNATURES_VERSION = 4
# The payload version whose patterns leave out their token ids and activation where they derive
# from their first window's (docs/payload.md).
DERIVED_PATTERNS_VERSION = 5
# The most slots a span or a padded example may derive: a hostile payload must not make a reader
# build lists of a billion ids from a few bytes.
MAX_DERIVED_SLOTS = 1 << 16


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
    """LayerReport.token_table, read through checked references; built by `layer_table(pb)`, it also
    derives what a version 3 payload leaves out of its windows and patterns (docs/payload.md)."""

    __slots__ = ("strings", "compact", "derived_patterns", "padding_id", "span_width", "span_stride", "span_offset",
                 "_layer", "_ids", "_contexts")

    def __init__(self, strings: Iterable[str], layer: filters_pb2.LayerReport | None = None):
        self.strings = list(strings)
        self._layer = layer
        self._ids: dict[int, str] | None = None
        self._contexts: Contexts | None = None
        self.compact = layer is not None and layer.version >= COMPACT_VERSION
        self.derived_patterns = layer is not None and layer.version >= DERIVED_PATTERNS_VERSION
        self.padding_id = None if layer is None else optional(layer, "padding_id")
        geometry = None if layer is None else layer.geometry
        self.span_width = geometry.span_width if geometry else 0
        self.span_stride = geometry.span_stride if geometry else 0
        self.span_offset = geometry.span_offset if geometry else 0

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

    # Token ids -> tokens (version 3 derives windows' and patterns' tokens from their ids) ----------

    @property
    def id_strings(self) -> dict[int, str]:
        """Token id -> token, from LayerReport.context_vocab_* (references outside the table left out)."""
        if self._ids is None:
            self._ids = {} if self._layer is None else self.context_strings(self._layer)
        return self._ids

    def id_tokens(self, ids: Iterable[int], blank_bad: bool = False) -> list[str]:
        strings = self.id_strings
        try:
            return [strings[i] for i in ids]
        except KeyError as e:
            if blank_bad:
                return [strings.get(i, "") for i in ids]
            raise CorruptReport(f"token id {e.args[0]} has no token in the report's vocabulary") from None

    def context_strings(self, pb: filters_pb2.LayerReport) -> dict[int, str]:
        """Token id -> token of every id in the report's contexts (references outside the table left out)."""
        strings = self.strings
        return {i: strings[r] for i, r in zip(pb.context_vocab_ids, pb.context_vocab_refs)
                if 0 <= r < len(strings)}

    # Windows ---------------------------------------------------------------------------------------

    def span_start(self, w: filters_pb2.Window) -> int:
        if self.compact and not w.HasField("span_start"):
            return w.position * self.span_stride + self.span_offset
        return w.span_start

    def window_ids(self, w: filters_pb2.Window) -> list[int]:
        """The window's token ids: its own, else (version 3) its example's at its span."""
        if w.token_ids or not self.compact:
            return list(w.token_ids)
        if not 0 <= self.span_width <= MAX_DERIVED_SLOTS:
            raise CorruptReport(f"its span of {self.span_width} slots is not from 0 to {MAX_DERIVED_SLOTS}")
        ids = self.contexts.span(w.example, self.span_start(w), self.span_width)
        if ids is None:
            raise CorruptReport(f"a window of example {w.example} has no token ids and the report no context "
                                "for its example")
        return ids

    def window_tokens(self, w: filters_pb2.Window, blank_bad: bool = False,
                      ids: list[int] | None = None) -> list[str]:
        """The window's tokens; `blank_bad` (indexes over possibly damaged steps): a bad one reads as "",
        and a window whose ids do not derive has none. `ids`: its `window_ids`, when already derived."""
        if w.token_refs or not self.compact:
            return self.tokens_or_blank(w.token_refs) if blank_bad else self.tokens(w.token_refs)
        if ids is None:
            try:
                ids = self.window_ids(w)
            except CorruptReport:
                if blank_bad:
                    return []
                raise
        return self.id_tokens(ids, blank_bad)

    def window_padding(self, w: filters_pb2.Window, ids: list[int]) -> list[bool]:
        if w.padding or not self.compact:
            return list(w.padding)
        padding_id = self.padding_id
        return [i < 0 or i == padding_id for i in ids]

    # Patterns --------------------------------------------------------------------------------------

    def pattern_tokens(self, p: filters_pb2.Pattern, windows: Sequence[filters_pb2.Window] = (),
                       blank_bad: bool = False, known_ids: Sequence[list[int]] = ()) -> list[str | None]:
        """The pattern's token per slot, None for a wildcard slot (`blank_bad`: a bad one reads as "");
        `windows`: its filter's, which a version 5 pattern's ids may derive from; `known_ids`: the
        `window_ids` of its filter's first windows, when already derived."""
        if p.in_pattern or not self.compact:
            if blank_bad:
                return [self.tokens_or_blank((r,))[0] if inside else None
                        for r, inside in zip(p.token_refs, p.in_pattern)]
            return [self.token(r) if inside else None for r, inside in zip(p.token_refs, p.in_pattern)]
        try:
            ids = self.pattern_ids(p, windows, known_ids)
        except CorruptReport:
            if blank_bad:
                return []
            raise
        tokens = iter(self.id_tokens([i for i in ids if i is not None], blank_bad))  # one call a pattern
        return [None if i is None else next(tokens) for i in ids]

    def pattern_ids(self, p: filters_pb2.Pattern, windows: Sequence[filters_pb2.Window] = (),
                    known_ids: Sequence[list[int]] = ()) -> list[int | None]:
        """The pattern's token id per slot, None for a wildcard slot; the rest as in `pattern_tokens`."""
        if p.in_pattern or not self.compact:
            return [i if inside else None for i, inside in zip(p.token_ids, p.in_pattern)]
        slots, ids, width = list(p.slots), p.token_ids, self.span_width
        if not 0 <= width <= MAX_DERIVED_SLOTS:
            raise CorruptReport(f"its span of {width} slots is not from 0 to {MAX_DERIVED_SLOTS}")
        fits = not slots or 0 <= min(slots) <= max(slots) < width
        if fits and slots and not ids and self.derived_patterns:
            first = self._first_window(p, windows)
            window = known_ids[first] if first < len(known_ids) else self.window_ids(windows[first])
            if len(window) == width:
                ids = [window[slot] for slot in slots]
        if len(slots) != len(ids) or not fits:
            raise CorruptReport(f"a pattern's slots {list(slots[:8])} and token ids {list(ids[:8])} do not fit "
                                f"its span of {width} slots")
        result: list[int | None] = [None] * width
        for slot, i in zip(slots, ids):
            result[slot] = i
        return result

    def pattern_activation(self, p: filters_pb2.Pattern, windows: Sequence[filters_pb2.Window] = ()) -> float:
        """The pattern's best activation: its own, else (version 5) its first window's."""
        if not self.derived_patterns or p.HasField("activation"):
            return p.activation
        return windows[self._first_window(p, windows)].activation

    @staticmethod
    def _first_window(p: filters_pb2.Pattern, windows: Sequence[filters_pb2.Window]) -> int:
        """The index of the window a version 5 pattern derives from: its first, the best of its windows."""
        first = p.windows[0] if p.windows else -1
        if not 0 <= first < len(windows):
            raise CorruptReport(f"a pattern derives from window {first if p.windows else None} of a filter "
                                f"with {len(windows)} windows")
        return first

    # Contexts --------------------------------------------------------------------------------------

    @property
    def contexts(self) -> Contexts:
        """The report's contexts by example (empty without a layer); CorruptReport when their columns
        contradict each other."""
        if self._contexts is None:
            self._contexts = Contexts(self._layer)
        return self._contexts


def layer_table(pb: filters_pb2.LayerReport) -> TokenTable:
    """The token table of a report, able to derive what version 3 leaves out."""
    return TokenTable(pb.token_table, pb)


def has_contexts(pb: filters_pb2.LayerReport) -> bool:
    """Whether the report keeps any example (versions 1-2: `contexts`; 3: `context_columns`)."""
    return bool(pb.contexts) or bool(pb.context_columns.lengths)


class ContextRow(NamedTuple):
    """One example, whole: read like a `Context` message."""

    example: int
    token_ids: list[int]


class Contexts:
    """Example -> its token ids, from `contexts` (versions 1-2) or `context_columns` (version 3).

    Version 3's index is three int64 arrays, the examples (ascending) bisected, not a dict and
    lists of Python ints: for 204,800 contexts that is ~5 MB and ~15 ms to build instead of
    ~35 MB and ~50 ms, so every step of a series can be kept ready (plugin/store.py). They are
    `array.array`s searched by `bisect`: numpy's searchsorted releases the GIL, and once per
    window under 20 clients each call waited its turn to take it back (44% of TensorBoard's
    samples, py-spy)."""

    def __init__(self, pb: filters_pb2.LayerReport | None):
        self._old: dict[int, filters_pb2.Context] = {}
        self._examples = self._starts = self._lengths = array.array("q")
        if pb is None:
            return
        if pb.contexts:
            self._old = {c.example: c for c in pb.contexts}
            return
        columns = pb.context_columns
        self._ids = columns.token_ids
        self._padded = columns.padded_length
        self._padding_id = optional(pb, "padding_id")
        self._examples, self._starts, self._lengths = _context_columns(columns, self._padding_id)

    def __len__(self) -> int:
        return len(self._old) or len(self._examples)

    def examples(self) -> list[int]:
        return sorted(self._old) if self._old else self._examples.tolist()

    def _row(self, example: int) -> int | None:
        row = bisect.bisect_left(self._examples, example)
        return row if row < len(self._examples) and self._examples[row] == example else None

    def get(self, example: int) -> ContextRow | filters_pb2.Context | None:
        if self._old:
            return self._old.get(example)
        row = self._row(example)
        if row is None:
            return None
        start, length = self._starts[row], self._lengths[row]
        ids = self._ids[start:start + length]
        return ContextRow(example, ids + [self._padding_id] * (self._padded - length) if self._padded else ids)

    def span(self, example: int, start: int, width: int) -> list[int] | None:
        """Its token ids at [start, start + width), -1 outside the example; None without its context."""
        if self._old:
            found = self._old.get(example)
            if found is None:
                return None
            ids = found.token_ids
            return _slice(ids, 0, len(ids), len(ids), start, width, None)
        row = self._row(example)
        if row is None:
            return None
        first, length = self._starts[row], self._lengths[row]
        stored = self._ids[first + max(start, 0):first + min(start + width, length)]
        if start >= 0 and start + width <= length:
            return stored
        return _slice(stored, max(start, 0), length, self._padded or length, start, width, self._padding_id)


def _slice(stored, first: int, length: int, total: int, start: int, width: int, padding_id) -> list[int]:
    """Ids at [start, start + width) of an example of `total` tokens: its first `length` ids are
    given from index `first` on by `stored`, padding_id follows them, -1 lies outside."""
    result = []
    for slot in range(start, start + width):
        if slot < 0 or slot >= total:
            result.append(-1)
        elif slot >= length:
            result.append(padding_id)
        else:
            result.append(stored[slot - first])
    return result


def _context_columns(columns: filters_pb2.ContextColumns, padding_id: int | None
                     ) -> tuple[array.array, array.array, array.array]:
    """(examples, start of each in token_ids, stored length of each); CorruptReport when they contradict."""
    steps, lengths = np.asarray(columns.example_steps, np.int64), np.asarray(columns.lengths, np.int64)
    if len(steps) != len(lengths):
        raise CorruptReport(f"its contexts hold {len(steps)} examples but {len(lengths)} lengths")
    if (lengths < 0).any() or int(lengths.sum()) != len(columns.token_ids):
        raise CorruptReport(f"its contexts' lengths add up to {int(lengths.sum())} tokens, but they hold "
                            f"{len(columns.token_ids)}")
    if len(steps) and (steps[0] < 0 or (steps[1:] <= 0).any()):
        raise CorruptReport("its contexts' examples are not ascending and distinct")
    padded = columns.padded_length
    if not 0 <= padded <= MAX_DERIVED_SLOTS:
        raise CorruptReport(f"its contexts are padded to {padded} tokens, not from 0 to {MAX_DERIVED_SLOTS}")
    if padded and (padding_id is None or (lengths > padded).any()):
        raise CorruptReport(f"its contexts are padded to {padded} tokens but some are longer or it has no "
                            "padding id")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    return tuple(array.array("q", np.ascontiguousarray(column, np.int64).tobytes())
                 for column in (np.cumsum(steps), starts, lengths))


def window_fields(w: filters_pb2.Window, table: TokenTable, has_contributions: bool,
                  span_width: int | None = None) -> dict[str, Any]:
    """A window's derived fields, the keyword arguments of views.WINDOW.make: span_start, tokens,
    token_ids, padding, contributions (None unless the layer has them) and originals (None unless
    the examples were texts). CorruptReport when a reference leaves the token table, a token id
    has no token or, given `span_width`, a slot list is not `span_width` long. One call per
    window: it runs for every window of every page."""
    if span_width is None and table.compact:
        span_width = table.span_width  # what version 3 derives must fit the span, read by the tab or not
    ids = table.window_ids(w)
    tokens = table.window_tokens(w, ids=ids)  # a version 3 window's ids derive once
    originals = w.original_refs
    contributions = None
    if has_contributions:
        contributions = list(w.contributions) if w.contributions or not w.contributions_f16 else \
            _halves(w.contributions_f16)
    padding = table.window_padding(w, ids)
    if span_width is not None and not (
            len(tokens) == len(ids) == len(padding) == span_width
            and (contributions is None or len(contributions) == span_width)
            and (not originals or len(originals) == span_width)):
        raise CorruptReport(f"a window does not match its span of {span_width} slots")
    strings = table.strings
    if originals and not 0 <= min(originals) <= max(originals) < len(strings):
        raise CorruptReport(f"a window refers outside the token table of {len(strings)}")
    return {"span_start": table.span_start(w), "tokens": tokens, "token_ids": ids, "padding": padding,
            "contributions": contributions,
            "originals": [strings[r] for r in originals] if originals else None}


def _halves(data: bytes) -> list[float]:
    """float16 little-endian bytes as floats; CorruptReport on an odd length."""
    if len(data) % 2:
        raise CorruptReport(f"float16 contributions of {len(data)} bytes (an odd number)")
    return list(_float16s(len(data) // 2).unpack(data))


@functools.lru_cache(maxsize=64)
def _float16s(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}e")


def halves(values: Iterable[float]) -> bytes:
    """float32 values as float16 little-endian bytes (round to nearest even; beyond +-65,504: clipped)."""
    top = FLOAT16_MAX
    clipped = [v if -top <= v <= top else top if v > top else -top if v < -top else v for v in values]
    return struct.pack(f"<{len(clipped)}e", *clipped)


FLOAT16_MAX = 65504.0


# Version 3's whole payload and its derived fields ----------------------------------------------------

# What a deflated payload may inflate to: far above any real report, low enough to refuse a zlib bomb.
MAX_INFLATED_BYTES = 1 << 30


def deflate(pb: filters_pb2.LayerReport, level: int = 6) -> filters_pb2.LayerReport:
    """The stored form of a version 3 report: a LayerReport holding only `version` and `deflated`
    (version 4: the signatures inside byte-planar, `byte_planes`); `pb` is left as it was."""
    matrix = pb.signature_matrix
    planar = pb.version >= PLANAR_SIGNATURES_VERSION and len(matrix) % 2 == 0
    if planar:
        pb.signature_matrix = byte_planes(matrix)
    try:
        data = pb.SerializeToString()
    finally:
        if planar:
            pb.signature_matrix = matrix
    return filters_pb2.LayerReport(version=pb.version, deflated=zlib.compress(data, level))


def byte_planes(float16s: bytes, inverse: bool = False) -> bytes:
    """float16 values' low bytes, then their high bytes (the exponents, which deflate well apart from
    the mantissas' noise); `inverse`: back. An odd length, which holds no float16 values, stays."""
    data = np.frombuffer(float16s, np.uint8)
    if len(data) % 2:
        return float16s
    return (data.reshape(2, -1) if inverse else data.reshape(-1, 2)).T.tobytes()


def inflate(pb: filters_pb2.LayerReport) -> filters_pb2.LayerReport:
    """The report a stored payload holds: `pb` itself unless it is deflated; ValueError when the
    deflated bytes do not hold a report of the same version."""
    if not pb.deflated:
        return pb
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(pb.deflated, MAX_INFLATED_BYTES)
    except zlib.error as e:
        raise ValueError(f"payload's deflated report does not inflate: {e}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"payload's deflated report is truncated or inflates to over {MAX_INFLATED_BYTES} bytes")
    try:
        inner = filters_pb2.LayerReport.FromString(data)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ValueError(f"payload's deflated report does not parse: {e}") from None
    if inner.version != pb.version or inner.deflated:
        raise ValueError(f"payload version {pb.version} holds a deflated report of version {inner.version}"
                         + (" that is deflated again" if inner.deflated else ""))
    if inner.version >= PLANAR_SIGNATURES_VERSION and inner.signature_matrix:
        inner.signature_matrix = byte_planes(inner.signature_matrix, inverse=True)
    return inner


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
