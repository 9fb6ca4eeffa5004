"""Reading `filters` reports back the way TensorBoard does: its multiplexer and data provider."""

from __future__ import annotations

import os

from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

from tb_filters.format import metadata
from tb_filters.format import report as report_lib


def load_logdir(logdir: str | os.PathLike, samples_kept: int | None = None) -> tuple[
        plugin_event_multiplexer.EventMultiplexer, tb_data_provider.MultiplexerDataProvider]:
    """TensorBoard's multiplexer with `logdir` loaded, and the data provider over it.

    `samples_kept`: the loader's reservoir of `filters` tensors per tag, as
    `--samples_per_plugin` sets it; None keeps TensorBoard's default.
    """
    logdir = os.fspath(logdir)
    guidance = None if samples_kept is None else {metadata.PLUGIN_NAME: samples_kept}
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance=guidance)
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return multiplexer, tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)


def read_reports(logdir: str | os.PathLike) -> dict[str, dict[str, dict[int, report_lib.LayerReport]]]:
    """{run: {tag: {step: LayerReport}}} for every `filters` summary under `logdir`."""
    _, provider = load_logdir(logdir)
    data = provider.read_tensors(
        tb_context.RequestContext(), experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=10_000
    )
    return {
        run: {
            tag: {datum.step: decode(datum) for datum in series}
            for tag, series in tags.items()
        }
        for run, tags in data.items()
    }


def decode(datum) -> report_lib.LayerReport:
    """The LayerReport in one `filters` tensor datum of the data provider."""
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
