"""The interpretation report: plain dataclasses, the proto round trip and the
notebook's JSON export. No Keras or TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, NamedTuple

from tb_filters.format import metadata
from tb_filters.format.proto import filters_pb2

PAD_TOKEN = "<pad>"
WILDCARD = "\u00b7"  # a pattern slot that any token fills

# Whether a feature of "what a filter detects" is in a layer report.
COMPUTED = "computed"
NOT_DEFINED = "not defined"  # e.g. slot preferences of a conv not fed by the embedding
TURNED_OFF = "turned off"  # switched off when interpreting
NOT_IN_REPORT = "not in this report"  # written by an older tb_filters
_AVAILABILITY = {
    filters_pb2.NOT_IN_REPORT: NOT_IN_REPORT,
    filters_pb2.COMPUTED: COMPUTED,
    filters_pb2.NOT_DEFINED: NOT_DEFINED,
    filters_pb2.TURNED_OFF: TURNED_OFF,
}
_AVAILABILITY_PB = {text: value for value, text in _AVAILABILITY.items()}
DETECTS_FEATURES = ("slot_preferences", "patterns", "contexts", "inhibiting")
# Slots shown per filter in its one-line summary, and tokens per slot.
SUMMARY_TOKENS = 2


def _histogram_edges() -> tuple[float, ...]:
    """Fixed, data-independent bucket edges so histograms merge across batches.

    Powers of two from 1/64 to 64 on each side of zero; relu's zeros land in
    [0, 1/64).
    """
    magnitudes = [2.0**e for e in range(-6, 7)]
    negatives = [-m for m in reversed(magnitudes)]
    return tuple([-math.inf] + negatives + [0.0] + magnitudes + [math.inf])


HISTOGRAM_EDGES = _histogram_edges()
NUM_BUCKETS = len(HISTOGRAM_EDGES) - 1


@dataclasses.dataclass(frozen=True)
class Window:
    """One top window of a filter."""

    activation: float
    example: int
    position: int
    span_start: int
    token_ids: tuple[int, ...]  # -1 where the slot is outside the sequence
    tokens: tuple[str, ...]
    padding: tuple[bool, ...]
    contributions: tuple[float, ...] | None = None
    count: int = 1
    # Raw-text input: per slot, the piece of the example's text the token came from ("" for padding).
    originals: tuple[str, ...] | None = None

    @property
    def words(self) -> str:
        return " ".join(self.tokens)


@dataclasses.dataclass(frozen=True)
class FilterStats:
    """Statistics over every (example, position) activation of one filter."""

    max: float
    min: float
    mean: float
    positive_fraction: float
    positions: int
    histogram: tuple[int, ...]  # counts per HISTOGRAM_EDGES bucket


class Effect(NamedTuple):
    """A filter's effect on one model output unit, a tuple (output, mean, mean_abs): the
    mean over the sample of output(x) - output(x with the filter's activations set to 0),
    and the mean |change|."""

    output: str
    mean: float
    mean_abs: float


@dataclasses.dataclass(frozen=True)
class TokenScore:
    """A token's contribution in one slot of a filter, and how often the data holds it."""

    token: str
    id: int
    score: float
    occurrences: int


@dataclasses.dataclass(frozen=True)
class SlotPreference:
    """The tokens that raise a filter's activation most in one slot, and those that lower it most."""

    slot: int
    raises: tuple[TokenScore, ...]
    lowers: tuple[TokenScore, ...]


@dataclasses.dataclass(frozen=True)
class Pattern:
    """Top windows that share their tokens in the slots carrying them; None marks a wildcard slot."""

    tokens: tuple[str | None, ...]
    token_ids: tuple[int | None, ...]
    activation: float  # the best of its windows
    windows: tuple[int, ...]  # indices into FilterReport.windows
    count: int  # occurrences of those windows in the data

    @property
    def text(self) -> str:
        return " ".join(WILDCARD if t is None else t for t in self.tokens)


@dataclasses.dataclass(frozen=True)
class Context:
    """A whole example, as the engine read it."""

    example: int
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    padding: tuple[bool, ...]


@dataclasses.dataclass(frozen=True)
class FilterReport:
    index: int
    windows: tuple[Window, ...]
    stats: FilterStats
    bias: float = 0.0
    effects: tuple[Effect, ...] = ()  # in the model's output order; empty when not computed
    dead: bool | None = None  # None: unknown (a report from before payload version 2)
    duplicate_of: int | None = None  # the earlier filter it correlates with above the threshold
    duplicate_correlation: float | None = None
    # None when not in the report; the LayerReport says why.
    slot_preferences: tuple[SlotPreference, ...] | None = None
    patterns: tuple[Pattern, ...] | None = None
    inhibiting: tuple[Window, ...] | None = None  # lowest pre-activation first

    @property
    def summary(self) -> str:
        return summary_line(
            [[t.token for t in slot.raises] for slot in self.slot_preferences or ()],
            self.patterns[0].tokens if self.patterns else None,
            self.windows[0].tokens if self.windows else None,
        )


def summary_line(slot_raises: list[list[str]], best_pattern: tuple | None, best_window: tuple | None) -> str:
    """One line: what raises the filter in each slot, else its best pattern, else its best window."""
    if slot_raises:
        wants = ["|".join(tokens[:SUMMARY_TOKENS]) or WILDCARD for tokens in slot_raises]
        return "wants  " + f"  {WILDCARD}  ".join(wants)
    if best_pattern:
        return "detects  " + " ".join(WILDCARD if t is None else t for t in best_pattern)
    if best_window:
        return "top  " + " ".join(best_window)
    return "no windows"


@dataclasses.dataclass(frozen=True)
class LayerGeometry:
    num_filters: int
    kernel_size: int
    stride: int
    dilation: int
    padding: str
    activation: str
    input_length: int
    output_length: int
    span_width: int
    span_stride: int
    span_offset: int
    path: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LayerReport:
    name: str
    geometry: LayerGeometry
    top_k: int
    distinct: bool
    num_examples: int
    filters: tuple[FilterReport, ...]
    has_contributions: bool = False
    output_names: tuple[str, ...] = ()  # the effects' outputs; empty when not computed
    sample_examples: int = 0  # examples behind the effects and correlations
    effects_note: str = ""  # why the effects are missing, if they are
    duplicate_threshold: float | None = None
    slot_preferences: str = NOT_IN_REPORT  # COMPUTED, NOT_DEFINED, TURNED_OFF or NOT_IN_REPORT
    patterns: str = NOT_IN_REPORT
    contexts: str = NOT_IN_REPORT
    inhibiting: str = NOT_IN_REPORT
    slot_top_n: int = 0
    slot_min_count: int = 0
    pattern_share: float = 0.0
    examples: dict[int, Context] | None = None  # example index -> Context, for every window's example

    def to_summary_json(self) -> dict[str, str]:
        """{"Filter_i": one-line summary}, keyed like the notebook's export."""
        return {f"Filter_{f.index}": f.summary for f in self.filters}

    def top_filters(self, n: int) -> list[FilterReport]:
        """The n filters with the highest maximum activation (ties: lower index)."""
        return sorted(self.filters, key=lambda f: (-f.stats.max, f.index))[:n]

    def context(self, window: Window) -> Context | None:
        """The whole example a window (top or inhibiting) comes from, when contexts are in the report."""
        return None if self.examples is None else self.examples.get(window.example)

    def to_notebook_json(self) -> dict[str, list[dict]]:
        """The original notebook's export: {"Filter_i": [{activation, tweet, position, words}]}."""
        return {
            f"Filter_{f.index}": [
                {
                    "activation": float(w.activation),
                    "tweet": int(w.example),
                    "position": int(w.position),
                    "words": w.words,
                }
                for w in f.windows
            ]
            for f in self.filters
        }


@dataclasses.dataclass(frozen=True)
class Report:
    """What `tb_filters.interpret` returns: one LayerReport per conv layer."""

    layers: dict[str, LayerReport]

    def __getitem__(self, layer_name: str) -> LayerReport:
        return self.layers[layer_name]

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)


