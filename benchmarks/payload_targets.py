"""T4's payload as the engine writes it: a 1,024-filter layer interpreted with
everything on, and what each part of its stored bytes costs.

The synthetic layer of plugin_targets.payload_rows is the worst case of one
part (every window from an example of its own); this one is what a user's run
writes, so the two together say what blocks issue 19's 8 MB.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from benchmarks import workload
from benchmarks.engine_targets import Workload
from benchmarks.table import Measurement

FILTERS = 1024
TOP_K = 100
EXAMPLES = 20_000
EFFECT_EXAMPLES = 2_000  # the effects do not enter the payload's size; fewer keep the part short
LAYER = workload.FIRST_CONV


def engine_payload_rows(w: Workload, filters: int = FILTERS, examples: int = EXAMPLES) -> list[Measurement]:
    """The stored size of conv_1's report at `filters` x top-100 on `examples` sequences, with slot
    preferences, patterns, inhibiting windows, contexts, interval samples and signatures, and its
    largest parts."""
    import tb_filters
    from tb_filters.format import report as report_lib

    n = min(examples, len(w.tokens))
    model = workload.build_model(vocab_size=w.sizes.data.vocab_size, length=w.sizes.data.length, filters=filters)
    report = tb_filters.interpret(
        model, np.asarray(w.tokens[:n]), [LAYER], w.vocab, inputs={"meta": workload.meta_features(n)},
        top_k=TOP_K, inhibiting=True, contexts=True, interval_samples=5, effect_examples=EFFECT_EXAMPLES,
        batch_size=w.sizes.batch_size)
    layer = report.layers[LAYER]
    pb = report_lib.to_proto(layer, deflated=False)
    stored = _deflated_size(pb)  # to_proto's stored form: this report deflated
    parts = _largest_parts(pb, stored)
    return [Measurement(
        "T4", f"payload of the engine's report, {filters:,} filters x top-{TOP_K} on {n:,} sequences, everything on "
        f"(probe {layer.probe_examples:,})", stored / 2**20, "MiB", limit=8,
        detail=f"{len(layer.examples or {}):,} contexts; deflated bytes each part takes (cleared and deflated "
        f"again): {', '.join(f'{name} {mib:.2f}' for name, mib in parts)} MiB")]


def _largest_parts(pb, whole: int) -> list[tuple[str, float]]:
    """MiB of the deflated report (`whole` bytes) each part accounts for, largest first."""
    cuts: dict[str, Callable] = {
        "signatures": lambda p: p.ClearField("signature_matrix"),
        "contexts": lambda p: p.ClearField("context_columns"),
        "token table": lambda p: (p.ClearField("token_table"), p.ClearField("context_vocab_ids"),
                                  p.ClearField("context_vocab_refs")),
        **{name: _per_filter(name) for name in ("windows", "inhibiting", "patterns", "slot_preferences", "intervals")},
    }
    sizes = []
    for name, cut in cuts.items():
        smaller = type(pb)()
        smaller.CopyFrom(pb)
        cut(smaller)
        sizes.append((name.replace("_", " "), (whole - _deflated_size(smaller)) / 2**20))
    return sorted(sizes, key=lambda s: -s[1])


def _per_filter(field: str) -> Callable:
    def cut(pb) -> None:
        for f in pb.filters:
            f.ClearField(field)
    return cut


def _deflated_size(pb) -> int:
    from tb_filters.format import payload

    return payload.deflate(pb).ByteSize()
