"""Token ids -> per-layer streaming state -> Report. TensorFlow and Keras live here.

Nothing is imported eagerly: the pure modules (receptive, vocab) load without
TensorFlow, and `tb_filters.interpret` loads `engine.interpret` on first use.
"""
