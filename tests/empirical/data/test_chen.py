"""Chen et al.'s feature-suppression suites: RandBits, DigitOnImage, MultiDigits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.data import append_post_view_channels
from empirical.data.registry import build_suite
from empirical.data.sources import fashion_mnist, mnist_glyphs, natural_crops, resize_masks


def test_randbits_bits_are_per_index_label_free_and_seeded() -> None:
    ds = build_suite("randbits-mnist", "train", k=20)
    idx = np.arange(len(ds))
    b = ds.batch(idx, np.random.default_rng(0))
    bits = b.post_view_channels
    assert bits is not None and bits.shape == (len(ds), 20)
    assert set(torch.unique(bits).tolist()) == {0.0, 1.0}
    # deterministic per index: another read with another rng, and another build, agree
    again = build_suite("randbits-mnist", "train", k=20).batch(idx[::-1], np.random.default_rng(9))
    torch.testing.assert_close(again.post_view_channels, bits.flip(0), rtol=0, atol=0)
    # a smaller k is a prefix of a larger k; another seed gives other bits
    five = build_suite("randbits-mnist", "train", k=5).batch(idx, np.random.default_rng(0))
    torch.testing.assert_close(five.post_view_channels, bits[:, :5], rtol=0, atol=0)
    other = build_suite("randbits-mnist", "train", k=20, seed=1).batch(
        idx, np.random.default_rng(0)
    )
    assert (other.post_view_channels != bits).float().mean() > 0.4
    # independent of the label: each class sees every bit with frequency near 1/2 (400 per class)
    labels = b.labels["digit"].numpy()
    for c in range(10):
        freq = bits.numpy()[labels == c].mean(0)
        assert np.all(np.abs(freq - 0.5) < 0.1)


def test_randbits_channels_are_appended_after_the_views() -> None:
    ds = build_suite("randbits-mnist", "test", k=3)
    assert ds.post_view_dim == 3 and ds.input_shape == (1, 32, 32)
    b = ds.batch(np.arange(6), np.random.default_rng(0))
    view1 = b.x.flip(-1)  # two different "augmentations"
    view2 = torch.rand_like(b.x)
    v1, v2 = append_post_view_channels(view1, b), append_post_view_channels(view2, b)
    assert v1.shape == (6, 4, 32, 32)
    torch.testing.assert_close(v1[:, 1:], v2[:, 1:])  # identical bits in both views
    torch.testing.assert_close(v1[:, 1:, 7, 9], b.post_view_channels)
    torch.testing.assert_close(v1[:, :1], view1)
    assert (
        build_suite("randbits-mnist", "test", k=0).batch(np.arange(2), None).post_view_channels
        is None
    )


@pytest.mark.parametrize("k", [-1, 65])
def test_randbits_k_range(k: int) -> None:
    with pytest.raises(ValueError, match=r"k must be in \[0, 64\]"):
        build_suite("randbits-mnist", k=k)


def test_randbits_images_are_the_mnist_glyphs() -> None:
    ds = build_suite("randbits-mnist", "test", k=1)
    g = mnist_glyphs("test")
    b = ds.batch(np.array([0, 999]), np.random.default_rng(0))
    np.testing.assert_allclose(b.x.numpy()[:, 0, 2:30, 2:30], g.images[[0, 999]] / 255, atol=1e-6)
    np.testing.assert_array_equal(b.labels["digit"].numpy(), g.labels[[0, 999]])


def test_digit_on_image_pool_and_grid() -> None:
    ds = build_suite("digit-on-natural", "train", pool_size=7)
    n = len(ds)
    b = ds.batch(np.arange(n), np.random.default_rng(0))
    digits = b.labels["digit"].numpy()
    assert sorted(np.unique(digits).tolist()) == list(range(7))  # round-robin: one per class
    masks = b.overlay_mask.numpy()[:, 0]
    assert len({m.tobytes() for m in masks}) == 7  # exactly N unique digit images
    np.testing.assert_array_equal(b.labels["image"].numpy(), natural_crops("train")["labels"])
    # 3x3 grid of identical 10x10 copies starting at pixel 1 (cells of 10, margin 1)
    cells = [masks[:, r : r + 10, c : c + 10] for r in (1, 11, 21) for c in (1, 11, 21)]
    for cell in cells[1:]:
        np.testing.assert_array_equal(cell, cells[0])
    assert not masks[:, 0, :].any() and not masks[:, :, 31].any()
    # white opaque digits: x = clean where nothing is drawn, brighter where something is
    x, clean = b.x.numpy(), b.x_clean.numpy()
    assert np.all(x >= clean - 1e-6)
    one = build_suite("digit-on-natural", "test", pool_size=1)
    assert len(torch.unique(one.batch(np.arange(50), None).labels["digit"])) == 1


def test_digit_on_fashion_draws_the_digits_on_fashion_items() -> None:
    ds = build_suite("digit-on-fashion", "test", pool_size=10)
    items = fashion_mnist("test")
    assert ds.name == "digit-on-fashion" and len(ds) == len(items.labels)
    idx = np.array([0, 1, 2, 9999])
    b = ds.batch(idx, np.random.default_rng(0))
    assert b.x.shape == (4, 3, 32, 32) and [t.name for t in ds.tasks] == ["digit", "image"]
    np.testing.assert_array_equal(b.labels["image"].numpy(), items.labels[idx])  # the class
    clean = b.x_clean.numpy()
    np.testing.assert_allclose(clean[:, 0, 2:30, 2:30], items.images[idx] / 255, atol=1e-6)
    assert np.array_equal(clean[:, 0], clean[:, 1]) and np.array_equal(clean[:, 0], clean[:, 2])
    x = b.x.numpy()
    assert np.all(x >= clean - 1e-6)  # a white digit over the item, nothing darker
    assert (x > clean + 1e-3).any(axis=(1, 2, 3)).all()  # every example carries its digit
    drawn = b.overlay_mask.numpy()[:, 0]  # where the digit covers at least half a pixel
    assert (x.transpose(0, 2, 3, 1)[drawn] >= 0.5 - 1e-6).all()  # (1 - a) * item + a, a >= 0.5
    # the same digits as on the photo crops (the pool depends on the seed, not the image)
    natural = build_suite("digit-on-natural", "test", pool_size=10)
    np.testing.assert_array_equal(ds.pool_labels, natural.pool_labels)
    with pytest.raises(ValueError, match="unknown option"):
        build_suite("digit-on-fashion", "test", image="natural")  # the suite fixes the image
    with pytest.raises(ValueError, match="unknown option"):
        build_suite("digit-on-natural", "test", image="fashion")
    with pytest.raises(ValueError, match="data_dir applies to image 'fashion' only"):
        build_suite("digit-on-natural", "test", data_dir="/nowhere")  # not silently ignored


def test_digit_on_image_pool_size_bounds() -> None:
    with pytest.raises(ValueError, match="pool_size"):
        build_suite("digit-on-natural", "test", pool_size=1001)
    with pytest.raises(ValueError, match="pool_size"):
        build_suite("digit-on-natural", "test", pool_size=0)
    with pytest.raises(ValueError, match="digit_size"):
        build_suite("digit-on-natural", "test", digit_size=11)


@pytest.mark.parametrize(("size_a", "size_b"), [(16, 8), (14, 18), (20, 12)])
def test_multidigits_boxes_labels_and_pixels(size_a: int, size_b: int) -> None:
    ds = build_suite("multidigits", "test", size_a=size_a, size_b=size_b, n=300)
    b = ds.batch(np.arange(300), np.random.default_rng(0))
    x = b.x.numpy()[:, 0]
    g = mnist_glyphs("test")
    ra, ca, rb, cb = ds.boxes.T
    # the boxes never overlap: separated along rows and along columns
    sep_rows = (ra + size_a <= rb) | (rb + size_b <= ra)
    sep_cols = (ca + size_a <= cb) | (cb + size_b <= ca)
    assert np.all(sep_rows & sep_cols)
    assert ra.min() >= 0 and max((ra + size_a).max(), (rb + size_b).max()) <= 32
    np.testing.assert_array_equal(b.labels["digit_a"].numpy(), g.labels[ds.glyph_a])
    np.testing.assert_array_equal(b.labels["digit_b"].numpy(), g.labels[ds.glyph_b])
    for i in range(0, 300, 29):
        glyph_a = resize_masks(g.images[ds.glyph_a[i : i + 1]], size_a)[0]
        box = x[i, ra[i] : ra[i] + size_a, ca[i] : ca[i] + size_a]
        np.testing.assert_allclose(box, glyph_a, atol=1 / 255)
        outside = x[i].copy()
        outside[ra[i] : ra[i] + size_a, ca[i] : ca[i] + size_a] = 0
        outside[rb[i] : rb[i] + size_b, cb[i] : cb[i] + size_b] = 0
        assert outside.max() == 0


def test_multidigits_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="impossible sizes"):
        build_suite("multidigits", size_a=20, size_b=14)
    with pytest.raises(ValueError, match="size_b"):
        build_suite("multidigits", size_b=2)
    with pytest.raises(ValueError, match="unknown option"):
        build_suite("multidigits", size_c=3)


def test_chen_suites_are_deterministic_by_seed() -> None:
    a = build_suite("multidigits", "train", n=100, seed=3).batch(np.arange(100), None)
    b = build_suite("multidigits", "train", n=100, seed=3).batch(np.arange(100), None)
    c = build_suite("multidigits", "train", n=100, seed=4).batch(np.arange(100), None)
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)
    assert not torch.equal(a.x, c.x)
