"""Feature-suppression suites of Chen, Luo & Li (2021), "Intriguing Properties of Contrastive
Losses", Sec. 4: RandBits, DigitOnImage and MultiDigits.

- ``randbits-mnist``: MNIST digits plus ``k`` random bits per example (0 <= k <= 64), drawn once
  per example index from a seeded generator (so independent of the label), returned in
  ``Batch.post_view_channels`` ``(B, k)``; ``append_post_view_channels`` turns them into ``k``
  constant planes AFTER the views are made, so both views carry identical bits. Task: digit.
- ``digit-on-natural``: a natural photo crop with one MNIST digit, taken from a pool of
  ``pool_size`` unique digit images, drawn in white in every cell of a 3x3 grid. Tasks: digit,
  image (which photo).
- ``digit-on-fashion``: the same digits over a Fashion-MNIST item (grey, padded to 32x32, on all
  three channels) instead of a photo crop. Tasks: digit, image (the item's class: a class
  structure with many images per class, where the 10 photos give train and test crops from
  disjoint regions of the same 10 images).
- ``multidigits``: two MNIST digits on a black canvas in non-overlapping boxes, ``digit_a`` of
  size ``size_a`` and ``digit_b`` of size ``size_b`` (the one to vary). Tasks: both digits.

Examples are fixed per index (drawn once from ``seed`` at construction); ``batch`` ignores its
``rng`` apart from the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from empirical.data.base import Batch, TaskSpec
from empirical.data.overlay import composite, config_from_options, paste_glyphs
from empirical.data.sources import fashion_mnist, mnist_glyphs, natural_crops, resize_masks

MAX_BITS = 64


def _split_rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, 0 if split == "train" else 1])


def _check_common(split: str, seed: int) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")


def _check_indices(idx: np.ndarray, n: int) -> np.ndarray:
    idx = np.ascontiguousarray(np.asarray(idx, dtype=np.int64).reshape(-1))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must be in [0, {n}); got [{idx.min()}, {idx.max()}]")
    return idx


def _pad28(images: np.ndarray) -> np.ndarray:
    """``(N, 28, 28)`` uint8 -> ``(N, 1, 32, 32)`` with a 2-pixel black border."""
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[:, None]


# --------------------------------------------------------------------------------- RandBits


@dataclass(frozen=True)
class RandBitsConfig:
    """Attributes: k (bits, 0..64); seed (bits); data_dir (full MNIST idx files, optional)."""

    k: int = 5
    seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.k <= MAX_BITS:
            raise ValueError(f"k must be in [0, {MAX_BITS}]; got {self.k}")


class RandBitsMNIST:
    """MNIST ``(1, 32, 32)`` (28x28 glyphs, 2-pixel border) plus ``k`` bits per example.

    ``input_shape`` is the image before the bits; a model sees ``1 + post_view_dim`` channels.
    The bits of example ``i`` are the first ``k`` of 64 bits drawn for it, so a larger ``k``
    extends a smaller one.
    """

    input_shape: tuple[int, int, int] = (1, 32, 32)

    def __init__(self, config: RandBitsConfig, split: str = "train") -> None:
        _check_common(split, config.seed)
        self.config, self.split, self.name = config, split, "randbits-mnist"
        g = mnist_glyphs(split, config.data_dir)  # type: ignore[arg-type]
        self.images = _pad28(g.images)  # (N, 1, 32, 32) uint8
        self.labels = g.labels
        all_bits = _split_rng(config.seed, split).integers(0, 2, (len(g.labels), MAX_BITS))
        self.bits = all_bits[:, : config.k].astype(np.float32)  # (N, k)
        self.post_view_dim = config.k
        self.tasks: tuple[TaskSpec, ...] = (TaskSpec("digit", "classification", num_classes=10),)

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """``x`` ``(B, 1, 32, 32)`` in [0, 1], label ``digit``, ``post_view_channels`` ``(B, k)``
        in {0, 1} (``None`` when k = 0)."""
        idx = _check_indices(indices, len(self))
        x = self.images[idx].astype(np.float32) * np.float32(1 / 255)
        bits = torch.from_numpy(self.bits[idx]) if self.config.k > 0 else None
        return Batch(
            x=torch.from_numpy(x),
            labels={"digit": torch.from_numpy(self.labels[idx])},
            index=torch.from_numpy(idx),
            post_view_channels=bits,
        )


# ----------------------------------------------------------------------------- DigitOnImage


IMAGES = ("natural", "fashion")  # what the digits are drawn on


@dataclass(frozen=True)
class DigitOnImageConfig:
    """Attributes: pool_size (unique digit images N, 1..number of MNIST glyphs in the split);
    grid (copies per side, 1..4); digit_size (pixels, 4..32 // grid); opacity (0, 1]; seed;
    image (``natural``: photo crops; ``fashion``: Fashion-MNIST items); data_dir (the
    Fashion-MNIST idx files, default Debian's ``dataset-fashion-mnist``)."""

    pool_size: int = 100
    grid: int = 3
    digit_size: int = 10
    opacity: float = 1.0
    seed: int = 0
    image: str = "natural"
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.image not in IMAGES:
            raise ValueError(f"image must be one of {', '.join(IMAGES)}; got {self.image!r}")
        if not 1 <= self.grid <= 4:
            raise ValueError(f"grid must be in [1, 4]; got {self.grid}")
        if not 4 <= self.digit_size <= 32 // self.grid:
            raise ValueError(
                f"digit_size must be in [4, {32 // self.grid}] for grid {self.grid}; "
                f"got {self.digit_size}"
            )
        if not 0.0 < self.opacity <= 1.0:
            raise ValueError(f"opacity must be in (0, 1]; got {self.opacity}")
        if self.pool_size < 1:
            raise ValueError(f"pool_size must be >= 1; got {self.pool_size}")
        if self.data_dir is not None and self.image != "fashion":
            raise ValueError(
                f"data_dir applies to image 'fashion' only (the photo crops ship with the "
                f"package); got data_dir {self.data_dir!r} with image {self.image!r}"
            )


class DigitOnImage:
    """Natural crop (or Fashion-MNIST item, ``config.image``) ``(3, 32, 32)`` with a white digit
    from a pool of ``pool_size`` unique MNIST images, drawn in every cell of a ``grid`` x
    ``grid`` layout.

    The pool holds distinct glyphs of the split, classes taken in turn (balanced when
    ``pool_size >= 10``); example ``i`` shows pool member ``assignment[i]`` (seeded).
    """

    input_shape: tuple[int, int, int] = (3, 32, 32)

    def __init__(self, config: DigitOnImageConfig, split: str = "train") -> None:
        _check_common(split, config.seed)
        self.config, self.split, self.name = config, split, f"digit-on-{config.image}"
        glyphs = mnist_glyphs(split)  # type: ignore[arg-type]
        if config.pool_size > len(glyphs.labels):
            raise ValueError(
                f"pool_size must be in [1, {len(glyphs.labels)}] (MNIST glyphs in the {split} "
                f"split); got {config.pool_size}"
            )
        rng = _split_rng(config.seed, split)
        # round-robin over classes (each class in a random order): rank-th glyph of every class
        perms = [rng.permutation(np.flatnonzero(glyphs.labels == c)) for c in range(10)]
        members = np.concatenate(perms)
        rank = np.concatenate([np.arange(len(p)) for p in perms])
        pool = members[np.lexsort((glyphs.labels[members], rank))][: config.pool_size]
        self.pool_labels = glyphs.labels[pool]
        size, grid = config.digit_size, config.grid
        cell = 32 // grid
        offsets = (32 - grid * cell) // 2 + (cell - size) // 2 + cell * np.arange(grid)
        rows = np.repeat(offsets, grid)[None].repeat(len(pool), 0)  # (N, grid^2)
        cols = np.tile(offsets, grid)[None].repeat(len(pool), 0)
        self.pool_cover = paste_glyphs(resize_masks(glyphs.images[pool], size), rows, cols, 32)
        if config.image == "fashion":
            items = fashion_mnist(split, config.data_dir)  # type: ignore[arg-type]
            # one grey channel (N, 1, 32, 32), repeated to 3 per batch (a third of the memory)
            self.backgrounds = np.pad(items.images, ((0, 0), (2, 2), (2, 2)))[:, None]
            self.image_labels = items.labels
        else:
            crops = natural_crops(split)  # type: ignore[arg-type]
            self.backgrounds = np.ascontiguousarray(crops["images"].transpose(0, 3, 1, 2))
            self.image_labels = crops["labels"]
        self.assignment = rng.integers(0, config.pool_size, len(self.image_labels))
        self.tasks: tuple[TaskSpec, ...] = (
            TaskSpec("digit", "classification", num_classes=10),
            TaskSpec("image", "classification", num_classes=10),
        )

    def __len__(self) -> int:
        return len(self.image_labels)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """``x`` ``(B, 3, 32, 32)``, ``x_clean`` (crop alone), ``overlay_mask`` ``(B, 1, 32, 32)``,
        labels ``digit`` and ``image``."""
        idx = _check_indices(indices, len(self))
        bg = self.backgrounds[idx].astype(np.float32) * np.float32(1 / 255)
        if bg.shape[1] == 1:  # grey items: the same value in every channel
            bg = np.repeat(bg, 3, axis=1)
        member = self.assignment[idx]
        cover = self.pool_cover[member]  # (B, 32, 32)
        n = len(idx)
        x = composite(bg, cover, np.full(n, self.config.opacity), np.ones((n, 3)))
        return Batch(
            x=torch.from_numpy(x),
            labels={
                "digit": torch.from_numpy(self.pool_labels[member]),
                "image": torch.from_numpy(self.image_labels[idx]),
            },
            index=torch.from_numpy(idx),
            x_clean=torch.from_numpy(bg),
            overlay_mask=torch.from_numpy(cover[:, None] >= 0.5),
        )


# ------------------------------------------------------------------------------ MultiDigits


@dataclass(frozen=True)
class MultiDigitsConfig:
    """Attributes: size_a (fixed digit, pixels); size_b (the digit whose size is varied);
    canvas (side, 16..128; size_a + size_b <= canvas so the boxes never overlap);
    n (examples; default: the number of MNIST glyphs in the split); seed; data_dir (full
    MNIST idx files, optional)."""

    size_a: int = 16
    size_b: int = 10
    canvas: int = 32
    n: int | None = None
    seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if not 16 <= self.canvas <= 128:
            raise ValueError(f"canvas must be in [16, 128]; got {self.canvas}")
        for field in ("size_a", "size_b"):
            if not 4 <= getattr(self, field) <= self.canvas - 4:
                raise ValueError(
                    f"{field} must be in [4, canvas - 4 = {self.canvas - 4}]; "
                    f"got {getattr(self, field)}"
                )
        if self.size_a + self.size_b > self.canvas:
            raise ValueError(
                f"impossible sizes: size_a + size_b = {self.size_a + self.size_b} must be <= "
                f"canvas = {self.canvas} so that the two digits do not overlap"
            )
        if self.n is not None and not 1 <= self.n <= 1_000_000:
            raise ValueError(f"n must be in [1, 1000000] or None; got {self.n}")


class MultiDigits:
    """Two MNIST digits ``(1, canvas, canvas)`` on black: ``digit_a`` (size ``size_a``) and
    ``digit_b`` (size ``size_b``) in boxes that never overlap: one box lies above-left of the
    other (which one is random), each at a uniform position the other leaves room for."""

    def __init__(self, config: MultiDigitsConfig, split: str = "train") -> None:
        _check_common(split, config.seed)
        self.config, self.split, self.name = config, split, "multidigits"
        glyphs = mnist_glyphs(split, config.data_dir)  # type: ignore[arg-type]
        n = len(glyphs.labels) if config.n is None else config.n
        rng = _split_rng(config.seed, split)
        ga, gb = rng.integers(0, len(glyphs.labels), (2, n))
        c, sa, sb = config.canvas, config.size_a, config.size_b
        a_first = rng.random(n) < 0.5
        s1, s2 = np.where(a_first, sa, sb), np.where(a_first, sb, sa)
        pos = {}
        for axis in ("row", "col"):
            p1 = rng.integers(0, c - sa - sb + 1, n)
            p2 = p1 + s1 + rng.integers(0, c - s2 - (p1 + s1) + 1)
            pos[axis] = (np.where(a_first, p1, p2), np.where(a_first, p2, p1))  # (a, b)
        cover_a = paste_glyphs(
            resize_masks(glyphs.images[ga], sa), pos["row"][0][:, None], pos["col"][0][:, None], c
        )
        cover_b = paste_glyphs(
            resize_masks(glyphs.images[gb], sb), pos["row"][1][:, None], pos["col"][1][:, None], c
        )
        image = np.maximum(cover_a, cover_b)
        self.images = (image * 255).round().astype(np.uint8)[:, None]  # (n, 1, c, c)
        self.boxes = np.stack(
            [pos["row"][0], pos["col"][0], pos["row"][1], pos["col"][1]], axis=1
        )  # (n, 4): top-left of a, top-left of b
        self.glyph_a, self.glyph_b = ga, gb  # indices into mnist_glyphs(split)
        self.labels_a, self.labels_b = glyphs.labels[ga], glyphs.labels[gb]
        self.input_shape: tuple[int, int, int] = (1, c, c)
        self.tasks: tuple[TaskSpec, ...] = (
            TaskSpec("digit_a", "classification", num_classes=10),
            TaskSpec("digit_b", "classification", num_classes=10),
        )

    def __len__(self) -> int:
        return len(self.labels_a)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """``x`` ``(B, 1, canvas, canvas)`` in [0, 1], labels ``digit_a`` and ``digit_b``."""
        idx = _check_indices(indices, len(self))
        x = self.images[idx].astype(np.float32) * np.float32(1 / 255)
        return Batch(
            x=torch.from_numpy(x),
            labels={
                "digit_a": torch.from_numpy(self.labels_a[idx]),
                "digit_b": torch.from_numpy(self.labels_b[idx]),
            },
            index=torch.from_numpy(idx),
        )


def make_randbits(split: str = "train", **options: Any) -> RandBitsMNIST:
    return RandBitsMNIST(config_from_options(RandBitsConfig, options), split)


def make_digit_on_image(split: str = "train", **options: Any) -> DigitOnImage:
    """``digit-on-natural``: the digits on photo crops (the ``image`` option is the suite's)."""
    return DigitOnImage(config_from_options(DigitOnImageConfig, options, image="natural"), split)


def make_digit_on_fashion(split: str = "train", **options: Any) -> DigitOnImage:
    """``digit-on-fashion``: the digits on Fashion-MNIST items."""
    return DigitOnImage(config_from_options(DigitOnImageConfig, options, image="fashion"), split)


def make_multidigits(split: str = "train", **options: Any) -> MultiDigits:
    return MultiDigits(config_from_options(MultiDigitsConfig, options), split)
