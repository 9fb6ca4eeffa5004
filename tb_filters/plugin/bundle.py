"""The tab's ES modules as one ES module, so a cold browser fetches one file, not 37.

Measured in headless Chromium (issue 19): the 37 module requests, six at a time
over HTTP/1.1, took ~250 ms of a ~710 ms first render. TensorBoard writes the
iframe's HTML itself, so `<link rel=modulepreload>` cannot be added there, and
caching headers do nothing for a first visit.

Each module becomes a function holding its own scope (no renaming, no name
clashes), called once, dependencies first, in the order ES modules evaluate
them. That is exact only for the import and export forms the frontend uses, so
those are the only ones accepted: any other `import`/`export` line, a dynamic
`import(`, an import cycle or a path outside the served files raises
BundleError naming the file and line, instead of a bundle that runs wrongly.
Exports are bindings never reassigned (const, function, class): the bundle
copies their values once, after the module ran.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Callable

_SPEC = r'"(\.{1,2}/[^"]+\.js)"'
_NAMES = r"\{([^}]*)\}"
IMPORT_NAMED = re.compile(rf"import {_NAMES} from {_SPEC};")
IMPORT_ALL = re.compile(rf"import \* as ([A-Za-z_$][\w$]*) from {_SPEC};")
IMPORT_BARE = re.compile(rf"import {_SPEC};")
EXPORT_FROM = re.compile(rf"export {_NAMES} from {_SPEC};")
EXPORT_DECLARATION = re.compile(r"export ((?:async function\*?|function\*?|class|const) ([A-Za-z_$][\w$]*)\b.*)")
_NAME_PAIR = re.compile(r"([A-Za-z_$][\w$]*)(?: as ([A-Za-z_$][\w$]*))?")
_STATEMENT = re.compile(r"^\s*(import|export)\b", re.MULTILINE)
# Names the bundle's own code uses inside every module's scope.
PREFIX = "__tbFiltersBundle"


class BundleError(ValueError):
    """A module the bundler cannot turn into exactly equivalent code."""


class _Module:
    def __init__(self, path: str, source: str):
        self.path = path
        self.imports: list[str] = []  # resolved paths, in source order
        self.bindings: list[str] = []  # the `const ... = load(...)` lines
        self.exports: list[tuple[str, str]] = []  # (exported name, local expression)
        body = []
        if PREFIX in source or re.search(r"\bimport\s*\(", source):
            raise BundleError(f"{path}: uses {PREFIX!r} or a dynamic import(), which the bundle cannot keep")
        for number, line in enumerate(source.split("\n"), 1):
            body.append(self._statement(line, number) if _STATEMENT.match(line) else line)
        self.body = "\n".join(body).replace("import.meta.url", f"{PREFIX}Url({json.dumps(path)})")

    def _statement(self, line: str, number: int) -> str:
        """The line with its import or export statement taken out ('' or the declaration left)."""
        where = f"{self.path}:{number}"
        if (m := IMPORT_NAMED.fullmatch(line)) is not None:
            pairs = _pairs(m.group(1), where)
            target = self._resolve(m.group(2), where)
            self.bindings.append(f"const {{ {', '.join(f'{a}: {b}' for a, b in pairs)} }} = {_load(target)};")
        elif (m := IMPORT_ALL.fullmatch(line)) is not None:
            target = self._resolve(m.group(2), where)
            self.bindings.append(f"const {m.group(1)} = {_load(target)};")
        elif (m := IMPORT_BARE.fullmatch(line)) is not None:
            target = self._resolve(m.group(1), where)
            self.bindings.append(f"{_load(target)};")
        elif (m := EXPORT_FROM.fullmatch(line)) is not None:
            target = self._resolve(m.group(2), where)
            self.bindings.append(f"{_load(target)};")  # evaluated in its place among the imports
            self.exports += [(exported, f"{_load(target)}.{name}") for name, exported in _pairs(m.group(1), where)]
        elif (m := EXPORT_DECLARATION.fullmatch(line)) is not None:
            self.exports.append((m.group(2), m.group(2)))
            return m.group(1)
        else:
            raise BundleError(f"{where}: an import or export the bundle does not handle: {line.strip()[:120]!r}")
        return ""

    def _resolve(self, spec: str, where: str) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(self.path), spec))
        self.imports.append(target)
        if target.startswith("../"):
            raise BundleError(f"{where}: imports {spec!r}, outside the frontend")
        return target

    def wrapper(self) -> str:
        exports = ", ".join(name if name == local else f"{name}: {local}" for name, local in self.exports)
        return (f"{json.dumps(self.path)}: () => {{\n" + "".join(f"{b}\n" for b in self.bindings)
                + self.body.rstrip("\n") + f"\nreturn Object.freeze({{ {exports} }});\n}},\n")


def _pairs(names: str, where: str) -> list[tuple[str, str]]:
    """(name, local name) of `a, b as c`."""
    pairs = []
    for item in (part.strip() for part in names.split(",")):
        m = _NAME_PAIR.fullmatch(item)
        if m is None:
            raise BundleError(f"{where}: cannot read the imported name {item!r}")
        pairs.append((m.group(1), m.group(2) or m.group(1)))
    return pairs


def _load(path: str) -> str:
    return f"{PREFIX}Load({json.dumps(path)})"


def bundle(entry: str, read: Callable[[str], str], known: set[str]) -> str:
    """One ES module exporting what `entry` exports, holding every module it reaches.

    read(path) gives a module's source; `known` are the paths that may be imported.
    """
    modules: dict[str, _Module] = {}
    _collect(entry, read, known, modules, [])
    entry_exports = ", ".join(name for name, _ in modules[entry].exports)
    return (f"// The Filters tab's modules in one file: built from frontend/ by tb_filters/plugin/bundle.py.\n"
            f"const {PREFIX}Modules = {{\n" + "".join(m.wrapper() for m in modules.values()) + "};\n"
            f"const {PREFIX}Done = new Map();\n"
            f"function {PREFIX}Load(path) {{\n"
            f"  if (!{PREFIX}Done.has(path)) {PREFIX}Done.set(path, {PREFIX}Modules[path]());\n"
            f"  return {PREFIX}Done.get(path);\n"
            f"}}\n"
            f"function {PREFIX}Url(path) {{\n"
            f"  return new URL(`./${{path}}`, import.meta.url).href;\n"
            f"}}\n"
            f"export const {{ {entry_exports} }} = {_load(entry)};\n")


def _collect(path: str, read: Callable[[str], str], known: set[str], modules: dict[str, _Module],
             stack: list[str]) -> None:
    """Parses `path` and what it imports, depth first; BundleError on a cycle or an unknown path."""
    if path in stack:
        raise BundleError(f"import cycle: {' -> '.join(stack[stack.index(path):] + [path])}")
    if path in modules:
        return
    if path not in known:
        raise BundleError(f"{stack[-1] if stack else 'entry'} imports {path!r}, not a served module")
    module = _Module(path, read(path))
    for target in module.imports:
        _collect(target, read, known, modules, [*stack, path])
    modules[path] = module