def to_proto(layer: LayerReport) -> filters_pb2.LayerReport:
    table: dict[str, int] = {}
    pb = filters_pb2.LayerReport(
        version=metadata.PAYLOAD_VERSION,
        layer_name=layer.name,
        geometry=filters_pb2.LayerGeometry(**dataclasses.asdict(layer.geometry)),
        top_k=layer.top_k,
        distinct=layer.distinct,
        num_examples=layer.num_examples,
        histogram_edges=HISTOGRAM_EDGES,
        has_contributions=layer.has_contributions,
        output_names=layer.output_names,
        sample_examples=layer.sample_examples,
        effects_note=layer.effects_note,
        duplicate_threshold=layer.duplicate_threshold,
        slot_preferences_availability=_AVAILABILITY_PB[layer.slot_preferences],
        patterns_availability=_AVAILABILITY_PB[layer.patterns],
        contexts_availability=_AVAILABILITY_PB[layer.contexts],
        inhibiting_availability=_AVAILABILITY_PB[layer.inhibiting],
        slot_top_n=layer.slot_top_n,
        slot_min_count=layer.slot_min_count,
        pattern_share=layer.pattern_share,
    )
    for f in layer.filters:
        pb.filters.append(_filter_to_proto(f, table))
    if layer.examples is not None:
        _contexts_to_proto(layer.examples, pb, table)
    pb.token_table.extend(table)  # dicts keep insertion order = ref order
    return pb


