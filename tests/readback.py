"""Reading `filters` reports back the way TensorBoard does: its multiplexer and data provider."""

from __future__ import annotations

import os

from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

from tb_filters import metadata
from tb_filters import report as report_lib


def read_reports(logdir: str | os.PathLike) -> dict[str, dict[str, dict[int, report_lib.LayerReport]]]:
    """{run: {tag: {step: LayerReport}}} for every `filters` summary under `logdir`."""
    logdir = os.fspath(logdir)
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)
    data = provider.read_tensors(
        tb_context.RequestContext(), experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=10_000
    )
    return {
        run: {
            tag: {datum.step: _decode(datum) for datum in series}
            for tag, series in tags.items()
        }
        for run, tags in data.items()
    }


def _decode(datum) -> report_lib.LayerReport:
    return report_lib.from_proto(metadata.parse_layer_report(datum.numpy.item()))


def listing(directory: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Every file under `directory` with (size, mtime_ns): equal listings = untouched."""
    directory = os.fspath(directory)
    result = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            stat = os.stat(path)
            result[os.path.relpath(path, directory)] = (stat.st_size, stat.st_mtime_ns)
    return result
