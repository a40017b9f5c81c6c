"""Overlay suites of Feature Dropout (Tamkin et al. 2023, Sec. 4): an overlay (MNIST digit,
shape or letter) drawn on a background image (natural photo crop, Fashion-MNIST, CIFAR-10).

Suites ``overlay-{digits,shapes,letters}-on-{natural,fashion,cifar10}``; tasks: ``background``
(class of the background image) and ``digit`` / ``shape`` / ``letter`` (class of the overlay).
The overlay (its class, glyph, position, colour, opacity) is drawn FRESH at every read from the
``rng`` passed to ``batch``, so both views built from one ``Batch`` share it; ``Batch.x_clean``
holds the same backgrounds without overlay and ``Batch.overlay_mask`` where the overlay covers at
least half a pixel. Inputs are ``(3, 32, 32)`` float32 in [0, 1]; Fashion-MNIST's 28x28 grey
images are zero-padded to 32x32 and replicated to 3 channels so that coloured overlays apply.

Compositing, per example with coverage ``m`` (``(H, W)`` in [0, 1]), opacity ``a`` and colour
``c`` (3,): ``x = (1 - a m) * background + a m * c``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from empirical.data.base import Batch, TaskSpec
from empirical.data.loaders import load_cifar10
from empirical.data.sources import (
    LETTERS,
    SHAPES,
    fashion_mnist,
    letter_masks,
    mnist_glyphs,
    natural_crops,
    resize_masks,
    shape_masks,
)

CANVAS = 32
OVERLAYS = ("digits", "shapes", "letters")
BACKGROUNDS = ("natural", "fashion", "cifar10")
OVERLAY_TASK = {"digits": ("digit", 10), "shapes": ("shape", 3), "letters": ("letter", 26)}

# Per-overlay defaults: digits tiled in a 2x2 grid as in Feature Dropout; letters drawn three
# times at random places in one random colour; one semi-transparent shape of random colour.
OVERLAY_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {
        "size": 14,
        "opacity": (1.0, 1.0),
        "count": 4,
        "placement": "grid",
        "colour": "white",
    },
    "letters": {
        "size": 12,
        "opacity": (0.7, 1.0),
        "count": 3,
        "placement": "random",
        "colour": "random",
    },
    "shapes": {
        "size": 16,
        "opacity": (0.5, 0.9),
        "count": 1,
        "placement": "random",
        "colour": "random",
    },
}

C = TypeVar("C")


def config_from_options(cls: type[C], options: Mapping[str, Any], **fixed: Any) -> C:
    """Build dataclass ``cls`` from user ``options``; unknown keys raise ``ValueError``."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - (names - set(fixed)))
    if unknown:
        allowed = ", ".join(sorted(names - set(fixed)))
        raise ValueError(f"unknown option(s) {unknown} for {cls.__name__}; allowed: {allowed}")
    return cls(**{**options, **fixed})


@dataclass(frozen=True)
class OverlayConfig:
    """One overlay suite.

    Attributes:
        overlay: ``digits``, ``shapes`` or ``letters``.
        background: ``natural``, ``fashion`` or ``cifar10``.
        size: glyph side in pixels (shapes: diameter), 4..32 (``None``: overlay default).
        opacity: ``(low, high)``, opacity drawn uniformly per example, 0 < low <= high <= 1
            (a single number means a fixed opacity).
        count: copies drawn per example (same class): grid 1..grid^2 cells, random 1..8.
        placement: ``grid`` (copies centred in distinct cells of a grid x grid layout, cells
            chosen at random) or ``random`` (uniform positions inside the canvas).
        grid: cells per side for ``grid`` placement, 1..4.
        colour: ``white`` or ``random`` (uniform RGB per example).
        bg_scale: the backgrounds are multiplied by this, 0..1 (1: as loaded; 0: the overlay
            alone on black, the background-free control of ``exp_oracle_dropout``; the
            background labels are kept, so a probe of them reads chance).
        max_examples: keep this many background images (seeded subsample), ``None``: all.
        seed: seed of the subsample.
        data_dir: folder of CIFAR-10 python batches (required for the cifar10 background) or of
            Fashion-MNIST idx files (optional, default: Debian's).
    """

    overlay: str
    background: str
    size: int | None = None
    opacity: tuple[float, float] | None = None
    count: int | None = None
    placement: str | None = None
    grid: int = 2
    colour: str | None = None
    bg_scale: float = 1.0
    max_examples: int | None = None
    seed: int = 0
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.overlay not in OVERLAYS:
            raise ValueError(f"overlay must be one of {OVERLAYS}; got {self.overlay!r}")
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}; got {self.background!r}")
        for key, value in OVERLAY_DEFAULTS[self.overlay].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        op = self.opacity
        pair = (op, op) if isinstance(op, (int, float)) else tuple(op)  # type: ignore[arg-type]
        if len(pair) != 2:
            raise ValueError(f"opacity must be a number or a (low, high) pair; got {op!r}")
        object.__setattr__(self, "opacity", (float(pair[0]), float(pair[1])))
        size, count = int(self.size), int(self.count)  # type: ignore[arg-type]
        lo, hi = self.opacity  # type: ignore[misc]
        if not 1 <= self.grid <= 4:
            raise ValueError(f"grid must be in [1, 4]; got {self.grid}")
        max_size = CANVAS // self.grid if self.placement == "grid" else CANVAS
        if not 4 <= size <= max_size:
            raise ValueError(
                f"size must be in [4, {max_size}] for placement {self.placement!r}; got {size}"
            )
        if not 0.0 < lo <= hi <= 1.0:
            raise ValueError(f"opacity must satisfy 0 < low <= high <= 1; got {self.opacity}")
        if self.placement not in ("grid", "random"):
            raise ValueError(f"placement must be 'grid' or 'random'; got {self.placement!r}")
        max_count = self.grid**2 if self.placement == "grid" else 8
        if not 1 <= count <= max_count:
            raise ValueError(
                f"count must be in [1, {max_count}] for placement {self.placement!r}; got {count}"
            )
        if self.colour not in ("white", "random"):
            raise ValueError(f"colour must be 'white' or 'random'; got {self.colour!r}")
        if not 0.0 <= float(self.bg_scale) <= 1.0:
            raise ValueError(f"bg_scale must be in [0, 1]; got {self.bg_scale}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples must be >= 1 or None; got {self.max_examples}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0; got {self.seed}")


