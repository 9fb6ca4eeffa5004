"""The routes' JSON, declared once: the mapper from payloads to the objects of http_api.md.

Every object a route sends is a `Shape`: its keys in order, each with its JSON
type and where its value comes from. A key naming a proto `field` is copied
from the message as is; the others are derived by the functions below (token
references, availability, version handling come from `format/payload.py`,
shared with `format/report.py`). Routes, queries and the store build their
answers only through these shapes, so no key is spelled anywhere else on the
Python side; `schema_docs.py` renders http_api.md's field tables and api.js's
FLOAT_FIELDS from them, and tests/plugin/test_schema.py fails when either drifts.
"""

from __future__ import annotations

import dataclasses
import keyword
from typing import Any, Callable, Union

from tb_filters.format import payload
from tb_filters.format import report as report_lib
from tb_filters.format.payload import CorruptReport as CorruptReport
from tb_filters.format.payload import TokenTable
from tb_filters.format.proto import filters_pb2

# JSON types of a key's value.
FLOAT, INT, STR, BOOL = "float", "integer", "string", "boolean"


@dataclasses.dataclass(frozen=True)
class ListOf:
    item: Kind
    nullable_items: bool = False


@dataclasses.dataclass(frozen=True)
class Key:
    name: str
    kind: Kind
    # Where the value comes from, for http_api.md; a `field` key says it by itself.
    source: str = ""
    # A field of the shape's proto message, copied as is (repeated: as a list; a message: its shape).
    field: str | None = None
    nullable: bool = False


class Shape:
    """One JSON object of the routes: `make` builds it, its keys in the declared order.

    `make(message, **derived)` takes `message`'s fields for the `field` keys and
    a keyword argument for every other key (missing or unknown ones are a
    TypeError). Like a dataclass's `__init__`, it is generated from the keys:
    it runs per window of every page, as fast as a dict literal.
    """

    def __init__(self, name: str, keys: tuple[Key, ...], message: str | None = None):
        self.name, self.keys, self.message = name, keys, message
        if len({k.name for k in keys}) != len(keys):
            raise ValueError(f"Expected each key of the {name} object once. Received: {[k.name for k in keys]}")
        self.make = _compile_make(self)

    def absent(self, **given: Any) -> dict[str, Any]:
        """The object with every key null but those given (a compare column without its run)."""
        obj = {k.name: given.pop(k.name, None) for k in self.keys}
        if given:
            raise TypeError(f"the {self.name} object has no key {sorted(given)}")
        return obj

    def __repr__(self) -> str:
        return f"Shape({self.name!r})"


def _compile_make(shape: Shape) -> Callable[..., dict[str, Any]]:
    derived, items, namespace = [], [], {"_list": list}
    for i, key in enumerate(shape.keys):
        names = (key.name, key.field or "field")
        if not all(n.isidentifier() and not keyword.iskeyword(n) and n[0] != "_" and n != "message" for n in names):
            raise ValueError(f"Expected snake_case keys and fields. Received: {key.name!r} of {shape.name}")
        if key.field is None:
            derived.append(key.name)
            value = key.name
        elif isinstance(key.kind, Shape):
            namespace[f"_nested{i}"] = key.kind.make
            value = f"_nested{i}(message.{key.field})"
        elif isinstance(key.kind, ListOf):
            value = f"_list(message.{key.field})"
        else:
            value = f"message.{key.field}"
        items.append(f"{key.name!r}: {value}")
    keywords = ", *, " + ", ".join(derived) if derived else ""
    source = f"def make(message=None, /{keywords}):\n    return {{{', '.join(items)}}}\n"
    exec(source, namespace)  # noqa: S102 - source built above from the declared identifiers only
    make = namespace["make"]
    make.__qualname__ = f"the {shape.name} object's make"
    return make


Kind = Union[str, ListOf, Shape]


def _fields(kinds: dict[str, Kind]) -> tuple[Key, ...]:
    """Keys copied from the shape's proto message's fields of the same names."""
    return tuple(Key(name, kind, field=name) for name, kind in kinds.items())


