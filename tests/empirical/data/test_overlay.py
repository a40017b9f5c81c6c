"""Overlay suites (Feature Dropout): labels, masks, fresh overlays, determinism, learnability."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from empirical.data import MultiTaskDataset
from empirical.data.overlay import composite, paste_glyphs
from empirical.data.registry import build_suite, needs_user_data
from empirical.data.sources import FASHION_DIR, letter_masks, natural_crops

NATURAL = [f"overlay-{o}-on-natural" for o in ("digits", "shapes", "letters")]
FASHION = [f"overlay-{o}-on-fashion" for o in ("digits", "shapes", "letters")]
needs_fashion = pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="needs dataset-fashion-mnist")


def test_registered_suites() -> None:
    for o in ("digits", "shapes", "letters"):
        for b in ("natural", "fashion", "cifar10"):
            assert needs_user_data(f"overlay-{o}-on-{b}") == (b == "cifar10")


@pytest.mark.parametrize("name", NATURAL)
def test_batch_contract_and_clean_twin(name: str) -> None:
    ds = build_suite(name, "test")
    assert isinstance(ds, MultiTaskDataset)
    idx = np.array([0, 5, len(ds) - 1])
    b = ds.batch(idx, np.random.default_rng(0))
    assert b.x.shape == (3, 3, 32, 32) and b.x.dtype == torch.float32
    assert float(b.x.min()) >= 0.0 and float(b.x.max()) <= 1.0
    assert b.overlay_mask is not None and b.overlay_mask.shape == (3, 1, 32, 32)
    assert b.overlay_mask.dtype == torch.bool and bool(b.overlay_mask.flatten(1).any(1).all())
    crops = natural_crops("test")
    expected = crops["images"][idx].transpose(0, 3, 1, 2).astype(np.float32) / 255
    assert b.x_clean is not None
    np.testing.assert_allclose(b.x_clean.numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(b.labels["background"].numpy(), crops["labels"][idx])
    np.testing.assert_array_equal(b.index.numpy(), idx)
    for task in ds.tasks:
        labels = b.labels[task.name]
        assert labels.dtype == torch.int64
        assert int(labels.min()) >= 0 and int(labels.max()) < task.num_classes


def test_overlay_is_fresh_per_read_and_seeded() -> None:
    ds = build_suite("overlay-letters-on-natural", "train", max_examples=50)
    idx = np.arange(50)
    rng = np.random.default_rng(7)
    first, second = ds.batch(idx, rng), ds.batch(idx, rng)
    torch.testing.assert_close(first.x_clean, second.x_clean)
    assert not torch.equal(first.overlay_mask, second.overlay_mask)  # fresh overlay per read
    assert not torch.equal(first.labels["letter"], second.labels["letter"])
    again = build_suite("overlay-letters-on-natural", "train", max_examples=50)
    replay = again.batch(idx, np.random.default_rng(7))
    torch.testing.assert_close(replay.x, first.x, rtol=0, atol=0)
    assert torch.equal(replay.labels["letter"], first.labels["letter"])
    np.testing.assert_array_equal(again.backgrounds, ds.backgrounds)  # same seeded subsample


def test_digits_sit_in_the_2x2_grid_and_match_their_label() -> None:
    ds = build_suite("overlay-digits-on-natural", "test")
    b = ds.batch(np.arange(64), np.random.default_rng(3))
    x, clean, mask = b.x.numpy(), b.x_clean.numpy(), b.overlay_mask.numpy()[:, 0]
    # white, opaque compositing: x = clean + m (1 - clean) >= clean
    assert np.all(x >= clean - 1e-6)
    boxes = [(r, c) for r in (1, 17) for c in (1, 17)]  # 14x14 glyphs centred in 16x16 cells
    inside = np.zeros((32, 32), dtype=bool)
    for r, c in boxes:
        inside[r : r + 14, c : c + 14] = True
    assert np.all(np.abs(x - clean)[:, :, ~inside] == 0)
    templates = ds.glyphs >= 0.5  # (G, 14, 14)
    for i in range(64):
        cells = [mask[i, r : r + 14, c : c + 14] for r, c in boxes]
        assert all(np.array_equal(cells[0], cell) for cell in cells)  # one digit, four copies
        matches = np.flatnonzero((templates == cells[0]).all(axis=(1, 2)))
        assert len(matches) >= 1
        assert np.all(ds.glyph_labels[matches] == int(b.labels["digit"][i]))


def test_letters_found_by_template_matching_agree_with_labels() -> None:
    ds = build_suite("overlay-letters-on-natural", "test")  # default: 3 copies, random places
    b = ds.batch(np.arange(120), np.random.default_rng(4))
    mask = b.overlay_mask.numpy()[:, 0]
    templates = letter_masks(12) >= 0.5  # (26, 12, 12)
    windows = sliding_window_view(mask, (12, 12), axis=(1, 2))  # (B, 21, 21, 12, 12)
    score = np.zeros((len(mask), 26))
    for letter in range(26):
        contained = ~np.any(templates[letter] & ~windows, axis=(-2, -1)).reshape(len(mask), -1)
        score[:, letter] = contained.any(axis=1) * templates[letter].sum()
    agree = (score.argmax(1) == b.labels["letter"].numpy()).mean()
    assert agree >= 0.9


def _pooled(x: torch.Tensor) -> np.ndarray:
    """2x2 average-pooled pixels, ``(B, 768)``."""
    return torch.nn.functional.avg_pool2d(x, 2).flatten(1).double().numpy()


def _ridge_accuracy(xtr, ytr, xte, yte, k: int, lam: float = 100.0) -> float:
    """Least-squares linear classifier on standardised features (one-hot targets)."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-3
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    w = np.linalg.solve(xtr.T @ xtr + lam * np.eye(xtr.shape[1]), xtr.T @ np.eye(k)[ytr])
    return float(((xte @ w).argmax(1) == yte).mean())


