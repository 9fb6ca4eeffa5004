"""`Interpret`: `Batch`es -> one Report, through engine/state.py's merge.

    batches --Fold (a run per bundle)--> LayerStates --MergeStates (CombineFn)--> merged
    batches' row ranges --Recount (only unsettled windows, token ids only)--> counts
    merged + counts --Settle, Assemble--> Report

Each worker loads the model once (DoFn.setup through a `Shared` handle, from
any path Beam's FileSystems opens; never pickled) and folds each bundle's
batches with the in-process engine, at their global example offsets. The
combine is `state.merge`: associative, commutative and deterministic, so the
report depends on neither the bundles, their order nor retries (a retried
bundle's output replaces the failed attempt's). The recount pass reads the
rows again only when a merge left some counts unsettled (ties at a filter's
k-th value; see state.py), and then hashes token windows, without the model.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any, Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window
from apache_beam.utils import shared
from apache_beam.utils.windowed_value import WindowedValue

from tb_filters import checks
from tb_filters.beam.io import Batch, RowRange
from tb_filters.engine import state as state_lib
from tb_filters.errors import FiltersError
from tb_filters.options import Options

_REREAD = "reread"


@dataclasses.dataclass(frozen=True, eq=False)  # arrays inside: identity, not value equality
class _Spec:
    """What every worker needs to rebuild the engine: paths, options and the sample's other inputs; no model."""

    model_path: str
    weights: str | None
    layers: tuple[str, ...] | None
    vocab: Any
    options: Options
    inputs: tuple[tuple[str, np.ndarray], ...] = ()


class Interpret(beam.PTransform):
    """`Batch`es (see ReadSequences) -> one `Report`, equal to `tb_filters.interpret` on
    all the rows in global order.

    `model_path` (and `weights`, `vocab` when they are paths) are opened with Beam's
    FileSystems on the workers: local paths for the DirectRunner, gs://... for Dataflow.
    `vocab` may also be a list or dict (shipped with the pipeline), or None to read the
    model's TextVectorization/StringLookup. `options` (a `tb_filters.Options`, or its
    fields by keyword) and `inputs` mean what they mean for `tb_filters.interpret`;
    only the rows of `inputs` that the effects read (the first `effect_examples`) are
    shipped to the workers with the pipeline.
    """

    def __init__(
        self,
        model_path: str,
        layers: str | Sequence[str] | None = None,
        vocab: Any = None,
        weights: str | None = None,
        *,
        options: Options | None = None,
        inputs: Mapping[str, Any] | None = None,
        **option_values: Any,
    ):
        super().__init__()
        options = Options.build(options, **option_values)
        layers = checks.layer_names(layers)
        self.spec = _Spec(model_path, weights, tuple(layers) if layers else None, vocab, options,
                          _sample_rows(inputs, options.effect_examples))
        self.handle = shared.Shared()

    def expand(self, batches):
        folded = batches | "Fold" >> beam.ParDo(_Fold(self.spec, self.handle)).with_outputs(_REREAD, main="states")
        merged = folded.states | "Merge" >> beam.CombineGlobally(MergeStates())
        wanted = merged | "Unsettled" >> beam.Map(_wanted)
        counts = (
            folded[_REREAD]
            | "Recount" >> beam.ParDo(_Recount(), beam.pvalue.AsSingleton(wanted))
            | "AddCounts" >> beam.CombineGlobally(AddCounts())
        )
        return (
            merged
            | "Settle" >> beam.Map(_settle, beam.pvalue.AsSingleton(wanted), beam.pvalue.AsSingleton(counts))
            | "Assemble" >> beam.ParDo(_Assemble(self.spec, self.handle))
        )


class MergeStates(beam.CombineFn):
    """{layer: LayerState} parts -> their merge; None for no parts."""

    def create_accumulator(self):
        return None

    def add_input(self, accumulator, states):
        return states if accumulator is None else state_lib.merge_runs(accumulator, states)

    def merge_accumulators(self, accumulators):
        parts = [a for a in accumulators if a is not None]
        if not parts:
            return None
        result = parts[0]
        for part in parts[1:]:
            result = state_lib.merge_runs(result, part)
        return result

    def extract_output(self, accumulator):
        return accumulator


