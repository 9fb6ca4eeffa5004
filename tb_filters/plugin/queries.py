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

from tb_filters.format import compare, payload
from tb_filters.plugin import views
from tb_filters.plugin.jsontext import EncodedJson
from tb_filters.plugin.messages import quoted
from tb_filters.plugin.store import LayerStep, ReportStore, Series

SEARCH_MODES = ("exact", "substring")
# What a `filters` page holds: everything, or what a closed card shows.
PARTS = ("all", "card")


def runs_impl(store: ReportStore, ctx, experiment: str) -> dict[str, Any]:
    layers_by_run: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    skipped: list[dict[str, Any]] = []
    for series in store.all_series(ctx, experiment):
        skipped.extend(s.to_dict() for s in series.skipped)
        latest = series.latest()
        if latest is not None:
            layers_by_run[series.run].append(_layer_summary(series, latest, store.samples_kept))
    return views.RUNS.make(
        runs=[views.RUN.make(run=run, layers=layers) for run, layers in sorted(layers_by_run.items())],
        skipped=skipped,
    )


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
                 windows_limit: int | None, indices: Sequence[int] = (), parts: str = "all") -> Page:
    """`parts`: "all", or "card" for what a closed card shows (the rest comes from `details`)."""
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    card = parts == "card"
    if indices:  # an order of the reader's (the tab's sorted cards): the filters this run has
        indices = [i for i in dict.fromkeys(indices) if i in layer_step.positions]
    else:
        indices = list(layer_step.positions)[offset:offset + limit]
    page = Page(views.FILTERS_PAGE.make(
        layer_step.proto,
        run=layer_step.run,
        layer=layer_step.layer,
        step=layer_step.step,
        wall_time=layer_step.wall_time,
        **views.layer_facts(layer_step.proto),
        num_filters=layer_step.num_filters,
        offset=offset,
        limit=limit,
        on_demand=views.on_demand(layer_step.computed, card),
        filters=store.filter_jsons(experiment, layer_step, indices, windows_limit, card),
    ))
    page.identity = ("filters", layer_step.serial, offset, limit, windows_limit, tuple(indices), card)
    return page


def details_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str, step: int | None,
                 filter_index: int) -> EncodedJson:
    series = store.series(ctx, experiment, run, layer)
    layer_step = series.at(step)
    if filter_index not in layer_step.positions:
        raise _no_filter(series, filter_index)
    return store.details_json(experiment, layer_step, filter_index)


def overview_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                  step: int | None) -> Page:
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    try:
        page = Page(views.overview(layer_step.run, layer_step.layer, layer_step.step, layer_step.wall_time,
                                   layer_step.proto))
    except views.CorruptReport as e:
        raise tb_errors.NotFoundError(
            f"No readable overview of layer {quoted(layer)} of run {quoted(run)} at step {layer_step.step}: {e}"
        ) from None
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
        steps.append(views.HISTORY_STEP.make(step=layer_step.step, wall_time=layer_step.wall_time, filter=text))
    if not steps:
        raise _no_filter(series, filter_index)
    return views.FILTER_HISTORY.make(run=run, layer=layer, filter=filter_index,
                                     histogram_edges=series.latest().histogram_edges(), steps=steps)


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
    columns, edges, errors = [], [], []
    for run in dict.fromkeys(runs):
        column, histogram_edges, error = _compare_column(store, ctx, experiment, run, layer, filter_index, step,
                                                         windows_limit)
        columns.append(column)
        edges += [histogram_edges] if error is None else []
        errors += [error] if error is not None else []
    if not edges:
        raise tb_errors.NotFoundError(
            "No requested run has filter %d of layer %s: %s"
            % (filter_index, quoted(layer), "; ".join(errors[:10])))
    return views.COMPARE.make(layer=layer, filter=filter_index, requested_step=step, histogram_edges=edges[0],
                              columns=columns)


def _compare_column(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                    filter_index: int, step: int | None,
                    windows_limit: int | None) -> tuple[dict[str, Any], list[float] | None, str | None]:
    """The run's column, its histogram edges and why it is empty (None when it is not)."""
    try:
        series = store.series(ctx, experiment, run, layer)
        layer_step = series.steps.get(step) if step is not None else None
        layer_step = layer_step or series.at(None)
        if filter_index not in layer_step.positions:
            raise _no_filter(series, filter_index)
        text = store.filter_json(experiment, layer_step, filter_index, windows_limit)
    except tb_errors.NotFoundError as e:
        error = str(e).removeprefix("Not found: ")
        return views.COMPARE_COLUMN.absent(run=run, step_matches=False, error=error), None, error
    column = views.COMPARE_COLUMN.make(
        layer_step.proto,
        run=run,
        step=layer_step.step,
        step_matches=step is not None and layer_step.step == step,
        wall_time=layer_step.wall_time,
        **views.layer_facts(layer_step.proto),
        filter=text,
        error=None,
    )
    return column, layer_step.histogram_edges(), None


def context_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str,
                 step: int | None, example: int) -> dict[str, Any]:
    layer_step = store.series(ctx, experiment, run, layer).at(step)
    try:
        found = layer_step.context(example)
    except views.CorruptReport as e:
        store.mark_corrupt(experiment, layer_step, f"report is inconsistent: {e}")
        raise tb_errors.NotFoundError(f"Example {example} could not be read: {e}") from None
    if found is None:
        kept = "keeps no examples (not in this report)" if not payload.has_contexts(layer_step.proto) else \
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
    return views.search(token, mode, results, wants, patterns, limit)


