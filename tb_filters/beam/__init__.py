"""tb_filters on Apache Beam: the same interpretation, from a laptop's
DirectRunner to Dataflow, Flink or Spark (`pip install tb_filters[beam]`).

    with tb_filters.beam.pipeline(["--direct_num_workers", "2",
                                   "--direct_running_mode", "multi_processing"]) as p:
        (p | tb_filters.beam.ReadSequences("shards/*.npy")
           | tb_filters.beam.Interpret("model.keras", vocab="word_index.json", top_k=10)
           | tb_filters.beam.WriteReport("logs/run", step=0))

Workers fold batches into engine/state.py's mergeable state and a
CombineFn merges the parts: the report equals `tb_filters.interpret` on the
concatenated shards, whatever the sharding, the workers or the order. The
plugin, format and engine modules never import apache_beam; this package does.
"""

from tb_filters.beam.interpret import Interpret
from tb_filters.beam.io import Batch, ReadSequences, WriteReport
from tb_filters.beam.runner import pipeline, pipeline_options

__all__ = ["Batch", "Interpret", "ReadSequences", "WriteReport", "pipeline", "pipeline_options"]
