"""The JSON shape of every route (http_api.md), in one place.

Every key the tab reads is spelled here and nowhere else on the Python side:
routes, queries and tests build their answers through these functions.
Inputs are parsed payload protos; outputs are plain dicts and lists.
"""

from __future__ import annotations

from typing import Any

from tb_filters.format import report as report_lib
from tb_filters.format.proto import filters_pb2


class CorruptReport(ValueError):
    """A payload that parsed but contradicts itself; its step is then skipped."""


def geometry(g: filters_pb2.LayerGeometry) -> dict[str, Any]:
    return {
        "num_filters": g.num_filters, "kernel_size": g.kernel_size, "stride": g.stride,
        "dilation": g.dilation, "padding": g.padding, "activation": g.activation,
        "input_length": g.input_length, "output_length": g.output_length,
        "span_width": g.span_width, "span_stride": g.span_stride,
        "span_offset": g.span_offset, "path": list(g.path),
    }


def layer_facts(pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """What a layer report says about itself, shared by `runs`, `filters` and `compare`."""
    return {
        "top_k": pb.top_k,
        "distinct": pb.distinct,
        "num_examples": pb.num_examples,
        "has_contributions": pb.has_contributions,
        "geometry": geometry(pb.geometry),
        "detects": detects_facts(pb),
    }


def detects_facts(pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """Whether each of slot preferences, patterns, contexts and inhibiting windows is in the report
    ("computed", "not defined", "turned off", "not in this report"), and their settings."""
    return {
        **{feature: report_lib.availability_of(pb, feature) for feature in report_lib.DETECTS_FEATURES},
        "slot_top_n": pb.slot_top_n,
        "slot_min_count": pb.slot_min_count,
        "pattern_share": pb.pattern_share,
    }


MISSING_FACTS = {key: None for key in ("top_k", "distinct", "num_examples", "has_contributions", "geometry",
                                       "detects")}


def layer_summary(layer: str, steps: list[int], wall_times: list[float],
                  latest_step: int, pb: filters_pb2.LayerReport,
                  max_step: int, samples_kept: int | None) -> dict[str, Any]:
    """One layer of the `runs` answer."""
    return {
        "layer": layer,
        "steps": steps,
        "wall_times": wall_times,
        "latest_step": latest_step,
        "num_filters": len(pb.filters),
        **layer_facts(pb),
        "max_step": max_step,
        "samples_kept": samples_kept,
        # As many steps as TensorBoard keeps, and fewer than steps 0..max_step: some may have been dropped.
        "sampled": samples_kept is not None and samples_kept <= len(steps) < max_step + 1,
    }


def filter_object(f: filters_pb2.FilterReport, tokens: list[str], span_width: int,
                  has_contributions: bool, windows_limit: int | None,
                  detects: dict[str, str] | None = None) -> dict[str, Any]:
    """The filter object of http_api.md; raises CorruptReport on inconsistent windows."""
    windows = f.windows if windows_limit is None else f.windows[:windows_limit]
    inhibiting = f.inhibiting if windows_limit is None else f.inhibiting[:windows_limit]
    patterns = f.patterns if windows_limit is None else f.patterns[:windows_limit]
    s = f.stats
    computed = {feature: (detects or {}).get(feature) == report_lib.COMPUTED
                for feature in report_lib.DETECTS_FEATURES}
    # The windows first: a window that contradicts its span is the error to report.
    window_objects = [_window_object(f.index, rank, w, tokens, span_width, has_contributions)
                      for rank, w in enumerate(windows)]
    return {
        "summary": _summary(f, tokens),
        "slot_preferences": [_slot_object(slot, tokens) for slot in f.slot_preferences]
        if computed["slot_preferences"] else None,
        "num_patterns": len(f.patterns) if computed["patterns"] else None,
        "patterns": [_pattern_object(p, tokens) for p in patterns] if computed["patterns"] else None,
        "num_inhibiting": len(f.inhibiting) if computed["inhibiting"] else None,
        "inhibiting": [_window_object(f.index, rank, w, tokens, span_width, has_contributions)
                       for rank, w in enumerate(inhibiting)] if computed["inhibiting"] else None,
        "index": f.index,
        "bias": f.bias,
        "stats": {
            "max": s.max, "min": s.min, "mean": s.mean,
            "positive_fraction": s.positive_fraction, "positions": s.positions,
            "histogram": list(s.histogram),
        },
        "num_windows": len(f.windows),
        "windows": window_objects,
    }


def _window_object(filter_index: int, rank: int, w: filters_pb2.Window, tokens: list[str],
                   span_width: int, has_contributions: bool) -> dict[str, Any]:
    refs, ids, padding = list(w.token_refs), list(w.token_ids), list(w.padding)
    contributions = list(w.contributions) if has_contributions else None
    lengths = {len(refs), len(ids), len(padding), span_width}
    if contributions is not None:
        lengths.add(len(contributions))
    originals = list(w.original_refs)
    if originals:
        lengths.add(len(originals))
        refs_in_table = refs + originals
    else:
        refs_in_table = refs
    if len(lengths) != 1 or (refs_in_table and not 0 <= min(refs_in_table) <= max(refs_in_table) < len(tokens)):
        raise CorruptReport(
            f"window {rank} of filter {filter_index} does not match its span of {span_width} slots"
        )
    return {
        "activation": w.activation, "example": w.example, "position": w.position,
        "span_start": w.span_start, "tokens": [tokens[r] for r in refs], "token_ids": ids,
        "padding": padding, "contributions": contributions, "count": w.count,
        "originals": [tokens[r] for r in originals] if originals else None,
    }


def overview(pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """The `overview` answer's per-layer part: one column per field, one entry per filter,
    in the report's filter order (`index` says which filter each entry is)."""
    filters = pb.filters
    outputs = list(pb.output_names)
    means = [list(f.effect_mean) for f in filters]
    absolute = [list(f.effect_mean_abs) for f in filters]
    if any(len(m) != len(outputs) or len(a) != len(outputs) for m, a in zip(means, absolute)):
        raise CorruptReport("effects do not match the report's outputs")
    return {
        "outputs": outputs,
        "sample_examples": pb.sample_examples,
        "effects_note": pb.effects_note,
        "duplicate_threshold": pb.duplicate_threshold if pb.HasField("duplicate_threshold") else None,
        "index": [f.index for f in filters],
        "effect_mean": [[m[o] for m in means] for o in range(len(outputs))],
        "effect_mean_abs": [[a[o] for a in absolute] for o in range(len(outputs))],
        "dead": [f.dead for f in filters] if any(f.HasField("dead") for f in filters) else None,
        "duplicate_of": [f.duplicate_of if f.HasField("duplicate_of") else None for f in filters],
        "max": [f.stats.max for f in filters],
        "positive_fraction": [f.stats.positive_fraction for f in filters],
    }


def _token(tokens: list[str], ref: int) -> str:
    if not 0 <= ref < len(tokens):
        raise CorruptReport(f"token reference {ref} outside the token table of {len(tokens)}")
    return tokens[ref]


def _summary(f: filters_pb2.FilterReport, tokens: list[str]) -> str:
    slot_raises = [[_token(tokens, t.token_ref) for t in slot.raises] for slot in f.slot_preferences]
    pattern = f.patterns[0] if f.patterns else None
    best_pattern = None if pattern is None else tuple(
        _token(tokens, r) if inside else None for r, inside in zip(pattern.token_refs, pattern.in_pattern))
    best_window = tuple(_token(tokens, r) for r in f.windows[0].token_refs) if f.windows else None
    return report_lib.summary_line(slot_raises, best_pattern, best_window)


def _score_object(t: filters_pb2.TokenScore, tokens: list[str]) -> dict[str, Any]:
    return {"token": _token(tokens, t.token_ref), "id": t.id, "score": t.score, "occurrences": t.occurrences}


def _slot_object(slot: filters_pb2.SlotPreference, tokens: list[str]) -> dict[str, Any]:
    return {"slot": slot.slot, "raises": [_score_object(t, tokens) for t in slot.raises],
            "lowers": [_score_object(t, tokens) for t in slot.lowers]}


def _pattern_object(p: filters_pb2.Pattern, tokens: list[str]) -> dict[str, Any]:
    return {
        "tokens": [_token(tokens, r) if inside else None for r, inside in zip(p.token_refs, p.in_pattern)],
        "activation": p.activation, "windows": list(p.windows), "count": p.count,
    }


def context_object(run: str, layer: str, step: int, pb: filters_pb2.LayerReport,
                   context: filters_pb2.Context, strings: dict[int, str]) -> dict[str, Any]:
    """One example, whole: the `context` route's answer."""
    padding_id = pb.padding_id if pb.HasField("padding_id") else None
    ids = list(context.token_ids)
    if any(i not in strings for i in ids):
        raise CorruptReport(f"example {context.example} holds a token id missing from its vocabulary")
    return {
        "run": run, "layer": layer, "step": step, "example": context.example,
        "tokens": [strings[i] for i in ids], "token_ids": ids,
        "padding": [i < 0 or i == padding_id for i in ids],
    }


def wants_hit(run: str, layer: str, step: int, filter_index: int, slot: int, rank: int,
              score: float, token: str) -> dict[str, Any]:
    """A filter whose slot preferences raise on the searched token."""
    return {"run": run, "layer": layer, "step": step, "filter": filter_index, "slot": slot, "rank": rank,
            "score": score, "token": token}


def pattern_hit(run: str, layer: str, step: int, filter_index: int, p: filters_pb2.Pattern,
                tokens: list[str]) -> dict[str, Any]:
    """A filter with a pattern holding the searched token."""
    return {"run": run, "layer": layer, "step": step, "filter": filter_index, **_pattern_object(p, tokens)}


def skipped(run: str, layer: str, step: int | None, reason: str) -> dict[str, Any]:
    return {"run": run, "layer": layer, "step": step, "reason": reason}


def search_hit(run: str, layer: str, step: int, filter_index: int, rank: int, matches: int,
               window: filters_pb2.Window, tokens: list[str]) -> dict[str, Any]:
    return {
        "run": run,
        "layer": layer,
        "step": step,
        "filter": filter_index,
        "rank": rank,
        "activation": window.activation,
        "matches": matches,
        "tokens": [tokens[r] if 0 <= r < len(tokens) else "" for r in window.token_refs],
        "count": window.count,
    }
