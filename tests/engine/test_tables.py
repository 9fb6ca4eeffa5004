"""The table path (engine/tables.py): where it applies, what it gathers, and that a run
taking it reports what the layers' own calls give, to float32 rounding."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tb_filters.engine import chains as chains_lib
from tb_filters.engine import interpret as interpret_lib
from tb_filters.engine import tables
from tests.engine.test_engine import TOLERANCE, pin_path
from tests.helpers.text_models import EMBED_DIM, LENGTH, VOCAB_SIZE, chain_model, conv, notebook_model, token_data

# Each case: the layers after the embedding, up to the conv "c".
APPLIES = {
    "valid": lambda: [conv(5, 3, "c", activation="relu")],
    "same, even kernel": lambda: [conv(4, 4, "c", padding="same")],
    "same, dilated": lambda: [conv(5, 3, "c", padding="same", dilation_rate=2, activation="tanh")],
    "causal, dilated": lambda: [conv(5, 2, "c", padding="causal", dilation_rate=3)],
    "no bias": lambda: [conv(3, 3, "c", use_bias=False)],
    "padding and dropouts": lambda: [
        keras.layers.Dropout(0.5), keras.layers.ZeroPadding1D((3, 1)), keras.layers.SpatialDropout1D(0.2),
        keras.layers.GaussianNoise(1.0), keras.layers.ZeroPadding1D(1), conv(5, 3, "c", padding="same"),
    ],
    "kernel of 1": lambda: [conv(5, 1, "c")],
}


class _OwnConv(keras.layers.Conv1D):
    """A subclass may change the call: the table path must not assume it."""


DOES_NOT_APPLY = {
    "strided": lambda: [conv(5, 3, "c", strides=2)],
    "grouped": lambda: [conv(4, 3, "c", groups=2)],
    "cropped": lambda: [keras.layers.Cropping1D(1), conv(5, 3, "c")],
    "a dense layer between": lambda: [keras.layers.Dense(6), conv(5, 3, "c")],
    "batch normalization between": lambda: [keras.layers.BatchNormalization(), conv(5, 3, "c")],
    "a Conv1D subclass": lambda: [_OwnConv(5, 3, name="c")],
    "float16 conv": lambda: [conv(5, 3, "c", dtype="mixed_float16")],
}


def _plan(layers):
    model = chain_model(*layers)
    return model, tables.plan_for([model.layers[0]] + model.layers[1:])


@pytest.mark.parametrize("case", sorted(APPLIES))
def test_gathered_pre_activations_are_the_convs_own(case):
    model, plan = _plan(APPLIES[case]())
    assert plan is not None
    layer = model.get_layer("c")
    data = token_data(n=40)
    activation, layer.activation = layer.activation, keras.activations.linear
    try:
        expected = keras.ops.convert_to_numpy(keras.Model(model.inputs, layer.output)(data, training=False))
    finally:
        layer.activation = activation
    got = tables.pre_activations(plan, data, tables.projections(plan)).numpy()
    assert got.shape == expected.shape == (40, plan.output_length(LENGTH), layer.filters)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("case", sorted(DOES_NOT_APPLY))
def test_the_table_path_applies_only_to_a_plain_stride_one_conv_on_the_embedding(case):
    assert _plan(DOES_NOT_APPLY[case]())[1] is None


def test_only_each_chains_first_conv_is_gathered():
    model = notebook_model()
    chains = chains_lib.find_chains(model, None)
    assert sorted(tables.plans(chains)) == ["conv_1"]
    only_second = chains_lib.find_chains(model, ["conv_2"])
    assert sorted(tables.plans(only_second)) == ["conv_1"]  # conv_2 is fed from the gathered conv_1


def test_a_run_gathers_when_the_tables_are_cheap_or_its_positions_pay_for_them(monkeypatch):
    _, plan = _plan(APPLIES["valid"]())
    assert (plan.nbytes, plan.products) == (4 * 3 * VOCAB_SIZE * 5, 3 * VOCAB_SIZE * EMBED_DIM * 5)
    room = plan.nbytes
    assert tables.worth_it(plan, None, room) and tables.worth_it(plan, 1, room)  # cheap: every run, any size
    assert not tables.worth_it(plan, None, room - 1)  # table_memory_mb: too small for them
    monkeypatch.setattr(tables, "TABLE_CHEAP_PRODUCTS", plan.products - 1)
    enough = tables.TABLE_MIN_POSITIONS_PER_ID * VOCAB_SIZE
    assert tables.worth_it(plan, enough, room) and not tables.worth_it(plan, enough - 1, room)
    assert not tables.worth_it(plan, None, room)  # data of unknown size
    assert not tables.worth_it(None, enough, room)
    assert not tables.worth_it(plan, 10 * enough, room - 1)


@pytest.mark.parametrize("table_memory_mb, gathered", [(0, []), (1, ["c"])])
def test_table_memory_mb_bounds_the_tables_a_run_builds(table_memory_mb, gathered):
    model, data = chain_model(*APPLIES["valid"]()), token_data(n=80)
    run = _run(model, data, table_memory_mb=table_memory_mb)
    assert sorted(run.tables) == gathered


def _run(model, data, **options):
    run = interpret_lib.start(model, effects=False, expected_examples=len(data), top_k=6, **options)
    for start in range(0, len(data), 64):
        run.feed(data[start: start + 64])
    return run


def _near_tie(values, value):
    near = np.abs(np.asarray(values) - value)
    return bool(np.any((near > 0) & (near <= TOLERANCE)))


@pytest.mark.parametrize("distinct", [True, False], ids=["distinct", "raw"])
def test_a_run_on_tables_reports_what_the_layers_give(monkeypatch, distinct):
    """Both conv layers of the notebook's model, inhibiting windows on: conv_1 gathered, conv_2
    computed by its layers from conv_1's gathered activations."""
    model, data = notebook_model(), token_data(n=300, seed=5)
    reports = {}
    for gathered in (False, True):
        pin_path(monkeypatch, gathered)
        run = _run(model, data, distinct=distinct, inhibiting=True)
        assert sorted(run.tables) == (["conv_1"] if gathered else [])
        reports[gathered] = run.report()
    for name in ("conv_1", "conv_2"):
        for plain, gathered in zip(reports[False][name].filters, reports[True][name].filters, strict=True):
            for kind in ("windows", "inhibiting"):
                want, got = getattr(plain, kind), getattr(gathered, kind)
                values = [w.activation for w in want]
                np.testing.assert_allclose([w.activation for w in got], values, rtol=0, atol=TOLERANCE)
                for rank, (w, g) in enumerate(zip(want, got, strict=True)):
                    if not _near_tie(values, w.activation):
                        assert (g.example, g.position, g.count, g.token_ids) == \
                            (w.example, w.position, w.count, w.token_ids), (name, plain.index, kind, rank)
            assert gathered.stats.positions == plain.stats.positions
            assert gathered.stats.mean == pytest.approx(plain.stats.mean, abs=TOLERANCE)
            assert gathered.stats.max == pytest.approx(plain.stats.max, abs=TOLERANCE)
            assert sum(gathered.stats.histogram) == sum(plain.stats.histogram)


