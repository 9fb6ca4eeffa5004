"""How closely floats must agree in the tests, each tolerance with the arithmetic that sets it.

Compare exactly (==, assert_array_equal) what is exact: counts, ids, window identity,
and values from the same kernels on the same inputs.

Everything else agrees to float32 rounding and no closer. The same activation from
`predict` and from the compiled step, from batches of another shape, with XLA or
without, or under another Keras backend runs other kernels: another summation order,
FMA or not, AVX2 or AVX-512 blocking. So it agrees to a few float32 ulps
(eps = 1.2e-7) of the magnitudes summed, and which bits differ depends on the CPU.
"""

from __future__ import annotations

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)

# One activation (a float32 dot product of a few dozen terms of order 1) from two kernel
# paths: about 100 ulps of headroom over the rounding of its terms.
ACTIVATION_RTOL = 1e-5
# Near zero a relative bound says nothing; the terms rounded are of order 1.
ACTIVATION_ATOL = 1e-6

# A model output (a probability or a small logit) from two kernel paths, and the means of
# differences of such outputs (the effects): ~16 float32 ulps of 1.
OUTPUT_ATOL = 2e-6

# A Pearson correlation of float32 activations. Rounding each activation by ~eps * max|a|
# moves a correlation by at most about eps * max|a| / std(a), to first order (~1e-7 for the
# test models' activations; a correlation near +-1 moves by only the square of that).
CORRELATION_ATOL = 1e-6


def float32_sum_atol(count: int, largest_term, rtol: float = ACTIVATION_RTOL) -> np.ndarray:
    """How far two float64 sums of `count` float32 terms from other kernels may differ.

    Each term agrees to `rtol` of its magnitude, so the sums agree to rtol * sum|terms|,
    at most rtol * count * the largest |term|. The sum itself is no scale: its terms may cancel.
    """
    return rtol * max(int(count), 1) * np.asarray(largest_term, np.float64)


def assert_within(got, want, atol, err_msg: str = "") -> None:
    """|got - want| <= atol elementwise, for an `atol` per element (numpy's assert_allclose takes one number)."""
    gap = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    allowed = np.broadcast_to(np.asarray(atol, np.float64), gap.shape)
    if np.all(gap <= allowed):
        return
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.nan_to_num(gap - allowed, nan=np.inf)), gap.shape))
    raise AssertionError(
        f"{err_msg}: {gap[worst]} apart at {worst}, allowed {allowed[worst]} (got {got}, want {want})")


# Window contributions as a payload stores them (version 3): float16, round to nearest even, so
# 11 significant bits, a relative error of at most 2**-11 (4.9e-4) of the float32 value (values
# beyond float16's +-65,504 are clipped to it). Activations, ids and counts stay exact.
CONTRIBUTION_RTOL = 2.0 ** -11


def as_stored(layer):
    """`layer` (a LayerReport) with every window's contributions rounded as the payload stores them,
    so a report read back compares exactly (==) with it."""
    import dataclasses

    def window(w):
        if w.contributions is None:
            return w
        return dataclasses.replace(w, contributions=tuple(stored_contributions(w.contributions)))

    def windows(ws):
        return None if ws is None else tuple(window(w) for w in ws)

    def intervals(found):
        return None if found is None else tuple(dataclasses.replace(i, windows=windows(i.windows)) for i in found)

    return dataclasses.replace(layer, filters=tuple(
        dataclasses.replace(f, windows=windows(f.windows), inhibiting=windows(f.inhibiting),
                            intervals=intervals(f.intervals))
        for f in layer.filters))


def stored_contributions(values) -> list[float]:
    """Contributions as the payload stores them (float16, see CONTRIBUTION_RTOL), as floats."""
    from tb_filters.format import payload

    return np.frombuffer(payload.halves(values), "<f2").astype(np.float32).tolist()
