"""The Filters tab: a TensorBoard plugin serving `filters` reports.

Routes are HTTP glue: they parse and check parameters (params.py), call a
`*_impl` from queries.py and answer through `http_util.Respond`
(responses.py). The routes and their JSON are documented in http_api.md.
This package never imports TensorFlow or Keras, so TensorBoard starts as
fast as without it.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

from tensorboard import context as tb_context
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_filters.format import metadata
from tb_filters.plugin import params, queries
from tb_filters.plugin.jsontext import to_json
from tb_filters.plugin.responses import GzipCache, StaticFiles, WsgiApp
from tb_filters.plugin.store import DEFAULT_DOWNSAMPLE, ReportStore

UNLIMITED_DOWNSAMPLE = 2**31 - 1
DEFAULT_PAGE_SIZE = 64
MAX_PAGE_SIZE = 256
MAX_WINDOWS = 1000
DEFAULT_SEARCH_LIMIT = 100
MAX_SEARCH_LIMIT = 1000
MAX_COMPARE_RUNS = 64
MAX_TOKEN_CHARS = 200
# The module TensorBoard loads: index.js and every module it imports, in one file (bundle.py).
BUNDLE = "index.bundle.js"


class FiltersPlugin(base_plugin.TBPlugin):
    """Each Conv1D filter's top token windows, per run, layer and step."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._provider = context.data_provider
        downsample = downsample_from_hints(context.sampling_hints, self.plugin_name)
        self._store = ReportStore(self._provider, downsample=downsample,
                                  samples_kept=samples_kept(context.sampling_hints, self.plugin_name, downsample,
                                                            self._provider))
        self._gzip = GzipCache()
        self._static = StaticFiles(importlib.resources.files("tb_filters.frontend"),
                                   bundle_as=(BUNDLE, "index.js"))

    def _respond(self, request: wrappers.Request, result: dict[str, Any]) -> wrappers.Response:
        return self._gzip.respond(request, lambda: to_json(result))

    def get_plugin_apps(self) -> dict[str, WsgiApp]:
        return {
            "/runs": self._serve_runs,
            "/filters": self._serve_filters,
            "/details": self._serve_details,
            "/filter": self._serve_filter,
            "/overview": self._serve_overview,
            "/compare": self._serve_compare,
            "/search": self._serve_search,
            "/context": self._serve_context,
            "/match": self._serve_match,
            "/dynamics": self._serve_dynamics,
            **self._static.routes(),
        }

    def is_active(self) -> bool:
        if self._provider is None:
            return False
        listing = self._provider.list_tensors(
            tb_context.RequestContext(), experiment_id="", plugin_name=self.plugin_name)
        return any(listing.values())

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/" + BUNDLE, tab_name="Filters")

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        return self._respond(request, queries.runs_impl(self._store, *params.where(request)))

    @wrappers.Request.application
    def _serve_filters(self, request: wrappers.Request) -> wrappers.Response:
        page = queries.filters_impl(
            self._store, *params.where(request),
            **params.run_layer_step(request),
            offset=params.integer(request, "offset", 0, low=0),
            limit=params.integer(request, "limit", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE),
            windows_limit=params.integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS),
            indices=params.integers(request, "index", most=MAX_PAGE_SIZE, low=0),
            parts=params.choice(request, "parts", queries.PARTS))
        return self._gzip.respond(request, lambda: to_json(page), page.identity)

    @wrappers.Request.application
    def _serve_details(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.details_impl(
            self._store, *params.where(request),
            **params.run_layer_step(request),
            filter_index=params.required_integer(request, "filter", low=0))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_overview(self, request: wrappers.Request) -> wrappers.Response:
        page = queries.overview_impl(
            self._store, *params.where(request),
            **params.run_layer_step(request))
        return self._gzip.respond(request, lambda: to_json(page), page.identity)

    @wrappers.Request.application
    def _serve_filter(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.filter_impl(
            self._store, *params.where(request),
            run=params.text(request, "run"), layer=params.text(request, "layer"),
            filter_index=params.required_integer(request, "filter", low=0),
            windows_limit=params.integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_compare(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.compare_impl(
            self._store, *params.where(request),
            runs=params.texts(request, "run", required=True, most=MAX_COMPARE_RUNS),
            layer=params.text(request, "layer"),
            filter_index=params.required_integer(request, "filter", low=0),
            step=params.integer(request, "step", None),
            windows_limit=params.integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_context(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.context_impl(
            self._store, *params.where(request),
            **params.run_layer_step(request),
            example=params.required_integer(request, "example", low=0))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_match(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.match_impl(
            self._store, *params.where(request),
            runs=params.pair(request, "run"), layer=params.text(request, "layer"),
            step=params.integer(request, "step", None), other_step=params.integer(request, "other_step", None))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_dynamics(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.dynamics_impl(self._store, *params.where(request),
                                       run=params.text(request, "run"), layer=params.text(request, "layer"))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_search(self, request: wrappers.Request) -> wrappers.Response:
        result = queries.search_impl(
            self._store, *params.where(request),
            token=params.bounded_text(request, "token", MAX_TOKEN_CHARS),
            mode=params.choice(request, "mode", queries.SEARCH_MODES),
            runs=params.texts(request, "run", required=False, most=None),
            layer=params.text(request, "layer", required=False),
            step=params.integer(request, "step", None),
            limit=params.integer(request, "limit", DEFAULT_SEARCH_LIMIT, low=1, high=MAX_SEARCH_LIMIT))
        return self._respond(request, result)


def samples_kept(hints: dict[str, int] | None, plugin_name: str, downsample: int,
                 provider: Any = None) -> int | None:
    """Steps per layer the tab can see at most (None: all of them).

    TensorBoard keeps a reservoir of `--samples_per_plugin filters=N` steps per
    tag (all for N = 0). Without the flag, its Python loader keeps 10 (its
    default for tensors) and the Rust data server (`--load_fast`) keeps more
    than the store reads; the store reads at most `downsample` of them.
    """
    from tensorboard.backend.event_processing import data_ingester, data_provider, tag_types

    hints = hints or {}
    if plugin_name in hints:
        reservoir = hints[plugin_name]
    elif isinstance(provider, data_provider.MultiplexerDataProvider):
        reservoir = data_ingester.DEFAULT_SIZE_GUIDANCE[tag_types.TENSORS]
    else:
        reservoir = 0
    limits = [n for n in (reservoir, downsample) if 0 < n < UNLIMITED_DOWNSAMPLE]
    return min(limits) if limits else None


def downsample_from_hints(hints: dict[str, int] | None, plugin_name: str) -> int:
    """Steps to read per layer, from `--samples_per_plugin filters=N`.

    N = 0 asks TensorBoard's Python loader to keep every step, so it means
    "no limit" here too, not "read nothing".
    """
    samples = (hints or {}).get(plugin_name, DEFAULT_DOWNSAMPLE)
    return samples if samples > 0 else UNLIMITED_DOWNSAMPLE