def _run_layer_step(step_nullable: bool = False) -> tuple[Key, ...]:
    return (Key("run", STR, "the run (a TensorBoard run directory)"),
            Key("layer", STR, "the layer (the tag: the Conv1D layer's name)"),
            Key("step", INT, "the step of the report", nullable=step_nullable))


# The payload's objects ------------------------------------------------------------------------------

GEOMETRY = Shape("geometry", _fields({
    "num_filters": INT, "kernel_size": INT, "stride": INT, "dilation": INT, "padding": STR,
    "activation": STR, "input_length": INT, "output_length": INT, "span_width": INT, "span_stride": INT,
    "span_offset": INT, "path": ListOf(STR)}), message="LayerGeometry")

DETECTS = Shape("detects", (
    *(Key(feature, STR, f"`LayerReport.{feature}_availability`: \"computed\", \"not defined\", "
                        "\"turned off\" or \"not in this report\"") for feature in payload.DETECTS_FEATURES),
    *_fields({"slot_top_n": INT, "slot_min_count": INT, "pattern_share": FLOAT}),
), message="LayerReport")


def _layer_facts(nullable: bool = False) -> tuple[Key, ...]:
    """What a layer report says about itself, shared by `runs`, `filters` and `compare`."""
    keys = (*_fields({"top_k": INT, "distinct": BOOL, "num_examples": INT,
                                     "has_contributions": BOOL}),
            Key("geometry", GEOMETRY, field="geometry"),
            Key("detects", DETECTS, "which of what a filter detects the report holds, and its settings"))
    return tuple(dataclasses.replace(k, nullable=nullable) for k in keys)


STATS = Shape("stats", _fields({
    "max": FLOAT, "min": FLOAT, "mean": FLOAT, "positive_fraction": FLOAT, "positions": INT,
    "histogram": ListOf(INT)}), message="Stats")

WINDOW = Shape("window", (
    *_fields({"activation": FLOAT, "example": INT, "position": INT}),
    Key("span_start", INT, "`Window.span_start`; version 3 when unset: `position * span_stride + span_offset`"),
    Key("tokens", ListOf(STR), "`Window.token_refs` in `LayerReport.token_table`; version 3 when empty: "
                               "`token_ids` through `LayerReport.context_vocab_*`"),
    Key("token_ids", ListOf(INT), "`Window.token_ids`; version 3 when empty: its example's context at the span "
                                  "(-1 outside the sequence)"),
    Key("padding", ListOf(BOOL), "`Window.padding`; version 3 when empty: token id -1 or `LayerReport.padding_id`"),
    Key("contributions", ListOf(FLOAT), "`Window.contributions` (version 3: `contributions_f16`, float16); null "
                                        "unless `has_contributions`", nullable=True),
    Key("count", INT, field="count"),
    Key("originals", ListOf(STR), "`Window.original_refs` in `LayerReport.token_table`; null when empty",
        nullable=True),
), message="Window")

SCORE = Shape("token score", (
    Key("token", STR, "`TokenScore.token_ref` in `LayerReport.token_table`"),
    *_fields({"id": INT, "score": FLOAT, "occurrences": INT}),
), message="TokenScore")

SLOT = Shape("slot preference", (
    Key("slot", INT, field="slot"),
    Key("raises", ListOf(SCORE), "`SlotPreference.raises`"),
    Key("lowers", ListOf(SCORE), "`SlotPreference.lowers`"),
), message="SlotPreference")

_PATTERN_KEYS = (
    Key("tokens", ListOf(STR, nullable_items=True),
        "its token per slot, null for a wildcard: `Pattern.token_refs` where `Pattern.in_pattern` (versions "
        "1-2), else its `token_ids` at its `slots`, from version 5 where unset its first window's ids there"),
    Key("activation", FLOAT, "`Pattern.activation`; from version 5, where unset, its first window's"),
    *_fields({"windows": ListOf(INT), "count": INT}),
)
PATTERN = Shape("pattern", _PATTERN_KEYS, message="Pattern")

