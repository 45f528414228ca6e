"""Atomic output: whole files or nothing, ordinary permissions."""
import os

import numpy as np
import pytest

from brainsim import io


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_file_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        target = tmp_path / "a.npy"
        io.save_npy(target, np.arange(3))
        io.save_npy(target, np.arange(5))
        assert np.array_equal(np.load(target), np.arange(5))
        assert os.stat(target).st_mode & 0o777 == 0o644
        assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]
    finally:
        os.umask(old)


def test_check_writable(tmp_path):
    from brainsim.errors import UserError

    assert io.check_writable(tmp_path / "x.png") == tmp_path / "x.png"
    with pytest.raises(UserError, match="does not exist"):
        io.check_writable(tmp_path / "missing" / "x.png")
    with pytest.raises(UserError, match="directory"):
        io.check_writable(tmp_path)
