"""The plugin side never imports TensorFlow or Keras: TensorBoard imports it at start.

Checked in fresh subprocesses, since this test process has TensorFlow loaded.
Every module of tb_filters.plugin and tb_filters.format is imported: a new
module is covered without being listed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.logdir_builder import build_logdir

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEAVY = ("tensorflow", "keras", "tf_keras", "apache_beam", "jax", "torch")

IMPORT_ONLY = """
import importlib, json, pkgutil, sys
import tb_filters, tb_filters.plugin, tb_filters.format
imported = []
for package in (tb_filters.plugin, tb_filters.format):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
        imported.append(module.name)
print(json.dumps({"imported": imported,
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY,)

# TensorBoard's own Python loader imports TensorFlow when it is installed, so
# here TensorFlow and Keras are made unimportable, as in a TensorBoard installed
# without them: TensorBoard falls back to its stub, and every route must work.
SERVE_WITHOUT_TF = """
import json, sys

class NoHeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in %r:
            raise ImportError("blocked in this test: " + name)
        return None

sys.meta_path.insert(0, NoHeavyImports())
from tests.helpers.plugin_harness import serve
served = serve(sys.argv[1])
runs = served.json("runs")
run = runs["runs"][0]["run"]
served.json("filters", {"run": run, "layer": "conv1d"})
served.json("filter", {"run": run, "layer": "conv1d", "filter": 0})
served.json("compare", {"run": run, "layer": "conv1d", "filter": 0})
served.json("search", {"token": "<user>"})
assert served.get("index.js").status_code == 200
print(json.dumps({"runs": [r["run"] for r in runs["runs"]],
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (HEAVY, HEAVY)


def run_python(code: str, *args: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_importing_the_plugin_imports_no_tensorflow_or_keras():
    result = json.loads(run_python(IMPORT_ONLY))
    assert "tb_filters.plugin.filters_plugin" in result["imported"]
    assert "tb_filters.format.summary" in result["imported"]
    assert result["heavy"] == []


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return build_logdir(tmp_path_factory.mktemp("no_tf"), runs=("kernel3",), num_filters=3,
                        top_k=3, steps=2).path


def test_every_route_serves_with_tensorflow_and_keras_unimportable(logdir):
    result = json.loads(run_python(SERVE_WITHOUT_TF, logdir))
    assert result == {"runs": ["kernel3"], "heavy": []}