INTERVAL = Shape("interval", (
    *_fields({"low": FLOAT, "high": FLOAT, "count": INT}),
    Key("share", FLOAT, "`count` / `stats.positions`: the interval's share of all positions"),
    Key("windows", ListOf(WINDOW), "`Interval.windows`: sampled uniformly, ascending by the hash of (example, "
                                   "position)"),
), message="Interval")

# The filter's parts a closed card does not show: a `parts=card` page leaves them null, and the
# `details` route sends them per filter when a card's section is opened.
ON_DEMAND = ("slot_preferences", "inhibiting", "intervals")
_LEFT_OUT = "; null unless computed, or left out of a `parts=card` page (see its `on_demand`)"

FILTER = Shape("filter", (
    Key("summary", STR, "one line from the slot preferences, else the best pattern, else the best window"),
    Key("slot_preferences", ListOf(SLOT), "`FilterReport.slot_preferences`" + _LEFT_OUT, nullable=True),
    Key("num_patterns", INT, "how many `FilterReport.patterns`; null unless computed", nullable=True),
    Key("patterns", ListOf(PATTERN), "`FilterReport.patterns` (up to `windows_limit`); null unless computed",
        nullable=True),
    Key("num_inhibiting", INT, "how many `FilterReport.inhibiting`; null unless computed", nullable=True),
    Key("inhibiting", ListOf(WINDOW), "`FilterReport.inhibiting` (up to `windows_limit`)" + _LEFT_OUT,
        nullable=True),
    Key("num_intervals", INT, "how many `FilterReport.intervals`; null unless computed", nullable=True),
    Key("intervals", ListOf(INTERVAL), "`FilterReport.intervals`: one per positive histogram bucket holding some "
                                       "position, ascending" + _LEFT_OUT, nullable=True),
    Key("active_examples", INT, "`FilterReport.active_examples`: examples on which it is > 0 somewhere; null when "
                                "not in the report", nullable=True),
    *_fields({"index": INT, "bias": FLOAT}),
    Key("stats", STATS, field="stats"),
    Key("num_windows", INT, "how many `FilterReport.windows`"),
    Key("windows", ListOf(WINDOW), "`FilterReport.windows` (up to `windows_limit`)"),
), message="FilterReport")


# The routes' answers --------------------------------------------------------------------------------

SKIPPED = Shape("skipped", (
    *_run_layer_step(step_nullable=True),
    Key("reason", STR, "why it could not be read; `step` null: the whole layer"),
))

LAYER_SUMMARY = Shape("runs layer", (
    Key("layer", STR, "the layer (the tag)"),
    Key("steps", ListOf(INT), "the readable steps, ascending"),
    Key("wall_times", ListOf(FLOAT), "per step, when it was written"),
    Key("latest_step", INT, "the last of `steps`"),
    Key("num_filters", INT, "how many `LayerReport.filters` at the latest step"),
    *_layer_facts(),
    Key("max_step", INT, "the largest step TensorBoard saw, kept or not"),
    Key("samples_kept", INT, "the most steps the tab can see (`--samples_per_plugin`); null: all",
        nullable=True),
    Key("sampled", BOOL, "`samples_kept` or more steps, and fewer than `max_step + 1`: some may be dropped"),
), message="LayerReport")

RUN = Shape("run", (
    Key("run", STR, "the run"),
    Key("layers", ListOf(LAYER_SUMMARY), "its layers by name"),
))

RUNS = Shape("runs", (
    Key("runs", ListOf(RUN), "runs with readable data, by name"),
    Key("skipped", ListOf(SKIPPED), "what could not be read"),
))

FILTERS_PAGE = Shape("filters", (
    *_run_layer_step(),
    Key("wall_time", FLOAT, "when the step was written"),
    *_layer_facts(),
    Key("histogram_edges", ListOf(FLOAT), field="histogram_edges"),
    Key("num_filters", INT, "how many `LayerReport.filters` (for the pager)"),
    Key("offset", INT, "as asked"),
    Key("limit", INT, "as asked"),
    Key("on_demand", ListOf(STR), "the computed filter keys this page left null (`parts=card`), for the "
                                  "`details` route; [] with `parts=all`"),
    Key("filters", ListOf(FILTER), "the page's filters, in filter-index order (or as `index` asked)"),
), message="LayerReport")

