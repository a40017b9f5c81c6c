"""Loaders for the full public image sets, from a folder the user gives.

Formats:
- CIFAR-10, python version (Krizhevsky 2009): pickled dicts ``data_batch_1`` .. ``data_batch_5``
  and ``test_batch`` with ``b"data"`` ``(N, 3072)`` uint8 (channel-major 3x32x32) and
  ``b"labels"`` (N ints), in ``cifar-10-batches-py/`` or the folder itself.
- MNIST / Fashion-MNIST / EMNIST letters: idx files (LeCun et al.), raw or gzipped. EMNIST stores
  each image transposed and letters as labels 1..26; both are undone here (labels 0..25).

``download`` fetches the canonical archives with SHA-256 checks; it is opt-in only (nothing in the
package or the tests calls it).
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tarfile
import urllib.request
from pathlib import Path
from typing import Literal

import numpy as np

Split = Literal["train", "test"]
IdxSet = Literal["mnist", "fashion-mnist", "emnist-letters"]

_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

IDX_FILES: dict[IdxSet, dict[Split, tuple[str, str]]] = {
    "mnist": {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    },
    "fashion-mnist": {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    },
    "emnist-letters": {
        "train": (
            "emnist-letters-train-images-idx3-ubyte",
            "emnist-letters-train-labels-idx1-ubyte",
        ),
        "test": ("emnist-letters-test-images-idx3-ubyte", "emnist-letters-test-labels-idx1-ubyte"),
    },
}

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)

# Canonical addresses and SHA-256 of the published archives (opt-in download only).
DOWNLOADS: dict[str, tuple[tuple[str, str], ...]] = {
    "mnist": (
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    "fashion-mnist": (
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    ),
    "cifar10": (
        (
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    ),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (raw or ``.gz``): magic ``0 0 dtype ndim``, big-endian int32 dims, data.

    Returns:
        the array in native byte order (uint8 for image and label files).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: idx header truncated")
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    count = int(np.prod(dims)) if ndim else 1
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(
            f"{path}: idx data has {len(raw) - header} bytes, dims {dims} need "
            f"{count * dtype.itemsize}"
        )
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return arr.astype(np.dtype(f"{dtype.kind}{dtype.itemsize}"))  # native byte order


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_set(data_dir: str | Path, name: IdxSet, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of an idx data set.

    Looks for ``<stem>`` or ``<stem>.gz`` in ``data_dir`` (and in ``data_dir/<name>``,
    ``data_dir/raw`` or ``data_dir/gzip``). EMNIST letters: images transposed back to upright,
    labels shifted from 1..26 to 0..25.

    Raises:
        ValueError: unknown set or split.
        FileNotFoundError: naming the files that are missing.
    """
    if name not in IDX_FILES:
        raise ValueError(f"idx set must be one of {sorted(IDX_FILES)}; got {name!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    root = Path(data_dir)
    stems = IDX_FILES[name][split]
    for folder in (root, root / name, root / "raw", root / "gzip"):
        paths = [_find(folder, s) for s in stems]
        if all(p is not None for p in paths):
            break
    else:
        raise FileNotFoundError(
            f"{name} {split} files not found in {root}: missing "
            + ", ".join(f"{s}[.gz]" for s in stems)
        )
    images = read_idx(paths[0])  # type: ignore[arg-type]
    labels = read_idx(paths[1]).astype(np.int64)  # type: ignore[arg-type]
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{name} {split}: images {images.shape} and labels {labels.shape} do not match"
        )
    if name == "emnist-letters":
        images = np.ascontiguousarray(images.transpose(0, 2, 1))
        labels = labels - 1
    return images.astype(np.uint8), labels


def load_cifar10(data_dir: str | Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 images ``(N, 32, 32, 3)`` uint8 and labels ``(N,)`` int64 (python pickles).

    Raises:
        FileNotFoundError: naming the batch files that are missing.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    root = Path(data_dir)
    folder = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    names = CIFAR10_TRAIN_FILES if split == "train" else CIFAR10_TEST_FILES
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 {split} batches missing in {folder}: {', '.join(missing)} "
            "(expected the python version, cifar-10-python.tar.gz, extracted)"
        )
    images, labels = [], []
    for n in names:
        with open(folder / n, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{folder / n}: data has shape {data.shape}, expected (N, 3072)")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(d[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Raise ``ValueError`` naming the file when its SHA-256 differs from ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise ValueError(f"{path}: SHA-256 {got} does not match the expected {expected}")


def download(name: str, dest_dir: str | Path) -> Path:
    """Opt-in: download ``name`` (``mnist``, ``fashion-mnist`` or ``cifar10``) from its canonical
    address into ``dest_dir``, check every file's SHA-256 and extract CIFAR-10.

    Never called by the package or its tests. EMNIST has no pinned checksum here: get
    ``gzip.zip`` from https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip and unzip it.

    Returns:
        the folder to pass as ``data_dir``.
    """
    if name not in DOWNLOADS:
        raise ValueError(f"download name must be one of {sorted(DOWNLOADS)}; got {name!r}")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    for url, sha in DOWNLOADS[name]:
        target = dest / url.rsplit("/", 1)[1]
        if not (target.is_file() and sha256_file(target) == sha):
            tmp = target.with_suffix(target.suffix + ".part")
            urllib.request.urlretrieve(url, tmp)
            verify_sha256(tmp, sha)
            tmp.replace(target)
        if target.name.endswith(".tar.gz"):
            with tarfile.open(target) as tar:
                tar.extractall(dest, filter="data")
    return dest
