"""Report -> payload proto -> event file: the report dataclasses, the codec, the
plugin metadata and the summary writers. No TensorFlow, Keras or engine imports."""
