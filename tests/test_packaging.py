"""`pip install -e .` with the pip a fresh `python3 -m venv` brings (pip 23 on
Python 3.11, setuptools and wheel present) must build through pyproject.toml's
build system, not the legacy `setup.py develop` path that left
`tb_filters.frontend` unimportable, and TensorBoard must then list the tab."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import urllib.request

import pytest

from tests.e2e.harness import TensorBoardProcess
from tests.helpers.logdir_builder import build_logdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.slow


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> str:
    venv = str(tmp_path_factory.mktemp("fresh") / "venv")
    _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv)
    python = os.path.join(venv, "bin", "python")
    _run(python, "-m", "pip", "install", "-q", "setuptools", "wheel")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "-e", REPO)
    # TensorBoard and its dependencies come from this test's environment, as if
    # installed there too: only our package's install is under test.
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    with open(os.path.join(site, "zz_tb_filters_test_deps.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_editable_install_is_a_pep660_one(fresh_venv):
    site = _run(fresh_venv, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    assert not [n for n in os.listdir(site) if n.endswith(".egg-link")]
    located = _run(fresh_venv, "-c", "import importlib.resources as r, tb_filters; "
                                     "print(r.files('tb_filters.frontend') / 'index.js'); print(tb_filters.__file__)")
    index_js, package = located.split()
    assert os.path.isfile(index_js) and package.startswith(REPO)


def test_tensorboard_lists_the_filters_tab(fresh_venv, tmp_path):
    logdir = build_logdir(tmp_path, runs=("kernel3",), num_filters=2, top_k=2, steps=1).path
    with TensorBoardProcess(logdir, command=[fresh_venv, "-m", "tensorboard.main"]) as tb:
        assert "filters" in tb.get_json("data/plugins_listing")
        with urllib.request.urlopen(f"{tb.url}/data/plugin/filters/index.js", timeout=10) as response:
            assert b"export" in response.read()
