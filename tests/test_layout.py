"""Imports point one way: engine -> format -> plugin never back, and the
format/plugin side never reaches the engine, the CLI, Beam or the callback,
even in a function body (TensorBoard loads the plugin at start)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tb_filters"

# For each subpackage: the tb_filters modules it may never import.
FORBIDDEN = {
    "format": ("tb_filters.engine", "tb_filters.plugin", "tb_filters.cli", "tb_filters.beam",
               "tb_filters.callback"),
    "plugin": ("tb_filters.engine", "tb_filters.cli", "tb_filters.beam", "tb_filters.callback"),
    "engine": ("tb_filters.plugin", "tb_filters.cli", "tb_filters.beam", "tb_filters.callback"),
    "beam": ("tb_filters.plugin", "tb_filters.cli", "tb_filters.callback"),
}
# The stages in the order data flows through them, and what sits on top of them.
FLOW = ["engine", "format", "plugin"]
ON_TOP = ["beam", "cli"]
# Never at module level on the format/plugin side; a lazy import in a writer function is fine.
HEAVY = ("tensorflow", "keras", "tf_keras", "apache_beam", "jax", "torch")


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at module level) for every import in the file."""
    top_level = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def _modules(subpackage: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


@pytest.mark.parametrize("subpackage", sorted(FORBIDDEN))
def test_subpackages_import_only_downstream(subpackage):
    assert _modules(subpackage), subpackage
    for path in _modules(subpackage):
        for module, _ in _imports(ast.parse(path.read_text())):
            bad = [f for f in FORBIDDEN[subpackage] if module == f or module.startswith(f + ".")]
            assert not bad, f"{path.relative_to(PACKAGE)} imports {module}"


@pytest.mark.parametrize("subpackage", ["format", "plugin"])
def test_format_and_plugin_import_no_framework_at_module_level(subpackage):
    for path in _modules(subpackage):
        for module, top_level in _imports(ast.parse(path.read_text())):
            if subpackage == "plugin" or top_level:
                assert module.split(".")[0] not in HEAVY, f"{path.relative_to(PACKAGE)} imports {module}"


def test_the_subpackages_are_the_declared_stages_and_sort_in_the_order_data_flows():
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert sorted(FLOW + ON_TOP) == subpackages, "declare a new subpackage in FLOW or ON_TOP"
    assert [name for name in subpackages if name in FLOW] == FLOW, "`ls tb_filters/` should show the flow"