# Letters and shapes at random places need a translation-invariant model; the linear probe
# reads them at fixed places (tiled grid / one centred copy). Their random placement is checked
# by template matching above and by the shared drawing code.
LINEAR_OPTIONS = {
    "digits": {},
    "letters": {"placement": "grid", "count": 4},
    "shapes": {"placement": "grid", "grid": 1, "count": 1, "size": 20},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NATURAL + [pytest.param(n, marks=needs_fashion) for n in FASHION])
def test_a_linear_classifier_beats_chance_on_every_task(name: str) -> None:
    options = LINEAR_OPTIONS[name.split("-")[1]]
    train, test = build_suite(name, "train", **options), build_suite(name, "test", **options)
    rng = np.random.default_rng(0)
    btr = train.batch(rng.choice(len(train), 2000, replace=False), rng)
    bte = test.batch(rng.choice(len(test), 600, replace=False), rng)
    xtr, xte = _pooled(btr.x), _pooled(bte.x)
    for task in train.tasks:
        acc = _ridge_accuracy(
            xtr, btr.labels[task.name].numpy(), xte, bte.labels[task.name].numpy(), task.num_classes
        )
        assert acc >= min(0.45, 3 * task.chance), (task.name, acc)


def test_fashion_background_is_grey_in_three_channels() -> None:
    if not FASHION_DIR.is_dir():
        pytest.skip("needs dataset-fashion-mnist")
    ds = build_suite("overlay-shapes-on-fashion", "test", max_examples=20)
    b = ds.batch(np.arange(20), np.random.default_rng(0))
    assert ds.input_shape == (3, 32, 32)
    clean = b.x_clean.numpy()
    np.testing.assert_array_equal(clean[:, 0], clean[:, 2])
    assert np.all(clean[:, :, :2] == 0)  # 28x28 padded by 2 pixels


def _write_cifar(folder: Path) -> np.ndarray:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    data = None
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": [0, 1, 2, 9]}, f)
    assert data is not None
    return data


