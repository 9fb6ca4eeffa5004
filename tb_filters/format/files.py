"""Files that appear whole or not at all: written under a temporary name in
the target's directory, synced, then renamed into place. An interrupted
writer (Ctrl-C, SIGTERM, an exception) leaves the old file, or none.

Temporary names start with TEMP_PREFIX and hold no "tfevents", so TensorBoard
never reads a half-written event file.

Files get the mode a plain `open()` would give them (0666 less the umask), so a
TensorBoard running as another user can read them wherever the umask allows.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from typing import Any, Iterator

TEMP_PREFIX = ".tb_filters-"
# What open(path, "w") asks of the kernel; the kernel then takes the umask off.
_OPEN_MODE = 0o666


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temporary path beside `path`; once the block is done, that file replaces `path`."""
    temp_path = _create_temporary(os.path.dirname(os.path.abspath(path)), suffix)
    try:
        yield temp_path
        with open(temp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_path)
        raise


def _create_temporary(folder: str, suffix: str) -> str:
    """A new empty file in `folder`, created with open()'s mode, never an existing one.

    Not tempfile.mkstemp: it creates with 0600, which the rename would keep.
    Passing 0666 to os.open lets the kernel apply the umask (and a default ACL)
    as it does for open(), so the umask is never read: os.umask can only be read
    by setting it, which is process-wide and would race with other threads
    creating files. O_EXCL keeps mkstemp's guarantee that the name is ours alone.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = os.path.join(folder, temporary_name(suffix))
        try:
            os.close(os.open(temp_path, flags, _OPEN_MODE))
            return temp_path
        except FileExistsError:
            continue


def temporary_name(suffix: str = ".tmp") -> str:
    """A fresh temporary file name (no folder): also for writers to other file systems (Beam's)."""
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"


def write_json(path: str, data: Any) -> None:
    """`data` as indented UTF-8 JSON, atomically."""
    with atomic_path(path, suffix=".json.tmp") as temp_path:
        with open(temp_path, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
