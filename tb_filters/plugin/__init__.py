"""The Filters tab's server side: TensorBoard loads it at start, so it never
imports TensorFlow, Keras, Beam or the engine (tests/plugin/test_no_tf_import.py)."""

from tb_filters.plugin.filters_plugin import FiltersPlugin

__all__ = ["FiltersPlugin"]
