"""The Filters plugin served the way TensorBoard serves it, for tests.

`serve(logdir)` loads the log dir with TensorBoard's own multiplexer and data
provider, builds the plugin from a real TBContext and wraps it in
TensorBoard's WSGI application, so routing, error handling and 404s for
unknown paths are TensorBoard's. `build_model_logdir` writes reports of a tiny
real Keras model through `tb_filters.interpret`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from typing import Any, Sequence

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_filters.plugin.filters_plugin import FiltersPlugin
from tests.helpers.readback import load_logdir

PREFIX = "/data/plugin/filters/"
HOSTILE_TOKEN = "<img src=x onerror=alert(1)>"
MODEL_VOCABULARY = ("<pad>", "<oov>", "<user>", "<url>", HOSTILE_TOKEN, "<allcaps>",
                    "good", "bad", "movie", "plot", "great", "awful", "the", "a", "was", "not")


def strict_json(data: bytes) -> Any:
    """JSON as browsers parse it: bare NaN/Infinity are errors."""
    def reject(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(data, parse_constant=reject)


@dataclasses.dataclass
class Served:
    logdir: str
    multiplexer: plugin_event_multiplexer.EventMultiplexer
    provider: tb_data_provider.MultiplexerDataProvider
    plugin: FiltersPlugin
    client: werkzeug_test.Client

    def get(self, route: str, params: Sequence[tuple[str, Any]] | dict | None = None,
            **headers: str) -> wrappers.Response:
        query = urllib.parse.urlencode(params or {}, doseq=True)
        return self.client.get(PREFIX + route + ("?" + query if query else ""), headers=headers)

    def json(self, route: str, params: Sequence[tuple[str, Any]] | dict | None = None) -> Any:
        response = self.get(route, params)
        assert response.status_code == 200, (route, params, response.status_code, response.data[:500])
        assert response.mimetype == "application/json"
        return strict_json(response.data)

    def reload(self) -> None:
        self.multiplexer.AddRunsFromDirectory(self.logdir)
        self.multiplexer.Reload()


def serve(logdir: str | os.PathLike, sampling_hints: dict[str, int] | None = None,
          samples_kept: int = 1000) -> Served:
    """`samples_kept`: the loader's reservoir per tag, as `--samples_per_plugin` sets it."""
    logdir = os.fspath(logdir)
    multiplexer, provider = load_logdir(logdir, samples_kept)
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir,
                                    sampling_hints=sampling_hints or {})
    plugin = FiltersPlugin(context)
    app = application.TensorBoardWSGI([plugin])
    return Served(logdir, multiplexer, provider, plugin, werkzeug_test.Client(app, wrappers.Response))


def build_model_logdir(path: str | os.PathLike, runs: Sequence[tuple[str, int]] = (("kernel3", 3), ("kernel5", 5)),
                       steps: int = 3, top_k: int = 4) -> dict[tuple[str, int], Any]:
    """Embedding -> ZeroPadding1D(1) -> Conv1D(kernel) per run, interpreted at each step.

    Between steps the conv kernel is scaled, as training would move it, so
    activations differ per step. Returns {(run, step): Report}.
    """
    import keras
    import numpy as np

    import tb_filters
    from tb_filters.format import summary

    rng = np.random.default_rng(0)
    length, vocab_size = 10, len(MODEL_VOCABULARY)
    sequences = rng.integers(1, vocab_size, (64, length)).astype("int32")
    sequences[::3, 2] = MODEL_VOCABULARY.index(HOSTILE_TOKEN)
    sequences[:, -2:] = 0  # padding at the end, as in the notebook's data
    reports = {}
    for run, kernel in runs:
        tokens = keras.Input((length,), dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab_size, 6, name="embedding",
                                   embeddings_initializer=keras.initializers.RandomNormal(seed=1))(tokens)
        x = keras.layers.ZeroPadding1D(1, name="zero_padding1d")(x)
        x = keras.layers.Conv1D(4, kernel, activation="relu", name="conv1d",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=kernel))(x)
        model = keras.Model(tokens, keras.layers.GlobalMaxPooling1D()(x))
        conv = model.get_layer("conv1d")
        kernel_weights, bias = conv.get_weights()
        for step in range(steps):
            conv.set_weights([kernel_weights * (1.0 + 0.5 * step), bias])
            report = tb_filters.interpret(model, sequences, vocab=list(MODEL_VOCABULARY), top_k=top_k)
            summary.write_report(os.path.join(os.fspath(path), run), report, step)
            reports[(run, step)] = report
    return reports
