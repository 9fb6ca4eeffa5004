"""The writer: summary protos, tf.summary, and atomic event files read back by TensorBoard."""

from __future__ import annotations

import math
import os

import pytest
from tensorboard import context as tb_context
from tensorboard.compat.proto import summary_pb2

from tb_filters.errors import FiltersError
from tb_filters.format import metadata, payload, summary
from tb_filters.format import report as report_lib
from tb_filters.format.proto import filters_pb2
from tests.helpers.readback import decode, load_logdir
from tests.helpers.tolerances import as_stored


def _layer(name: str = "conv_1", num_filters: int = 2, activation_scale: float = 1.0) -> report_lib.LayerReport:
    geometry = report_lib.LayerGeometry(
        num_filters=num_filters, kernel_size=3, stride=1, dilation=1, padding="valid",
        activation="relu", input_length=12, output_length=12, span_width=3, span_stride=1,
        span_offset=-1, path=("embedding", "zero_padding1d", name),
    )
    filters = []
    for f in range(num_filters):
        window = report_lib.Window(
            activation=2.5 * activation_scale + f, example=7, position=0, span_start=-1,
            token_ids=(-1, 4, 0), tokens=("<pad>", "<user>", "<pad>"), padding=(True, False, True),
            contributions=(0.0, 2.0, 0.25), count=3,
        )
        stats = report_lib.FilterStats(
            max=window.activation, min=0.0, mean=0.5, positive_fraction=0.25, positions=24,
            histogram=tuple(range(report_lib.NUM_BUCKETS)),
        )
        filters.append(report_lib.FilterReport(index=f, windows=(window,), stats=stats, bias=0.25))
    return report_lib.LayerReport(
        name=name, geometry=geometry, top_k=10, distinct=True, num_examples=2,
        filters=tuple(filters), has_contributions=True,
    )


def _read_back(logdir: str):
    _, provider = load_logdir(logdir)
    ctx = tb_context.RequestContext()
    listing = provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
    data = provider.read_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=100)
    return listing, data


def test_histogram_edges_are_fixed_and_increasing():
    edges = report_lib.HISTOGRAM_EDGES
    assert edges[0] == -math.inf and edges[-1] == math.inf
    assert all(a < b for a, b in zip(edges, edges[1:]))
    assert 0.0 in edges


def test_proto_round_trip_shares_one_token_table():
    layer = _layer(num_filters=3)
    pb = report_lib.to_proto(layer)
    assert pb.version == metadata.PAYLOAD_VERSION
    assert list(payload.inflate(pb).token_table) == ["<pad>", "<user>"]
    assert report_lib.from_proto(filters_pb2.LayerReport.FromString(pb.SerializeToString())) == as_stored(layer)


def test_notebook_json_export_shape():
    exported = _layer().to_notebook_json()
    assert exported["Filter_1"] == [
        {"activation": 3.5, "tweet": 7, "position": 0, "words": "<pad> <user> <pad>"}
    ]


def test_summary_metadata_sets_tensor_data_class():
    meta = metadata.create_summary_metadata()
    assert meta.data_class == summary_pb2.DATA_CLASS_TENSOR
    assert meta.plugin_data.plugin_name == "filters"
    assert metadata.parse_plugin_metadata(meta.plugin_data.content).version == metadata.PAYLOAD_VERSION


def test_newer_payload_is_refused_with_a_clear_message():
    pb = report_lib.to_proto(_layer())
    pb.version = metadata.PAYLOAD_VERSION + 1
    with pytest.raises(metadata.NewerPayloadError, match="written by a newer tb_filters"):
        metadata.parse_layer_report(pb.SerializeToString())
    newer_meta = filters_pb2.FiltersPluginData(version=metadata.PAYLOAD_VERSION + 1)
    with pytest.raises(metadata.NewerPayloadError):
        metadata.parse_plugin_metadata(newer_meta.SerializeToString())


def test_garbage_payload_raises_value_error():
    with pytest.raises(ValueError, match="does not parse"):
        metadata.parse_layer_report(b"\xff\xff\xff not a proto")


def test_pb_has_one_value_per_layer():
    report = report_lib.Report({"conv_1": _layer("conv_1"), "conv_2": _layer("conv_2")})
    values = summary.pb(report).value
    assert [v.tag for v in values] == ["conv_1", "conv_2"]
    assert all(v.metadata.data_class == summary_pb2.DATA_CLASS_TENSOR for v in values)


def test_pb_rejects_other_objects():
    with pytest.raises(FiltersError, match="Received: dict"):
        summary.pb({"conv_1": 1})


def test_write_report_is_read_back_by_tensorboard(tmp_path):
    run = tmp_path / "run_a"
    for step in range(3):
        report = report_lib.Report({"conv_1": _layer(activation_scale=step + 1)})
        summary.write_report(str(run), report, step=step)
    assert not [n for n in os.listdir(run) if n.startswith(summary.TEMP_PREFIX)]
    listing, data = _read_back(str(tmp_path))
    assert listing["run_a"]["conv_1"].max_step == 2
    steps = data["run_a"]["conv_1"]
    assert [d.step for d in steps] == [0, 1, 2]
    assert decode(steps[1]) == _layer(activation_scale=2)


def test_tf_summary_writer_path(tmp_path):
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(tmp_path / "run_b"))
    with writer.as_default():
        assert summary.filters("conv_1", _layer(), step=5)
    writer.close()
    _, data = _read_back(str(tmp_path))
    (datum,) = data["run_b"]["conv_1"]
    assert datum.step == 5
    assert decode(datum) == _layer()


def test_tf_summary_without_default_writer_returns_false():
    assert summary.filters("conv_1", _layer(), step=0) is False


def test_interrupted_write_leaves_logdir_unchanged(tmp_path):
    run = tmp_path / "run_c"
    summary.write_report(str(run), report_lib.Report({"conv_1": _layer()}), step=0)
    before = sorted(os.listdir(run))

    class Boom(report_lib.Report):
        def __iter__(self):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        summary.write_report(str(run), Boom({"conv_1": _layer()}), step=1)
    assert sorted(os.listdir(run)) == before
    _, data = _read_back(str(tmp_path))
    assert [d.step for d in data["run_c"]["conv_1"]] == [0]
