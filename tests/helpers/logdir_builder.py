"""Synthetic but realistic log dirs of `filters` reports, written the real way.

Shared by the plugin tests, the browser tests and the benchmark:

    from tests.helpers.logdir_builder import build_logdir
    built = build_logdir(tmp_path, runs=("kernel3", "kernel5"), num_filters=16, top_k=10, steps=3)
    built.report("kernel3", "conv1d", 2)   # the LayerReport written there, regenerated

Every report goes through `tb_filters.format.summary.write_report`, so the event files
are exactly what the callback writes. Reports are deterministic functions of
(seed, run, layer, step): `Logdir.report` rebuilds one instead of keeping
millions of windows in memory (the benchmark writes 1024 filters x top-100 x 10 steps).
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from typing import Sequence

import numpy as np

from tb_filters.format import report as report_lib

# Tokens the tab must show literally: the notebook's own specials, and one that
# runs script if anything ever renders tokens as HTML.
HOSTILE_TOKEN = "<img src=x onerror=alert(1)>"
SPECIAL_TOKENS = ("<pad>", "<oov>", "<user>", "<url>", "<allcaps>", HOSTILE_TOKEN)
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pe", "da", "go")


def default_vocabulary(size: int = 500) -> tuple[str, ...]:
    """Id i -> token i; id 0 is padding. Pseudo-words after the specials."""
    words = list(SPECIAL_TOKENS)
    n = len(_SYLLABLES)
    i = 0
    while len(words) < size:
        words.append(_SYLLABLES[i % n] + _SYLLABLES[(i // n) % n] + _SYLLABLES[(i // n // n) % n])
        i += 1
    return tuple(words[:size])


@dataclasses.dataclass(frozen=True)
class Logdir:
    path: str
    runs: tuple[str, ...]
    layers: tuple[str, ...]
    steps: tuple[int, ...]
    num_filters: int
    top_k: int
    kernel_size: int
    seed: int
    vocabulary: tuple[str, ...]

    def run_dir(self, run: str) -> str:
        return os.path.join(self.path, run)

    def report(self, run: str, layer: str, step: int) -> report_lib.LayerReport:
        return synthetic_layer_report(
            layer, num_filters=self.num_filters, top_k=self.top_k, kernel_size=self.kernel_size,
            vocabulary=self.vocabulary, seed=_derived_seed(self.seed, run, layer, step),
        )


def build_logdir(
    path: str | os.PathLike,
    runs: Sequence[str] = ("kernel3", "kernel5"),
    num_filters: int = 8,
    top_k: int = 5,
    steps: int | Sequence[int] = 3,
    layers: Sequence[str] = ("conv1d",),
    kernel_size: int = 3,
    vocabulary: Sequence[str] | None = None,
    seed: int = 0,
) -> Logdir:
    """Writes one event file per (run, step) holding every layer, like the callback."""
    step_list = tuple(range(steps)) if isinstance(steps, int) else tuple(int(s) for s in steps)
    built = Logdir(
        path=os.fspath(path), runs=tuple(runs), layers=tuple(layers), steps=step_list,
        num_filters=num_filters, top_k=top_k, kernel_size=kernel_size, seed=seed,
        vocabulary=tuple(vocabulary) if vocabulary is not None else default_vocabulary(),
    )
    from tb_filters.format import summary  # imports TensorFlow: only writers pay for it

    for run in built.runs:
        for step in built.steps:
            layer_reports = {layer: built.report(run, layer, step) for layer in built.layers}
            summary.write_report(built.run_dir(run), report_lib.Report(layer_reports), step,
                                 wall_time=1_700_000_000.0 + step)
    return built


def _derived_seed(seed: int, run: str, layer: str, step: int) -> int:
    return zlib.crc32(f"{seed}/{run}/{layer}/{step}".encode())


def synthetic_layer_report(
    name: str,
    num_filters: int,
    top_k: int,
    kernel_size: int,
    vocabulary: Sequence[str],
    seed: int,
    input_length: int = 32,
    num_examples: int = 1000,
    detects: bool = True,
) -> report_lib.LayerReport:
    """A layer fed by Embedding -> ZeroPadding1D(1) -> Conv1D(kernel_size, relu).

    `detects`: with slot preferences, patterns, inhibiting windows and contexts
    (every window from an example of its own: the largest payload they make).
    """
    rng = np.random.default_rng(seed)
    output_length = input_length + 2 - kernel_size + 1
    geometry = report_lib.LayerGeometry(
        num_filters=num_filters, kernel_size=kernel_size, stride=1, dilation=1, padding="valid",
        activation="relu", input_length=input_length, output_length=output_length,
        span_width=kernel_size, span_stride=1, span_offset=-1,
        path=("tokens", "embedding", "zero_padding1d", name),
    )
    positions = num_examples * output_length
    # Once per layer, not per filter: converting a 721,696-token vocabulary takes
    # ~57 ms, ~10 minutes over the benchmark's 1024 filters x 10 steps.
    vocabulary = np.asarray(vocabulary, dtype=object)
    filters = tuple(
        _synthetic_filter(rng, f, top_k, geometry, vocabulary, num_examples, positions)
        for f in range(num_filters)
    )
    filters = _with_effects(filters, np.random.default_rng(seed + 1))
    effects = dict(output_names=SYNTHETIC_OUTPUTS, sample_examples=num_examples, duplicate_threshold=0.95)
    if not detects:
        return report_lib.LayerReport(
            name=name, geometry=geometry, top_k=top_k, distinct=True, num_examples=num_examples,
            filters=filters, has_contributions=True, **effects,
        )
    filters = tuple(_with_detects(rng, f, top_k, geometry, vocabulary, num_examples, positions) for f in filters)
    return report_lib.LayerReport(
        name=name, geometry=geometry, top_k=top_k, distinct=True, num_examples=num_examples,
        filters=filters, has_contributions=True, slot_preferences=report_lib.COMPUTED,
        patterns=report_lib.COMPUTED, contexts=report_lib.COMPUTED, inhibiting=report_lib.COMPUTED,
        intervals=report_lib.COMPUTED, interval_samples=INTERVAL_SAMPLES, slot_top_n=SLOT_TOP_N, slot_min_count=3,
        pattern_share=0.2,
        examples=_contexts(rng, filters, input_length, vocabulary), **effects,
        **synthetic_signatures(num_filters, min(num_examples, SYNTHETIC_PROBE), np.random.default_rng(seed + 2)),
    )


SYNTHETIC_PROBE = 64  # probe examples of the synthetic signatures: the same probe in every run


def synthetic_signatures(num_filters: int, probe_examples: int, rng) -> dict:
    """LayerReport fields of signatures: relu-like maxima, float16, on one probe shared by every run."""
    matrix = np.maximum(rng.normal(0.5, 1.0, (num_filters, probe_examples)), 0.0).astype("<f2")
    return dict(signatures=report_lib.COMPUTED, probe_examples=probe_examples,
                probe_fingerprint=f"synthetic-probe-{probe_examples}", signature_matrix=matrix.tobytes())


SYNTHETIC_OUTPUTS = ("negative", "positive")


def synthetic_dead(index: int) -> bool:
    return index % 13 == 5


def synthetic_duplicate_of(index: int) -> int | None:
    return index - 1 if index % 11 == 10 else None


def _with_effects(filters, rng) -> tuple:
    """Effects on two outputs (a softmax's: they mirror each other), every 13th filter
    (from 5) dead with no effect, every 11th (from 10) a duplicate of the one before."""
    pushes = rng.normal(0.0, 0.02, len(filters)).astype(np.float32)
    result = []
    for f, push in zip(filters, pushes.tolist()):
        dead = synthetic_dead(f.index)
        push = 0.0 if dead else push
        duplicate = synthetic_duplicate_of(f.index)
        result.append(dataclasses.replace(
            f, dead=dead, duplicate_of=duplicate, duplicate_correlation=None if duplicate is None else 0.97,
            effects=(report_lib.Effect("negative", -push, abs(push)), report_lib.Effect("positive", push, abs(push))),
        ))
    return tuple(result)



def _synthetic_filter(rng, index, top_k, geometry, vocabulary, num_examples, positions):
    """Vectorized per filter: the benchmark's layer has 1024 x 100 windows per step."""
    width, length = geometry.span_width, geometry.input_length
    # float32 throughout: the proto stores float32, and round trips must be exact.
    top = np.float32(rng.uniform(1.0, 8.0))
    activations = np.sort(rng.uniform(0.2, 1.0, top_k).astype(np.float32))[::-1] * top
    activations[0] = top
    bias = np.float32(rng.normal(0.0, 0.1))
    # Zipf-like ids, so frequent tokens (the specials among them) recur across filters.
    ids = np.minimum(rng.zipf(1.3, size=(top_k, width)), len(vocabulary) - 1)
    starts = rng.integers(-1, length - width + 2, top_k)
    slots = starts[:, None] + np.arange(width)[None, :]
    token_ids = np.where((slots >= 0) & (slots < length), ids, -1)
    padding = token_ids <= 0
    tokens = vocabulary[np.maximum(token_ids, 0)]
    tokens[padding] = report_lib.PAD_TOKEN
    shares = rng.dirichlet(np.ones(width), top_k).astype(np.float32)
    contributions = shares * (activations - bias)[:, None]
    columns = zip(activations.tolist(), rng.integers(0, num_examples, top_k).tolist(),
                  starts.tolist(), token_ids.tolist(), tokens.tolist(), padding.tolist(),
                  contributions.tolist(), rng.integers(1, 50, top_k).tolist())
    windows = tuple(
        report_lib.Window(activation=a, example=e, position=s + 1, span_start=s,
                          token_ids=tuple(i), tokens=tuple(t), padding=tuple(p),
                          contributions=tuple(c), count=n)
        for a, e, s, i, t, p, c, n in columns
    )
    histogram = rng.multinomial(positions, rng.dirichlet(np.ones(report_lib.NUM_BUCKETS)))
    stats = report_lib.FilterStats(
        max=float(activations[0]), min=0.0,
        mean=float(top * np.float32(rng.uniform(0.05, 0.3))),
        positive_fraction=float(np.float32(rng.uniform(0.1, 0.9))), positions=positions,
        histogram=tuple(histogram.tolist()),
    )
    return report_lib.FilterReport(index=index, windows=windows, stats=stats, bias=float(bias))


SLOT_TOP_N = 10


def _with_detects(rng, f, top_k, geometry, vocabulary, num_examples, positions):
    import dataclasses

    from tb_filters.engine import patterns  # pure: no TensorFlow

    # Inhibiting windows: a second draw, negated, from examples of their own (after the top ones').
    lowest = _synthetic_filter(rng, f.index, top_k, geometry, vocabulary, num_examples, positions).windows
    inhibiting = tuple(
        dataclasses.replace(w, activation=-w.activation, contributions=tuple(-c for c in w.contributions))
        for w in reversed(lowest)
    )
    return dataclasses.replace(
        f,
        windows=_own_examples(f.windows, 2 * f.index * top_k),
        inhibiting=_own_examples(inhibiting, (2 * f.index + 1) * top_k),
        patterns=patterns.patterns(f.windows),
        slot_preferences=tuple(_slot(rng, j, vocabulary) for j in range(geometry.span_width)),
        intervals=_intervals(f, _own_examples(f.windows, 2 * f.index * top_k)),
        active_examples=num_examples // 2 + f.index % (num_examples // 2 or 1),
    )


INTERVAL_SAMPLES = 2


def _intervals(f, windows) -> tuple:
    """One interval per positive histogram bucket holding positions, its windows the filter's top windows
    (their examples have contexts) moved inside it; drawn from no generator, so every other draw stays."""
    import dataclasses

    edges = report_lib.HISTOGRAM_EDGES
    first = edges.index(0.0)
    result = []
    for b in range(first, report_lib.NUM_BUCKETS):
        count = f.stats.histogram[b]
        if not count:
            continue
        low, high = edges[b], edges[b + 1]
        inside = float(np.float32(low * 1.5 if low else high / 2))
        windows = tuple(dataclasses.replace(w, activation=inside, count=1)
                        for w in windows[(b - first) % 3:][:INTERVAL_SAMPLES])
        result.append(report_lib.Interval(low=low, high=high, count=count, share=count / f.stats.positions,
                                          windows=windows))
    return tuple(result)


def _own_examples(windows, first: int):
    import dataclasses

    return tuple(dataclasses.replace(w, example=first + i) for i, w in enumerate(windows))


def _slot(rng, slot: int, vocabulary) -> report_lib.SlotPreference:
    ids = rng.choice(np.arange(1, len(vocabulary)), size=2 * SLOT_TOP_N, replace=False)
    scores = np.sort(rng.uniform(0.05, 2.0, 2 * SLOT_TOP_N).astype(np.float32))[::-1]

    def entries(chosen, values):
        return tuple(report_lib.TokenScore(token=str(vocabulary[t]), id=int(t), score=float(v),
                                           occurrences=int(rng.integers(3, 500)))
                     for t, v in zip(chosen.tolist(), values))

    return report_lib.SlotPreference(slot=slot, raises=entries(ids[:SLOT_TOP_N], scores[:SLOT_TOP_N]),
                                     lowers=entries(ids[SLOT_TOP_N:], -scores[SLOT_TOP_N:]))


def _contexts(rng, filters, length: int, vocabulary) -> dict[int, report_lib.Context]:
    """Each window's example: random tokens, the window's own where its span lies, padding at the end."""
    contexts = {}
    for f in filters:
        for w in f.windows + f.inhibiting:
            ids = np.minimum(rng.zipf(1.3, size=length), len(vocabulary) - 1)
            ids[int(rng.integers(length // 2, length + 1)):] = 0
            for slot, token_id in zip(range(w.span_start, w.span_start + len(w.token_ids)), w.token_ids):
                if 0 <= slot < length:
                    ids[slot] = max(token_id, 0)
            ids = ids.tolist()
            contexts[w.example] = report_lib.Context(
                example=w.example, token_ids=tuple(ids),
                tokens=tuple(report_lib.PAD_TOKEN if t == 0 else str(vocabulary[t]) for t in ids),
                padding=tuple(t == 0 for t in ids))
    return contexts