def _contexts_to_proto(examples: dict[int, Context], pb: filters_pb2.LayerReport, table: dict[str, int]) -> None:
    strings: dict[int, str] = {}
    for example in sorted(examples):
        context = examples[example]
        pb.contexts.append(filters_pb2.Context(example=example, token_ids=context.token_ids))
        strings.update(zip(context.token_ids, context.tokens))
        for token_id, padding in zip(context.token_ids, context.padding):
            if padding and token_id >= 0:
                pb.padding_id = token_id
    pb.context_vocab_ids.extend(strings)
    pb.context_vocab_refs.extend(table.setdefault(t, len(table)) for t in strings.values())


def _filter_to_proto(f: FilterReport, table: dict[str, int]) -> filters_pb2.FilterReport:
    stats = filters_pb2.Stats(**dataclasses.asdict(f.stats))
    pb = filters_pb2.FilterReport(
        index=f.index, stats=stats, bias=f.bias, dead=f.dead,
        effect_mean=[e.mean for e in f.effects], effect_mean_abs=[e.mean_abs for e in f.effects],
    )
    if f.duplicate_of is not None:
        pb.duplicate_of = f.duplicate_of
        pb.duplicate_correlation = f.duplicate_correlation or 0.0
    pb.windows.extend(_window_to_proto(w, table) for w in f.windows)
    pb.inhibiting.extend(_window_to_proto(w, table) for w in f.inhibiting or ())
    for slot in f.slot_preferences or ():
        pb.slot_preferences.append(filters_pb2.SlotPreference(
            slot=slot.slot,
            raises=[_score_to_proto(t, table) for t in slot.raises],
            lowers=[_score_to_proto(t, table) for t in slot.lowers],
        ))
    for pattern in f.patterns or ():
        pb.patterns.append(filters_pb2.Pattern(
            in_pattern=[t is not None for t in pattern.token_ids],
            token_refs=[-1 if t is None else table.setdefault(t, len(table)) for t in pattern.tokens],
            token_ids=[-1 if t is None else t for t in pattern.token_ids],
            activation=pattern.activation,
            windows=pattern.windows,
            count=pattern.count,
        ))
    return pb


def _window_to_proto(w: Window, table: dict[str, int]) -> filters_pb2.Window:
    return filters_pb2.Window(
        activation=w.activation,
        example=w.example,
        position=w.position,
        span_start=w.span_start,
        token_refs=[table.setdefault(t, len(table)) for t in w.tokens],
        token_ids=w.token_ids,
        padding=w.padding,
        contributions=w.contributions or (),
        count=w.count,
        original_refs=[table.setdefault(t, len(table)) for t in w.originals or ()],
    )


def _score_to_proto(t: TokenScore, table: dict[str, int]) -> filters_pb2.TokenScore:
    return filters_pb2.TokenScore(token_ref=table.setdefault(t.token, len(table)), id=t.id, score=t.score,
                                  occurrences=t.occurrences)


def from_proto(pb: filters_pb2.LayerReport) -> LayerReport:
    table = list(pb.token_table)
    geometry = LayerGeometry(
        **{
            field.name: (tuple(getattr(pb.geometry, field.name)) if field.name == "path"
                         else getattr(pb.geometry, field.name))
            for field in dataclasses.fields(LayerGeometry)
        }
    )
    availability = {feature: availability_of(pb, feature) for feature in DETECTS_FEATURES}
    filters = tuple(_filter_from_proto(f, table, pb, availability) for f in pb.filters)
    return LayerReport(
        name=pb.layer_name,
        geometry=geometry,
        top_k=pb.top_k,
        distinct=pb.distinct,
        num_examples=pb.num_examples,
        filters=filters,
        has_contributions=pb.has_contributions,
        output_names=tuple(pb.output_names),
        sample_examples=pb.sample_examples,
        effects_note=pb.effects_note,
        duplicate_threshold=pb.duplicate_threshold if pb.HasField("duplicate_threshold") else None,
        slot_top_n=pb.slot_top_n,
        slot_min_count=pb.slot_min_count,
        pattern_share=pb.pattern_share,
        examples=_contexts_from_proto(pb, table) if availability["contexts"] == COMPUTED else None,
        **availability,
    )


