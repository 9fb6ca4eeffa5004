"""Writing reports as TensorBoard summaries of the `filters` plugin.

Three ways in, one code path (`_summary_values`):
- `pb(layer)`: a Summary proto built from the report alone, no TensorFlow;
- `filters(name, report, step)`: under a `tf.summary` default writer;
- `write_report(logdir, report, step)`: a new event file in `logdir`, made
  whole under a temporary name and renamed into place, so a reader never sees
  half a report and a killed writer leaves only complete ones.
TensorFlow is imported lazily: readers of this module don't pay for it.
"""

from __future__ import annotations

import importlib
import itertools
import os
import socket
import time
from typing import Iterator

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.util import tensor_util

from tb_filters.errors import FiltersError
from tb_filters.format import metadata
from tb_filters.format import report as report_lib
from tb_filters.format.files import TEMP_PREFIX, atomic_path

__all__ = ["pb", "filters", "write_report", "event_file_name", "TEMP_PREFIX"]
_file_counter = itertools.count()


def _layers(report) -> list[report_lib.LayerReport]:
    if isinstance(report, report_lib.Report):
        return list(report)
    if isinstance(report, report_lib.LayerReport):
        return [report]
    raise FiltersError(
        f"Expected a tb_filters Report or LayerReport. Received: {type(report).__name__}"
    )


def _tag(name: str | None, layer: report_lib.LayerReport, several: bool) -> str:
    if not name:
        return layer.name
    return f"{name}/{layer.name}" if several else name


def _summary_values(name, report, description=None):
    """Yields (tag, serialized LayerReport, SummaryMetadata) per layer."""
    layers = _layers(report)
    for layer in layers:
        payload = report_lib.to_proto(layer).SerializeToString()
        meta = metadata.create_summary_metadata(display_name=layer.name, description=description)
        yield _tag(name, layer, len(layers) > 1), payload, meta


def pb(report, name: str | None = None, description: str | None = None) -> summary_pb2.Summary:
    """A Summary proto with one value per layer (tag = layer name), no TensorFlow."""
    summary = summary_pb2.Summary()
    for tag, payload, meta in _summary_values(name, report, description):
        summary.value.add(tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto(payload))
    return summary


def filters(name: str | None, report, step: int | None = None, description: str | None = None) -> bool:
    """Writes `report` under the current `tf.summary` default writer.

    `name` is the tag for a single layer (or a prefix for a multi-layer
    Report; None uses the layer names). Returns False if no default writer
    is set, like `tf.summary.scalar`.
    """
    tf = _tensorflow()

    written = True
    for tag, payload, meta in _summary_values(name, report, description):
        written &= bool(
            tf.summary.write(
                tag=tag,
                tensor=tf.constant(payload, dtype=tf.string),
                step=step,
                metadata=meta.SerializeToString(),
            )
        )
    return written


def event_file_name(suffix: str = ".tb_filters") -> str:
    # The counter is zero-padded: TensorBoard reads a run's files in name order
    # and never goes back, so a ".10" file written after ".9" in the same second
    # would be skipped by a TensorBoard already running.
    return "events.out.tfevents.%010d.%s.%d.%010d%s" % (
        int(time.time()),
        socket.gethostname(),
        os.getpid(),
        next(_file_counter),
        suffix,
    )


def write_report(logdir: str, report, step: int, wall_time: float | None = None,
                 suffix: str = ".tb_filters") -> str:
    """Writes every layer of `report` at `step` into a new event file in `logdir`.

    Returns the file's path. The file appears whole or not at all. `suffix`
    ends the file name (tb_filters.beam marks its writer's files so).
    """
    tf = _tensorflow()

    events = [event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")]
    summary = pb(report)
    events.append(event_pb2.Event(wall_time=wall_time or time.time(), step=int(step), summary=summary))
    os.makedirs(logdir, exist_ok=True)
    final_path = os.path.join(logdir, event_file_name(suffix))
    with atomic_path(final_path) as temp_path:
        with tf.io.TFRecordWriter(temp_path) as writer:
            for event in events:
                writer.write(event.SerializeToString())
    return final_path


def read_report(path: str) -> report_lib.Report:
    """The Report in one event file (`write_report`'s, or Beam's WriteReport's): local paths,
    and gs:// etc. where TensorFlow is installed."""
    layers = {}
    for _, _, _, payload in read_payloads(path):
        layer = report_lib.from_proto(metadata.parse_layer_report(payload))
        layers[layer.name] = layer
    return report_lib.Report(layers=layers)


def read_payloads(path: str) -> Iterator[tuple[int, float, str, bytes]]:
    """(step, wall time, tag, payload) of every `filters` summary in one event file, in file
    order, read by TensorBoard's own loader; decode a payload with `metadata.parse_layer_report`."""
    from tensorboard.backend.event_processing import event_file_loader

    for event in event_file_loader.EventFileLoader(path).Load():
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                yield int(event.step), float(event.wall_time), value.tag, tensor_util.make_ndarray(value.tensor).item()


def _tensorflow():
    """TensorFlow, imported on first write only: the plugin reads this package at
    TensorBoard's start, and readers of reports never pay for TensorFlow."""
    return importlib.import_module("tensorflow")
