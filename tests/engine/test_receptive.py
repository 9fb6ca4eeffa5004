"""Token spans through padding, cropping, conv and pooling: plain numbers, then real layers."""

from __future__ import annotations

import math

import hypothesis
import hypothesis.strategies as st
import keras
import numpy as np
import pytest
import tensorflow as tf

from tb_filters.engine import receptive
from tb_filters.engine.receptive import Span, Step


def test_valid_conv_reads_its_kernel():
    step = receptive.window_step(kernel=3, stride=1, dilation=1, padding="valid", input_length=10)
    assert step == Step(kernel=3)
    assert step.output_length(10) == 8
    assert receptive.compose([step]) == Span(stride=1, offset=0, width=3)


def test_zero_padding_then_kernel_3_is_the_notebooks_window():
    steps = [receptive.padding_step(1, 1), receptive.window_step(3, 1, 1, "valid", 14)]
    span = receptive.compose(steps)
    assert span == Span(stride=1, offset=-1, width=3)
    assert list(span.token_positions(0)) == [-1, 0, 1]
    assert receptive.output_length(steps, 12) == 12


@pytest.mark.parametrize(
    "length, kernel, stride, dilation, left, right",
    [
        (10, 3, 1, 1, 1, 1),
        (10, 4, 1, 1, 1, 2),  # odd total: TF puts the smaller half on the left
        (10, 3, 2, 1, 0, 1),  # out = 5: (5-1)*2 + 3 - 10 = 1
        (11, 3, 2, 1, 1, 1),  # out = 6: (6-1)*2 + 3 - 11 = 2
        (10, 3, 1, 2, 2, 2),  # extent 5
    ],
)
def test_same_padding_splits_like_tensorflow(length, kernel, stride, dilation, left, right):
    step = receptive.window_step(kernel, stride, dilation, "same", length)
    assert (step.left_pad, step.right_pad) == (left, right)
    assert step.output_length(length) == math.ceil(length / stride)


def test_same_padding_never_negative():
    step = receptive.window_step(kernel=2, stride=4, dilation=1, padding="same", input_length=9)
    # out = 3; (3-1)*4 + 2 - 9 = 1
    assert (step.left_pad, step.right_pad) == (0, 1)
    big_stride = receptive.window_step(kernel=1, stride=5, dilation=1, padding="same", input_length=10)
    assert (big_stride.left_pad, big_stride.right_pad) == (0, 0)


def test_causal_pads_left_by_the_dilated_extent():
    step = receptive.window_step(kernel=3, stride=1, dilation=2, padding="causal", input_length=10)
    assert (step.left_pad, step.right_pad) == (4, 0)
    assert step.output_length(10) == 10
    assert receptive.compose([step]) == Span(stride=1, offset=-4, width=5)


def test_cropping_shifts_the_span_right():
    steps = [receptive.cropping_step(2, 1), receptive.window_step(2, 1, 1, "valid", 7)]
    assert receptive.compose(steps) == Span(stride=1, offset=2, width=2)
    assert receptive.output_length(steps, 10) == 6


def test_pooling_then_conv_multiplies_strides():
    # conv k=3 valid, max pool 2, conv k=2 stride 1 'same'
    steps = [
        receptive.window_step(3, 1, 1, "valid", 12),
        receptive.window_step(2, 2, 1, "valid", 10),
        receptive.window_step(2, 1, 1, "same", 5),
    ]
    span = receptive.compose(steps)
    # pool output q reads tokens [2q, 2q + 4); conv 'same' k=2 on 5: total pad 1 -> left 0
    assert span == Span(stride=2, offset=0, width=6)
    assert receptive.lengths(steps, 12) == [12, 10, 5, 5]


def test_unknown_padding_is_rejected():
    with pytest.raises(ValueError, match="Expected padding in"):
        receptive.window_step(3, 1, 1, "full", 10)


def test_output_length_never_negative():
    assert Step(kernel=5).output_length(3) == 0


def test_boundary_keys_mark_positions_that_read_padding():
    steps = [receptive.padding_step(1, 1), receptive.window_step(3, 1, 1, "valid", 8)]
    keys = receptive.boundary_keys(steps, 6)
    assert keys.tolist() == [1, 0, 0, 0, 0, -1]


def test_boundary_keys_tell_crop_then_pad_apart():
    # Crop 2 then pad 2: position 0 reads padding although its span is token 0..2.
    steps = [receptive.cropping_step(2, 2), receptive.padding_step(2, 2), receptive.window_step(3, 1, 1, "valid", 10)]
    span = receptive.compose(steps)
    assert span == Span(stride=1, offset=0, width=3)
    keys = receptive.boundary_keys(steps, 10)
    assert keys[0] != 0 and keys[1] != 0 and keys[4] == 0 and keys[-1] != 0
    assert len(set(keys[keys != 0].tolist())) == int((keys != 0).sum())