def paste_glyphs(glyphs: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Paste square glyphs onto blank canvases, several copies each, combined by maximum.

    Args:
        glyphs: ``(B, s, s)`` float32 coverage in [0, 1].
        rows, cols: ``(B, K)`` int top-left corners (each copy lies inside the canvas).
        size: canvas side.

    Returns:
        ``(B, size, size)`` float32 coverage.
    """
    b, s = glyphs.shape[0], glyphs.shape[1]
    if rows.min(initial=0) < 0 or cols.min(initial=0) < 0 or max(rows.max(), cols.max()) + s > size:
        raise ValueError("glyph copies must lie inside the canvas")
    canvas = np.zeros((b, size, size), dtype=np.float32)
    bi = np.arange(b)[:, None, None]
    ar = np.arange(s)
    for k in range(rows.shape[1]):
        ri = rows[:, k, None, None] + ar[None, :, None]  # (B, s, 1)
        ci = cols[:, k, None, None] + ar[None, None, :]  # (B, 1, s)
        canvas[bi, ri, ci] = np.maximum(canvas[bi, ri, ci], glyphs)
    return canvas


def composite(
    background: np.ndarray, cover: np.ndarray, opacity: np.ndarray, colour: np.ndarray
) -> np.ndarray:
    """``(1 - a m) * background + a m * colour``.

    Args:
        background: ``(B, 3, H, W)`` float32. cover: ``(B, H, W)`` in [0, 1].
        opacity: ``(B,)``. colour: ``(B, 3)``.

    Returns:
        ``(B, 3, H, W)`` float32.
    """
    a = (opacity[:, None, None].astype(np.float32) * cover)[:, None]  # (B, 1, H, W)
    return (1.0 - a) * background + a * colour.astype(np.float32)[:, :, None, None]


def load_background(
    background: str, split: str, data_dir: str | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Background images ``(N, C, 32, 32)`` uint8 (C = 3, or 1 for Fashion-MNIST), labels
    ``(N,)`` int64 and a source description."""
    if background == "natural":
        d = natural_crops(split)  # type: ignore[arg-type]
        imgs = np.ascontiguousarray(d["images"].transpose(0, 3, 1, 2))
        return imgs, d["labels"], "photo crops from scikit-image / scikit-learn"
    if background == "fashion":
        f = fashion_mnist(split, data_dir)  # type: ignore[arg-type]
        imgs = np.pad(f.images, ((0, 0), (2, 2), (2, 2)))[:, None]
        return imgs, f.labels, f.source
    if data_dir is None:
        raise ValueError(
            "the cifar10 background needs data_dir=<folder with the CIFAR-10 python batches "
            "(cifar-10-batches-py)>; see docs/datasets.md (empirical.data.loaders.download)"
        )
    x, y = load_cifar10(data_dir, split)  # type: ignore[arg-type]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, f"CIFAR-10 in {data_dir}"


class OverlayDataset:
    """An overlay suite split; see the module docstring. ``len`` = number of backgrounds."""

    input_shape: tuple[int, int, int] = (3, CANVAS, CANVAS)

    def __init__(self, config: OverlayConfig, split: str = "train") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
        self.config = config
        self.split = split
        self.name = f"overlay-{config.overlay}-on-{config.background}"
        bg, labels, self.source = load_background(config.background, split, config.data_dir)
        if config.max_examples is not None and config.max_examples < len(bg):
            keep = np.sort(
                np.random.default_rng(config.seed).choice(len(bg), config.max_examples, False)
            )
            bg, labels = bg[keep], labels[keep]
        self.backgrounds = bg  # (N, C, 32, 32) uint8
        self.background_labels = labels.astype(np.int64)
        self.overlay_task, n_overlay = OVERLAY_TASK[config.overlay]
        self.tasks: tuple[TaskSpec, ...] = (
            TaskSpec("background", "classification", num_classes=10),
            TaskSpec(self.overlay_task, "classification", num_classes=n_overlay),
        )
        size = int(config.size)  # type: ignore[arg-type]
        if config.overlay == "digits":
            g = mnist_glyphs(split)  # type: ignore[arg-type]
            self.glyphs = resize_masks(g.images, size)  # (G, s, s)
            self.glyph_labels = g.labels
        elif config.overlay == "letters":
            self.glyphs = letter_masks(size)  # (26, s, s)
            self.glyph_labels = np.arange(len(LETTERS), dtype=np.int64)
        else:
            self.glyphs = np.zeros((0, size, size), dtype=np.float32)
            self.glyph_labels = np.arange(len(SHAPES), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.backgrounds)

    def draw_overlay(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Fresh overlays for ``n`` examples: coverage ``(n, 32, 32)`` float32, class ``(n,)``."""
        cfg = self.config
        size, count = int(cfg.size), int(cfg.count)  # type: ignore[arg-type]
        rows, cols = self.positions(n, rng)  # (n, count) top-left corners of size x size boxes
        if cfg.overlay == "shapes":
            kind = rng.integers(0, len(SHAPES), n)
            cover = np.zeros((n, CANVAS, CANVAS), dtype=np.float32)
            r = size / 2.0
            for k in range(count):
                m = shape_masks(
                    kind,
                    np.stack([rows[:, k] + r, cols[:, k] + r], axis=1),
                    np.full(n, r),
                    rng.uniform(0.6, 1.0, n),
                    rng.uniform(0.0, 2 * np.pi, n),
                    CANVAS,
                )
                np.maximum(cover, m, out=cover)
            return cover, kind.astype(np.int64)
        pick = rng.integers(0, len(self.glyphs), n)
        cover = paste_glyphs(self.glyphs[pick], rows, cols, CANVAS)
        return cover, self.glyph_labels[pick]

    def positions(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Top-left corners ``(n, count)`` (rows, cols) of the overlay copies: centred in
        distinct random cells (``grid``) or uniform inside the canvas (``random``)."""
        cfg = self.config
        size, count = int(cfg.size), int(cfg.count)  # type: ignore[arg-type]
        if cfg.placement == "grid":
            cell = CANVAS // cfg.grid
            margin = (CANVAS - cfg.grid * cell) // 2 + (cell - size) // 2
            cells = np.argsort(rng.random((n, cfg.grid**2)), axis=1)[:, :count]  # (n, K)
            return margin + (cells // cfg.grid) * cell, margin + (cells % cfg.grid) * cell
        hi = CANVAS - size + 1
        return rng.integers(0, hi, (n, count)), rng.integers(0, hi, (n, count))

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """Read examples ``indices`` ``(B,)`` with a fresh overlay each (drawn from ``rng``).

        Returns:
            ``Batch`` with ``x`` ``(B, 3, 32, 32)`` float32 in [0, 1], ``x_clean`` (same, no
            overlay), ``overlay_mask`` ``(B, 1, 32, 32)`` bool (coverage >= 0.5), labels
            ``background`` and the overlay task, ``(B,)`` int64.
        """
        idx = np.ascontiguousarray(np.asarray(indices, dtype=np.int64).reshape(-1))
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ValueError(f"indices must be in [0, {len(self)}); got min {idx.min()}")
        bg = self.backgrounds[idx].astype(np.float32) * np.float32(self.config.bg_scale / 255.0)
        if bg.shape[1] == 1:
            bg = np.repeat(bg, 3, axis=1)
        n = len(idx)
        cover, cls = self.draw_overlay(n, rng)
        lo, hi = self.config.opacity  # type: ignore[misc]
        opacity = rng.uniform(lo, hi, n)
        colour = rng.random((n, 3)) if self.config.colour == "random" else np.ones((n, 3))
        x = composite(bg, cover, opacity, colour)
        return Batch(
            x=torch.from_numpy(x),
            labels={
                "background": torch.from_numpy(self.background_labels[idx]),
                self.overlay_task: torch.from_numpy(np.asarray(cls, dtype=np.int64)),
            },
            index=torch.from_numpy(idx),
            x_clean=torch.from_numpy(bg),
            overlay_mask=torch.from_numpy(cover[:, None] >= 0.5),
        )


def make_overlay_suite(
    overlay: str, background: str, split: str = "train", **options: Any
) -> OverlayDataset:
    """Factory registered as ``overlay-<overlay>-on-<background>``; ``options`` are the
    ``OverlayConfig`` fields other than ``overlay`` and ``background``."""
    if "data_dir" in options and options["data_dir"] is not None:
        options = {**options, "data_dir": str(Path(options["data_dir"]))}
    cfg = config_from_options(OverlayConfig, options, overlay=overlay, background=background)
    return OverlayDataset(cfg, split)
