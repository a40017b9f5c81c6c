"""Loaders for the full public sets, checked on small files the tests write in the real formats."""

from __future__ import annotations

import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from empirical.data import loaders, sources
from empirical.data.loaders import (
    DOWNLOADS,
    download,
    load_cifar10,
    load_idx_set,
    read_idx,
    sha256_file,
    verify_sha256,
)


def write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    """idx format: two zero bytes, type code 0x08 (ubyte), ndim, big-endian int32 dims, data."""
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def write_mnist_like(folder: Path, prefix: str, gz: bool, rng: np.random.Generator):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        n = 7 if split == "train" else 4
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(folder / f"{prefix}{stem}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{prefix}{stem}-labels-idx1-ubyte", labels, gz)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    written = write_mnist_like(tmp_path, "", gz, rng)
    for split in ("train", "test"):
        images, labels = load_idx_set(tmp_path, "mnist", split)
        np.testing.assert_array_equal(images, written[split][0])
        np.testing.assert_array_equal(labels, written[split][1].astype(np.int64))
        assert labels.dtype == np.int64
    # the same files serve as Fashion-MNIST; a full-format file also reads directly
    images, _ = load_idx_set(tmp_path, "fashion-mnist", "test")
    np.testing.assert_array_equal(images, written["test"][0])
    suffix = ".gz" if gz else ""
    np.testing.assert_array_equal(
        read_idx(tmp_path / f"train-images-idx3-ubyte{suffix}"), written["train"][0]
    )


def test_idx_other_dtypes(tmp_path: Path) -> None:
    arr = (np.arange(12).reshape(3, 4) - 5).astype(">i4")
    header = bytes([0, 0, 0x0C, 2]) + struct.pack(">2i", 3, 4)
    (tmp_path / "x").write_bytes(header + arr.tobytes())
    out = read_idx(tmp_path / "x")
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.dtype("int32")


def test_emnist_letters_transposed_and_shifted(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    upright = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.array([1, 2, 26, 13, 1], dtype=np.uint8)
    for split in ("train", "test"):
        write_idx(
            tmp_path / f"emnist-letters-{split}-images-idx3-ubyte", upright.transpose(0, 2, 1), True
        )
        write_idx(tmp_path / f"emnist-letters-{split}-labels-idx1-ubyte", labels, True)
    images, out = load_idx_set(tmp_path, "emnist-letters", "test")
    np.testing.assert_array_equal(images, upright)
    np.testing.assert_array_equal(out, labels.astype(np.int64) - 1)


def test_idx_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\]"):
        load_idx_set(tmp_path, "mnist", "test")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + struct.pack(">i", 3) + b"abc")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01" + struct.pack(">i", 5) + b"abc")
    with pytest.raises(ValueError, match="need 5"):
        read_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="idx set"):
        load_idx_set(tmp_path, "kmnist", "test")  # type: ignore[arg-type]


def write_cifar(folder: Path, rng: np.random.Generator) -> dict[str, list[tuple]]:
    """CIFAR-10 python batches: pickled dicts with bytes keys, data (N, 3072) channel-major."""
    folder.mkdir(parents=True)
    written: dict[str, list[tuple]] = {"train": [], "test": []}
    for name in [*loaders.CIFAR10_TRAIN_FILES, "test_batch"]:
        n = 3
        data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels}, f)
        written["test" if name == "test_batch" else "train"].append((data, labels))
    return written


def test_cifar10_parity(tmp_path: Path) -> None:
    written = write_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(2))
    for split in ("train", "test"):
        for root in (tmp_path, tmp_path / "cifar-10-batches-py"):
            images, labels = load_cifar10(root, split)
            data = np.concatenate([d for d, _ in written[split]])
            assert images.shape == (len(data), 32, 32, 3)
            # pixel (row, col) of channel ch is data[ch * 1024 + row * 32 + col]
            i, row, col, ch = len(data) - 1, 5, 17, 2
            assert images[i, row, col, ch] == data[i, ch * 1024 + row * 32 + col]
            np.testing.assert_array_equal(images.transpose(0, 3, 1, 2).reshape(len(data), -1), data)
            expected = [lab for _, labs in written[split] for lab in labs]
            np.testing.assert_array_equal(labels, expected)


def test_cifar10_missing_files_are_named(tmp_path: Path) -> None:
    write_cifar(tmp_path / "c", np.random.default_rng(3))
    (tmp_path / "c" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10(tmp_path / "c", "train")
    load_cifar10(tmp_path / "c", "test")  # the test split is still complete
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar10(tmp_path / "empty", "test")


def test_sha256_checks(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2
    assert sha256_file(tmp_path / "f") == digest
    verify_sha256(tmp_path / "f", digest)
    with pytest.raises(ValueError, match="does not match"):
        verify_sha256(tmp_path / "f", "0" * 64)


def test_download_table_is_well_formed(tmp_path: Path) -> None:
    for entries in DOWNLOADS.values():
        for url, sha in entries:
            assert re.fullmatch(r"https?://[^ ]+\.gz", url)
            assert re.fullmatch(r"[0-9a-f]{64}", sha)
    with pytest.raises(ValueError, match="download name"):
        download("emnist-letters", tmp_path)  # no pinned checksum: refused before any network


@pytest.mark.skipif(not sources.FASHION_DIR.is_dir(), reason="needs dataset-fashion-mnist")
def test_pinned_fashion_checksums_match_the_debian_files() -> None:
    for url, sha in DOWNLOADS["fashion-mnist"]:
        assert sha256_file(sources.FASHION_DIR / url.rsplit("/", 1)[1]) == sha
