"""Engine output through the proto and an event file, read back by TensorBoard's data provider."""

from __future__ import annotations

import pytest
from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer

import tb_filters
from tb_filters.format import metadata, payload, summary
from tb_filters.format import report as report_lib
from tests.helpers.text_models import VOCAB_SIZE, chain_model, conv, notebook_model, token_data
from tests.helpers.tolerances import as_stored

# Tokens that must come back byte for byte: specials, markup, non-ASCII, empty.
VOCAB = ["", "<oov>", "<user>", "<img src=x onerror=alert(1)>", "café", "日本", " "] + [
    f"w{i}" for i in range(7, VOCAB_SIZE)
]


@pytest.fixture(scope="module")
def reports() -> dict[str, tb_filters.Report]:
    data = token_data(n=120)
    notebook = notebook_model()
    dilated = chain_model(conv(3, 2, "c", dilation_rate=2, padding="causal", activation="tanh"))
    return {
        "distinct": tb_filters.interpret(notebook, data, vocab=VOCAB, top_k=5),
        "raw": tb_filters.interpret(notebook, data, vocab=VOCAB, top_k=5, distinct=False),
        "dilated": tb_filters.interpret(dilated, data, vocab=VOCAB, top_k=4),
    }


@pytest.mark.parametrize("kind", ["distinct", "raw", "dilated"])
def test_proto_round_trip_is_exact(reports, kind):
    for layer in reports[kind]:
        pb = report_lib.to_proto(layer)
        again = report_lib.from_proto(metadata.parse_layer_report(pb.SerializeToString()))
        assert again == as_stored(layer)


def test_round_trip_keeps_what_the_engine_found(reports):
    layer = reports["distinct"]["conv_1"]
    assert layer.has_contributions and layer.distinct
    assert not reports["distinct"]["conv_2"].has_contributions
    pb = payload.inflate(report_lib.to_proto(layer))
    assert set(pb.token_table) <= set(VOCAB[1:]) | {report_lib.PAD_TOKEN}
    assert len(pb.filters) == 6 and all(len(f.windows) == 5 for f in pb.filters)
    assert list(pb.histogram_edges) == list(report_lib.HISTOGRAM_EDGES)


def _read_back(logdir: str) -> dict[tuple[str, str], list]:
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(multiplexer, logdir)
    ctx = tb_context.RequestContext()  # the provider's calls require one, even empty
    data = provider.read_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=100)
    return {(run, tag): points for run, tags in data.items() for tag, points in tags.items()}


def test_event_files_read_back_through_tensorboard(reports, tmp_path):
    summary.write_report(str(tmp_path / "baseline"), reports["distinct"], step=0)
    summary.write_report(str(tmp_path / "baseline"), reports["raw"], step=1)
    summary.write_report(str(tmp_path / "dilated"), reports["dilated"], step=3)
    read = _read_back(str(tmp_path))
    assert sorted(read) == [("baseline", "conv_1"), ("baseline", "conv_2"), ("dilated", "c")]
    for (run, tag), points in read.items():
        for point in points:
            layer = report_lib.from_proto(metadata.parse_layer_report(point.numpy.item()))
            expected = {("baseline", 0): reports["distinct"], ("baseline", 1): reports["raw"],
                        ("dilated", 3): reports["dilated"]}[(run, point.step)]
            assert layer == as_stored(expected[tag])
    assert [p.step for p in read[("baseline", "conv_1")]] == [0, 1]


def test_notebook_json_export_of_engine_output(reports):
    exported = reports["raw"]["conv_1"].to_notebook_json()
    first = exported["Filter_0"][0]
    window = reports["raw"]["conv_1"].filters[0].windows[0]
    assert first == {"activation": window.activation, "tweet": window.example, "position": window.position,
                     "words": window.words}
    assert isinstance(first["tweet"], int) and isinstance(first["activation"], float)
