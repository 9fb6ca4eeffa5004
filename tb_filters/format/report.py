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
class FilterReport:
    index: int
    windows: tuple[Window, ...]
    stats: FilterStats
    bias: float = 0.0
    effects: tuple[Effect, ...] = ()  # in the model's output order; empty when not computed
    dead: bool | None = None  # None: unknown (a report from before payload version 2)
    duplicate_of: int | None = None  # the earlier filter it correlates with above the threshold
    duplicate_correlation: float | None = None


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
    )
    for f in layer.filters:
        pb.filters.append(_filter_to_proto(f, table))
    pb.token_table.extend(table)  # dicts keep insertion order = ref order
    return pb


def _filter_to_proto(f: FilterReport, table: dict[str, int]) -> filters_pb2.FilterReport:
    stats = filters_pb2.Stats(**dataclasses.asdict(f.stats))
    pb = filters_pb2.FilterReport(
        index=f.index, stats=stats, bias=f.bias, dead=f.dead,
        effect_mean=[e.mean for e in f.effects], effect_mean_abs=[e.mean_abs for e in f.effects],
    )
    if f.duplicate_of is not None:
        pb.duplicate_of = f.duplicate_of
        pb.duplicate_correlation = f.duplicate_correlation or 0.0
    for w in f.windows:
        pb.windows.append(
            filters_pb2.Window(
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
        )
    return pb


def from_proto(pb: filters_pb2.LayerReport) -> LayerReport:
    table = list(pb.token_table)
    geometry = LayerGeometry(
        **{
            field.name: (tuple(getattr(pb.geometry, field.name)) if field.name == "path"
                         else getattr(pb.geometry, field.name))
            for field in dataclasses.fields(LayerGeometry)
        }
    )
    filters = tuple(
        FilterReport(
            index=f.index,
            windows=tuple(_window_from_proto(w, table, pb.has_contributions) for w in f.windows),
            stats=FilterStats(
                max=f.stats.max,
                min=f.stats.min,
                mean=f.stats.mean,
                positive_fraction=f.stats.positive_fraction,
                positions=f.stats.positions,
                histogram=tuple(f.stats.histogram),
            ),
            bias=f.bias,
            **_matter_from_proto(f, pb),
        )
        for f in pb.filters
    )
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
    )


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