DETAILS = Shape("details", (
    *_run_layer_step(),
    Key("filter", INT, "as asked"),
    Key("slot_preferences", ListOf(SLOT), "as in the filter object (all of them); null unless computed",
        nullable=True),
    Key("inhibiting", ListOf(WINDOW), "as in the filter object (all of them); null unless computed",
        nullable=True),
    Key("intervals", ListOf(INTERVAL), "as in the filter object; null unless computed", nullable=True),
))

OVERVIEW = Shape("overview", (
    *_run_layer_step(),
    Key("wall_time", FLOAT, "when the step was written"),
    Key("num_filters", INT, "how many `LayerReport.filters`"),
    Key("outputs", ListOf(STR), "`LayerReport.output_names`"),
    Key("sample_examples", INT, field="sample_examples"),
    Key("effects_note", STR, field="effects_note"),
    Key("duplicate_threshold", FLOAT, "`LayerReport.duplicate_threshold`; null when unset", nullable=True),
    Key("index", ListOf(INT), "per filter, `FilterReport.index`"),
    Key("effect_mean", ListOf(ListOf(FLOAT)), "per output, per filter: `FilterReport.effect_mean`"),
    Key("effect_mean_abs", ListOf(ListOf(FLOAT)), "per output, per filter: `FilterReport.effect_mean_abs`"),
    Key("dead", ListOf(BOOL), "per filter, `FilterReport.dead`; null when no filter says", nullable=True),
    Key("duplicate_of", ListOf(INT, nullable_items=True), "per filter, `FilterReport.duplicate_of` or null"),
    Key("max", ListOf(FLOAT), "per filter, `Stats.max`"),
    Key("positive_fraction", ListOf(FLOAT), "per filter, `Stats.positive_fraction`"),
), message="LayerReport")

HISTORY_STEP = Shape("filter step", (
    Key("step", INT, "a step holding the filter"),
    Key("wall_time", FLOAT, "when the step was written"),
    Key("filter", FILTER, "the filter at that step"),
))

FILTER_HISTORY = Shape("filter history", (
    Key("run", STR, "as asked"),
    Key("layer", STR, "as asked"),
    Key("filter", INT, "as asked"),
    Key("histogram_edges", ListOf(FLOAT), "`LayerReport.histogram_edges` of the latest step"),
    Key("steps", ListOf(HISTORY_STEP), "ascending"),
))

COMPARE_COLUMN = Shape("compare column", (
    Key("run", STR, "as asked"),
    Key("step", INT, "the step used: the one asked, else the run's latest", nullable=True),
    Key("step_matches", BOOL, "whether `step` is the requested step"),
    Key("wall_time", FLOAT, "when the step was written", nullable=True),
    *_layer_facts(nullable=True),
    Key("filter", FILTER, "the filter; null when the run lacks it", nullable=True),
    Key("error", STR, "why the run has no column; null when it has", nullable=True),
), message="LayerReport")

COMPARE = Shape("compare", (
    Key("layer", STR, "as asked"),
    Key("filter", INT, "as asked"),
    Key("requested_step", INT, "`step` as asked; null when not given", nullable=True),
    Key("histogram_edges", ListOf(FLOAT), "`LayerReport.histogram_edges` of the first column found"),
    Key("columns", ListOf(COMPARE_COLUMN), "one per requested run, in the order asked"),
))

SEARCH_HIT = Shape("search result", (
    *_run_layer_step(),
    Key("filter", INT, "the filter's index"),
    Key("rank", INT, "the index of its best window holding the token"),
    Key("activation", FLOAT, "that window's `Window.activation`"),
    Key("matches", INT, "how many of its windows hold the token"),
    Key("tokens", ListOf(STR), "that window's tokens"),
    Key("count", INT, "that window's `Window.count`"),
))

WANTS_HIT = Shape("wants result", (
    *_run_layer_step(),
    Key("filter", INT, "the filter's index"),
    Key("slot", INT, "its slot whose raises score the token highest"),
    Key("rank", INT, "the token's rank among that slot's raises"),
    Key("score", FLOAT, "`TokenScore.score` there"),
    Key("token", STR, "the token"),
))

