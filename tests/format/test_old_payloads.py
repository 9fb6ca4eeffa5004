"""Reports written by payload version 1 (tests/fixtures/payload_v1) still load."""

from __future__ import annotations

import os

from tb_filters.format import metadata
from tb_filters.format.report import NOT_IN_REPORT
from tests.helpers.readback import read_reports

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "payload_v1")


def test_a_version_1_report_loads_with_the_new_features_marked_absent():
    assert metadata.PAYLOAD_VERSION == 5
    layers = read_reports(FIXTURE)["v1run"]
    assert sorted(layers) == ["conv1d", "conv1d_b"]
    for steps in layers.values():
        layer = steps[0]
        assert len(layer.filters) in (12, 6) and all(len(f.windows) == 3 for f in layer.filters)
        assert (layer.slot_preferences, layer.patterns, layer.contexts, layer.inhibiting) == (NOT_IN_REPORT,) * 4
        assert layer.examples is None and layer.context(layer.filters[0].windows[0]) is None
        for f in layer.filters:
            assert f.slot_preferences is None and f.patterns is None and f.inhibiting is None
            assert f.summary == "top  " + f.windows[0].words
