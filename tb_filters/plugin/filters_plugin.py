"""The Filters tab: a TensorBoard plugin serving `filters` reports.

Routes are HTTP glue: they parse and check parameters, call a `*_impl` from
plugin_queries, and answer through `http_util.Respond`. The routes and their
JSON are documented in http_api.md. This module never imports TensorFlow or
Keras, so TensorBoard starts as fast as without it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import re
from typing import TYPE_CHECKING, Any, Callable, Hashable

from tensorboard import context as tb_context
from tensorboard import errors as tb_errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_filters.format import metadata

from tb_filters.plugin import queries as plugin_queries
from tb_filters.plugin.store import DEFAULT_DOWNSAMPLE, LruBytes, ReportStore, to_json

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; only annotations need it
    from importlib.resources.abc import Traversable

UNLIMITED_DOWNSAMPLE = 2**31 - 1
DEFAULT_PAGE_SIZE = 64
MAX_PAGE_SIZE = 256
MAX_WINDOWS = 1000
DEFAULT_SEARCH_LIMIT = 100
MAX_SEARCH_LIMIT = 1000
MAX_COMPARE_RUNS = 64
MAX_TOKEN_CHARS = 200
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_JSON = "application/json; charset=utf-8"
_ACCEPTS_GZIP = re.compile(r"\bgzip\b", re.IGNORECASE)

WsgiApp = Callable[..., Any]


class FiltersPlugin(base_plugin.TBPlugin):
    """Each Conv1D filter's top token windows, per run, layer and step."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._provider = context.data_provider
        self._store = ReportStore(self._provider, downsample=downsample_from_hints(
            context.sampling_hints, self.plugin_name))
        self._gzip = GzipCache()
        self._static = StaticFiles(importlib.resources.files("tb_filters.frontend"))

    def _respond(self, request: wrappers.Request, result: dict[str, Any]) -> wrappers.Response:
        return self._gzip.respond(request, lambda: to_json(result))

    def get_plugin_apps(self) -> dict[str, WsgiApp]:
        return {
            "/runs": self._serve_runs,
            "/filters": self._serve_filters,
            "/filter": self._serve_filter,
            "/compare": self._serve_compare,
            "/search": self._serve_search,
            **self._static.routes(),
        }

    def is_active(self) -> bool:
        if self._provider is None:
            return False
        listing = self._provider.list_tensors(
            tb_context.RequestContext(), experiment_id="", plugin_name=self.plugin_name)
        return any(listing.values())

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Filters")

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        return self._respond(request, plugin_queries.runs_impl(self._store, *_where(request)))

    @wrappers.Request.application
    def _serve_filters(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _where(request)
        run, layer = _text(request, "run"), _text(request, "layer")
        step = _integer(request, "step", None)
        offset = _integer(request, "offset", 0, low=0)
        limit = _integer(request, "limit", DEFAULT_PAGE_SIZE, low=1, high=MAX_PAGE_SIZE)
        windows_limit = _integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS)
        layer_step = self._store.series(ctx, experiment, run, layer).at(step)
        # The serial changes whenever the step's data does (a step written
        # again is a new report), so a page served before is answered from
        # its compressed bytes without building its 1.6 MB of JSON again.
        key = ("filters", layer_step.serial, offset, limit, windows_limit)
        return self._gzip.respond(request, lambda: to_json(plugin_queries.filters_page(
            self._store, experiment, layer_step, offset, limit, windows_limit)), key)

    @wrappers.Request.application
    def _serve_filter(self, request: wrappers.Request) -> wrappers.Response:
        result = plugin_queries.filter_impl(
            self._store, *_where(request),
            run=_text(request, "run"), layer=_text(request, "layer"),
            filter_index=_required_integer(request, "filter", low=0),
            windows_limit=_integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_compare(self, request: wrappers.Request) -> wrappers.Response:
        result = plugin_queries.compare_impl(
            self._store, *_where(request),
            runs=_texts(request, "run", required=True, most=MAX_COMPARE_RUNS),
            layer=_text(request, "layer"),
            filter_index=_required_integer(request, "filter", low=0),
            step=_integer(request, "step", None),
            windows_limit=_integer(request, "windows_limit", None, low=0, high=MAX_WINDOWS))
        return self._respond(request, result)

    @wrappers.Request.application
    def _serve_search(self, request: wrappers.Request) -> wrappers.Response:
        result = plugin_queries.search_impl(
            self._store, *_where(request),
            token=_token(request), mode=_mode(request),
            runs=_texts(request, "run", required=False, most=None),
            layer=_text(request, "layer", required=False),
            step=_integer(request, "step", None),
            limit=_integer(request, "limit", DEFAULT_SEARCH_LIMIT, low=1, high=MAX_SEARCH_LIMIT))
        return self._respond(request, result)


def downsample_from_hints(hints: dict[str, int] | None, plugin_name: str) -> int:
    """Steps to read per layer, from `--samples_per_plugin filters=N`.

    N = 0 asks TensorBoard's Python loader to keep every step, so it means
    "no limit" here too, not "read nothing".
    """
    samples = (hints or {}).get(plugin_name, DEFAULT_DOWNSAMPLE)
    return samples if samples > 0 else UNLIMITED_DOWNSAMPLE


def _where(request: wrappers.Request) -> tuple[tb_context.RequestContext, str]:
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


class GzipCache:
    """Big JSON answers, gzipped once per distinct answer.

    `http_util.Respond` gzips every answer for browsers; a page of a
    1024-filter top-100 layer (1.6 MB of JSON) takes ~45 ms to compress, more
    than the rest of the request. Pages are asked for again and again (paging
    back, another client), so the compressed bytes are kept, bounded by their
    own size: keys are small, so every page of such a layer over 10 steps
    (160 pages of ~0.44 MB compressed, 70 MB) fits.
    """

    def __init__(self, budget_bytes: int = 128 * 1024 * 1024, min_chars: int = 64 * 1024):
        self._min_chars = min_chars
        self._cache = LruBytes(budget_bytes, len)

    def respond(self, request: wrappers.Request, make_text: Callable[[], str],
                key: Hashable | None = None) -> wrappers.Response:
        """`key` must identify the text `make_text` returns; without one the
        text is built and its digest is the key."""
        if not _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
            return http_util.Respond(request, make_text(), _JSON)
        zipped = self._cache.get(key) if key is not None else None
        if zipped is not None:
            return http_util.Respond(request, zipped, _JSON, content_encoding="gzip")
        text = make_text()
        if len(text) < self._min_chars:
            return http_util.Respond(request, text, _JSON)
        data = text.encode("utf-8")
        if key is None:
            key = ("digest", hashlib.blake2b(data, digest_size=16).digest())
            zipped = self._cache.get(key)
        if zipped is None:
            zipped = gzip.compress(data, compresslevel=3, mtime=0)
            self._cache.put(key, zipped)
        return http_util.Respond(request, zipped, _JSON, content_encoding="gzip")


# Parameters ------------------------------------------------------------------

def _shown(value: str, max_chars: int = 40) -> str:
    """A received value for an error message, kept short and printable."""
    return repr(value if len(value) <= max_chars else value[:max_chars] + "...")


def _texts(request: wrappers.Request, name: str, required: bool, most: int | None) -> list[str]:
    values = request.args.getlist(name)
    if required and not values:
        raise tb_errors.InvalidArgumentError(f"Expected parameter {name}. Received: none")
    if most is not None and len(values) > most:
        raise tb_errors.InvalidArgumentError(
            f"Expected at most {most} values of {name}. Received: {len(values)}")
    for value in values:
        if "\x00" in value:
            raise tb_errors.InvalidArgumentError(
                f"Expected {name} without NUL characters. Received: {name}={_shown(value)}")
    return values


def _text(request: wrappers.Request, name: str, required: bool = True) -> str | None:
    values = _texts(request, name, required=required, most=None)
    if len(values) > 1:
        raise tb_errors.InvalidArgumentError(
            f"Expected one value of {name}. Received: {len(values)} values")
    return values[0] if values else None


def _integer(request: wrappers.Request, name: str, default: int | None,
             low: int | None = None, high: int | None = None) -> int | None:
    text = _text(request, name, required=False)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text):
        raise tb_errors.InvalidArgumentError(
            f"Expected an integer {name}. Received: {name}={_shown(text)}")
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low} <= {name}" + (f" <= {high}" if high is not None else "")
        raise tb_errors.InvalidArgumentError(f"Expected {bounds}. Received: {name}={value}")
    return value


