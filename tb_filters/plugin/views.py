"""The JSON shape of every route (http_api.md), in one place.

Every key the tab reads is spelled here and nowhere else on the Python side:
routes, queries and tests build their answers through these functions.
Inputs are parsed payload protos; outputs are plain dicts and lists.
"""

from __future__ import annotations

from typing import Any

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
    }


MISSING_FACTS = {key: None for key in ("top_k", "distinct", "num_examples", "has_contributions", "geometry")}


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
                  has_contributions: bool, windows_limit: int | None) -> dict[str, Any]:
    """The filter object of http_api.md; raises CorruptReport on inconsistent windows."""
    windows = f.windows if windows_limit is None else f.windows[:windows_limit]
    s = f.stats
    return {
        "index": f.index,
        "bias": f.bias,
        "stats": {
            "max": s.max, "min": s.min, "mean": s.mean,
            "positive_fraction": s.positive_fraction, "positions": s.positions,
            "histogram": list(s.histogram),
        },
        "num_windows": len(f.windows),
        "windows": [_window_object(f.index, rank, w, tokens, span_width, has_contributions)
                    for rank, w in enumerate(windows)],
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
