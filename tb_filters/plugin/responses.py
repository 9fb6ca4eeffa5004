"""HTTP answers: JSON through `http_util.Respond` (which adds nosniff, the CSP
and gzip), with big answers gzipped once and kept; the tab's static files."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Hashable

import cachetools
from tensorboard import errors as tb_errors
from tensorboard.backend import http_util
from werkzeug import wrappers

from tb_filters.plugin import bundle

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; only annotations need it
    from importlib.resources.abc import Traversable

JSON_TYPE = "application/json; charset=utf-8"
_ACCEPTS_GZIP = re.compile(r"\bgzip\b", re.IGNORECASE)

WsgiApp = Callable[..., Any]


class SizedLru:
    """A thread-safe LRU map bounded by the total size of its values.

    The newest entry stays even when alone over budget: it is in use.
    """

    def __init__(self, budget: int, size_of: Callable[[Any], int]):
        self._size_of = size_of
        self._budget = budget
        self._cache = cachetools.LRUCache(maxsize=budget, getsizeof=size_of)
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            return self._cache.get(key)

    def get_many(self, keys: list[Hashable]) -> list[Any]:
        """get() of each key under one hold of the lock: a page reads 64 fragments, and 20 clients
        taking the lock 64 times a page each spent a quarter of TensorBoard's samples waiting on it
        (py-spy, issue 19's LOAD)."""
        with self._lock:
            return [self._cache.get(key) for key in keys]

    def put(self, key: Hashable, value: Any) -> None:
        self.put_many([(key, value)])

    def put_many(self, items: list[tuple[Hashable, Any]]) -> None:
        with self._lock:
            for key, value in items:
                self._cache.pop(key, None)
                # cachetools refuses a value bigger than the whole cache: such a
                # value gets a cache of its own size, which the next put replaces.
                size = self._size_of(value)
                if size > self._budget or self._cache.maxsize != self._budget:
                    self._cache = cachetools.LRUCache(maxsize=max(size, self._budget), getsizeof=self._size_of)
                self._cache[key] = value

    def filled(self) -> float:
        """The share of the budget its values take."""
        with self._lock:
            return self._cache.currsize / self._budget

    def discard_where(self, predicate: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._cache if predicate(k)]:
                del self._cache[key]

    def __len__(self) -> int:
        return len(self._cache)


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
        self._cache = SizedLru(budget_bytes, len)

    def respond(self, request: wrappers.Request, make_text: Callable[[], str],
                key: Hashable | None = None) -> wrappers.Response:
        """`key` must identify the text `make_text` returns; without one the
        text is built and its digest is the key."""
        if not _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
            return http_util.Respond(request, make_text(), JSON_TYPE)
        zipped = self._cache.get(key) if key is not None else None
        if zipped is not None:
            return http_util.Respond(request, zipped, JSON_TYPE, content_encoding="gzip")
        text = make_text()
        if len(text) < self._min_chars:
            return http_util.Respond(request, text, JSON_TYPE)  # Respond gzips small answers itself
        data = text.encode("utf-8")
        if key is None:
            key = ("digest", hashlib.blake2b(data, digest_size=16).digest())
            zipped = self._cache.get(key)
        if zipped is None:
            zipped = gzip.compress(data, compresslevel=3, mtime=0)
            self._cache.put(key, zipped)
        return http_util.Respond(request, zipped, JSON_TYPE, content_encoding="gzip")


_STATIC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\.(js|css)")
_CONTENT_TYPES = {"js": "text/javascript", "css": "text/css"}
# Folders of the frontend whose scripts are served (frontend/ itself serves .js and .css).
SCRIPT_FOLDERS = ("views", "panels")


class StaticFiles:
    """The frontend's files, from an allow-list fixed at start.

    Only `<name>.js` and `<name>.css` directly inside `root`, and
    `<folder>/<name>.js` for the SCRIPT_FOLDERS, are served, each under its own
    exact route: a request for any other path (`../`, encoded or absolute)
    matches no route and gets TensorBoard's 404. With `bundle_as=(name,
    entry)`, `name` serves the module `entry` with every module it imports in
    one file (bundle.py).
    """

    def __init__(self, root: Traversable, script_folders: tuple[str, ...] = SCRIPT_FOLDERS,
                 bundle_as: tuple[str, str] | None = None):
        self._files: dict[str, Traversable] = {}
        self._add(root, "", ("js", "css"))
        for folder in script_folders:
            if (root / folder).is_dir():
                self._add(root / folder, folder + "/", ("js",))
        if bundle_as is not None and (bundle_as[0] in self._files or bundle_as[1] not in self._files):
            raise ValueError(f"cannot bundle {bundle_as[1]!r} as {bundle_as[0]!r}: the bundle's name must be "
                             f"no file's, its entry a served module; modules: {self.names}")
        self._bundle_as = bundle_as

    def _add(self, folder: Traversable, prefix: str, extensions: tuple[str, ...]) -> None:
        for entry in folder.iterdir():
            match = _STATIC_NAME.fullmatch(entry.name)
            if match and match.group(1) in extensions and entry.is_file():
                self._files[prefix + entry.name] = entry

    @property
    def names(self) -> list[str]:
        return sorted(self._files)

    def routes(self) -> dict[str, WsgiApp]:
        routes = {"/" + name: self._app(name) for name in self._files}
        if self._bundle_as is not None:
            routes["/" + self._bundle_as[0]] = self._bundle_app(*self._bundle_as)
        return routes

    def bundle_text(self, entry: str, scripts: dict[str, str] | None = None) -> str:
        """`entry` and what it imports as one module (from `scripts`, path -> source, when read
        already); BundleError when a module cannot be bundled exactly."""
        scripts = self._scripts() if scripts is None else scripts
        return bundle.bundle(entry, scripts.__getitem__, set(scripts))

    def _scripts(self) -> dict[str, str]:
        return {name: file.read_text("utf-8") for name, file in self._files.items() if name.endswith(".js")}

    def _bundle_app(self, name: str, entry: str) -> WsgiApp:
        # The modules are read once a request (~0.5 ms), so an edited one shows on reload; the
        # bundle and its gzip (~12 ms to make) are kept for the digest of what was read. One lock:
        # requests arriving together build it once, and none reads the slot while it is replaced.
        kept: tuple[bytes, str, bytes] | None = None
        lock = threading.Lock()

        @wrappers.Request.application
        def serve(request: wrappers.Request) -> wrappers.Response:
            nonlocal kept
            try:
                scripts = self._scripts()
            except OSError:
                raise tb_errors.NotFoundError(f"{name}: a module is no longer installed") from None
            digest = _digest(scripts)
            with lock:
                if kept is None or kept[0] != digest:
                    text = self.bundle_text(entry, scripts)
                    kept = (digest, text, gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))
                _, text, zipped = kept
            if _ACCEPTS_GZIP.search(request.headers.get("Accept-Encoding", "")):
                return http_util.Respond(request, zipped, _CONTENT_TYPES["js"], content_encoding="gzip")
            return http_util.Respond(request, text, _CONTENT_TYPES["js"])

        return serve

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


def _digest(scripts: dict[str, str]) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(scripts):
        content = scripts[name].encode("utf-8")
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.digest()