def test_identical_windows_gather_identical_activations():
    """The rows gathered and their order depend on the window's ids alone, so a repeated window's
    occurrences are equal to the bit, wherever they sit (the layers' call may round a border apart)."""
    model, plan = _plan(APPLIES["padding and dropouts"]())
    data = np.tile(token_data(n=1, seed=3), (3, 1))
    data[1] = np.roll(data[1], 1)
    values = tables.pre_activations(plan, data, tables.projections(plan)).numpy()
    np.testing.assert_array_equal(values[0], values[2])
    middle = slice(6, 9)  # windows away from both edges, shifted by one in example 1
    np.testing.assert_array_equal(values[0][middle], values[1][middle.start + 1: middle.stop + 1])


def test_each_run_builds_its_tables_from_the_weights_as_they_are(monkeypatch):
    pin_path(monkeypatch, True)
    model, data = chain_model(*APPLIES["valid"]()), token_data(n=80)
    first = _run(model, data).report()["c"]
    layer = model.get_layer("c")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 2.0, bias * 2.0])
    second = _run(model, data)
    assert second.step is _run(model, data).step  # the compiled step is reused, its tables are not
    for before, after in zip(first.filters, second.report()["c"].filters, strict=True):
        assert [2 * w.activation for w in before.windows] == pytest.approx([w.activation for w in after.windows])