class AddCounts(beam.CombineFn):
    """{layer: counts of the wanted hashes} summed over batches."""

    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, counts):
        return self.merge_accumulators([accumulator, counts])

    def merge_accumulators(self, accumulators):
        total: dict[str, np.ndarray] = {}
        for part in accumulators:
            for layer, counts in part.items():
                total[layer] = total[layer] + counts if layer in total else counts.copy()
        return total

    def extract_output(self, accumulator):
        return accumulator


class _Engine:
    """A worker's model, layer chains and vocabulary (weak-referenceable for `Shared`)."""

    def __init__(self, spec: _Spec):
        from tb_filters.engine import interpret as interpret_lib
        from tb_filters.engine import models
        from tb_filters.engine import vocab as vocab_lib

        self.spec = spec
        with tempfile.TemporaryDirectory(prefix="tb_filters-model-") as local:
            model_path = _local_copy(spec.model_path, local)
            weights = _local_copy(spec.weights, local) if spec.weights else None
            self.model = models.load_model(model_path, weights=weights)
            vocab = spec.vocab
            if isinstance(vocab, str):
                vocab = _local_copy(vocab, local)
            self.vocabulary = vocab_lib.load_vocabulary(vocab, self.model)
        self._interpret = interpret_lib
        first = self.start()
        self.chains, self.described = first.chains, first.described

    def start(self):
        spec = self.spec
        return self._interpret.start(self.model, spec.layers, self.vocabulary, options=spec.options,
                                     inputs=dict(spec.inputs))


def _sample_rows(inputs: Mapping[str, Any] | None, limit: int) -> tuple[tuple[str, np.ndarray], ...]:
    """The other inputs' rows the effects read: the sample is the first `limit` examples (0: all)."""
    return tuple((name, np.asarray(array if limit == 0 else array[:limit]))
                 for name, array in checks.named_inputs(inputs).items())


def _local_copy(path: str, folder: str) -> str:
    """`path` itself if local, else a copy in `folder` (Keras and h5py read local files)."""
    if FileSystems.get_scheme(path) is None:
        return path
    if not FileSystems.exists(path):
        raise FiltersError(f"Expected a file Beam's FileSystems can open. Received: {path} (not found)")
    local = os.path.join(folder, os.path.basename(path.rstrip("/")))
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as source, open(local, "wb") as target:
        while chunk := source.read(1 << 24):
            target.write(chunk)
    return local


class _WithEngine(beam.DoFn):
    def __init__(self, spec: _Spec, handle: shared.Shared):
        self.spec, self.handle = spec, handle

    def setup(self):
        # One handle per Interpret transform: its Fold and Assemble steps share the model.
        self.engine = self.handle.acquire(lambda: _Engine(self.spec), tag="engine")


class _Fold(_WithEngine):
    """A run of the in-process engine per bundle; its state when the bundle ends."""

    def start_bundle(self):
        self.run = None

    def process(self, batch: Batch):
        if self.run is None:
            self.run = self.engine.start()
        size = self.spec.options.batch_size
        for start in range(0, len(batch.ids), size):
            first = batch.first_example + start
            try:
                self.run.feed(np.asarray(batch.ids[start: start + size]), first)
            except FiltersError as e:
                raise FiltersError(f"{e} (shard {batch.source})") from None
        yield beam.pvalue.TaggedOutput(_REREAD, batch.reread())

    def finish_bundle(self):
        if self.run is not None and self.run.examples:
            yield WindowedValue(self.run.layer_states(), window.MIN_TIMESTAMP, [window.GlobalWindow()])
        self.run = None


def _wanted(states):
    if states is None:
        return {}
    return {name: (state.layout, state_lib.wanted_hashes(state)) for name, state in states.items()}


class _Recount(beam.DoFn):
    """Occurrences of the unsettled windows in a batch's rows; nothing when all are settled."""

    def process(self, rows: RowRange | np.ndarray, wanted):
        if not any(len(hashes) for _, hashes in wanted.values()):
            return
        ids = rows.read() if isinstance(rows, RowRange) else rows
        yield {name: state_lib.count_windows(layout, hashes, ids) for name, (layout, hashes) in wanted.items()}


def _settle(states, wanted, counts):
    if states is None:
        return None
    return {
        name: state_lib.with_counts(state, wanted[name][1], counts[name]) if name in counts else state
        for name, state in states.items()
    }


class _Assemble(_WithEngine):
    def process(self, states):
        if states is None:
            raise FiltersError("Expected at least one sequence. Received none")
        from tb_filters.engine import assemble

        yield assemble.report(self.engine.chains, states, self.engine.vocabulary, self.engine.described,
                              self.spec.options)
