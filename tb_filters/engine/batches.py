"""Token-id batches from arrays, memory maps, iterables and tf.data datasets.

Every batch comes out as a 2-D integer numpy array; nothing here holds more
than one batch, so memory-mapped data is read one slice at a time.
"""

from __future__ import annotations

import mmap
from typing import Any, Callable, Iterator

import numpy as np

from tb_filters import checks
from tb_filters.errors import FiltersError


def batches(sequences: Any, batch_size: int) -> Iterator[np.ndarray]:
    """Yields [rows, length] integer arrays; raises FiltersError for bad data."""
    array = _as_array(sequences)
    if array is not None:
        _check(array, "sequences")
        if array.shape[0] == 0:
            raise FiltersError(f"Expected at least one sequence. Received an empty array of shape {array.shape}")
        release = _page_releaser(array)
        for start in range(0, array.shape[0], batch_size):
            yield np.asarray(array[start: start + batch_size])
            release(start + batch_size)
        return
    if not hasattr(sequences, "__iter__") or isinstance(sequences, (str, bytes, dict)):
        raise FiltersError(
            "Expected sequences as a 2-D integer array [examples, tokens], an iterable of such batches "
            f"or a tf.data.Dataset. Received: {type(sequences).__name__}"
        )
    seen = 0
    for item in sequences:
        batch = _to_numpy(item[0] if isinstance(item, (tuple, list)) else item)
        _check(batch, f"batch {seen}")
        seen += 1
        if batch.shape[0]:
            yield batch
    if seen == 0:
        raise FiltersError(f"Expected at least one batch of sequences. Received an empty {type(sequences).__name__}")


def known_examples(sequences: Any) -> int | None:
    """The number of examples when the data says it up front (arrays, tensors), else None."""
    shape = getattr(sequences, "shape", None) if isinstance(sequences, np.ndarray) or _is_tensor(sequences) else None
    if shape is not None and len(shape) == 2 and shape[0] is not None:
        return int(shape[0])
    return None


def _page_releaser(array: np.ndarray) -> Callable[[int], None]:
    """For a read-only memory map: release(rows) drops the pages of rows already read.

    Pages of a file mapping count in the process's resident memory until the
    kernel needs them back; dropping them as the pass moves on keeps memory
    bounded by the batch, not by the file. They are re-read from the file
    (or the page cache) if touched again; a read-only map holds no changes to lose.
    """
    mapping = getattr(array, "_mmap", None)
    usable = (
        isinstance(array, np.memmap) and array.mode == "r" and mapping is not None
        and array.flags.c_contiguous and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED")
    )
    if not usable:
        return lambda rows: None
    data_start = array.ctypes.data - np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    released = data_start - data_start % mmap.PAGESIZE

    def release(rows: int) -> None:
        nonlocal released
        end = min(data_start + rows * array.strides[0], len(mapping))
        end -= end % mmap.PAGESIZE  # a partly read page stays
        if end > released:
            mapping.madvise(mmap.MADV_DONTNEED, released, end - released)
            released = end

    return release


def _as_array(sequences: Any) -> np.ndarray | None:
    """The data as one array when it is one (numpy, memmap, a tensor, nested lists)."""
    if isinstance(sequences, np.ndarray):
        return sequences
    if _is_tensor(sequences):
        return _to_numpy(sequences)
    if isinstance(sequences, list) and sequences and not _is_batch_like(sequences[0]):
        try:
            return np.asarray(sequences)
        except ValueError:
            raise FiltersError(
                "Expected sequences as a 2-D integer array [examples, tokens]. Received ragged nested lists"
            ) from None
    return None


def _is_batch_like(item: Any) -> bool:
    return isinstance(item, tuple) or _is_tensor(item) or (isinstance(item, np.ndarray) and item.ndim == 2)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "numpy") and hasattr(value, "shape")


def _to_numpy(value: Any) -> np.ndarray:
    if _is_tensor(value):
        if getattr(value, "dtype", None) is not None and value.dtype.name == "string":
            raise FiltersError(
                "Expected integer token ids. Received strings; tokenize them first "
                "(the engine reads ids fed after the model's TextVectorization)"
            )
        return value.numpy()
    return np.asarray(value)


def _check(array: np.ndarray, what: str) -> None:
    unbatched = array.ndim == 1 and what != "sequences"
    hint = "; batch single sequences first, e.g. dataset.batch(1024)" if unbatched else ""
    checks.token_ids(array, what, hint=hint, allow_empty=True)
