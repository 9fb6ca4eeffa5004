"""Dead and duplicate filters, from the pass's statistics (pure numpy).

Dead: the filter never rises above its activation's floor on the data (0 for
relu, sigmoid, softplus and for activations without a floor, linear
included: "never above 0"; -1 for tanh, softsign and elu; selu's -1.758...),
or never changes at all (a constant carries nothing, whatever its value).

Duplicate: filter j duplicates the earlier filter i (i < j) its activations
correlate with most, when that Pearson correlation over every (example,
position) of the sample exceeds the threshold (default 0.95). A negated
filter correlates at -1: it is not a duplicate. The correlation comes from
the running sums exactly: n sum x_i x_j - sum x_i sum x_j over the square
roots of the same for i, i and j, j, all in float64.
"""

from __future__ import annotations

import numpy as np

from tb_filters.options import Options

DUPLICATE_THRESHOLD = Options().duplicate_threshold

_SELU_FLOOR = -1.7580993408473766  # -scale * alpha
_FLOORS = {"tanh": -1.0, "softsign": -1.0, "elu": -1.0, "hard_tanh": -1.0, "selu": _SELU_FLOOR}


def activation_floor(activation: str) -> float:
    return _FLOORS.get(activation, 0.0)


def dead(maxima: np.ndarray, minima: np.ndarray, activation: str) -> np.ndarray:
    """[F] bool from each filter's maximum and minimum over the data."""
    return (maxima <= activation_floor(activation)) | (maxima == minima)


def correlations(positions: int, sums: np.ndarray, squares: np.ndarray, products: np.ndarray) -> np.ndarray:
    """[F, F] Pearson correlations; NaN where a filter is constant on the sample."""
    n = float(positions)
    covariance = n * products - np.outer(sums, sums)
    variance = np.maximum(np.diag(covariance), 0.0)  # rounding can push a constant's below 0
    scale = np.sqrt(np.outer(variance, variance))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, covariance / scale, np.nan)


def duplicates(correlation: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> tuple[list, list]:
    """Per filter: (index of the earlier filter it duplicates or None, that correlation or None)."""
    of, values = [], []
    for j in range(correlation.shape[0]):
        earlier = correlation[j, :j]
        candidates = np.flatnonzero(np.nan_to_num(earlier, nan=-np.inf) > threshold)
        if candidates.size == 0:
            of.append(None)
            values.append(None)
            continue
        best = int(candidates[np.argmax(earlier[candidates])])  # argmax: the first of equals
        of.append(best)
        values.append(float(earlier[best]))
    return of, values
