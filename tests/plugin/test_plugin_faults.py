"""Faults while reading (issue 5, item 1): the tab keeps working and says what it skipped.

Each log dir here is real: event files written by `summary.write_report` or by
TensorBoard's own EventFileWriter, damaged the way jobs and disks damage them,
then read by TensorBoard's multiplexer and data provider.
"""

from __future__ import annotations

import glob
import os
import shutil

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tb_filters.format import metadata, summary
from tb_filters.format import report as report_lib
from tb_filters.format.proto import filters_pb2
from tests.helpers.logdir_builder import build_logdir
from tests.helpers.plugin_harness import serve

ROUTES_FOR = [
    ("filters", {"layer": "conv1d"}),
    ("filter", {"layer": "conv1d", "filter": 0}),
    ("compare", {"layer": "conv1d", "filter": 0}),
    ("search", {"token": "<user>"}),
]


def write_values(run_dir: str, values: list[tuple[int, summary_pb2.Summary.Value]]) -> None:
    """Events holding arbitrary summary values, written without TensorFlow."""
    writer = EventFileWriter(run_dir)
    for step, value in values:
        writer.add_event(event_pb2.Event(step=step, wall_time=1_700_000_000.0 + step,
                                         summary=summary_pb2.Summary(value=[value])))
    writer.close()


def filters_value(payload, tag: str = "conv1d", plugin_content: bytes | None = None):
    meta = metadata.create_summary_metadata()
    if plugin_content is not None:
        meta.plugin_data.content = plugin_content
    return summary_pb2.Summary.Value(tag=tag, metadata=meta,
                                     tensor=tensor_util.make_tensor_proto(payload))


def good_payload(built, run: str, step: int) -> bytes:
    return report_lib.to_proto(built.report(run, "conv1d", step)).SerializeToString()


def assert_healthy(served, good_runs: list[str]) -> dict:
    """Every route answers for the good runs; returns `runs`."""
    runs = served.json("runs")
    assert [r["run"] for r in runs["runs"]] == sorted(good_runs)
    for run in good_runs:
        for route, params in ROUTES_FOR:
            served.json(route, {**params, "run": run})
    served.json("search", {"token": "<user>"})
    return runs


@pytest.fixture
def reference(tmp_path):
    """A healthy run beside the damaged ones, and reports to damage."""
    return build_logdir(tmp_path / "logs", runs=("healthy",), num_filters=3, top_k=3, steps=2)


