"""Payload version 3: what derives from the rest is left out, contexts are columns, contributions are
float16, the whole report is deflated; every field comes back (exactly, contributions within float16's
rounding), older payloads still load, and contradicting compact fields are a one-line error."""

from __future__ import annotations

import dataclasses
import math
import os
import zlib

import numpy as np
import pytest

from tb_filters.format import metadata, payload
from tb_filters.format import report as report_lib
from tb_filters.format.proto import filters_pb2
from tb_filters.plugin import views
from tb_filters.plugin.store import LayerStep
from tests.helpers.logdir_builder import synthetic_layer_report
from tests.helpers.readback import read_reports
from tests.helpers.tolerances import CONTRIBUTION_RTOL, as_stored

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")
VOCABULARY = ["<pad>", "<oov>", "a", "b", "café", "<img src=x onerror=alert(1)>", ""] + [f"w{i}" for i in range(7, 300)]


@pytest.fixture(scope="module")
def layer() -> report_lib.LayerReport:
    return synthetic_layer_report("conv", 6, 8, 3, VOCABULARY, seed=3, num_examples=200)


def _stored(layer: report_lib.LayerReport, **kwargs) -> filters_pb2.LayerReport:
    """The payload as the plugin parses it."""
    return metadata.parse_layer_report(report_lib.to_proto(layer, **kwargs).SerializeToString())


def _every_window(f):
    yield from f.windows
    yield from f.inhibiting or ()
    for interval in f.intervals or ():
        yield from interval.windows


# Round trips -------------------------------------------------------------------------------------

def test_every_field_comes_back_exactly_but_contributions_within_float16(layer):
    back = report_lib.from_proto(_stored(layer))
    assert back == as_stored(layer)
    for f, g in zip(layer.filters, back.filters):
        for w, v in zip(_every_window(f), _every_window(g)):
            assert (v.activation, v.example, v.position, v.span_start, v.token_ids, v.tokens, v.padding, v.count) == (
                w.activation, w.example, w.position, w.span_start, w.token_ids, w.tokens, w.padding, w.count)
            np.testing.assert_allclose(v.contributions, w.contributions, rtol=CONTRIBUTION_RTOL, atol=0)


def test_windows_and_patterns_store_only_what_does_not_derive(layer):
    pb = payload.inflate(report_lib.to_proto(layer))
    assert pb.version == metadata.PAYLOAD_VERSION == payload.DERIVED_PATTERNS_VERSION > payload.COMPACT_VERSION
    assert not pb.contexts and len(pb.context_columns.lengths) == len(layer.examples)
    for f in pb.filters:
        for w in (*f.windows, *f.inhibiting, *(w for i in f.intervals for w in i.windows)):
            assert not (w.token_ids or w.token_refs or w.padding or w.contributions or w.HasField("span_start"))
            assert len(w.contributions_f16) == 2 * layer.geometry.span_width
        for p in f.patterns:  # version 5: ids and activation are the first window's
            assert not (p.in_pattern or p.token_refs or p.token_ids or p.HasField("activation"))
    # Every example stored without the padding that ends it, padded back when read.
    columns = pb.context_columns
    assert columns.padded_length == layer.geometry.input_length and sum(columns.lengths) < len(layer.examples) * 32


def test_what_does_not_derive_is_stored_and_comes_back(layer):
    f = layer.filters[0]
    odd = (
        # Its span start is not the geometry's, its example has no context, its padding is not the rule's.
        dataclasses.replace(f.windows[0], span_start=f.windows[0].span_start + 1, example=10**9,
                            padding=(True, True, True)),
        f.windows[1],
        # Token strings its ids do not have in the window before.
        dataclasses.replace(f.windows[1], tokens=("x", "y", "z")),
    )
    pattern = dataclasses.replace(f.patterns[0], tokens=tuple(None if t is None else "other" for t in f.patterns[0].tokens))
    changed = dataclasses.replace(layer, filters=(
        dataclasses.replace(f, windows=odd + f.windows[3:], patterns=(pattern,) + f.patterns[1:]),
        *layer.filters[1:]))
    pb = payload.inflate(report_lib.to_proto(changed))
    first, _, third = pb.filters[0].windows[:3]
    assert first.HasField("span_start") and list(first.token_ids) and list(first.padding) and not first.token_refs
    assert list(third.token_refs) and not third.token_ids
    assert list(pb.filters[0].patterns[0].in_pattern)
    assert report_lib.from_proto(pb) == as_stored(changed)


