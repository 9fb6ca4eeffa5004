"""Loading token-id data, other inputs and texts from files, for the CLI.

Data: `.npy` (memory-mapped) or `.npz` with `file.npz:key`; texts: `.txt`,
`file.csv:COLUMN`, `file.jsonl:FIELD`. Models load in `engine/models.py`.

Every failure is a FiltersError that says what was received and what is valid.
"""

from __future__ import annotations

import json
import os

import numpy as np

from tb_filters import checks
from tb_filters.engine.models import file_suffix as _suffix
from tb_filters.engine.models import first_line as _first_line
from tb_filters.errors import FiltersError

DATA_SUFFIXES = (".npy", ".npz")


# -- data ----------------------------------------------------------------------


def load_sequences(spec: str) -> np.ndarray:
    """Token ids [N, L] from `file.npy` (memory-mapped) or `file.npz:key`."""
    return checks.token_ids(load_array(spec), os.fspath(spec))


def load_named_inputs(specs: list[str] | None) -> dict[str, np.ndarray]:
    """The model's other inputs from `NAME=FILE.npy` (or NAME=file.npz:key) items."""
    inputs: dict[str, np.ndarray] = {}
    for item in specs or ():
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise FiltersError(f"Expected --input NAME=FILE.npy. Received: --input {item}")
        if name in inputs:
            raise FiltersError(f"Expected each --input name once. Received {name!r} twice")
        inputs[name] = load_array(spec)
    return inputs


def load_array(spec: str) -> np.ndarray:
    """A numeric array from `file.npy` (memory-mapped) or `file.npz:key`."""
    spec = os.fspath(spec)
    path, key = _split_spec(spec)
    if _suffix(path) not in DATA_SUFFIXES:
        raise FiltersError(f"Expected data ending in .npy or .npz (as file.npz:key). Received: {spec}")
    if not os.path.isfile(path):
        raise FiltersError(f"The data file does not exist. Received: {path}")
    try:
        array = _read_npy(path) if _suffix(path) == ".npy" else _read_npz(path, key)
    except OSError as e:
        raise FiltersError(f"The data file is not readable. Received: {path} ({_first_line(e)})") from None
    return array


def _split_spec(spec: str) -> tuple[str, str | None]:
    path, sep, key = spec.rpartition(":")
    if sep and _suffix(path) == ".npz":
        return path, key
    return spec, None


def _read_npy(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise FiltersError(
            f"The data file is not a numeric .npy array. Received: {path} ({_first_line(e)})"
        ) from None


def _read_npz(path: str, key: str | None) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise FiltersError(f"The data file is not a valid .npz archive. Received: {path} ({_first_line(e)})") from None
    with archive:
        keys = list(archive.files)
        if key is None and len(keys) == 1:
            key = keys[0]
        if key not in keys:
            received = f"{path}:{key}" if key is not None else path
            raise FiltersError(
                f"Expected file.npz:KEY naming an array in the archive. Received: {received}; "
                f"valid keys: {', '.join(keys) or '(the archive is empty)'}"
            )
        try:
            return archive[key]
        except ValueError as e:
            raise FiltersError(f"Array {key!r} in {path} does not load ({_first_line(e)})") from None


# -- texts -------------------------------------------------------------------


def load_texts(spec: str) -> list[str]:
    """One example per line of `file.txt`, per row of `file.csv:column`, per object of `file.jsonl:field`."""
    spec = os.fspath(spec)
    path, sep, key = spec.rpartition(":")
    if not sep or _suffix(path) not in (".csv", ".jsonl"):
        path, key = spec, None
    suffix = _suffix(path)
    if suffix in (".csv", ".jsonl") and not key:
        what = "column" if suffix == ".csv" else "field"
        raise FiltersError(f"Expected {path}:{what.upper()} naming the {what} that holds the texts. Received: {spec}")
    if not os.path.isfile(path):
        raise FiltersError(f"The texts file does not exist. Received: {path}")
    try:
        with open(path, encoding="utf-8", newline="" if suffix == ".csv" else None) as f:
            texts = _csv_column(f, key, path) if suffix == ".csv" else (
                _jsonl_field(f, key, path) if suffix == ".jsonl" else f.read().splitlines())
    except UnicodeDecodeError as e:
        raise FiltersError(f"Expected UTF-8 texts. Received: {path} ({_first_line(e)})") from None
    except OSError as e:
        raise FiltersError(f"The texts file is not readable. Received: {path} ({_first_line(e)})") from None
    if not any(text.strip() for text in texts):
        raise FiltersError(f"Expected at least one non-empty text. Received: {spec} ({len(texts)} empty examples)")
    return texts


def _csv_column(f, column: str, path: str) -> list[str]:
    import csv

    reader = csv.DictReader(f)
    if reader.fieldnames is None or column not in reader.fieldnames:
        columns = ", ".join(reader.fieldnames or []) or "(no header row)"
        raise FiltersError(f"Expected a column {column!r} in {path}. Received columns: {columns}")
    try:
        return [row[column] or "" for row in reader]
    except csv.Error as e:
        raise FiltersError(f"Expected a CSV file. Received: {path} ({e})") from None


def _jsonl_field(f, field: str, path: str) -> list[str]:
    texts = []
    for number, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise FiltersError(f"Expected one JSON object per line. Received: {path} line {number} ({e})") from None
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            found = f"keys {sorted(record)}" if isinstance(record, dict) else f"a {type(record).__name__}"
            raise FiltersError(
                f"Expected a text field {field!r} in every line of {path}. Received line {number} with {found}"
                + (f" ({field!r}: {value!r})" if isinstance(record, dict) and field in record else "")
            )
        texts.append(value)
    return texts
