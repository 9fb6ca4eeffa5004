"""`interpret`: every filter's top token windows, in one streaming pass.

The model is cut down to the layers between the token ids and the requested
conv layers (chains.py); one compiled step per batch computes them all and
folds them into running top-k windows and statistics (step.py); after the
pass the state comes out as one `state.LayerState` per layer (the object the
Beam pipeline merges), and its winners get their contributions and become a
Report (assemble.py).
"""

from __future__ import annotations

import collections
import weakref
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tb_filters import checks
from tb_filters.engine import assemble, backends, receptive
from tb_filters.engine import batches as batches_lib
from tb_filters.engine import chains as chains_lib
from tb_filters.engine import effects as effects_lib
from tb_filters.engine import state as state_lib
from tb_filters.engine import step as stream
from tb_filters.engine import tables as tables_lib
from tb_filters.engine import texts as texts_lib
from tb_filters.engine import vocab as vocab_lib
from tb_filters.errors import FiltersError
from tb_filters.format.report import Report
from tb_filters.options import Options


def interpret(
    model: Any,
    sequences: Any = None,
    layers: str | Sequence[str] | None = None,
    vocab: Any = None,
    *,
    options: Options | None = None,
    progress: Callable[[int], Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    texts: Sequence[str] | None = None,
    tokenizer: Any = None,
    **option_values: Any,
) -> Report:
    """Finds each conv filter's top-k token windows over `sequences` (or `texts`).

    Args:
        model: a Functional or Sequential Keras 3 model.
        sequences: token ids [examples, tokens] as a numpy array or memmap, or
            an iterable of such batches / a tf.data.Dataset (tuple elements:
            the first item).
        layers: conv layer name(s); default every Conv1D, in model order.
        vocab: see `vocab.load_vocabulary`; None reads the model's
            TextVectorization/StringLookup, else shows ids as numbers.
        options: a `tb_filters.Options` (what to compute and keep: top_k,
            distinct, batch_size, effects, slot preferences, ...; see its fields).
        **option_values: any Options field by keyword (`top_k=5`), over `options`.
        progress: called with the number of examples done after each batch.
        inputs: the model's other inputs by name ({"meta": X_meta}, a row per
            example), needed for the effects when the outputs read them;
            without them the effects are skipped with a note (EffectsSkipped warning).
        texts: raw texts instead of `sequences`, one example each; windows
            then also hold each token's original text (`Window.originals`).
        tokenizer: for `texts`: a Keras Tokenizer (or its `to_json()` file or
            text) or a TextVectorization/StringLookup layer; default the
            model's own TextVectorization/StringLookup layer.

    What the options mean (tb_filters/options.py declares each with its default):
        top_k windows per filter; `distinct` lists k distinct token windows with
        occurrence counts, else the raw top-k (example, position) pairs. `effects`:
        each filter's effect on every output unit by ablation, over the first
        `effect_examples` examples (0: all), which also give the correlations behind
        duplicates (`duplicate_threshold`). `slot_top_n`: per filter and slot, the
        tokens that raise/lower it most, among tokens seen `min_count` times; a
        token's score in slot j is dot(kernel[j, :, f], its conv input vector).
        `inhibiting` (opt-in: a second top-k fold per batch, about +25% of the time
        on the notebook-shaped workload, make bench T2) keeps the windows of lowest
        pre-activation; `contexts` (opt-in: about +3% of the time and ~5x the
        payload at top-100) keeps each window's whole example. `pattern_share`: see
        `patterns.py`. `probe_examples`: each filter's signature, its maximum activation
        on each of the first N examples (the probe; 2 bytes x filters x N per layer),
        which tb_filters.match compares across runs probed on the same examples.

    Example:
        report = tb_filters.interpret(model, x_test, vocab="word_index.json", top_k=10)
        for f in report["conv_1"].filters:
            print(f.index, [w.words for w in f.windows[:3]], f.dead, f.effects[:1])
        report = tb_filters.interpret(model, texts=["not good at all", ...], tokenizer="tokenizer.json")
    """
    options = Options.build(options, **option_values)
    tokenized = None
    if texts is not None or sequences is None or tokenizer is not None:
        chains = chains_lib.find_chains(model, checks.layer_names(layers))
        tokenized, vocab = texts_lib.tokenized_input(model, chains, sequences, texts, tokenizer, vocab)
        sequences = tokenized.ids
    run = start(model, layers, vocab, options=options, inputs=inputs,
                expected_examples=batches_lib.known_examples(sequences))
    for batch in batches_lib.batches(sequences, options.batch_size):
        run.feed(batch)
        if progress is not None:
            progress(run.examples)
    report = run.report()
    return report if tokenized is None else texts_lib.with_originals(report, tokenized)


def start(
    model: Any,
    layers: str | Sequence[str] | None = None,
    vocab: Any = None,
    *,
    options: Options | None = None,
    inputs: Mapping[str, Any] | None = None,
    expected_examples: int | None = None,
    **option_values: Any,
) -> "_Run":
    """A run to feed batch by batch, each with its first example's global index;
    `run.layer_states()` is its mergeable state (tb_filters.beam folds shards so),
    `run.described` what its report says besides the numbers. Arguments as `interpret`'s."""
    backends.check_backend()
    options = Options.build(options, **option_values)
    chains = chains_lib.find_chains(model, checks.layer_names(layers))
    vocabulary = vocab_lib.load_vocabulary(vocab, model)
    sample = effects_lib.Sample(model, chains, effects_lib.check_inputs(model, chains, inputs), options,
                                expected_examples)
    return _Run(model, chains, vocabulary, options, expected_examples, sample)


class _Run:
    """The state of one interpret call: set up on the first batch, fed batch by batch."""

    def __init__(
        self,
        model: Any,
        chains: list[chains_lib.Chain],
        vocabulary: vocab_lib.Vocabulary,
        options: Options,
        expected_examples: int | None,
        sample: effects_lib.Sample,
    ):
        self.model = model
        self.options = options
        self.sample = sample
        self.expected_examples = expected_examples
        self.chains = chains
        self.vocabulary = vocabulary
        self.examples = 0
        self.length: int | None = None
        self.rows = 0
        self.id_limit, self.id_limit_reason = _id_limit(chains, vocabulary)

    def _start(self, length: int) -> None:
        for chain in self.chains:
            fixed = chain.fixed_length
            if fixed is not None and fixed != length:
                raise FiltersError(
                    f"Expected sequences of {fixed} tokens (model input {chain.feed_name!r}). "
                    f"Received sequences of {length} tokens"
                )
        self.length = length
        counted = self.options.slot_top_n > 0 and any(chain.feeds_on_embedding for chain in self.chains)
        self.layouts = [self._layout(chain, length, self.id_limit if counted else 0) for chain in self.chains]
        plans = self._table_plans(length)
        self.step = _compiled_step(self.model, self.chains, self.layouts, self._worth_xla(), plans)
        # Built from the weights as they are now: a callback's next epoch builds its own.
        self.tables = {name: tables_lib.projections(plan) for name, plan in plans.items()}
        # Counted in numpy, beside the step, which would carry (and copy) a vocabulary-sized tensor
        # from batch to batch; in place (np.add.at), as a bincount's vocabulary-sized array per
        # batch costs a fresh allocation's page faults.
        self.token_counts = np.zeros(self.id_limit, np.int64) if counted else None
        self.states = stream.initial_states(self.layouts)

    def _table_plans(self, length: int) -> dict[str, tables_lib.Plan]:
        """The convs this run gathers from projection tables (tables.py): where they apply,
        under TensorFlow, within `table_memory_mb`, and where the run's size pays for building them."""
        if backends.check_backend() != "tensorflow":
            return {}
        known = self.expected_examples is not None
        return {name: plan for name, plan in tables_lib.plans(self.chains).items()
                if tables_lib.worth_it(plan, self.expected_examples * plan.output_length(length) if known else None,
                                       self.options.table_memory_mb << 20)}

    def _worth_xla(self) -> bool:
        """XLA compilation pays off past some work; data of unknown size may be large."""
        if self.expected_examples is None:
            return True
        per_example = sum(layout.output_length * layout.num_filters for layout in self.layouts)
        return self.expected_examples * per_example >= XLA_MIN_ACTIVATIONS

    def _layout(self, chain: chains_lib.Chain, length: int, token_count_size: int) -> state_lib.Layout:
        steps = chain.steps(length)
        output_length = receptive.output_length(steps, length)
        if output_length < 1:
            raise FiltersError(
                f"Expected sequences long enough for layer {chain.name!r} (its output would have "
                f"{output_length} positions). Received sequences of {length} tokens"
            )
        return state_lib.Layout(
            name=chain.name,
            num_filters=int(chain.conv.filters),
            top_k=self.options.top_k,
            distinct=self.options.distinct,
            span=receptive.compose(steps),
            input_length=length,
            output_length=output_length,
            boundary_keys=tuple(receptive.boundary_keys(steps, length).tolist()),
            outputs=self.sample.outputs,
            inhibiting=self.options.inhibiting,
            token_count_size=token_count_size,
            interval_samples=self.options.interval_samples,
            probe_examples=self.sample.probe,
        )

    def feed(self, batch: np.ndarray, first_example: int | None = None) -> None:
        """Folds a batch in; `first_example` is its first row's global index
        (default: right after the examples fed so far)."""
        first = self.examples if first_example is None else int(first_example)
        if self.length is None:
            self._start(batch.shape[1])
        elif batch.shape[1] != self.length:
            raise FiltersError(
                f"Expected every batch to hold sequences of {self.length} tokens, like the first. "
                f"Received a batch of shape {tuple(batch.shape)}"
            )
        self._check_ids(batch, first)
        if self.token_counts is not None:
            np.add.at(self.token_counts, batch.ravel(), 1)
        valid = batch.shape[0]
        self.rows = max(self.rows, valid)
        if valid == self.rows:
            ids = batch.astype(np.int32, copy=False)  # ids were checked against the embedding size
        else:
            # A short batch is padded to the compiled shape; the step ignores rows past `valid`.
            ids = np.zeros((self.rows, self.length), np.int32)
            ids[:valid] = batch
        self.states, flags, activations = self.step(
            tf.constant(ids), tf.constant(valid, tf.int32), tf.constant(first, tf.int64), self.states, self.tables
        )
        self._check_finite(flags, first)
        self.sample.feed(ids, valid, first, activations)
        self.examples += valid

    def _check_ids(self, batch: np.ndarray, first: int) -> None:
        low, high = int(batch.min()), int(batch.max())
        if low >= 0 and (self.id_limit is None or high < self.id_limit):
            return
        bad = low if low < 0 else high
        row = int(np.argwhere(batch == bad)[0][0])
        limit = "" if self.id_limit is None else f", < {self.id_limit} ({self.id_limit_reason})"
        raise FiltersError(
            f"Expected token ids >= 0{limit}. Received token id {bad} in example {first + row}"
        )

    def _check_finite(self, flags: dict[str, tf.Tensor], first: int) -> None:
        for name, flag in flags.items():
            bad = np.flatnonzero(flag.numpy())
            if bad.size:
                raise FiltersError(
                    f"Expected finite activations. Received NaN or infinite values in layer {name!r}, "
                    f"filter {int(bad[0])} (examples {first}..{first + self.rows - 1})"
                )

    def layer_states(self) -> dict[str, state_lib.LayerState]:
        """The state so far, per layer, as the mergeable numpy object."""
        if self.length is None:
            raise FiltersError("Expected at least one sequence. Received none")
        return {
            layout.name: state_lib.LayerState.from_arrays(layout, self.examples, {
                **{key: tensor.numpy() for key, tensor in self.states["layers"][layout.name].items()},
                **({} if self.token_counts is None else {"token_counts": self.token_counts}),
                **self.sample.arrays(layout.name),
            })
            for layout in self.layouts
        }

    @property
    def described(self) -> effects_lib.Described:
        return self.sample.described

    def report(self) -> Report:
        return assemble.report(self.chains, self.layer_states(), self.vocabulary, self.described, self.options)



# Below this many activations (examples x positions x filters, all layers) a
# run skips XLA. On the notebook-shaped workload compiling the kernels took
# 0.4-0.8 s and they saved 15-30 ms per batch of 1024 x 32 x 64 activations
# (2M): even at about 25 batches. Tests lower it to 0 to cover both variants.
XLA_MIN_ACTIVATIONS = 50_000_000

# The last few compiled steps: a callback interprets the same model every
# epoch, and tracing and compiling again would cost about a second each time.
# A step holds its layers (so their ids in the key cannot be reused
# meanwhile) and their weights: it is dropped when its model is.
_STEPS: collections.OrderedDict[tuple, Callable] = collections.OrderedDict()
_STEPS_KEPT = 4


def _compiled_step(
    model: Any, chains: list[chains_lib.Chain], layouts: list[state_lib.Layout], xla: bool,
    plans: dict[str, tables_lib.Plan],
) -> Callable:
    layouts = [layout.for_step() for layout in layouts]
    key = (tuple(tuple(id(layer) for layer in chain.layers) for chain in chains), tuple(layouts), xla,
           tuple(sorted(plans)))
    if key in _STEPS:
        _STEPS.move_to_end(key)
        return _STEPS[key]
    step = backends.make_step(chains, layouts, xla, plans)
    _STEPS[key] = step
    weakref.finalize(model, _STEPS.pop, key, None)
    while len(_STEPS) > _STEPS_KEPT:
        _STEPS.popitem(last=False)
    return step


def _id_limit(chains: list[chains_lib.Chain], vocabulary: vocab_lib.Vocabulary) -> tuple[int | None, str]:
    """The smallest exclusive upper bound on token ids, and where it comes from."""
    limits = [(int(chain.embedding.input_dim), f"embedding {chain.embedding.name!r} input_dim") for chain in chains]
    if vocabulary.size is not None:
        limits.append((vocabulary.size, f"vocabulary size from {vocabulary.source}"))
    return min(limits)
