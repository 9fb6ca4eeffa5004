"""Loading token-id data for the CLI (.npy memory-mapped, .npz by key)."""

from __future__ import annotations

import numpy as np
import pytest

from tb_filters.cli import loading
from tb_filters.errors import FiltersError

# -- data ----------------------------------------------------------------------------------


def test_npy_is_memory_mapped(tmp_path):
    ids = np.arange(12, dtype="int32").reshape(3, 4)
    np.save(tmp_path / "ids.npy", ids)
    loaded = loading.load_sequences(str(tmp_path / "ids.npy"))
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, ids)


def test_npz_by_key_and_single_array(tmp_path):
    ids = np.arange(12, dtype="int64").reshape(3, 4)
    np.savez(tmp_path / "two.npz", x_train=ids, y_train=np.zeros(3))
    np.savez(tmp_path / "one.npz", ids=ids)
    np.testing.assert_array_equal(loading.load_sequences(f"{tmp_path}/two.npz:x_train"), ids)
    np.testing.assert_array_equal(loading.load_sequences(f"{tmp_path}/one.npz"), ids)


@pytest.mark.parametrize(
    "make, spec, match",
    [
        (lambda d: np.savez(d / "a.npz", x=np.zeros((2, 2), "int32"), y=np.zeros(2)), "a.npz",
         "valid keys: x, y"),
        (lambda d: np.savez(d / "a.npz", x=np.zeros((2, 2), "int32")), "a.npz:nope", r"a\.npz:nope; valid keys: x"),
        (lambda d: np.save(d / "a.npy", np.zeros((2, 3), "float32")), "a.npy",
         r"2-D integer array .* shape \(2, 3\), dtype float32"),
        (lambda d: np.save(d / "a.npy", np.zeros((2, 3, 1), "int32")), "a.npy", r"shape \(2, 3, 1\), dtype int32"),
        (lambda d: np.save(d / "a.npy", np.zeros((0, 32), "int32")), "a.npy", r"at least one example.*\(0, 32\)"),
        (lambda d: np.save(d / "a.npy", np.array([{"a": 1}], dtype=object)), "a.npy", "not a numeric .npy"),
        (lambda d: (d / "a.npy").write_bytes(b"garbage"), "a.npy", "not a numeric .npy"),
        (lambda d: None, "missing.npy", "does not exist"),
        (lambda d: (d / "a.csv").write_text("1,2"), "a.csv", r"ending in \.npy or \.npz"),
    ],
)
def test_bad_data_raises(tmp_path, make, spec, match):
    make(tmp_path)
    with pytest.raises(FiltersError, match=match):
        loading.load_sequences(str(tmp_path / spec))
