"""Token spans through a chain of 1-D layers (pure arithmetic, no Keras).

Every layer between the token input and a conv layer maps positions the same
way: output position p reads input positions
    [p * stride - left_pad, p * stride - left_pad + (kernel - 1) * dilation].
Padding layers are kernel 1 with a positive pad, cropping a negative one,
per-position layers (embedding, dropout, normalization, ...) are the identity.
Composing such maps keeps them affine, so the tokens an output position reads
are [p * span.stride + span.offset, ... + span.width): the `Span`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

PADDINGS = ("valid", "same", "causal")


@dataclasses.dataclass(frozen=True)
class Step:
    """How one layer maps output positions onto its input positions."""

    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    left_pad: int = 0  # negative: the layer crops
    right_pad: int = 0

    @property
    def extent(self) -> int:
        """Input positions between the first and last one read, inclusive."""
        return (self.kernel - 1) * self.dilation + 1

    def output_length(self, input_length: int) -> int:
        padded = input_length + self.left_pad + self.right_pad
        return max((padded - self.extent) // self.stride + 1, 0)


IDENTITY = Step()


def padding_step(left: int, right: int) -> Step:
    return Step(left_pad=left, right_pad=right)


def cropping_step(left: int, right: int) -> Step:
    return Step(left_pad=-left, right_pad=-right)


def window_step(kernel: int, stride: int, dilation: int, padding: str, input_length: int) -> Step:
    """A conv or pooling window; 'same' and 'causal' pads as TensorFlow does."""
    if padding not in PADDINGS:
        raise ValueError(f"Expected padding in {PADDINGS}. Received: padding={padding!r}")
    extent = (kernel - 1) * dilation + 1
    if padding == "valid":
        return Step(kernel, stride, dilation)
    if padding == "causal":
        return Step(kernel, stride, dilation, left_pad=extent - 1)
    output_length = math.ceil(input_length / stride)
    total = max((output_length - 1) * stride + extent - input_length, 0)
    # TensorFlow puts the smaller half on the left.
    return Step(kernel, stride, dilation, left_pad=total // 2, right_pad=total - total // 2)


@dataclasses.dataclass(frozen=True)
class Span:
    """Output position p reads tokens [p * stride + offset, p * stride + offset + width)."""

    stride: int = 1
    offset: int = 0
    width: int = 1

    def then(self, step: Step) -> "Span":
        """The span of a layer applied on top of positions with this span."""
        return Span(
            stride=self.stride * step.stride,
            offset=self.offset - step.left_pad * self.stride,
            width=(step.extent - 1) * self.stride + self.width,
        )

    def start(self, position):
        return position * self.stride + self.offset

    def token_positions(self, position: int) -> range:
        start = self.start(position)
        return range(start, start + self.width)


def compose(steps: Sequence[Step]) -> Span:
    span = Span()
    for step in steps:
        span = span.then(step)
    return span


def lengths(steps: Sequence[Step], input_length: int) -> list[int]:
    """Input length of every step, then the chain's output length."""
    result = [input_length]
    for step in steps:
        result.append(step.output_length(result[-1]))
    return result


def output_length(steps: Sequence[Step], input_length: int) -> int:
    return lengths(steps, input_length)[-1]


def boundary_keys(steps: Sequence[Step], input_length: int) -> np.ndarray:
    """Per output position: 0 where no layer of the chain reads padding, else a key.

    Away from the edges an output depends only on the tokens of its span. Near
    an edge it also depends on which intermediate positions are padding; the
    key (p + 1 in the left half, -(distance to the end) in the right half)
    tells such positions apart even when their tokens agree, e.g. after a
    crop followed by padding.
    """
    sizes = lengths(steps, input_length)
    count = sizes[-1]
    positions = np.arange(count, dtype=np.int64)
    reads_padding = np.zeros(count, dtype=bool)
    for i in range(len(steps)):
        span = compose(steps[i:])
        first = span.start(positions)
        reads_padding |= (first < 0) | (first + span.width > sizes[i])
    left_half = positions * 2 < count
    keys = np.where(left_half, positions + 1, -(count - positions))
    return np.where(reads_padding, keys, 0)
