"""Filters compared by what they do: matched across runs, and followed through training.

A filter's *signature* is its maximum activation over positions on each example of the
probe (`LayerReport.signature_array()`). Two runs probed on the same examples (equal
`probe_fingerprint`) compare filter by filter through the Pearson correlation of their
signatures, whatever order each run learned its filters in (Li et al. 2016, "Convergent
learning"). A constant signature (a dead filter) correlates 0 with everything.

`match(a, b)`, per filter of `a`:
- `best`: the filter of `b` it correlates with most (several filters may share one);
- `one_to_one`: the maximum-weight assignment of `a`'s filters to distinct filters of `b`
  (`scipy.optimize.linear_sum_assignment`, maximising the total correlation); None for the
  filters left over when `b` has fewer;
- `shared`: its best correlation is above `threshold`, the null's (below).
And for the layer, the linear CKA of the two signature matrices (Kornblith et al. 2019):
invariant to the filters' order and to a common scale.

The null, and its false-positive rate
-------------------------------------
Unrelated filters correlate on the same examples: every filter's maximum over positions
grows with the example's length, and filters keyed to a frequent token rise on the same
examples. A plain permutation null (shuffle the probe examples of one run) breaks all of
that and calls every filter of an untrained model shared with a trained one (measured: 64
of 64, threshold 0.07). The null here keeps what the layers have in common:

1. Standardize every signature; take the top `NULL_COMPONENTS` (4) principal directions of
   both runs' signatures together over the probe: each example's coordinates in the
   layer-wide factors (length, frequent tokens, and, for trained runs, the task).
2. Split the examples into strata of about `STRATUM_EXAMPLES` (16) examples with similar
   coordinates (median splits, one coordinate after the other, as a k-d tree does).
3. Shuffle `a`'s signatures within each stratum, seeded (answers repeat), and take each
   shuffled filter's best correlation with `b`, over enough shuffles for at least
   `NULL_MAXIMA` (2048) such maxima.
4. `threshold` is their `NULL_QUANTILE` (0.99) quantile, kept between
   `MIN_SHARED_CORRELATION` (0.5) and `MAX_SHARED_THRESHOLD` (0.9); a filter is shared when
   its best correlation is above it. The floor says what the null cannot: below r = 0.5 a
   filter shares less than a quarter of its signature's variance with its best match, and
   is not the same detector. The ceiling: when a layer's signatures are nearly low-rank (an
   easy task, every filter one of two detectors: the demo's), the null climbs to 0.97 and
   would call a filter matched at r = 0.94 "only in this run"; above r = 0.9 (81% of the
   variance shared) the two filters do the same thing on this probe, even where the null
   cannot tell which member of a cluster is the twin.

If two runs were related only through the layer-wide factors, a filter's best correlation
would be one more draw of that null: 1% of the filters would be called shared. Measured
on the demo's text CNNs (`tb_filters/cli/demo.py`, kernels 3 and 5), a model trained 2-3
epochs against a fresh untrained one of another seed, either way round: 1, 2, 4, 5, 5
and 1 of 64 filters called shared on a 2,048-example probe, 0 of 32 in four pairs on
probes of 512 and 2,048 (18 of 512 in all, 3.5%; at most 7.8% of a layer). Two untrained
models: 0 and 1 of 64. That is the false-positive rate to expect: a few percent. (A
trained filter can correlate 0.8 with an untrained one keyed to one of its tokens: what
keeps the rate above the nominal 1%.) A permuted copy of a model, also scaled and lightly
noised, has every filter shared at correlation ~1; two trained models share 15 of 32 and
32 to 49 of 64 (their filters sit in two tight clusters, positive and negative phrases,
within which the null cannot tell members apart either).

Training dynamics
-----------------
`dynamics(steps)` follows each filter index of one run through its steps: per step, its
signature correlation with the latest step and the Jaccard index of its distinct top
windows (token-id tuples) with the latest step's. The filter has *settled* at step S (the
first such step before the latest) when from S through the latest both stay at or above
`CORRELATION_THRESHOLD` (0.9) and `JACCARD_THRESHOLD` (0.5). A measure a step cannot give
(no signatures, another probe, no windows) is None and the other one decides; a step with
neither breaks the run of agreeing steps.

Pure numpy and scipy, on plain arrays underneath (`correlations`, `one_to_one`,
`null_threshold`, `linear_cka`, `dynamics_of`): the plugin calls them on decoded payloads.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from tb_filters.errors import FiltersError
from tb_filters.format.payload import COMPUTED

NULL_COMPONENTS = 4
STRATUM_EXAMPLES = 16
NULL_MAXIMA = 2048
NULL_QUANTILE = 0.99
NULL_SEED = 0
# Below this, a filter shares less than a quarter of its signature's variance (r^2) with its best match:
# not the same detector, whatever the null says (see the module's docstring).
MIN_SHARED_CORRELATION = 0.5
MAX_SHARED_THRESHOLD = 0.9
MAX_NULL_SHUFFLES = 256
CORRELATION_THRESHOLD = 0.9
JACCARD_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class FilterMatch:
    """One filter of `a` and its counterparts in `b`."""

    index: int
    best: int
    best_correlation: float
    one_to_one: int | None
    one_to_one_correlation: float | None
    shared: bool


@dataclasses.dataclass(frozen=True)
class LayerMatch:
    """`match(a, b)`: one FilterMatch per filter of `a`, in `a`'s order."""

    cka: float
    threshold: float
    shared_count: int
    probe_examples: int
    filters: tuple[FilterMatch, ...]

    def by_index(self) -> dict[int, FilterMatch]:
        return {f.index: f for f in self.filters}