def test_a_context_whose_token_differs_from_a_windows_keeps_its_other_tokens(layer):
    window = layer.filters[0].windows[0]
    example = max(layer.examples) + 1
    ids = (window.token_ids[1], 10_001, 10_002)  # the first id is the window's, with another string here
    context = report_lib.Context(example=example, token_ids=ids, tokens=("elsewhere", "only", "here"),
                                 padding=(False,) * 3)
    changed = dataclasses.replace(layer, examples={**layer.examples, example: context})
    back = report_lib.from_proto(_stored(changed))
    assert back.examples[example].tokens == (window.tokens[1], "only", "here")


def test_a_report_without_contexts_stores_the_window_ids():
    layer = synthetic_layer_report("conv", 3, 4, 2, VOCABULARY, seed=1, detects=False)
    pb = payload.inflate(report_lib.to_proto(layer))
    assert all(len(w.token_ids) == 2 for f in pb.filters for w in f.windows)
    assert report_lib.from_proto(pb) == as_stored(layer)


def test_contributions_round_to_float16_as_stated():
    values = (1.0 + 2.0**-12, 1.0 + 3 * 2.0**-12, -0.1, 1e-8, 70000.0, -1e6, 0.0, math.inf, math.nan)
    stored = np.frombuffer(payload.halves(values), "<f2").astype(np.float64)
    assert stored.tolist()[:2] == [1.0, 1.0 + 2.0**-10]  # round to nearest even
    assert abs(stored[2] - -0.1) <= CONTRIBUTION_RTOL * 0.1
    assert stored.tolist()[4:8] == [65504.0, -65504.0, 0.0, 65504.0]  # clipped to float16's range
    assert math.isnan(stored[8])


def test_the_deflated_payload_is_a_small_fraction_of_version_2(layer):
    big = synthetic_layer_report("conv", 32, 100, 3, VOCABULARY, seed=0, num_examples=10_000)
    v2 = report_lib.to_proto(big, version=2).ByteSize()
    v3 = report_lib.to_proto(big).ByteSize()
    assert v3 < 0.45 * v2, (v3, v2)


def test_version_4_deflates_its_signatures_byte_planar(layer):
    plain = report_lib.to_proto(layer, deflated=False)
    assert plain.signature_matrix == layer.signature_matrix and len(layer.signature_matrix) > 2
    before = plain.SerializeToString()
    stored = payload.deflate(plain)
    assert plain.SerializeToString() == before  # deflating leaves the report it was given as it was
    inside = filters_pb2.LayerReport.FromString(zlib.decompress(stored.deflated))
    halves = np.frombuffer(layer.signature_matrix, np.uint8)
    assert inside.signature_matrix == halves[0::2].tobytes() + halves[1::2].tobytes()
    assert payload.inflate(stored).signature_matrix == layer.signature_matrix
    v3 = filters_pb2.LayerReport.FromString(zlib.decompress(report_lib.to_proto(layer, version=3).deflated))
    assert v3.signature_matrix == layer.signature_matrix


def test_byte_planes_come_back():
    data = np.random.default_rng(0).integers(0, 256, 2 * 77, dtype=np.uint8).tobytes()
    assert payload.byte_planes(payload.byte_planes(data), inverse=True) == data
    assert payload.byte_planes(b"odd") == b"odd" and payload.byte_planes(b"") == b""


def test_version_2_written_today_reads_the_same(layer):
    again = report_lib.from_proto(_stored(layer, version=2))
    assert again == layer  # version 2 keeps float32 contributions


# Older payloads ----------------------------------------------------------------------------------

def test_a_version_2_report_loads_and_writes_again_as_version_3():
    layers = read_reports(os.path.join(FIXTURES, "payload_v2"))["v2run"]
    assert sorted(layers) == ["conv1d", "conv1d_b"]
    for steps in layers.values():
        old = steps[0]
        assert (old.contexts, old.inhibiting, old.intervals) == (report_lib.COMPUTED,) * 3
        for f in old.filters:
            for w in f.windows + f.inhibiting:  # interval samples come from any example
                context = old.context(w)
                assert context is not None
                span = [context.token_ids[j] if 0 <= j < len(context.token_ids) else -1
                        for j in range(w.span_start, w.span_start + len(w.token_ids))]
                assert list(w.token_ids) == span
        assert report_lib.from_proto(_stored(old)) == as_stored(old)


