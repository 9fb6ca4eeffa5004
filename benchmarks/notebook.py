"""The original notebook's method, reimplemented faithfully as T1's baseline,
and the check that tb_filters gives the same answers.

The notebook, per filter: built a new sub-model from the model's inputs to the
conv layer's output, ran `predict` on every sequence (default batch size), took
that filter's slice of the whole activation matrix [N, L], argsorted all of it,
kept the 10 largest and spelled each window as the tokens at input positions
position-1 .. position+1 (the layer is fed by ZeroPadding1D(1), kernel 3).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

PAD = "<pad>"
NotebookJson = dict[str, list[dict]]


def _words(sequence: np.ndarray, position: int, vocab: Sequence[str]) -> str:
    slots = range(position - 1, position + 2)
    return " ".join(vocab[sequence[i]] if 0 <= i < len(sequence) else PAD for i in slots)


def top_windows(model, layer_name: str, tokens: np.ndarray, meta: np.ndarray,
                vocab: Sequence[str], top_k: int = 10,
                predict_batch_size: int | None = None) -> tuple[NotebookJson, np.ndarray]:
    """The notebook's export for one layer, and the last activation matrix it computed.

    `predict_batch_size=None` is Keras' default (32), what the notebook used.
    """
    import keras

    layer = model.get_layer(layer_name)
    export: NotebookJson = {}
    activations = None
    for f in range(layer.filters):
        sub_model = keras.Model(inputs=model.input, outputs=layer.output)
        activations = sub_model.predict([tokens, meta], batch_size=predict_batch_size, verbose=0)
        flat = activations[:, :, f].ravel()
        best = np.argsort(flat)[::-1][:top_k]
        examples, positions = np.unravel_index(best, activations.shape[:2])
        export[f"Filter_{f}"] = [
            {
                "activation": float(flat[i]),
                "tweet": int(e),
                "position": int(p),
                "words": _words(tokens[e], int(p), vocab),
            }
            for i, e, p in zip(best, examples, positions)
        ]
    return export, activations


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How the engine's raw top-k compares with the notebook's, per filter."""

    filters: int
    filters_agreeing: int
    max_activation_difference: float
    tied_pairs_differing: int  # pairs that differ only among equal activations
    problems: tuple[str, ...]

    @property
    def agrees(self) -> bool:
        return self.filters > 0 and not self.problems

    def summary(self) -> str:
        text = (f"{self.filters_agreeing}/{self.filters} filters agree, "
                f"max |activation difference| {self.max_activation_difference:.2g}, "
                f"{self.tied_pairs_differing} pairs differ only among ties")
        return text if self.agrees else text + "; first problem: " + self.problems[0]


def _filter_problems(name: str, ours: list[dict], theirs: list[dict], column: np.ndarray,
                     tolerance: float) -> tuple[list[str], float, int]:
    """Compares one filter. `column` is the notebook's full [N, L] activations of it."""
    if len(ours) != len(theirs):
        return [f"{name}: {len(ours)} windows, notebook has {len(theirs)}"], 0.0, 0
    ours_sorted = np.array(sorted((w["activation"] for w in ours), reverse=True))
    theirs_sorted = np.array([w["activation"] for w in theirs])
    difference = float(np.max(np.abs(ours_sorted - theirs_sorted), initial=0.0))
    problems = []
    if difference > tolerance:
        problems.append(f"{name}: activations differ by {difference:.3g}")
    for w in ours:
        actual = float(column[w["tweet"], w["position"]])
        if abs(actual - w["activation"]) > tolerance:
            problems.append(f"{name}: tweet {w['tweet']} position {w['position']} "
                            f"reported {w['activation']}, the layer gives {actual}")
    # Pairs may differ only where activations tie with the k-th best.
    kth = theirs_sorted[-1] if len(theirs_sorted) else 0.0
    clear = lambda windows: {(w["tweet"], w["position"], w["words"])  # noqa: E731
                             for w in windows if w["activation"] > kth + tolerance}
    if clear(ours) != clear(theirs):
        problems.append(f"{name}: different windows above the tie level {kth}")
    tied = len({(w["tweet"], w["position"]) for w in ours}
               ^ {(w["tweet"], w["position"]) for w in theirs}) // 2
    return problems, difference, tied


def compare(ours: NotebookJson, theirs: NotebookJson, activations: np.ndarray,
            tolerance: float = 1e-5) -> Agreement:
    """Same activations within `tolerance`, same (tweet, position, words) up to ties."""
    problems: list[str] = []
    agreeing, worst, tied = 0, 0.0, 0
    if set(ours) != set(theirs):
        problems.append(f"filters differ: {sorted(set(ours) ^ set(theirs))[:5]}")
    for name in sorted(set(ours) & set(theirs), key=lambda n: int(n.split("_")[1])):
        column = activations[:, :, int(name.split("_")[1])]
        found, difference, differing = _filter_problems(name, ours[name], theirs[name], column, tolerance)
        problems += found
        agreeing += not found
        worst, tied = max(worst, difference), tied + differing
    return Agreement(len(theirs), agreeing, worst, tied, tuple(problems))