@dataclasses.dataclass(frozen=True)
class FilterDynamics:
    """One filter index through the steps: per step, agreement with the latest step."""

    index: int
    correlation: tuple[float | None, ...]
    jaccard: tuple[float | None, ...]
    settled_step: int | None


@dataclasses.dataclass(frozen=True)
class LayerDynamics:
    steps: tuple[int, ...]
    latest: int
    correlation_threshold: float
    jaccard_threshold: float
    note: str
    filters: tuple[FilterDynamics, ...]


@dataclasses.dataclass(frozen=True)
class StepData:
    """What `dynamics_of` reads of one step: signatures [filters, probe] (None without them),
    the filter index of each row, and each filter's distinct top windows (token-id tuples)."""

    step: int
    fingerprint: str
    signatures: np.ndarray | None
    indices: tuple[int, ...]
    windows: tuple[frozenset, ...]


# Arrays --------------------------------------------------------------------------------------------

def standardized(signatures: np.ndarray) -> np.ndarray:
    """Rows centered and scaled to unit norm (float64), so a dot product is a Pearson correlation;
    a constant row stays 0 and correlates 0 with everything."""
    rows = np.array(signatures, dtype=np.float64)
    rows -= rows.mean(axis=1, keepdims=True)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))[:, None]
    # Centering leaves a constant row at rounding level: its "shape" would be noise.
    scale = np.abs(np.asarray(signatures)).max(axis=1, initial=0.0)[:, None]
    constant = norms <= 1e-9 * np.maximum(scale, np.finfo(np.float64).tiny) * np.sqrt(rows.shape[1])
    rows /= np.where(constant, np.inf, norms)
    return rows