def test_the_plugin_shows_a_version_2_report_as_its_version_3_copy():
    old = read_reports(os.path.join(FIXTURES, "payload_v2"))["v2run"]["conv1d"][0]
    v2, v3 = _stored(as_stored(old), version=2), _stored(old)
    objects = []
    for pb in (v2, v3):
        table, computed = payload.layer_table(pb), payload.computed(pb)
        objects.append([views.filter_object(f, table, pb.geometry.span_width, pb.has_contributions, None, computed)
                        for f in pb.filters])
        contexts = table.contexts
        objects.append([views.context_object("r", "l", 0, pb, contexts.get(e), table.context_strings(pb))
                        for e in contexts.examples()])
    assert objects[0] == objects[2] and objects[1] == objects[3]


def test_a_version_3_report_loads_and_writes_again_as_version_4():
    layers = read_reports(os.path.join(FIXTURES, "payload_v3"))["v3run"]
    old = layers["conv1d"][0]
    assert old.patterns == report_lib.COMPUTED and sum(len(f.patterns) for f in old.filters) == 33
    for steps in layers.values():
        assert report_lib.from_proto(_stored(steps[0])) == steps[0]  # its contributions are float16 already


@pytest.mark.parametrize("version", [3, 4])
def test_the_plugin_shows_an_older_report_as_its_current_copy(version):
    old = read_reports(os.path.join(FIXTURES, f"payload_v{version}"))[f"v{version}run"]["conv1d"][0]
    objects = []
    for pb in (_stored(old, version=version), _stored(old)):
        table, computed = payload.layer_table(pb), payload.computed(pb)
        objects.append([views.filter_object(f, table, pb.geometry.span_width, pb.has_contributions, None, computed)
                        for f in pb.filters])
    assert objects[0] == objects[1] and any(f["num_patterns"] for f in objects[0])


def test_a_version_4_report_loads_and_writes_again_as_version_5():
    layers = read_reports(os.path.join(FIXTURES, "payload_v4"))["v4run"]
    old = layers["conv1d"][0]
    assert old.patterns == report_lib.COMPUTED and sum(len(f.patterns) for f in old.filters) > 12
    for steps in layers.values():
        assert report_lib.from_proto(_stored(steps[0])) == steps[0]
    derived = [p for f in payload.inflate(report_lib.to_proto(old)).filters for p in f.patterns]
    assert all(not p.token_ids and not p.HasField("activation") for p in derived)


def test_a_pattern_whose_ids_or_activation_are_not_its_first_windows_stores_them(layer):
    def slots_differ(p, w):
        return any(i is not None and i != j for i, j in zip(p.token_ids, w.token_ids))

    f = next(f for f in layer.filters if len(f.patterns) >= 2 and any(slots_differ(f.patterns[0], w) for w in f.windows))
    other = next(k for k, w in enumerate(f.windows) if slots_differ(f.patterns[0], w))
    patterns = (dataclasses.replace(f.patterns[0], windows=(other,)),  # ids and activation not its first window's
                dataclasses.replace(f.patterns[1], activation=f.patterns[1].activation / 2), *f.patterns[2:])
    position = layer.filters.index(f)
    changed = dataclasses.replace(layer, filters=tuple(
        dataclasses.replace(g, patterns=patterns) if g is f else g for g in layer.filters))
    stored = payload.inflate(report_lib.to_proto(changed)).filters[position].patterns
    assert list(stored[0].token_ids) and stored[0].HasField("activation") and not stored[0].in_pattern
    assert not stored[1].token_ids and stored[1].HasField("activation")
    assert report_lib.from_proto(_stored(changed)).filters[position] == as_stored(changed).filters[position]


# Hostile payloads --------------------------------------------------------------------------------

def _damaged(layer, damage) -> filters_pb2.LayerReport:
    pb = payload.inflate(report_lib.to_proto(layer))
    damage(pb)
    return metadata.parse_layer_report(pb.SerializeToString())


def _plugin_decodes(pb: filters_pb2.LayerReport) -> None:
    """Every filter object and every example as the tab builds them."""
    table, computed = payload.layer_table(pb), payload.computed(pb)
    for f in pb.filters:
        views.filter_object(f, table, pb.geometry.span_width, pb.has_contributions, None, computed)
    strings = table.context_strings(pb)
    for example in table.contexts.examples():
        views.context_object("run", "layer", 0, pb, table.contexts.get(example), strings)


