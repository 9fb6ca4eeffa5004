"""Reading sharded token ids as batches with global example offsets, and
writing the report as an event file.

`.npy` shards are numbered in file-name order; a shard's first global example
is the sum of the row counts before it, read from the `.npy` headers alone.
Shards are cut into row ranges, spread over the workers (Reshuffle), and read
range by range: nothing holds a whole shard. TFRecord shards (tf.train.Example
with an int64 feature of fixed length under `feature`) have no header to
count from: they are counted in one pass first, and read whole.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import uuid
from typing import Iterator

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from tb_filters import checks
from tb_filters.errors import FiltersError

DEFAULT_BATCH_SIZE = 1024
BATCHES_PER_RANGE = 16  # one read unit per worker task: ~16k rows of a notebook-shaped shard


@dataclasses.dataclass(frozen=True)
class RowRange:
    """Rows [start, stop) of one shard; `first_example` is global."""

    path: str
    start: int
    stop: int
    first_example: int
    feature: str | None = None  # TFRecord shards: the int64 feature holding the ids

    def read(self) -> np.ndarray:
        return _read_tfrecord(self) if self.feature else _read_npy(self)


@dataclasses.dataclass(frozen=True)
class Batch:
    """Token ids [rows, length] from `source` (a shard, for messages), the first row's global
    index, and where to read them again (the counts a merge left unsettled are recounted)."""

    ids: np.ndarray
    first_example: int
    source: str = "<memory>"
    rows: RowRange | None = None

    def reread(self) -> RowRange | np.ndarray:
        return self.rows if self.rows is not None else self.ids


class ReadSequences(beam.PTransform):
    """Sharded token ids as `Batch`es of `batch_size` rows with global example offsets.

    `pattern`: a glob Beam's FileSystems matches (local, gs://, s3://, ...) of
    `.npy` files [rows, tokens] of integers, or, with `feature`, TFRecord files
    of tf.train.Example holding the ids as an int64 list under that key.
    """

    def __init__(self, pattern: str, feature: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__()
        self.pattern, self.feature = pattern, feature
        self.batch_size = checks.integer_at_least("batch_size", batch_size)

    def expand(self, pbegin):
        return (
            pbegin
            | "Pattern" >> beam.Create([self.pattern])
            | "Plan" >> beam.FlatMap(plan_ranges, self.feature, self.batch_size * BATCHES_PER_RANGE)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_batches, self.batch_size)
        )


def match_shards(pattern: str) -> list[str]:
    matched = FileSystems.match([pattern])[0].metadata_list
    paths = sorted(m.path for m in matched)
    if not paths:
        raise FiltersError(f"Expected token-id shards matching --data. Received: {pattern} (no file matches)")
    return paths


def plan_ranges(pattern: str, feature: str | None, rows_per_range: int) -> Iterator[RowRange]:
    """Every shard's row ranges, with global offsets, in file-name order."""
    first = 0
    for path in match_shards(pattern):
        rows = _tfrecord_rows(path, feature) if feature else _npy_header(path)[0][0]
        step = rows if feature else rows_per_range  # TFRecords are read whole
        for start in range(0, rows, max(step, 1)):
            stop = min(start + step, rows)
            yield RowRange(path, start, stop, first + start, feature)
        first += rows
    if first == 0:
        raise FiltersError(f"Expected at least one sequence. Received: {pattern} (the shards hold no rows)")


def _batches(rows: RowRange, batch_size: int) -> Iterator[Batch]:
    ids = rows.read()
    for start in range(0, len(ids), batch_size):
        part = RowRange(rows.path, rows.start + start, min(rows.start + start + batch_size, rows.stop),
                        rows.first_example + start, rows.feature)
        yield Batch(ids[start: start + batch_size], part.first_example, rows.path, part)


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _npy_header(path: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from the header alone."""
    with _open(path) as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
        except ValueError as e:
            raise FiltersError(f"Expected .npy shards. Received: {path} ({e})") from None
        offset = f.tell()
    if len(shape) != 2 or not np.issubdtype(dtype, np.integer) or fortran:
        raise FiltersError(
            f"Expected 2-D integer token ids [examples, tokens] in C order. "
            f"Received: {path} of shape {shape} and dtype {dtype}{' (Fortran order)' if fortran else ''}"
        )
    return shape, dtype, offset


def _read_npy(rows: RowRange) -> np.ndarray:
    shape, dtype, offset = _npy_header(rows.path)
    row_bytes = shape[1] * dtype.itemsize
    with _open(rows.path) as f:
        f.seek(offset + rows.start * row_bytes)
        data = f.read((rows.stop - rows.start) * row_bytes)
    return np.frombuffer(data, dtype).reshape(rows.stop - rows.start, shape[1])


def _records(path: str) -> Iterator[bytes]:
    """TFRecord records through TensorFlow's file systems (local, gs://, s3://, hdfs://)."""
    import tensorflow as tf

    yield from tf.data.TFRecordDataset(path).as_numpy_iterator()


def _tfrecord_rows(path: str, feature: str) -> int:
    return sum(1 for _ in _records(path))


def _read_tfrecord(rows: RowRange) -> np.ndarray:
    import tensorflow as tf

    sequences = []
    for i, record in enumerate(_records(rows.path)):
        example = tf.train.Example.FromString(record)
        if rows.feature not in example.features.feature:
            raise FiltersError(
                f"Expected an int64 feature {rows.feature!r} in every record. "
                f"Received: record {i} of {rows.path} without it (features: {sorted(example.features.feature)})"
            )
        sequences.append(example.features.feature[rows.feature].int64_list.value)
    lengths = {len(s) for s in sequences}
    if len(lengths) > 1:
        raise FiltersError(f"Expected sequences of one length. Received lengths {sorted(lengths)} in {rows.path}")
    return np.asarray(sequences, np.int64).reshape(len(sequences), -1)[rows.start: rows.stop]


class WriteReport(beam.PTransform):
    """Writes the report (one element) at `step` into a new event file in `logdir`,
    as `summary.write_report` does: whole under a temporary name, then renamed.

    The file name carries a token of this transform: a bundle the runner retries
    after the rename finds its file and writes no second one.
    """

    def __init__(self, logdir: str, step: int = 0):
        super().__init__()
        self.logdir, self.step = logdir, checks.integer_at_least("step", step, 0)
        self.token = uuid.uuid4().hex[:12]

    @property
    def suffix(self) -> str:
        return f".tb_filters.{self.token}"

    def expand(self, reports):
        return reports | "Write" >> beam.Map(write_once, self.logdir, self.step, self.suffix)


def written_files(logdir: str, suffix: str) -> list[str]:
    pattern = FileSystems.join(logdir, f"events.out.tfevents.*{suffix}")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def write_once(report, logdir: str, step: int, suffix: str) -> str:
    from tb_filters.format import files, summary

    done = written_files(logdir, suffix) if FileSystems.exists(logdir) else []
    if done:
        return done[0]
    if FileSystems.get_scheme(logdir) is None:  # a local path
        return summary.write_report(logdir, report, step, suffix=suffix)
    with tempfile.TemporaryDirectory() as local:
        written = summary.write_report(local, report, step, suffix=suffix)
        final = FileSystems.join(logdir, os.path.basename(written))
        temp = FileSystems.join(logdir, files.temporary_name())
        with open(written, "rb") as source, FileSystems.create(temp) as target:
            target.write(source.read())
        FileSystems.rename([temp], [final])
    return final
