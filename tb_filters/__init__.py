"""tb_filters: what has each Conv1D filter of a Keras text model learned?

Public API:
    interpret(model, sequences, ...) -> Report
    Options(top_k=..., ...)                  every interpretation option, for every path
    FiltersCallback(sequences, vocab, ...)   a Keras callback
    summary.filters / summary.write_report   TensorBoard summaries
    match(a, b) / dynamics(steps)            filters matched across runs, and through training
    FiltersError                             bad input

Heavy modules (TensorFlow, Keras) load on first use: TensorBoard imports this
package when it loads the plugin, and must not pay for them.
"""

from __future__ import annotations

import importlib

from tb_filters.errors import FiltersError
from tb_filters.format.report import Effect, FilterReport, FilterStats, LayerReport, Report, Window
from tb_filters.options import Options
from tb_filters.version import __version__ as __version__  # declared once; pyproject.toml reads the same file

_LAZY = {
    "interpret": ("tb_filters.engine.interpret", "interpret"),
    "FiltersCallback": ("tb_filters.callback", "FiltersCallback"),
    "summary": ("tb_filters.format.summary", None),
    "match": ("tb_filters.format.compare", "match"),
    "dynamics": ("tb_filters.format.compare", "dynamics"),
}

__all__ = [
    "interpret",
    "FiltersCallback",
    "summary",
    "match",
    "dynamics",
    "FiltersError",
    "Options",
    "Report",
    "LayerReport",
    "FilterReport",
    "FilterStats",
    "Effect",
    "Window",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tb_filters' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attr is None else getattr(module, attr)