# --- the spans against an independent simulation -----------------------------------------


def _simulate(steps, length):
    """Which token positions each output position reads, by following every position."""
    reads = [{t} for t in range(length)]
    for step in steps:
        left, right = step.left_pad, step.right_pad
        if left < 0:
            reads = reads[-left:]
        if right < 0:
            reads = reads[: len(reads) + right]
        padded = [set()] * max(left, 0) + reads + [set()] * max(right, 0)
        out_length = max((len(padded) - step.extent) // step.stride + 1, 0)
        reads = [
            set().union(*(padded[p * step.stride + j * step.dilation] for j in range(step.kernel)))
            for p in range(out_length)
        ]
    return reads


@st.composite
def _chains(draw):
    length = draw(st.integers(6, 30))
    steps = []
    current = length
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["pad", "crop", "conv", "pool"]))
        if kind == "pad":
            step = receptive.padding_step(draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        elif kind == "crop":
            a, b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            if current - a - b < 1:
                continue
            step = receptive.cropping_step(a, b)
        else:
            kernel = draw(st.integers(1, 4))
            dilation = draw(st.integers(1, 3)) if kind == "conv" else 1
            padding = draw(st.sampled_from(["valid", "same", "causal"] if kind == "conv" else ["valid", "same"]))
            step = receptive.window_step(kernel, draw(st.integers(1, 3)), dilation, padding, current)
        if step.output_length(current) < 1:
            continue
        steps.append(step)
        current = step.output_length(current)
    hypothesis.assume(steps)
    return steps, length


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(_chains())
def test_span_covers_exactly_what_the_chain_reads(chain):
    steps, length = chain
    span = receptive.compose(steps)
    reads = _simulate(steps, length)
    keys = receptive.boundary_keys(steps, length)
    assert len(reads) == len(keys) == receptive.output_length(steps, length)
    for p, tokens in enumerate(reads):
        assert tokens <= set(span.token_positions(p))
        if keys[p] == 0:
            # Away from padding the span is tight: both ends are real tokens, and read.
            first, last = span.start(p), span.start(p) + span.width - 1
            assert 0 <= first and last < length
            assert first in tokens and last in tokens


# --- the spans against real Keras layers ----------------------------------------------------


def _read_by_layers(layers, length, channels=2):
    """Token positions whose embedding changes output position p, from real layers' gradients."""
    x = tf.Variable(tf.random.stateless_normal([1, length, channels], seed=[1, 2]))
    model = keras.Sequential([keras.Input((length, channels))] + layers)
    reads = []
    out_length = model.output_shape[1]
    for p in range(out_length):
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(model(x, training=False)[0, p])
        grad = tape.gradient(y, x)[0].numpy()
        reads.append(set(np.flatnonzero(np.abs(grad).sum(axis=1) > 0).tolist()))
    return reads


@pytest.mark.parametrize(
    "make_layers",
    [
        lambda: [keras.layers.ZeroPadding1D(1), keras.layers.Conv1D(2, 3)],
        lambda: [keras.layers.Conv1D(2, 4, strides=2, padding="same")],
        lambda: [keras.layers.Conv1D(2, 3, strides=2, dilation_rate=1, padding="same")],
        lambda: [keras.layers.Conv1D(2, 3, dilation_rate=2, padding="causal")],
        lambda: [keras.layers.Conv1D(2, 2, dilation_rate=3, padding="same")],
        lambda: [keras.layers.Cropping1D((1, 2)), keras.layers.Conv1D(2, 3, strides=3)],
        lambda: [keras.layers.Conv1D(2, 3), keras.layers.AveragePooling1D(3, strides=2, padding="same"),
                 keras.layers.Conv1D(2, 2, padding="same")],
    ],
    ids=["zeropad-k3", "same-s2-k4", "same-s2-k3", "causal-d2", "same-d3", "crop-s3", "conv-avgpool-same"],
)
def test_span_matches_what_real_layers_read(make_layers):
    from tb_filters.engine import chains

    layers = make_layers()
    length = 13
    reads = _read_by_layers(layers, length)
    steps, current = [], length
    for layer in layers:
        steps.append(chains.layer_step(layer, current))
        current = steps[-1].output_length(current)
    span = receptive.compose(steps)
    assert len(reads) == current
    for p, tokens in enumerate(reads):
        expected = {t for t in span.token_positions(p) if 0 <= t < length}
        dilated = any(layer.dilation_rate[0] > 1 for layer in layers if isinstance(layer, keras.layers.Conv1D))
        if dilated:
            # Dilated taps skip tokens inside the span; its ends are read when they are tokens.
            first, last = span.start(p), span.start(p) + span.width - 1
            assert tokens <= expected
            assert (first in tokens) == (first in expected) and (last in tokens) == (last in expected)
        else:
            assert tokens == expected
