"""FiltersCallback: interpret the conv filters during training, one step per epoch."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Sequence

import keras
import numpy as np

from tb_filters import checks
from tb_filters.errors import FiltersError
from tb_filters.format import summary
from tb_filters.options import Options

_log = logging.getLogger(__name__)


class FiltersCallback(keras.callbacks.Callback):
    """Writes each conv filter's top token windows to TensorBoard as training goes.

    At the end of epochs 0, n, 2n, ... (`epoch % every_n_epochs == 0`, as
    Keras' own TensorBoard callback counts; epochs are 0-based), it runs
    `tb_filters.interpret` on `sequences` and writes one report per layer to
    `log_dir` with step = epoch, so the Filters tab can step through training.

    It runs under the TensorFlow and the JAX backends of Keras (under JAX,
    the layers run in `jax.jit` and the results equal TensorFlow's); any
    other backend is refused when the callback is made.

    Training never stops because of this callback: if interpreting or writing
    fails, it warns once (later failures go to the `tb_filters.callback`
    logger) and training goes on. Nothing is created on disk before the first
    report is written, and each report appears whole or not at all.

    Example:

    ```python
    callback = tb_filters.FiltersCallback(
        x_val[:5000], vocab="word_index.json", log_dir="logs/run1", top_k=10
    )
    model.fit(x_train, y_train, epochs=5, callbacks=[callback])
    # then: tensorboard --logdir logs
    ```

    Args:
        sequences: token ids [N, L] (a numpy array or memmap), or a re-iterable
            of batches (a `tf.data.Dataset`, a list of arrays). A one-shot
            iterator is refused: it would be empty from the second epoch on.
        vocab: word_index.json path, token-per-line file, list, dict, or None
            to read a TextVectorization/StringLookup layer of the model.
        layers: conv layer names; None for every Conv1D.
        log_dir: the run directory the reports go to.
        every_n_epochs: write at epochs 0, n, 2n, ...
        options: a `tb_filters.Options`, as `tb_filters.interpret` takes it
            (top_k, distinct, batch_size, effects, effect_examples, class_names,
            slot preferences, inhibiting windows, ...); any of its fields may also
            be given by keyword (`top_k=10`).
        inputs: the model's other inputs for the same examples, by name
            ({"meta": X_meta_val}), as `interpret` takes them: each filter's
            effect on the outputs is recorded at every step, so its history
            shows it rising or falling. Without them a multi-input model's
            effects are skipped (with a note in the report).
    """

    def __init__(
        self,
        sequences: Any,
        vocab: Any = None,
        layers: Sequence[str] | None = None,
        log_dir: str | os.PathLike = "logs/filters",
        every_n_epochs: int = 1,
        *,
        options: Options | None = None,
        inputs: dict[str, Any] | None = None,
        **option_values: Any,
    ):
        super().__init__()
        from tb_filters.engine.backends import check_backend

        check_backend()  # here, not at the end of the first epoch
        _check_sequences(sequences)
        self.options = Options.build(options, **option_values)
        self.every_n_epochs = checks.integer_at_least("every_n_epochs", every_n_epochs)
        self.sequences = sequences
        self.vocab = _load_vocab(vocab)
        self.layers = checks.layer_names(layers)
        self.log_dir = _check_log_dir(log_dir)
        self.inputs = checks.named_inputs(inputs)
        self.written: list[tuple[int, str]] = []  # (epoch, event file) per report
        self._warned = False

    def set_model(self, model) -> None:
        super().set_model(model)
        self._warned = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch % self.every_n_epochs == 0:
            self.write(epoch)

    def write(self, step: int) -> str | None:
        """Interprets the model now and writes the report at `step`; returns
        the event file's path, or None if it failed (and warned)."""
        try:
            report = self._interpret()
            path = summary.write_report(self.log_dir, report, step=step)
        except Exception as e:  # noqa: BLE001 - training must survive any failure here
            self._report_failure(step, e)
            return None
        self.written.append((step, path))
        return path

    def _interpret(self):
        from tb_filters.engine.interpret import interpret

        return interpret(self.model, self.sequences, layers=self.layers, vocab=self.vocab, options=self.options,
                         inputs=self.inputs)

    def _report_failure(self, step: int, error: Exception) -> None:
        message = f"FiltersCallback could not write step {step}: {type(error).__name__}: {error}"
        if self._warned:
            _log.info("%s", message)
            return
        self._warned = True
        warnings.warn(
            f"{message}. Training goes on; later failures are logged to {_log.name!r}, not warned.",
            RuntimeWarning,
            stacklevel=2,
        )


def _check_sequences(sequences: Any) -> None:
    if sequences is None:
        raise FiltersError("Expected sequences: token ids [N, L] or a re-iterable of batches. Received: None")
    if isinstance(sequences, np.ndarray):
        checks.token_ids(sequences, "sequences")
        return
    try:
        is_iterator = iter(sequences) is sequences
    except TypeError:
        raise FiltersError(
            f"Expected sequences: an array or a re-iterable of batches. Received: {type(sequences).__name__}"
        ) from None
    if is_iterator:
        raise FiltersError(
            "Expected sequences that can be read every epoch (an array, a tf.data.Dataset, a list of batches). "
            f"Received: a one-shot iterator ({type(sequences).__name__})"
        )


def _load_vocab(vocab: Any):
    if vocab is None:
        return None  # read from the model's TextVectorization/StringLookup when interpreting
    from tb_filters.engine.vocab import load_vocabulary

    return load_vocabulary(vocab)


def _check_log_dir(log_dir: Any) -> str:
    if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
        raise FiltersError(f"Expected log_dir: a directory path. Received: {log_dir!r}")
    path = os.fspath(log_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise FiltersError(f"Expected log_dir to be a directory. Received: {path} (a file)")
    return path