def _matching(index: dict[str, Any], token: str, mode: str) -> list[str]:
    if mode == "exact":
        return [token] if token in index else []
    needle = token.lower()
    return [t for t in index if needle in t.lower()]


def _search_wants(layer_step: LayerStep, token: str, mode: str) -> list[dict[str, Any]]:
    """Per filter, its best slot for the token: the slot and the token's score there."""
    wants, _ = layer_step.detects_hits()
    best: dict[int, tuple[float, int, int, str]] = {}
    for t in _matching(wants, token, mode):
        for filter_index, slot, rank, score in wants[t]:
            if filter_index not in best or score > best[filter_index][0]:
                best[filter_index] = (score, slot, rank, t)
    return [views.wants_hit(layer_step.run, layer_step.layer, layer_step.step, filter_index, slot, rank, score, t)
            for filter_index, (score, slot, rank, t) in best.items()]


def _search_patterns(layer_step: LayerStep, token: str, mode: str) -> list[dict[str, Any]]:
    """Per filter, its first pattern holding the token."""
    _, patterns = layer_step.detects_hits()
    first: dict[int, int] = {}
    for t in _matching(patterns, token, mode):
        for filter_index, rank in patterns[t]:
            first[filter_index] = min(rank, first.get(filter_index, rank))
    filters = [layer_step.proto.filters[layer_step.positions[filter_index]] for filter_index in first]
    return [views.pattern_hit(layer_step.run, layer_step.layer, layer_step.step, f, f.patterns[first[f.index]],
                              layer_step.table)
            for f in filters]


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
                            rank, len(ranks), window, layer_step.table)


# Matched filters and training dynamics (compare.py) ------------------------------------------------

# A 1024 x 1024 match with its null takes about a second; bigger layers are matched outside the tab.
MAX_MATCH_FILTERS = 1024
MAX_MATCH_PROBE = 16384


def match_impl(store: ReportStore, ctx, experiment: str, runs: Sequence[str], layer: str,
               step: int | None, other_step: int | None) -> dict[str, Any]:
    """Each filter of `runs[0]`'s layer matched with `runs[1]`'s (see compare.py)."""
    run, other_run = runs
    first = store.series(ctx, experiment, run, layer).at(step)
    second = store.series(ctx, experiment, other_run, layer).at(other_step)
    note = _match_note(store, experiment, first, second)

    def answer(matched=None) -> dict[str, Any]:
        return views.match(run, other_run, layer, first.step, second.step, first.num_filters, second.num_filters,
                           note, matched, second.filter_indices)

    if note:
        return answer()
    return store.computed(("match", first.serial, second.serial), lambda: answer(compare.match_arrays(
        first.step_data().signatures, second.step_data().signatures, first.filter_indices)),
        size=200 * first.num_filters)


def _match_note(store: ReportStore, experiment: str, first: LayerStep, second: LayerStep) -> str:
    """Why the two steps cannot be matched; "" when they can."""
    a, b = first.proto, second.proto
    note = compare.comparable(first.run, payload.availability_of(a, "signatures"), a.probe_examples,
                              a.probe_fingerprint, second.run, payload.availability_of(b, "signatures"),
                              b.probe_examples, b.probe_fingerprint)
    if note:
        return note
    if max(first.num_filters, second.num_filters) > MAX_MATCH_FILTERS or a.probe_examples > MAX_MATCH_PROBE:
        return (f"too big to match here: {first.num_filters} and {second.num_filters} filters on {a.probe_examples} "
                f"probe examples (at most {MAX_MATCH_FILTERS} filters and {MAX_MATCH_PROBE} examples); "
                "use tb_filters.match or tb-filters match")
    if a.probe_examples < 2 or not (first.num_filters and second.num_filters):
        return f"nothing to match: {first.num_filters} and {second.num_filters} filters on {a.probe_examples} " \
               "probe examples"
    for layer_step in (first, second):
        try:
            layer_step.step_data()
        except payload.CorruptReport as e:
            store.mark_corrupt(experiment, layer_step, f"report is inconsistent: {e}")
            return f"unreadable signatures in {layer_step.run} at step {layer_step.step}: {e}"
    return ""


def dynamics_impl(store: ReportStore, ctx, experiment: str, run: str, layer: str) -> dict[str, Any]:
    """Each filter of the layer's latest step, followed through the run's steps (see compare.py)."""
    series = store.series(ctx, experiment, run, layer)
    latest = series.at(None)
    if latest.num_filters > MAX_MATCH_FILTERS * 4:
        raise tb_errors.NotFoundError(f"Layer {quoted(layer)} of run {quoted(run)} has {latest.num_filters} filters: "
                                      f"more than the {MAX_MATCH_FILTERS * 4} the tab follows")
    layer_steps = list(series.steps.values())
    readable = []
    for layer_step in layer_steps:
        try:
            readable.append((layer_step, layer_step.step_data()))
        except payload.CorruptReport as e:
            store.mark_corrupt(experiment, layer_step, f"report is inconsistent: {e}")
    if not readable:
        raise tb_errors.NotFoundError(f"Layer {quoted(layer)} of run {quoted(run)} has no readable step")
    key = ("dynamics", tuple(s.serial for s, _ in readable))
    return store.computed(key, lambda: views.dynamics(run, layer, compare.dynamics_of([d for _, d in readable])),
                          size=100 * latest.num_filters * len(readable))