def availability_of(pb: filters_pb2.LayerReport, feature: str) -> str:
    """COMPUTED, NOT_DEFINED, TURNED_OFF or NOT_IN_REPORT for one of DETECTS_FEATURES."""
    return _AVAILABILITY.get(getattr(pb, f"{feature}_availability"), NOT_IN_REPORT)


def _filter_from_proto(
    f: filters_pb2.FilterReport, table: list[str], pb: filters_pb2.LayerReport, availability: dict[str, str]
) -> FilterReport:
    has_contributions = pb.has_contributions

    def present(feature: str, value):
        return value if availability[feature] == COMPUTED else None

    return FilterReport(
        index=f.index,
        windows=tuple(_window_from_proto(w, table, has_contributions) for w in f.windows),
        stats=FilterStats(
            max=f.stats.max,
            min=f.stats.min,
            mean=f.stats.mean,
            positive_fraction=f.stats.positive_fraction,
            positions=f.stats.positions,
            histogram=tuple(f.stats.histogram),
        ),
        bias=f.bias,
        slot_preferences=present("slot_preferences", tuple(
            SlotPreference(
                slot=s.slot,
                raises=tuple(_score_from_proto(t, table) for t in s.raises),
                lowers=tuple(_score_from_proto(t, table) for t in s.lowers),
            )
            for s in f.slot_preferences
        )),
        patterns=present("patterns", tuple(
            Pattern(
                tokens=tuple(table[r] if inside else None for r, inside in zip(p.token_refs, p.in_pattern)),
                token_ids=tuple(i if inside else None for i, inside in zip(p.token_ids, p.in_pattern)),
                activation=p.activation,
                windows=tuple(p.windows),
                count=p.count,
            )
            for p in f.patterns
        )),
        inhibiting=present("inhibiting", tuple(_window_from_proto(w, table, has_contributions)
                                               for w in f.inhibiting)),
        **_matter_from_proto(f, pb),
    )


def _score_from_proto(t: filters_pb2.TokenScore, table: list[str]) -> TokenScore:
    return TokenScore(token=table[t.token_ref], id=t.id, score=t.score, occurrences=t.occurrences)


def _contexts_from_proto(pb: filters_pb2.LayerReport, table: list[str]) -> dict[int, Context]:
    strings = {i: table[r] for i, r in zip(pb.context_vocab_ids, pb.context_vocab_refs)}
    padding_id = pb.padding_id if pb.HasField("padding_id") else None
    return {
        c.example: Context(
            example=c.example,
            token_ids=tuple(c.token_ids),
            tokens=tuple(strings[i] for i in c.token_ids),
            padding=tuple(i == padding_id or i < 0 for i in c.token_ids),
        )
        for c in pb.contexts
    }


def _matter_from_proto(f: filters_pb2.FilterReport, layer: filters_pb2.LayerReport) -> dict:
    """Effects, dead and duplicate_of; version 1 reports know none of them."""
    if layer.version < 2:
        return {}
    duplicate = f.HasField("duplicate_of")
    return {
        "effects": tuple(Effect(name, mean, mean_abs) for name, mean, mean_abs
                         in zip(layer.output_names, f.effect_mean, f.effect_mean_abs)),
        "dead": f.dead if f.HasField("dead") else None,
        "duplicate_of": f.duplicate_of if duplicate else None,
        "duplicate_correlation": f.duplicate_correlation if duplicate else None,
    }


def _window_from_proto(w: filters_pb2.Window, table: list[str], has_contributions: bool) -> Window:
    return Window(
        activation=w.activation,
        example=w.example,
        position=w.position,
        span_start=w.span_start,
        token_ids=tuple(w.token_ids),
        tokens=tuple(table[r] for r in w.token_refs),
        padding=tuple(w.padding),
        contributions=tuple(w.contributions) if has_contributions else None,
        count=w.count,
        originals=tuple(table[r] for r in w.original_refs) if w.original_refs else None,
    )
