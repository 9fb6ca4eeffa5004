"""The documentation against the code it describes: every route the plugin
serves and every flag the CLI parses is documented, read from the running
code (so a new route or a flag generated from a new Options field fails here
until it is written down), and every relative link points at a file."""

from __future__ import annotations

import argparse
import os
import re

import pytest
from tensorboard.plugins import base_plugin

from tb_filters.cli.commands import build_parser
from tb_filters.plugin.filters_plugin import FiltersPlugin

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTP_API = os.path.join(REPO, "tb_filters", "plugin", "http_api.md")
DOCS_ROUTES = os.path.join(REPO, "docs", "http-api.md")
CLI_DOCS = os.path.join(REPO, "docs", "cli.md")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def served_paths() -> list[str]:
    """The paths the plugin hands TensorBoard, from the plugin as TensorBoard makes it;
    they do not depend on the data (without a provider no framework is imported)."""
    plugin = FiltersPlugin(base_plugin.TBContext(logdir=REPO, sampling_hints={}))
    return sorted(path.lstrip("/") for path in plugin.get_plugin_apps())


def _data_routes(paths: list[str]) -> list[str]:
    return [p for p in paths if "." not in p]


def _static_patterns(paths: list[str]) -> set[str]:
    """`views/grid.js` -> `views/<name>.js`: the static files are documented by pattern."""
    return {re.sub(r"[^/]+(?=\.[a-z]+$)", "<name>", p) for p in paths if "." in p}


def test_the_plugin_serves_data_routes_and_static_files(served_paths):
    assert "runs" in _data_routes(served_paths) and "index.js" in served_paths


def test_every_data_route_has_a_section_in_http_api_md(served_paths):
    headings = set(re.findall(r"^## `([a-z_]+)`$", _read(HTTP_API), flags=re.MULTILINE))
    assert set(_data_routes(served_paths)) <= headings, sorted(set(_data_routes(served_paths)) - headings)


def test_every_data_route_is_in_the_docs_route_list(served_paths):
    listed = set(re.findall(r"^- \[`([a-z_]+)`\]\(\.\./tb_filters/plugin/http_api\.md#\1\)", _read(DOCS_ROUTES),
                            flags=re.MULTILINE))
    assert set(_data_routes(served_paths)) <= listed, sorted(set(_data_routes(served_paths)) - listed)


@pytest.mark.parametrize("document", [HTTP_API, DOCS_ROUTES], ids=["http_api.md", "docs/http-api.md"])
def test_every_static_file_matches_a_documented_pattern(served_paths, document):
    text = _read(document)
    missing = sorted(p for p in _static_patterns(served_paths) if f"`{p}`" not in text)
    assert not missing, missing


def _parsers(parser: argparse.ArgumentParser, name: str = "tb-filters"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                yield from _parsers(subparser, f"{name} {command}")


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings
            if flag.startswith("--") and flag != "--help"]


def test_the_parser_has_commands_and_flags():
    commands = dict(_parsers(build_parser()))
    assert {"tb-filters interpret", "tb-filters demo"} <= set(commands)
    assert "--top-k" in _flags(commands["tb-filters interpret"])


@pytest.mark.parametrize("command", [name for name, _ in _parsers(build_parser())])
def test_every_cli_flag_is_in_cli_md(command):
    text = _read(CLI_DOCS)
    assert re.search(f"^#+ .*`{command}`$", text, flags=re.MULTILINE), f"no heading for `{command}` in docs/cli.md"
    parser = dict(_parsers(build_parser()))[command]
    missing = [flag for flag in _flags(parser) if not re.search(f"(?<![\\w-]){re.escape(flag)}(?![\\w-])", text)]
    assert not missing, f"{command}: {missing} not in docs/cli.md"


def _markdown_files() -> list[str]:
    docs = os.path.join(REPO, "docs")
    return [os.path.join(REPO, "README.md"), HTTP_API] + sorted(
        os.path.join(docs, n) for n in os.listdir(docs) if n.endswith(".md"))


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: os.path.relpath(p, REPO))
def test_relative_links_point_at_files(path):
    targets = re.findall(r"\]\(([^)\s]+)\)", _read(path))
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    missing = [t for t in local if not os.path.exists(os.path.join(os.path.dirname(path), t))]
    assert not missing, missing


def test_the_readme_starts_with_the_demo_and_the_tests():
    commands = re.findall(r"^```sh\n(.*?)```", _read(os.path.join(REPO, "README.md")), flags=re.MULTILINE | re.DOTALL)
    assert commands[0].splitlines()[:2] == [
        "make demo   # set-up, trains two small text CNNs into runs/, starts TensorBoard on :6006",
        "make test   # set-up, the whole test suite (browser tests in headless Chromium included)",
    ]


def test_the_readme_links_every_page_of_docs():
    readme = _read(os.path.join(REPO, "README.md"))
    pages = sorted(n for n in os.listdir(os.path.join(REPO, "docs")) if n.endswith(".md"))
    assert [p for p in pages if f"(docs/{p})" not in readme] == []


def test_every_option_is_in_the_python_api_table_with_its_default():
    import dataclasses

    import tb_filters

    table = _read(os.path.join(REPO, "docs", "python-api.md"))
    for field in dataclasses.fields(tb_filters.Options):
        default = str(field.default)
        row = re.search(rf"^\| `{field.name}` \| ([^|]+) \|", table, re.MULTILINE)
        assert row, f"docs/python-api.md has no row for Options.{field.name}"
        assert row.group(1).strip() == default, f"Options.{field.name}: the docs say {row.group(1).strip()}"
