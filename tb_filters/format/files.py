"""Files that appear whole or not at all: written under a temporary name in
the target's directory, synced, then renamed into place. An interrupted
writer (Ctrl-C, SIGTERM, an exception) leaves the old file, or none.

Temporary names start with TEMP_PREFIX and hold no "tfevents", so TensorBoard
never reads a half-written event file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator

TEMP_PREFIX = ".tb_filters-"


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temporary path beside `path`; once the block is done, that file replaces `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp_path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield temp_path
        with open(temp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_path)
        raise


def write_json(path: str, data: Any) -> None:
    """`data` as indented UTF-8 JSON, atomically."""
    with atomic_path(path, suffix=".json.tmp") as temp_path:
        with open(temp_path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