DAMAGES = {
    "ids shorter than the lengths say": lambda pb: pb.context_columns.token_ids.pop(),
    "a length more than the padded length": lambda pb: pb.context_columns.lengths.__setitem__(0, 33),
    "examples repeated": lambda pb: pb.context_columns.example_steps.__setitem__(1, 0),
    "more examples than lengths": lambda pb: pb.context_columns.example_steps.append(1),
    "a window's example without context": lambda pb: setattr(pb.filters[0].windows[0], "example", 10**12),
    "contributions of an odd length": lambda pb: setattr(pb.filters[1].windows[0], "contributions_f16", b"\0" * 5),
    "contributions of another span": lambda pb: setattr(pb.filters[1].windows[0], "contributions_f16", b"\0" * 8),
    "a token id without its token": lambda pb: pb.context_columns.token_ids.__setitem__(0, 10**9),
    "a pattern slot outside the span": lambda pb: pb.filters[2].patterns[0].slots.__setitem__(0, 7),
    "pattern slots and ids apart": lambda pb: pb.filters[2].patterns[0].token_ids.extend(
        [4] * (len(pb.filters[2].patterns[0].slots) + 1)),
    "a pattern deriving from a window its filter lacks": lambda pb: pb.filters[2].patterns[0].windows.__setitem__(
        0, 10**6),
    "a pattern deriving without windows": lambda pb: pb.filters[2].patterns[0].ClearField("windows"),
    "padded without a padding id": lambda pb: pb.ClearField("padding_id"),
    "padded to a billion tokens": lambda pb: setattr(pb.context_columns, "padded_length", 10**9),
    "a span of a billion slots": lambda pb: setattr(pb.geometry, "span_width", 10**9),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_contradicting_compact_fields_are_a_corrupt_report(layer, damage):
    pb = _damaged(layer, DAMAGES[damage])
    with pytest.raises(payload.CorruptReport) as found:
        report_lib.from_proto(pb)
    assert "\n" not in str(found.value)
    with pytest.raises(payload.CorruptReport):
        _plugin_decodes(pb)
    # The search indexes read damaged steps as they can (a bad token reads as "").
    step = LayerStep("run", "layer", 0, 0.0, pb)
    step.token_hits(), step.detects_hits()


def _payload_error(data: bytes) -> str:
    with pytest.raises(ValueError) as found:
        metadata.parse_layer_report(data)
    assert "\n" not in str(found.value)
    return str(found.value)


def test_a_damaged_deflated_payload_is_a_one_line_error(layer, monkeypatch):
    stored = report_lib.to_proto(layer)
    truncated = filters_pb2.LayerReport(version=stored.version, deflated=stored.deflated[:-20])
    assert "truncated" in _payload_error(truncated.SerializeToString())
    garbage = filters_pb2.LayerReport(version=stored.version, deflated=b"not zlib at all")
    assert "does not inflate" in _payload_error(garbage.SerializeToString())
    inner = payload.inflate(stored)
    inner.version = 2
    other = filters_pb2.LayerReport(version=3, deflated=zlib.compress(inner.SerializeToString()))
    assert "holds a deflated report of version 2" in _payload_error(other.SerializeToString())
    twice = filters_pb2.LayerReport(version=3, deflated=zlib.compress(stored.SerializeToString()))
    assert "deflated again" in _payload_error(twice.SerializeToString())
    not_a_report = filters_pb2.LayerReport(version=3, deflated=zlib.compress(b"\xff\xff\xff"))
    assert "does not parse" in _payload_error(not_a_report.SerializeToString())
    monkeypatch.setattr(payload, "MAX_INFLATED_BYTES", 1000)
    assert "inflates to over 1000 bytes" in _payload_error(stored.SerializeToString())


def test_the_tab_lists_a_damaged_compact_step_as_skipped(layer, tmp_path):
    from tests.helpers.plugin_harness import serve
    from tests.plugin.test_plugin_faults import filters_value, write_values

    broken = payload.inflate(report_lib.to_proto(layer))
    broken.context_columns.token_ids.pop()
    write_values(str(tmp_path / "damaged"), [
        (0, filters_value(report_lib.to_proto(layer).SerializeToString())),
        (1, filters_value(payload.deflate(broken).SerializeToString())),
        (2, filters_value(filters_pb2.LayerReport(version=3, deflated=b"garbage").SerializeToString())),
    ])
    served = serve(str(tmp_path))
    page = served.get("filters", {"run": "damaged", "layer": "conv1d", "step": 1})
    assert page.status_code == 404 and b"could not be read" in page.data
    context = served.get("context", {"run": "damaged", "layer": "conv1d", "step": 1, "example": 0})
    assert context.status_code == 404
    skipped = {s["step"]: s["reason"] for s in served.json("runs")["skipped"]}
    assert skipped[2].startswith("payload's deflated report does not inflate")
    assert skipped[1].startswith("report is inconsistent: ")
    good = served.json("filters", {"run": "damaged", "layer": "conv1d", "step": 0})
    assert len(good["filters"]) == len(layer.filters)
    assert not math.isnan(good["filters"][0]["windows"][0]["contributions"][0])