def test_cifar10_background_uses_the_loader(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data_dir"):
        build_suite("overlay-shapes-on-cifar10", "train")
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        build_suite("overlay-shapes-on-cifar10", "train", data_dir=str(tmp_path))
    test_data = _write_cifar(tmp_path / "cifar-10-batches-py")
    ds = build_suite("overlay-digits-on-cifar10", "test", data_dir=str(tmp_path))
    b = ds.batch(np.arange(4), np.random.default_rng(0))
    expected = test_data.reshape(4, 3, 32, 32).astype(np.float32) / 255
    np.testing.assert_allclose(b.x_clean.numpy(), expected, atol=1e-6)
    assert b.labels["background"].tolist() == [0, 1, 2, 9]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"size": 17}, "size"),  # larger than a 16-pixel grid cell
        ({"size": 40, "placement": "random"}, "size"),
        ({"opacity": (0.5, 0.2)}, "opacity"),
        ({"opacity": (0.5, 0.6, 0.7)}, "opacity"),
        ({"opacity": 1.5}, "opacity"),
        ({"count": 5}, "count"),  # 2x2 grid has 4 cells
        ({"max_examples": 0}, "max_examples"),
        ({"bg_scale": 1.5}, "bg_scale"),
        ({"bg_scale": -0.1}, "bg_scale"),
        ({"sise": 10}, "unknown option"),
    ],
)
def test_bad_options_are_named(options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_suite("overlay-digits-on-natural", "train", **options)


def test_scalar_opacity_is_fixed() -> None:
    ds = build_suite("overlay-shapes-on-natural", "test", max_examples=4, opacity=0.5)
    assert ds.config.opacity == (0.5, 0.5)


def test_bad_indices_and_unknown_suite() -> None:
    ds = build_suite("overlay-shapes-on-natural", "test", max_examples=10)
    with pytest.raises(ValueError, match="indices"):
        ds.batch(np.array([10]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown suite"):
        build_suite("overlay-cats-on-natural")


@settings(deadline=None, max_examples=30, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    size=st.integers(4, 12),
    copies=st.integers(1, 4),
)
def test_paste_glyphs_matches_a_loop_reference(seed: int, size: int, copies: int) -> None:
    rng = np.random.default_rng(seed)
    glyphs = rng.random((3, size, size)).astype(np.float32)
    rows = rng.integers(0, 20 - size + 1, (3, copies))
    cols = rng.integers(0, 20 - size + 1, (3, copies))
    ref = np.zeros((3, 20, 20), dtype=np.float32)
    for b in range(3):
        for k in range(copies):
            for i in range(size):
                for j in range(size):
                    r, c = rows[b, k] + i, cols[b, k] + j
                    ref[b, r, c] = max(ref[b, r, c], glyphs[b, i, j])
    np.testing.assert_array_equal(paste_glyphs(glyphs, rows, cols, 20), ref)


@settings(deadline=None, max_examples=40, derandomize=True)
@given(seed=st.integers(0, 2**16), opacity=st.floats(0.01, 1.0))
def test_composite_is_a_convex_blend(seed: int, opacity: float) -> None:
    """Each pixel lies between its background and the overlay colour; zero coverage keeps the
    background, full coverage at opacity 1 gives the colour."""
    rng = np.random.default_rng(seed)
    bg = rng.random((2, 3, 8, 8)).astype(np.float32)
    cover = rng.random((2, 8, 8)).astype(np.float32)
    cover[:, 0, 0], cover[:, 1, 1] = 0.0, 1.0
    colour = rng.random((2, 3))
    x = composite(bg, cover, np.full(2, opacity), colour)
    col = colour[:, :, None, None].astype(np.float32)
    assert np.all(x >= np.minimum(bg, col) - 1e-6) and np.all(x <= np.maximum(bg, col) + 1e-6)
    np.testing.assert_array_equal(x[:, :, 0, 0], bg[:, :, 0, 0])
    expected = (1 - opacity) * bg[:, :, 1, 1] + opacity * colour
    np.testing.assert_allclose(x[:, :, 1, 1], expected, atol=1e-6)


def test_bg_scale_zero_leaves_the_overlay_alone_on_black() -> None:
    """``bg_scale=0`` (the background-free control): the same overlays from the same rng, on a
    zero background; ``x_clean`` is the scaled background; labels unchanged; 0.5 halves it."""
    full = build_suite("overlay-digits-on-natural", "test", max_examples=8)
    alone = build_suite("overlay-digits-on-natural", "test", max_examples=8, bg_scale=0.0)
    half = build_suite("overlay-digits-on-natural", "test", max_examples=8, bg_scale=0.5)
    idx = np.arange(8)
    b, a, h = (ds.batch(idx, np.random.default_rng(3)) for ds in (full, alone, half))
    assert torch.all(a.x_clean == 0) and torch.equal(a.overlay_mask, b.overlay_mask)
    cover = a.overlay_mask.float()
    # white opaque digits on black: x is the coverage itself, below 1/2 outside the mask
    assert torch.all(a.x[cover.expand_as(a.x) == 0] < 0.5) and a.x.max() > 0.9
    assert torch.all(a.x[:, 0] == a.x[:, 2]) and (a.x == 0).float().mean() > 0.3
    assert b.x_clean.sum() > 0
    torch.testing.assert_close(h.x_clean, b.x_clean * 0.5)
    for task in b.labels:
        assert torch.equal(a.labels[task], b.labels[task])