def correlations(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """[filters of a, filters of b]: the Pearson correlation of every pair of signature rows."""
    _check_probes(sa, sb)
    return np.clip(standardized(sa) @ standardized(sb).T, -1.0, 1.0)


def one_to_one(corr: np.ndarray) -> np.ndarray:
    """Per row, its column in the assignment of rows to distinct columns that maximises the total
    correlation; -1 for the rows left over when there are fewer columns."""
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(corr, maximize=True)
    assigned = np.full(corr.shape[0], -1, dtype=np.int64)
    assigned[rows] = columns
    return assigned


def linear_cka(sa: np.ndarray, sb: np.ndarray) -> float:
    """Linear CKA of two [filters, probe] matrices, the probe examples as observations:
    ||Xa'Xb||^2 / (||Xa'Xa|| ||Xb'Xb||) with X the centered signatures [probe, filters]."""
    _check_probes(sa, sb)
    xa, xb = _centered(sa), _centered(sb)
    # float32 products: CKA is a ratio of sums of squares, good to ~1e-6 either way, at half the time.
    cross = np.linalg.norm(xa @ xb.T) ** 2
    scale = np.linalg.norm(xa @ xa.T) * np.linalg.norm(xb @ xb.T)
    return float(min(1.0, cross / scale)) if scale > 0 else 0.0


def _centered(signatures: np.ndarray) -> np.ndarray:
    rows = np.asarray(signatures, np.float64)
    return (rows - rows.mean(axis=1, keepdims=True)).astype(np.float32)


def strata(za: np.ndarray, zb: np.ndarray, components: int = NULL_COMPONENTS,
           per_stratum: int = STRATUM_EXAMPLES) -> list[np.ndarray]:
    """The probe examples in groups of about `per_stratum` with similar coordinates on the
    top `components` principal directions of both standardized signature matrices."""
    scores = _top_directions(np.vstack([za, zb]).astype(np.float32), components)
    groups = [np.arange(za.shape[1])]
    depth = 0
    while scores.shape[0] and len(groups[0]) >= 2 * per_stratum:
        coordinate = scores[depth % scores.shape[0]]
        groups = [half for g in groups for half in _halves(g, coordinate)]
        depth += 1
    return groups


def _halves(group: np.ndarray, coordinate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ordered = group[np.argsort(coordinate[group], kind="stable")]
    return ordered[: len(ordered) // 2], ordered[len(ordered) // 2:]


def _top_directions(z: np.ndarray, k: int) -> np.ndarray:
    """[k, probe]: the top right singular vectors of z, by a seeded randomized range finder
    (a full SVD of 2048 x 2048 would cost seconds; the strata need only rough directions)."""
    k = min(k, *z.shape)
    if k == 0 or not np.any(z):
        return np.zeros((0, z.shape[1]))
    rng = np.random.default_rng(NULL_SEED)
    basis = z.T @ rng.standard_normal((z.shape[0], k + 8)).astype(z.dtype)
    for _ in range(3):  # power iterations sharpen the leading directions
        basis, _ = np.linalg.qr(basis)
        basis = z.T @ (z @ basis)
    basis, _ = np.linalg.qr(basis)
    _, _, vt = np.linalg.svd(z @ basis, full_matrices=False)
    return (basis @ vt.T).T[:k]


def null_threshold(za: np.ndarray, zb: np.ndarray, quantile: float = NULL_QUANTILE,
                   maxima: int = NULL_MAXIMA, seed: int = NULL_SEED) -> float:
    """The `quantile` of the best correlations with `zb` of `za`'s rows shuffled within strata
    (see the module's docstring). Both standardized ([filters, probe], unit rows)."""
    if za.shape[0] == 0 or zb.shape[0] == 0:
        return 1.0
    groups = strata(za, zb)
    rng = np.random.default_rng(seed)
    shuffles = max(1, min(MAX_NULL_SHUFFLES, math.ceil(maxima / za.shape[0])))
    za32, zb32 = za.astype(np.float32), zb.astype(np.float32)
    found = []
    for _ in range(shuffles):
        order = np.empty(za.shape[1], dtype=np.int64)
        for g in groups:
            order[g] = rng.permutation(g)
        found.append((za32[:, order] @ zb32.T).max(axis=1))
    return float(np.quantile(np.concatenate(found), quantile))


def match_arrays(sa: np.ndarray, sb: np.ndarray, a_indices: Sequence[int] | None = None) -> LayerMatch:
    """`match` on two signature matrices [filters, probe]; `a_indices` names a's rows (0.. by
    default); `best` and `one_to_one` are row positions of `sb`."""
    za, zb = standardized(sa), standardized(sb)
    _check_probes(za, zb)
    if zb.shape[0] == 0:
        raise FiltersError(f"Expected a layer with filters to match against. Received: {sb.shape[0]} filters")
    corr = np.clip(za @ zb.T, -1.0, 1.0)
    best = corr.argmax(axis=1)
    best_corr = corr[np.arange(corr.shape[0]), best]
    assigned = one_to_one(corr)
    threshold = min(MAX_SHARED_THRESHOLD, max(MIN_SHARED_CORRELATION, null_threshold(za, zb)))
    indices = range(corr.shape[0]) if a_indices is None else a_indices
    filters = tuple(
        FilterMatch(index=int(i), best=int(best[r]), best_correlation=float(best_corr[r]),
                    one_to_one=None if assigned[r] < 0 else int(assigned[r]),
                    one_to_one_correlation=None if assigned[r] < 0 else float(corr[r, assigned[r]]),
                    shared=bool(best_corr[r] > threshold))
        for r, i in enumerate(indices))
    return LayerMatch(cka=linear_cka(sa, sb), threshold=threshold, shared_count=sum(f.shared for f in filters),
                      probe_examples=int(za.shape[1]), filters=filters)


def _check_probes(sa: np.ndarray, sb: np.ndarray) -> None:
    if sa.ndim != 2 or sb.ndim != 2 or sa.shape[1] != sb.shape[1] or sa.shape[1] < 2:
        raise FiltersError(f"Expected two [filters, probe_examples] signature matrices on the same probe of at least "
                           f"2 examples. Received: shapes {sa.shape} and {sb.shape}")


# Reports -------------------------------------------------------------------------------------------

def comparable(a_name: str, a_signatures: str, a_probe: int, a_fingerprint: str,
               b_name: str, b_signatures: str, b_probe: int, b_fingerprint: str) -> str:
    """Why two layers' signatures cannot be compared ("" when they can): the route's `note`."""
    for name, availability in ((a_name, a_signatures), (b_name, b_signatures)):
        if availability != COMPUTED:
            return f"no signatures in {name}: {availability}"
    if (a_probe, a_fingerprint) != (b_probe, b_fingerprint):
        return (f"different probes: {a_name} has {a_probe} examples ({a_fingerprint[:12] or 'no fingerprint'}), "
                f"{b_name} has {b_probe} ({b_fingerprint[:12] or 'no fingerprint'})")
    return ""


def match(a, b) -> LayerMatch:
    """Matches each filter of LayerReport `a` with the filters of LayerReport `b` (see the module's
    docstring); FiltersError when either has no signatures or their probes differ."""
    why = comparable("a", a.signatures, a.probe_examples, a.probe_fingerprint,
                     "b", b.signatures, b.probe_examples, b.probe_fingerprint)
    if why:
        raise FiltersError(f"Expected two layer reports with signatures on the same probe. Received: {why}")
    matched = match_arrays(a.signature_array(), b.signature_array(), [f.index for f in a.filters])
    b_index = [f.index for f in b.filters]
    return dataclasses.replace(matched, filters=tuple(
        dataclasses.replace(f, best=b_index[f.best],
                            one_to_one=None if f.one_to_one is None else b_index[f.one_to_one])
        for f in matched.filters))


def step_data(step: int, report) -> StepData:
    """What dynamics reads of a LayerReport."""
    signatures = report.signature_array() if report.signatures == COMPUTED else None
    return StepData(step, report.probe_fingerprint, signatures, tuple(f.index for f in report.filters),
                    tuple(frozenset(tuple(w.token_ids) for w in f.windows) for f in report.filters))


def dynamics(steps: Sequence[tuple[int, object]]) -> LayerDynamics:
    """Each filter of one run's layer through `steps` ((step, LayerReport) pairs, any order; index i
    is the same filter at every step): see the module's docstring."""
    return dynamics_of([step_data(step, report) for step, report in steps])


def dynamics_of(steps: Sequence[StepData]) -> LayerDynamics:
    if not steps:
        raise FiltersError("Expected at least one step of the layer. Received: none")
    ordered = sorted(steps, key=lambda s: s.step)
    latest = ordered[-1]
    notes = _dynamics_notes(ordered)
    correlations_by_step = [_diagonal_correlations(s, latest) for s in ordered]
    filters = []
    for row, index in enumerate(latest.indices):
        correlation, jaccard = [], []
        for s, by_index in zip(ordered, correlations_by_step):
            position = _position(s, index)
            correlation.append(None if by_index is None or position is None else by_index.get(index))
            jaccard.append(None if position is None else _jaccard(s.windows[position], latest.windows[row]))
        filters.append(FilterDynamics(index, tuple(correlation), tuple(jaccard),
                                      settled_step(tuple(s.step for s in ordered), correlation, jaccard)))
    return LayerDynamics(tuple(s.step for s in ordered), latest.step, CORRELATION_THRESHOLD, JACCARD_THRESHOLD,
                         "; ".join(notes), tuple(filters))


def settled_step(steps: Sequence[int], correlation: Sequence[float | None], jaccard: Sequence[float | None],
                 correlation_threshold: float = CORRELATION_THRESHOLD,
                 jaccard_threshold: float = JACCARD_THRESHOLD) -> int | None:
    """The first step before the last from which every step agrees with the last (None: none)."""
    settled = None
    for step, c, j in reversed(list(zip(steps[:-1], correlation[:-1], jaccard[:-1]))):
        known = [v >= t for v, t in ((c, correlation_threshold), (j, jaccard_threshold)) if v is not None]
        if not known or not all(known):
            break
        settled = step
    return settled


def _position(s: StepData, index: int) -> int | None:
    try:
        return s.indices.index(index)
    except ValueError:
        return None


def _diagonal_correlations(s: StepData, latest: StepData) -> dict[int, float] | None:
    """Filter index -> the correlation of its signature at `s` with its signature at `latest`."""
    if s.signatures is None or latest.signatures is None or s.fingerprint != latest.fingerprint \
            or s.signatures.shape[1] != latest.signatures.shape[1]:
        return None
    rows = {index: r for r, index in enumerate(s.indices)}
    common = [(rows[index], r) for r, index in enumerate(latest.indices) if index in rows]
    if not common:
        return {}
    here, there = (np.array(p) for p in zip(*common))
    values = np.clip(np.sum(standardized(s.signatures[here]) * standardized(latest.signatures[there]), axis=1), -1, 1)
    return {latest.indices[r]: float(v) for r, v in zip(there, values)}


def _jaccard(a: frozenset, b: frozenset) -> float | None:
    union = len(a | b)
    return len(a & b) / union if union else None


def _dynamics_notes(ordered: Sequence[StepData]) -> list[str]:
    latest = ordered[-1]
    notes = []
    if latest.signatures is None:
        notes.append(f"no signatures at step {latest.step}: correlations are null")
    else:
        other = [s.step for s in ordered if s.signatures is None or s.fingerprint != latest.fingerprint]
        if other:
            notes.append(f"steps without signatures on the latest step's probe: {other}")
    return notes