def _required_integer(request: wrappers.Request, name: str, low: int | None = None) -> int:
    value = _integer(request, name, None, low=low)
    if value is None:
        raise tb_errors.InvalidArgumentError(f"Expected parameter {name}. Received: none")
    return value


def _token(request: wrappers.Request) -> str:
    token = _text(request, "token")
    if not 1 <= len(token) <= MAX_TOKEN_CHARS:
        raise tb_errors.InvalidArgumentError(
            f"Expected a token of 1 to {MAX_TOKEN_CHARS} characters. "
            f"Received: {len(token)} characters")
    return token


def _mode(request: wrappers.Request) -> str:
    mode = _text(request, "mode", required=False) or "exact"
    if mode not in plugin_queries.SEARCH_MODES:
        raise tb_errors.InvalidArgumentError(
            f"Expected mode in {plugin_queries.SEARCH_MODES}. Received: mode={_shown(mode)}")
    return mode


# Static files ----------------------------------------------------------------

_STATIC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.(js|css)")
_CONTENT_TYPES = {"js": "text/javascript", "css": "text/css"}


class StaticFiles:
    """The frontend's files, from an allow-list fixed at start.

    Only `<name>.js`, `<name>.css` and `views/<name>.js` directly inside
    `root` are served, each under its own exact route: a request for any other
    path (`../`, encoded or absolute) matches no route and gets TensorBoard's 404.
    """

    def __init__(self, root: Traversable):
        self._files: dict[str, Traversable] = {}
        self._add(root, "", ("js", "css"))
        views = root / "views"
        if views.is_dir():
            self._add(views, "views/", ("js",))

    def _add(self, folder: Traversable, prefix: str, extensions: tuple[str, ...]) -> None:
        for entry in folder.iterdir():
            match = _STATIC_NAME.fullmatch(entry.name)
            if match and match.group(1) in extensions and entry.is_file():
                self._files[prefix + entry.name] = entry

    @property
    def names(self) -> list[str]:
        return sorted(self._files)

    def routes(self) -> dict[str, WsgiApp]:
        return {"/" + name: self._app(name) for name in self._files}

    def _app(self, name: str) -> WsgiApp:
        content_type = _CONTENT_TYPES[name.rsplit(".", 1)[1]]
        entry = self._files[name]

        @wrappers.Request.application
        def serve(request: wrappers.Request) -> wrappers.Response:
            # Read per request, so an edited file shows on reload.
            try:
                content = entry.read_bytes()
            except OSError:
                raise tb_errors.NotFoundError(f"{name} is no longer installed") from None
            return http_util.Respond(request, content, content_type)

        return serve