def test_event_file_cut_in_the_middle_of_a_record(reference, tmp_path):
    logs = reference.path
    source = build_logdir(tmp_path / "source", runs=("cut",), num_filters=3, top_k=3, steps=(0, 1))
    files = sorted(glob.glob(os.path.join(source.run_dir("cut"), "*tfevents*")))
    cut_dir = os.path.join(logs, "cut")
    os.makedirs(cut_dir)
    shutil.copy(files[0], cut_dir)  # step 0, whole
    with open(files[1], "rb") as f:
        data = f.read()
    # A job killed while writing step 1: the file ends in the middle of its report.
    truncated = os.path.join(cut_dir, os.path.basename(files[1]))
    with open(truncated, "wb") as f:
        f.write(data[: len(data) * 2 // 3])
    # Another job killed in its very first record: no complete record at all.
    first_dir = os.path.join(logs, "cut_first")
    os.makedirs(first_dir)
    with open(os.path.join(first_dir, os.path.basename(files[0])), "wb") as f:
        f.write(data[:7])

    served = serve(logs)
    runs = assert_healthy(served, ["cut", "healthy"])
    cut = next(r for r in runs["runs"] if r["run"] == "cut")
    assert cut["layers"][0]["steps"] == [0]
    assert served.get("filters", {"run": "cut", "layer": "conv1d", "step": 1}).status_code == 404
    assert served.get("filters", {"run": "cut_first", "layer": "conv1d"}).status_code == 404

    # Training resumes and writes the next step into a new file: it shows.
    summary.write_report(cut_dir, source.report("cut", "conv1d", 2), step=2)
    served.reload()
    assert served.json("filters", {"run": "cut", "layer": "conv1d"})["step"] == 2


def test_payloads_that_do_not_parse_are_skipped_and_named(reference):
    run_dir = os.path.join(reference.path, "garbage")
    write_values(run_dir, [
        (0, filters_value(b"\x0a\xff\xff\xff\xff\x0fnot a report")),
        (1, filters_value(good_payload(reference, "healthy", 1))),
        (2, filters_value(b"")),
        (3, filters_value(np.array([1.5, 2.5], dtype=np.float32))),
    ])
    served = serve(reference.path)
    runs = assert_healthy(served, ["garbage", "healthy"])
    garbage = next(r for r in runs["runs"] if r["run"] == "garbage")
    assert garbage["layers"][0]["steps"] == [1]
    reasons = {s["step"]: s["reason"] for s in runs["skipped"] if s["run"] == "garbage"}
    assert reasons[0].startswith("payload does not parse as a filters report")
    assert reasons[2] == "payload does not parse as a filters report (no payload version)"
    assert reasons[3] == "payload is not a scalar string tensor (dtype float32, shape (2,))"
    assert all(s["layer"] == "conv1d" for s in runs["skipped"])
    missing = served.get("filters", {"run": "garbage", "layer": "conv1d", "step": 0})
    assert missing.status_code == 404 and b"Steps: 1" in missing.data


def test_payloads_from_a_newer_tb_filters_say_so(reference):
    newer = metadata.PAYLOAD_VERSION + 1
    future_payload = report_lib.to_proto(reference.report("healthy", "conv1d", 0))
    future_payload.version = newer
    write_values(os.path.join(reference.path, "future"), [
        (0, filters_value(future_payload.SerializeToString())),
        (1, filters_value(good_payload(reference, "healthy", 1))),
    ])
    newer_metadata = filters_pb2.FiltersPluginData(version=newer).SerializeToString()
    write_values(os.path.join(reference.path, "future_meta"), [
        (0, filters_value(good_payload(reference, "healthy", 0), plugin_content=newer_metadata)),
    ])
    write_values(os.path.join(reference.path, "odd_meta"), [
        (0, filters_value(good_payload(reference, "healthy", 0), plugin_content=b"\xff\xff")),
    ])
    served = serve(reference.path)
    runs = assert_healthy(served, ["future", "healthy"])
    skipped = {(s["run"], s["step"]): s["reason"] for s in runs["skipped"]}
    expected = f"written by a newer tb_filters (payload version {newer}"
    assert skipped[("future", 0)].startswith(expected)
    assert skipped[("future_meta", None)].startswith(expected)
    assert skipped[("odd_meta", None)].startswith("plugin metadata does not parse")
    assert served.get("filters", {"run": "future_meta", "layer": "conv1d"}).status_code == 404


def test_a_run_without_filters_data_is_simply_absent(reference):
    scalar = summary_pb2.Summary.Value(tag="loss", simple_value=0.5)
    write_values(os.path.join(reference.path, "scalars_only"), [(0, scalar), (1, scalar)])
    served = serve(reference.path)
    runs = assert_healthy(served, ["healthy"])
    assert runs["skipped"] == []
    response = served.get("filters", {"run": "scalars_only", "layer": "loss"})
    assert response.status_code == 404 and b'No run "scalars_only"' in response.data


def test_a_report_that_contradicts_itself_is_skipped_when_found(reference):
    broken = report_lib.to_proto(reference.report("healthy", "conv1d", 1), deflated=False)
    broken.filters[1].windows[0].token_refs[:] = [10_000] * 3  # no such token
    write_values(os.path.join(reference.path, "inconsistent"), [
        (0, filters_value(good_payload(reference, "healthy", 0))),
        (1, filters_value(broken.SerializeToString())),
    ])
    served = serve(reference.path)
    skipped = [{"run": "inconsistent", "layer": "conv1d", "step": 1,
                "reason": "report is inconsistent: window 0 of filter 1 does not match its span of 3 slots"}]
    # It parses, so it is found when its cards are built: by the background warming or by this request.
    assert served.json("runs")["skipped"] in ([], skipped)
    page = served.get("filters", {"run": "inconsistent", "layer": "conv1d", "step": 1})
    assert page.status_code == 404
    assert b"Step 1 of layer" in page.data and b"could not be read: " in page.data
    assert b"window 0 of filter 1 does not match its span of 3 slots" in page.data
    runs = assert_healthy(served, ["healthy", "inconsistent"])
    assert runs["skipped"] == skipped
    again = served.get("filters", {"run": "inconsistent", "layer": "conv1d", "step": 1})
    assert again.status_code == 404 and b"could not be read: report is inconsistent: window 0" in again.data
    history = served.json("filter", {"run": "inconsistent", "layer": "conv1d", "filter": 1})
    assert [s["step"] for s in history["steps"]] == [0]


def test_a_run_directory_deleted_while_serving(reference, tmp_path):
    build_logdir(reference.path, runs=("doomed",), num_filters=3, top_k=3, steps=2)
    served = serve(reference.path)
    assert_healthy(served, ["doomed", "healthy"])  # cached now
    shutil.rmtree(os.path.join(reference.path, "doomed"))
    served.reload()
    assert_healthy(served, ["healthy"])
    for route, params in ROUTES_FOR[:3]:
        assert served.get(route, {**params, "run": "doomed"}).status_code == 404