PATTERN_HIT = Shape("pattern result", (
    *_run_layer_step(),
    Key("filter", INT, "the filter's index"),
    *_PATTERN_KEYS,
), message="Pattern")

SEARCH = Shape("search", (
    Key("token", STR, "as asked"),
    Key("mode", STR, "as asked"),
    Key("results", ListOf(SEARCH_HIT), "filters whose windows hold the token"),
    Key("truncated", BOOL, "more than `limit` matched in a list"),
    Key("wants", ListOf(WANTS_HIT), "filters whose slot preferences raise on the token"),
    Key("patterns", ListOf(PATTERN_HIT), "filters with a pattern holding the token"),
))

CONTEXT = Shape("context", (
    *_run_layer_step(),
    Key("example", INT, "`Context.example`"),
    Key("tokens", ListOf(STR), "`Context.token_ids` through `LayerReport.context_vocab_*`"),
    Key("token_ids", ListOf(INT), "`Context.token_ids`"),
    Key("padding", ListOf(BOOL), "per token: id -1 or `LayerReport.padding_id`"),
), message="Context")

MATCH_ENTRY = Shape("match entry", (
    Key("filter", INT, "a filter of `run` (`FilterReport.index`)"),
    Key("best", INT, "the filter of `other_run` its signature correlates with most"),
    Key("best_correlation", FLOAT, "that Pearson correlation of signatures"),
    Key("one_to_one", INT, "its filter of `other_run` in the one-to-one assignment; null when `other_run` has "
        "fewer filters and it got none", nullable=True),
    Key("one_to_one_correlation", FLOAT, "that correlation; null with `one_to_one`", nullable=True),
    Key("shared", BOOL, "`best_correlation` is above `threshold`"),
))

MATCH = Shape("match", (
    Key("run", STR, "the first `run` asked"),
    Key("other_run", STR, "the second `run` asked"),
    Key("layer", STR, "as asked"),
    Key("step", INT, "`run`'s step: `step` as asked, else its latest"),
    Key("other_step", INT, "`other_run`'s step: `other_step` as asked, else its latest"),
    Key("comparable", BOOL, "both steps hold signatures on the same probe (and not too many filters)"),
    Key("note", STR, "why not comparable: \"different probes: ...\", \"no signatures in ...\"; \"\" when comparable"),
    Key("probe_examples", INT, "`LayerReport.probe_examples` of both; null when not comparable", nullable=True),
    Key("cka", FLOAT, "linear CKA of the two signature matrices; null when not comparable", nullable=True),
    Key("threshold", FLOAT, "the null's threshold a best correlation must beat to be shared; null when not "
        "comparable", nullable=True),
    Key("shared", INT, "how many filters of `run` are shared; null when not comparable", nullable=True),
    Key("filters", INT, "how many filters `run`'s layer has"),
    Key("other_filters", INT, "how many filters `other_run`'s layer has"),
    Key("matches", ListOf(MATCH_ENTRY), "one per filter of `run`, in its report's order; empty when not comparable"),
))

DYNAMICS_FILTER = Shape("dynamics filter", (
    Key("filter", INT, "a filter of the latest step (`FilterReport.index`)"),
    Key("correlation", ListOf(FLOAT, nullable_items=True),
        "per step: its signature's correlation with its signature at `latest`; null without signatures there"),
    Key("jaccard", ListOf(FLOAT, nullable_items=True),
        "per step: Jaccard index of its distinct top windows (token ids) and those at `latest`; null when "
        "neither has windows or the step lacks the filter"),
    Key("settled_step", INT, "the first step from which both stay at or above their thresholds through `latest`; "
        "null when none before `latest`", nullable=True),
))

DYNAMICS = Shape("dynamics", (
    Key("run", STR, "as asked"),
    Key("layer", STR, "as asked"),
    Key("steps", ListOf(INT), "the readable steps, ascending"),
    Key("latest", INT, "the last of `steps`"),
    Key("correlation_threshold", FLOAT, "what `correlation` must stay at or above to settle (0.9)"),
    Key("jaccard_threshold", FLOAT, "what `jaccard` must stay at or above to settle (0.5)"),
    Key("note", STR, "what is missing, e.g. steps without signatures; \"\" when nothing is"),
    Key("filters", ListOf(DYNAMICS_FILTER), "one per filter of the latest step, in its report's order"),
))

