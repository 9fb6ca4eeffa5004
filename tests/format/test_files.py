"""Files we write get the mode a plain open() gives (0666 less the umask), still renamed into place whole."""

from __future__ import annotations

import os
import stat

import pytest

from tb_filters.format import files, summary
from tb_filters.format import report as report_lib
from tests.helpers.logdir_builder import default_vocabulary, synthetic_layer_report


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600)], ids=["umask022", "umask077"])
def umask(request):
    """The umask is process-wide: set for the test, restored whatever happens."""
    mask, expected_mode = request.param
    previous = os.umask(mask)
    try:
        yield expected_mode
    finally:
        os.umask(previous)


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _layer() -> report_lib.LayerReport:
    return synthetic_layer_report("conv_1", num_filters=2, top_k=2, kernel_size=3,
                                  vocabulary=default_vocabulary(), seed=0)


def test_an_event_file_gets_the_mode_open_gives(tmp_path, umask):
    path = summary.write_report(str(tmp_path / "run"), report_lib.Report({"conv_1": _layer()}), step=0)
    reference = tmp_path / "run" / "plain"
    reference.write_bytes(b"")
    assert _mode(path) == umask == _mode(str(reference))
    assert sorted(os.listdir(tmp_path / "run")) == sorted([os.path.basename(path), "plain"])


def test_json_exports_get_the_mode_open_gives(tmp_path, umask):
    # The two files `tb-filters interpret --json` writes, through the same helper.
    layer = _layer()
    files.write_json(str(tmp_path / "conv_1.json"), layer.to_notebook_json())
    files.write_json(str(tmp_path / "conv_1.summary.json"), layer.to_summary_json())
    assert _mode(str(tmp_path / "conv_1.json")) == umask
    assert _mode(str(tmp_path / "conv_1.summary.json")) == umask
    assert sorted(os.listdir(tmp_path)) == ["conv_1.json", "conv_1.summary.json"]


def test_a_replaced_file_takes_the_new_mode_and_content(tmp_path, umask):
    path = tmp_path / "export.json"
    path.write_text("old")
    os.chmod(path, 0o600 if umask != 0o600 else 0o644)
    files.write_json(str(path), {"Filter_0": []})
    assert _mode(str(path)) == umask
    assert path.read_text(encoding="utf-8") == '{\n "Filter_0": []\n}\n'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "export.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        files.write_json(str(path), {"not json": object()})
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["export.json"]


def test_temporary_names_are_never_reused(tmp_path):
    first = files._create_temporary(str(tmp_path), ".tmp")
    second = files._create_temporary(str(tmp_path), ".tmp")
    assert first != second
    assert all(os.path.basename(p).startswith(files.TEMP_PREFIX) and "tfevents" not in p for p in (first, second))
