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


@pytest.mark.parametrize("failing", ["write", "rename"])
def test_a_full_disk_keeps_the_previous_file_and_says_so_in_one_line(tmp_path, monkeypatch, failing):
    import errno

    from brainsim.errors import UserError

    target = tmp_path / "checkpoint.npz"
    io.save_npz(target, x=np.arange(3))
    before = target.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "rename":
        monkeypatch.setattr(io.os, "replace", full)
    with pytest.raises(UserError) as caught:
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half a checkpoint")
            if failing == "write":
                full()
    assert str(caught.value) == f"cannot write {target}: No space left on device"
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]   # the temporary file is gone
