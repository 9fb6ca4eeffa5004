"""Installs as users get them, each in a fresh venv, checked by TensorBoard from that venv.

- `pip install -e .` with the pip a fresh `python3 -m venv` brings (pip 23 on
  Python 3.11, setuptools and wheel present) must build through pyproject.toml's
  build system, not the legacy `setup.py develop` path that left
  `tb_filters.frontend` unimportable.
- `pip wheel . --no-deps`, then that wheel installed (not editable): the wheel
  alone must carry the tab, the plugin's entry point and `tb-filters`.

TensorBoard and the other dependencies come from this test's environment through
a .pth file, as if installed there too: only our package's install is under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request

import pytest

import tb_filters
from tests.e2e.harness import TensorBoardProcess
from tests.helpers.logdir_builder import build_logdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a build reads; everything else (tests, benchmarks, .venv) stays behind.
BUILD_INPUTS = ("setup.py", "pyproject.toml", "README.md", "LICENSE", "tb_filters", "frontend")
pytestmark = pytest.mark.slow


def _run(*command: str, cwd: str | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _new_venv(folder) -> str:
    venv = str(folder / "venv")
    _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    return os.path.join(venv, "bin", "python")


def _share_this_environments_packages(python: str) -> None:
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    with open(os.path.join(site, "zz_tb_filters_test_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")


@pytest.fixture
def away_from_the_source(tmp_path, monkeypatch):
    """`python -m` puts the working directory first on sys.path: from the repo,
    the source tree's tb_filters would hide the installed one."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def editable_venv(tmp_path_factory) -> str:
    python = _new_venv(tmp_path_factory.mktemp("editable"))
    _run(python, "-m", "pip", "install", "-q", "setuptools", "wheel")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "-e", REPO)
    _share_this_environments_packages(python)
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """Built from a copy of the sources: an in-place build would write build/ and
    *.egg-info into the shared working tree."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        copy = shutil.copytree if os.path.isdir(os.path.join(REPO, name)) else shutil.copy2
        kwargs = {"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}
        copy(os.path.join(REPO, name), source / name, **kwargs)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder / "dist"), str(source))
    (built,) = (folder / "dist").iterdir()
    return str(built)


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory, wheel) -> str:
    python = _new_venv(tmp_path_factory.mktemp("installed"))
    _run(python, "-m", "pip", "install", "-q", "--no-deps", wheel)
    _share_this_environments_packages(python)
    return python


def _tensorboard_lists_the_tab(python: str, tmp_path) -> None:
    logdir = build_logdir(tmp_path / "logs", runs=("kernel3",), num_filters=2, top_k=2, steps=1).path
    with TensorBoardProcess(logdir, command=[python, "-m", "tensorboard.main"]) as tb:
        assert "filters" in tb.get_json("data/plugins_listing")
        with urllib.request.urlopen(f"{tb.url}/data/plugin/filters/index.js", timeout=10) as response:
            assert b"export" in response.read()


def test_the_editable_install_is_a_pep660_one(editable_venv, away_from_the_source):
    site = _run(editable_venv, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    assert not [n for n in os.listdir(site) if n.endswith(".egg-link")]
    located = _run(editable_venv, "-c", "import importlib.resources as r, tb_filters; "
                                        "print(r.files('tb_filters.frontend') / 'index.js'); print(tb_filters.__file__)")
    index_js, package = located.split()
    assert os.path.isfile(index_js) and package.startswith(REPO)


def test_tensorboard_lists_the_filters_tab_of_the_editable_install(editable_venv, tmp_path, away_from_the_source):
    _tensorboard_lists_the_tab(editable_venv, tmp_path)


def test_the_wheel_provides_tb_filters_with_its_metadata(wheel_venv, away_from_the_source):
    venv = os.path.dirname(os.path.dirname(wheel_venv))
    located = _run(wheel_venv, "-c", "import importlib.metadata as m, tb_filters; print(tb_filters.__file__); "
                                     "print(m.version('tb_filters')); print(m.metadata('tb_filters')['License-Expression'])")
    package, version, license_expression = located.split()
    assert package.startswith(venv + os.sep), package
    assert version == tb_filters.__version__
    assert license_expression == "MIT"


def test_tensorboard_lists_the_filters_tab_of_the_wheel(wheel_venv, tmp_path, away_from_the_source):
    _tensorboard_lists_the_tab(wheel_venv, tmp_path)


def test_the_wheels_tb_filters_answers_version(wheel_venv, away_from_the_source):
    tb_filters_script = os.path.join(os.path.dirname(wheel_venv), "tb-filters")
    assert _run(tb_filters_script, "--version").strip() == f"tb-filters {tb_filters.__version__}"