# Each route's answer, in http_api.md's order.
ROUTES = {"runs": RUNS, "filters": FILTERS_PAGE, "details": DETAILS, "overview": OVERVIEW, "filter": FILTER_HISTORY,
          "compare": COMPARE, "search": SEARCH, "context": CONTEXT, "match": MATCH, "dynamics": DYNAMICS}


# Derivations ---------------------------------------------------------------------------------------

def layer_facts(pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """The derived layer facts, given to a shape built from `pb` (`FILTERS_PAGE.make(pb, **...)`)."""
    return {"detects": DETECTS.make(pb, **payload.availability(pb))}


def layer_summary(layer: str, steps: list[int], wall_times: list[float],
                  latest_step: int, pb: filters_pb2.LayerReport,
                  max_step: int, samples_kept: int | None) -> dict[str, Any]:
    """One layer of the `runs` answer."""
    return LAYER_SUMMARY.make(
        pb, layer=layer, steps=steps, wall_times=wall_times, latest_step=latest_step,
        num_filters=len(pb.filters), **layer_facts(pb), max_step=max_step, samples_kept=samples_kept,
        # As many steps as TensorBoard keeps, and fewer than steps 0..max_step: some may have been dropped.
        sampled=samples_kept is not None and samples_kept <= len(steps) < max_step + 1,
    )


def filter_object(f: filters_pb2.FilterReport, table: TokenTable, span_width: int,
                  has_contributions: bool, windows_limit: int | None,
                  computed: dict[str, bool], card: bool = False) -> dict[str, Any]:
    """The filter object (`card`: without the ON_DEMAND parts); raises CorruptReport on inconsistent windows."""
    windows, patterns = f.windows, f.patterns
    if windows_limit is not None:
        windows, patterns = windows[:windows_limit], patterns[:windows_limit]
    index = f.index
    # The windows first: a window that contradicts its span is the error to report.
    window_objects = [_window_object(index, rank, w, table, span_width, has_contributions)
                      for rank, w in enumerate(windows)]
    parts = dict.fromkeys(ON_DEMAND) if card else details_parts(
        f, table, span_width, has_contributions, computed, windows_limit)
    # A pattern's ids may derive from its first window's (version 5): most are among those shown above.
    shown_ids = [w["token_ids"] for w in window_objects]
    pattern_tokens = [table.pattern_tokens(p, f.windows, known_ids=shown_ids) for p in patterns]
    # The summary reads the best pattern and window, shown above already: their tokens derive once.
    best_pattern = pattern_tokens[0] if pattern_tokens else \
        table.pattern_tokens(f.patterns[0], f.windows, known_ids=shown_ids) if f.patterns else None
    best_window = window_objects[0]["tokens"] if window_objects else table.window_tokens(f.windows[0]) if f.windows else None
    return FILTER.make(
        f,
        summary=_summary(f, table, best_pattern, best_window),
        num_patterns=len(f.patterns) if computed["patterns"] else None,
        patterns=[PATTERN.make(p, tokens=tokens, activation=table.pattern_activation(p, f.windows))
                  for p, tokens in zip(patterns, pattern_tokens)]
        if computed["patterns"] else None,
        num_inhibiting=len(f.inhibiting) if computed["inhibiting"] else None,
        num_intervals=len(f.intervals) if computed["intervals"] else None,
        **parts,
        active_examples=payload.optional(f, "active_examples"),
        num_windows=len(f.windows),
        windows=window_objects,
    )


def details_parts(f: filters_pb2.FilterReport, table: TokenTable, span_width: int, has_contributions: bool,
                  computed: dict[str, bool], windows_limit: int | None = None) -> dict[str, Any]:
    """The filter's ON_DEMAND keys: each null unless computed."""
    index, inhibiting = f.index, f.inhibiting
    if windows_limit is not None:
        inhibiting = inhibiting[:windows_limit]
    return {
        "slot_preferences": [_slot_object(slot, table) for slot in f.slot_preferences]
        if computed["slot_preferences"] else None,
        "inhibiting": [_window_object(index, rank, w, table, span_width, has_contributions)
                       for rank, w in enumerate(inhibiting)] if computed["inhibiting"] else None,
        "intervals": [_interval_object(index, i, f.stats.positions, table, span_width, has_contributions)
                      for i in f.intervals] if computed["intervals"] else None,
    }


def on_demand(computed: dict[str, bool], card: bool) -> list[str]:
    """The computed ON_DEMAND keys a page leaves null."""
    return [key for key in ON_DEMAND if card and computed[key]]


def _window_object(filter_index: int, rank: int, w: filters_pb2.Window, table: TokenTable,
                   span_width: int, has_contributions: bool) -> dict[str, Any]:
    try:
        fields = payload.window_fields(w, table, has_contributions, span_width)
    except CorruptReport:
        raise CorruptReport(
            f"window {rank} of filter {filter_index} does not match its span of {span_width} slots") from None
    return WINDOW.make(w, **fields)


def _interval_object(filter_index: int, interval: filters_pb2.Interval, positions: int, table: TokenTable,
                     span_width: int, has_contributions: bool) -> dict[str, Any]:
    return INTERVAL.make(interval, share=interval.count / max(1, positions), windows=[
        _window_object(filter_index, rank, w, table, span_width, has_contributions)
        for rank, w in enumerate(interval.windows)])


def _summary(f: filters_pb2.FilterReport, table: TokenTable, best_pattern: list | None,
             best_window: list | None) -> str:
    # The line names a slot's first few raises only: the rest are not read (nor wrapped, as a slice would).
    named = report_lib.SUMMARY_TOKENS
    slot_raises = []
    for slot in f.slot_preferences:
        raises = slot.raises
        slot_raises.append(table.tokens([raises[i].token_ref for i in range(min(named, len(raises)))]))
    return report_lib.summary_line(slot_raises, None if best_pattern is None else tuple(best_pattern),
                                   None if best_window is None else tuple(best_window))


def _slot_object(slot: filters_pb2.SlotPreference, table: TokenTable) -> dict[str, Any]:
    def scores(entries):
        return [SCORE.make(t, token=table.token(t.token_ref)) for t in entries]

    return SLOT.make(slot, raises=scores(slot.raises), lowers=scores(slot.lowers))


def overview_columns(pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """The `overview` answer's per-layer part (the keys from `outputs` on): one column per field,
    one entry per filter, in the report's filter order (`index` says which filter each entry is)."""
    filters = pb.filters
    effects = [payload.effects(f, pb) for f in filters]
    outputs = range(len(pb.output_names))
    return {
        "outputs": list(pb.output_names),
        "duplicate_threshold": payload.optional(pb, "duplicate_threshold"),
        "index": [f.index for f in filters],
        "effect_mean": [[e[o][1] for e in effects] for o in outputs],
        "effect_mean_abs": [[e[o][2] for e in effects] for o in outputs],
        "dead": [f.dead for f in filters] if any(f.HasField("dead") for f in filters) else None,
        "duplicate_of": [payload.duplicate(f)[0] for f in filters],
        "max": [f.stats.max for f in filters],
        "positive_fraction": [f.stats.positive_fraction for f in filters],
    }


def overview(run: str, layer: str, step: int, wall_time: float, pb: filters_pb2.LayerReport) -> dict[str, Any]:
    """The `overview` answer; CorruptReport when the effects do not match the outputs."""
    return OVERVIEW.make(pb, run=run, layer=layer, step=step, wall_time=wall_time, num_filters=len(pb.filters),
                         **overview_columns(pb))


def context_object(run: str, layer: str, step: int, pb: filters_pb2.LayerReport,
                   context: filters_pb2.Context, strings: dict[int, str]) -> dict[str, Any]:
    """One example, whole: the `context` route's answer."""
    ids = list(context.token_ids)
    if any(i not in strings for i in ids):
        raise CorruptReport(f"example {context.example} holds a token id missing from its vocabulary")
    return CONTEXT.make(run=run, layer=layer, step=step, example=context.example,
                        tokens=[strings[i] for i in ids], token_ids=ids,
                        padding=payload.context_padding(pb, ids))


def wants_hit(run: str, layer: str, step: int, filter_index: int, slot: int, rank: int,
              score: float, token: str) -> dict[str, Any]:
    """A filter whose slot preferences raise on the searched token."""
    return WANTS_HIT.make(run=run, layer=layer, step=step, filter=filter_index, slot=slot, rank=rank,
                          score=score, token=token)


def pattern_hit(run: str, layer: str, step: int, f: filters_pb2.FilterReport, p: filters_pb2.Pattern,
                table: TokenTable) -> dict[str, Any]:
    """A filter with a pattern holding the searched token."""
    return PATTERN_HIT.make(p, run=run, layer=layer, step=step, filter=f.index,
                            tokens=table.pattern_tokens(p, f.windows),
                            activation=table.pattern_activation(p, f.windows))


def skipped(run: str, layer: str, step: int | None, reason: str) -> dict[str, Any]:
    return SKIPPED.make(run=run, layer=layer, step=step, reason=reason)


def search(token: str, mode: str, results: list[dict[str, Any]], wants: list[dict[str, Any]],
           patterns: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The `search` answer: each list in its documented order, cut at `limit`."""
    results = sorted(results, key=lambda r: (r["rank"], -r["activation"], r["run"], r["layer"], r["filter"]))
    wants = sorted(wants, key=lambda r: (-r["score"], r["run"], r["layer"], r["filter"], r["slot"]))
    patterns = sorted(patterns, key=lambda r: (-r["count"], -r["activation"], r["run"], r["layer"], r["filter"]))
    return SEARCH.make(
        token=token,
        mode=mode,
        results=results[:limit],
        truncated=len(results) > limit or len(wants) > limit or len(patterns) > limit,
        wants=wants[:limit],
        patterns=patterns[:limit],
    )


def search_hit(run: str, layer: str, step: int, filter_index: int, rank: int, matches: int,
               window: filters_pb2.Window, table: TokenTable) -> dict[str, Any]:
    return SEARCH_HIT.make(run=run, layer=layer, step=step, filter=filter_index, rank=rank,
                           activation=window.activation, matches=matches,
                           tokens=table.window_tokens(window, blank_bad=True), count=window.count)


def match(run: str, other_run: str, layer: str, step: int, other_step: int, filters: int, other_filters: int,
          note: str, matched: Any = None, other_indices: list[int] | None = None) -> dict[str, Any]:
    """The `match` answer from a `compare.LayerMatch` (its `best` and `one_to_one` row positions of
    `other_run`'s report, `other_indices` their filter indices); not comparable when `matched` is None."""
    entries = [] if matched is None else [
        MATCH_ENTRY.make(filter=f.index, best=other_indices[f.best], best_correlation=f.best_correlation,
                         one_to_one=None if f.one_to_one is None else other_indices[f.one_to_one],
                         one_to_one_correlation=f.one_to_one_correlation, shared=f.shared)
        for f in matched.filters]
    return MATCH.make(run=run, other_run=other_run, layer=layer, step=step, other_step=other_step,
                      comparable=matched is not None, note=note,
                      probe_examples=None if matched is None else matched.probe_examples,
                      cka=None if matched is None else matched.cka,
                      threshold=None if matched is None else matched.threshold,
                      shared=None if matched is None else matched.shared_count,
                      filters=filters, other_filters=other_filters, matches=entries)


def dynamics(run: str, layer: str, result: Any) -> dict[str, Any]:
    """The `dynamics` answer from a `compare.LayerDynamics`."""
    return DYNAMICS.make(
        run=run, layer=layer, steps=list(result.steps), latest=result.latest,
        correlation_threshold=result.correlation_threshold, jaccard_threshold=result.jaccard_threshold,
        note=result.note,
        filters=[DYNAMICS_FILTER.make(filter=f.index, correlation=list(f.correlation), jaccard=list(f.jaccard),
                                      settled_step=f.settled_step) for f in result.filters])
