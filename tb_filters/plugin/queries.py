"""The answer of each route of the Filters tab, as plain dicts (see http_api.md).

Each `*_impl` takes already-validated arguments; unknown runs, layers, steps
and filters raise `tensorboard.errors.NotFoundError`. Filter objects come as
`EncodedJson` text from the store's cache; `jsontext.to_json` splices them.
The routes call these same functions: there is one code path per route.
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

from tensorboard import errors as tb_errors

from tb_filters.plugin import views
from tb_filters.plugin.messages import quoted
from tb_filters.plugin.store import LayerStep, ReportStore, Series

SEARCH_MODES = ("exact", "substring")


def runs_impl(store: ReportStore, ctx, experiment: str) -> dict[str, Any]:
    layers_by_run: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    skipped: list[dict[str, Any]] = []
    for series in store.all_series(ctx, experiment):
        skipped.extend(s.to_dict() for s in series.skipped)
        latest = series.latest()
        if latest is not None:
            layers_by_run[series.run].append(_layer_summary(series, latest, store.samples_kept))
    return {
        "runs": [{"run": run, "layers": layers} for run, layers in sorted(layers_by_run.items())],
        "skipped": skipped,
    }


def _layer_summary(series: Series, latest: LayerStep, samples_kept: int | None) -> dict[str, Any]:
    return views.layer_summary(series.layer, list(series.steps),
                               [s.wall_time for s in series.steps.values()], latest.step, latest.proto,
                               max_step=series.max_step, samples_kept=samples_kept)


class Page(dict):
    """A `filters` answer, and `identity`: what identifies its text exactly
    (the report's serial changes whenever the step's data does), so a page
    served before can be answered from its compressed bytes."""

    identity: tuple


def filters_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                 step: int | None, offset: int, limit: int,
                 windows_limit: int | None, indices: Sequence[int] = ()) -> Page:
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    if indices:  # an order of the reader's (the tab's sorted cards): the filters this run has
        indices = [i for i in dict.fromkeys(indices) if i in layer_step.positions]
    else:
        indices = list(layer_step.positions)[offset:offset + limit]
    page = Page(
        run=layer_step.run,
        layer=layer_step.layer,
        step=layer_step.step,
        wall_time=layer_step.wall_time,
        **views.layer_facts(layer_step.proto),
        histogram_edges=layer_step.histogram_edges(),
        num_filters=layer_step.num_filters,
        offset=offset,
        limit=limit,
        filters=[store.filter_json(experiment, layer_step, i, windows_limit) for i in indices],
    )
    page.identity = ("filters", layer_step.serial, offset, limit, windows_limit, tuple(indices))
    return page


def overview_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                  step: int | None) -> Page:
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    try:
        columns = views.overview(layer_step.proto)
    except views.CorruptReport as e:
        raise tb_errors.NotFoundError(
            f"No readable overview of layer {quoted(layer)} of run {quoted(run)} at step {layer_step.step}: {e}"
        ) from None
    page = Page(run=layer_step.run, layer=layer_step.layer, step=layer_step.step,
                wall_time=layer_step.wall_time, num_filters=layer_step.num_filters, **columns)
    page.identity = ("overview", layer_step.serial)
    return page


def filter_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                filter_index: int, windows_limit: int | None) -> dict[str, Any]:
    series = store.series(ctx, experiment, run, layer)
    steps = []
    for layer_step in series.steps.values():
        if filter_index not in layer_step.positions:
            continue
        try:
            text = store.filter_json(experiment, layer_step, filter_index, windows_limit)
        except tb_errors.NotFoundError:
            continue  # a corrupt step: now listed in `runs.skipped`, the rest still shows
        steps.append({"step": layer_step.step, "wall_time": layer_step.wall_time, "filter": text})
    if not steps:
        raise _no_filter(series, filter_index)
    return {
        "run": run,
        "layer": layer,
        "filter": filter_index,
        "histogram_edges": series.latest().histogram_edges(),
        "steps": steps,
    }


def _no_filter(series: Series, filter_index: int) -> tb_errors.NotFoundError:
    latest = series.latest()
    count = latest.num_filters if latest is not None else 0
    valid = f"Filters: 0 to {count - 1}" if count else "It has no filters"
    return tb_errors.NotFoundError(
        f"No filter {filter_index} in layer {quoted(series.layer)} of run {quoted(series.run)}. "
        + valid)


def compare_impl(store: ReportStore, ctx, experiment: str, runs: Sequence[str], layer: str,
                 filter_index: int, step: int | None,
                 windows_limit: int | None) -> dict[str, Any]:
    columns = [_compare_column(store, ctx, experiment, run, layer, filter_index, step, windows_limit)
               for run in dict.fromkeys(runs)]
    found = [c for c in columns if c["error"] is None]
    if not found:
        raise tb_errors.NotFoundError(
            "No requested run has filter %d of layer %s: %s"
            % (filter_index, quoted(layer), "; ".join(c["error"] for c in columns[:10])))
    return {
        "layer": layer,
        "filter": filter_index,
        "requested_step": step,
        "histogram_edges": found[0].pop("_histogram_edges"),
        "columns": [{k: v for k, v in c.items() if k != "_histogram_edges"} for c in columns],
    }


def _compare_column(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                    filter_index: int, step: int | None,
                    windows_limit: int | None) -> dict[str, Any]:
    try:
        series = store.series(ctx, experiment, run, layer)
        layer_step = series.steps.get(step) if step is not None else None
        layer_step = layer_step or series.at(None)
        if filter_index not in layer_step.positions:
            raise _no_filter(series, filter_index)
        text = store.filter_json(experiment, layer_step, filter_index, windows_limit)
    except tb_errors.NotFoundError as e:
        return _error_column(run, str(e).removeprefix("Not found: "))
    return {
        "run": run,
        "step": layer_step.step,
        "step_matches": step is not None and layer_step.step == step,
        "wall_time": layer_step.wall_time,
        **views.layer_facts(layer_step.proto),
        "filter": text,
        "error": None,
        "_histogram_edges": layer_step.histogram_edges(),
    }


def _error_column(run: str, error: str) -> dict[str, Any]:
    return {
        "run": run, "step": None, "step_matches": False, "wall_time": None,
        **views.MISSING_FACTS, "filter": None, "error": error,
    }


def context_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                 step: int | None, example: int) -> dict[str, Any]:
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    try:
        found = layer_step.context(example)
    except views.CorruptReport as e:
        store.mark_corrupt(experiment, layer_step, f"report is inconsistent: {e}")
        raise tb_errors.NotFoundError(f"Example {example} could not be read: {e}") from None
    if found is None:
        kept = "keeps no examples (not in this report)" if not layer_step.proto.contexts else \
            "keeps only the examples of its windows"
        raise tb_errors.NotFoundError(
            f"No example {example} in step {layer_step.step} of layer {quoted(layer)} in run {quoted(run)}: "
            f"it {kept}")
    return found


def search_impl(store: ReportStore, ctx, experiment: str, token: str, mode: str,
                runs: Sequence[str] | None, layer: str | None, step: int | None,
                limit: int) -> dict[str, Any]:
    wanted_runs = set(runs) if runs else None
    results, wants, patterns = [], [], []
    for series in store.all_series(ctx, experiment):
        if (wanted_runs is not None and series.run not in wanted_runs) or (
                layer is not None and series.layer != layer):
            continue
        layer_step = series.steps.get(step) if step is not None else series.latest()
        if layer_step is not None:
            results.extend(_search_layer_step(layer_step, token, mode))
            wants.extend(_search_wants(layer_step, token, mode))
            patterns.extend(_search_patterns(layer_step, token, mode))
    results.sort(key=lambda r: (r["rank"], -r["activation"], r["run"], r["layer"], r["filter"]))
    wants.sort(key=lambda r: (-r["score"], r["run"], r["layer"], r["filter"], r["slot"]))
    patterns.sort(key=lambda r: (-r["count"], -r["activation"], r["run"], r["layer"], r["filter"]))
    return {
        "token": token,
        "mode": mode,
        "results": results[:limit],
        "truncated": len(results) > limit or len(wants) > limit or len(patterns) > limit,
        "wants": wants[:limit],
        "patterns": patterns[:limit],
    }


def _matching(index: dict[str, Any], token: str, mode: str) -> list[str]:
    if mode == "exact":
        return [token] if token in index else []
    needle = token.lower()
    return [t for t in index if needle in t.lower()]


def _search_wants(layer_step: LayerStep, token: str, mode: str) -> list[dict[str, Any]]:
    """Per filter, its best slot for the token: the slot and the token's score there."""
    wants, _ = layer_step.detects_hits()
    best: dict[int, dict[str, Any]] = {}
    for t in _matching(wants, token, mode):
        for filter_index, slot, rank, score in wants[t]:
            if filter_index not in best or score > best[filter_index]["score"]:
                best[filter_index] = views.wants_hit(layer_step.run, layer_step.layer, layer_step.step,
                                                     filter_index, slot, rank, score, t)
    return list(best.values())


