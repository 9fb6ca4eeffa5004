"""Payloads as an older tb_filters wrote them, made from today's by clearing what it added."""

from __future__ import annotations

from tb_filters.format import payload
from tb_filters.format import report as report_lib
from tb_filters.format.proto import filters_pb2

# What payload version 2 added for effects, dead and duplicate filters (issue 10).
EFFECT_LAYER_FIELDS = ("output_names", "sample_examples", "effects_note", "duplicate_threshold")
EFFECT_FILTER_FIELDS = ("effect_mean", "effect_mean_abs", "dead", "duplicate_of", "duplicate_correlation")


def without_effects_as_version_1(pb: filters_pb2.LayerReport) -> filters_pb2.LayerReport:
    """`pb` (changed in place) as version 1, before effects, dead and duplicate filters existed
    (a version 3 payload is first written again in the layout of versions 1-2)."""
    if pb.version >= payload.COMPACT_VERSION:
        pb.CopyFrom(report_lib.to_proto(report_lib.from_proto(pb), version=2))
    pb.version = 1
    for field in EFFECT_LAYER_FIELDS:
        pb.ClearField(field)
    for f in pb.filters:
        for field in EFFECT_FILTER_FIELDS:
            f.ClearField(field)
    return pb
