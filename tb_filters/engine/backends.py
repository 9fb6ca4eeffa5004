"""The compiled step under the Keras backend in use: TensorFlow or JAX.

TensorFlow: the layer chain and the fold into the running state share one
`tf.function` (step.make_step). JAX: `tf.function` cannot trace Keras layers
whose variables are JAX arrays, so the chain runs under `jax.jit` and its
activations feed the same fold, compiled on its own (TensorFlow itself stays
importable in a JAX process). The variables' values are arguments of the
jitted function, not constants baked into it: a callback reuses the compiled
step after each epoch has changed them.

PyTorch (and Keras' inference-only numpy backend) are refused up front: their
layers would need a third forward path for the same answers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from tb_filters.engine import chains as chains_lib
from tb_filters.engine import step as stream
from tb_filters.engine import tables as tables_lib
from tb_filters.engine.state import Layout
from tb_filters.errors import FiltersError

SUPPORTED = ("tensorflow", "jax")


def check_backend() -> str:
    """The Keras backend's name, or a FiltersError when the engine cannot run on it."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise FiltersError(
            f"Expected the Keras backend to be 'tensorflow' or 'jax'. Received: KERAS_BACKEND={backend!r}; "
            "save the model (model.save('model.keras')) and run `tb-filters interpret` on it, "
            "or train with KERAS_BACKEND=jax or tensorflow"
        )
    return backend


def make_step(chains: Sequence[chains_lib.Chain], layouts: list[Layout], xla: bool,
              plans: Mapping[str, tables_lib.Plan] | None = None) -> Callable:
    """step(token_ids, valid_rows, first_example, states, tables) -> (states, bad_flags, activations), as
    step.make_step; the convs of `plans` are gathered from `tables` (TensorFlow only: JAX gets none)."""
    pre_activations = any(layout.inhibiting for layout in layouts)
    if check_backend() == "jax":
        activations = activations_function(chains, pre_activations)
        fold = stream.make_fold(layouts, xla)

        def step(token_ids, valid_rows, first_example, states, tables):
            outputs = activations(token_ids)
            states, flags = fold(token_ids, outputs, valid_rows, first_example, states)
            return states, flags, stream.activations_of(outputs, layouts)

        return step
    gathered = {name: tables_lib.gatherer(plan, xla) for name, plan in (plans or {}).items()}
    return stream.make_step(chains_lib.forward(chains, pre_activations, gathered), layouts, xla)


def activations_function(chains: Sequence[chains_lib.Chain], pre_activations: bool = False
                         ) -> Callable[[Any], dict[str, tf.Tensor]]:
    """token ids -> {conv layer name: float32 activations as TensorFlow tensors}, compiled
    by the backend in use; with `pre_activations`, (activations, pre-activations) pairs."""
    forward = chains_lib.forward(chains, pre_activations)
    if check_backend() != "jax":
        return tf.function(lambda ids: tf.nest.map_structure(lambda x: tf.cast(x, tf.float32), forward(ids)),
                           autograph=False)
    import jax

    variables = _variables(chains)

    def activations(values: list, token_ids: Any) -> dict[str, Any]:
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            outputs = forward(token_ids)
        return jax.tree_util.tree_map(lambda x: keras.ops.cast(x, "float32"), outputs)

    compiled = jax.jit(activations)

    def run(token_ids):
        outputs = compiled([variable.value for variable in variables], np.asarray(token_ids))
        # DLPack hands the CPU buffers over to TensorFlow without a copy.
        return jax.tree_util.tree_map(lambda x: tf.experimental.dlpack.from_dlpack(x.__dlpack__()), outputs)

    return run


def _variables(chains: Sequence[chains_lib.Chain]) -> list:
    """Every variable the chains read (weights, moving statistics), each once."""
    seen: dict[int, Any] = {}
    for chain in chains:
        for layer in chain.layers:
            for variable in layer.variables:
                seen.setdefault(id(variable), variable)
    return list(seen.values())