def _search_patterns(layer_step: LayerStep, token: str, mode: str) -> list[dict[str, Any]]:
    """Per filter, its first pattern holding the token."""
    _, patterns = layer_step.detects_hits()
    first: dict[int, int] = {}
    for t in _matching(patterns, token, mode):
        for filter_index, rank in patterns[t]:
            first[filter_index] = min(rank, first.get(filter_index, rank))
    proto = layer_step.proto
    return [views.pattern_hit(layer_step.run, layer_step.layer, layer_step.step, filter_index,
                              proto.filters[layer_step.positions[filter_index]].patterns[rank], layer_step.tokens)
            for filter_index, rank in first.items()]


def _search_layer_step(layer_step: LayerStep, token: str, mode: str) -> list[dict[str, Any]]:
    hits = layer_step.token_hits()
    if mode == "exact":
        matching = [token] if token in hits else []
    else:
        needle = token.lower()
        matching = [t for t in hits if needle in t.lower()]
    ranks_by_filter: dict[int, set[int]] = collections.defaultdict(set)
    for t in matching:
        for filter_index, rank in hits[t]:
            ranks_by_filter[filter_index].add(rank)
    return [_search_result(layer_step, filter_index, ranks)
            for filter_index, ranks in ranks_by_filter.items()]


def _search_result(layer_step: LayerStep, filter_index: int, ranks: set[int]) -> dict[str, Any]:
    rank = min(ranks)
    window = layer_step.proto.filters[layer_step.positions[filter_index]].windows[rank]
    return views.search_hit(layer_step.run, layer_step.layer, layer_step.step, filter_index,
                            rank, len(ranks), window, layer_step.tokens)
