"""Tile grids written as PNG (galleries, segmentation maps): exact pixel sizes, atomic writes.

A grid has ``rows x cols`` tiles of ``h x w`` pixels, each enlarged ``scale`` times (nearest),
separated and framed by ``pad`` white pixels, under a ``HEADER``-pixel row of column titles when
titles are given: ``height = header + rows * (h * scale + pad) + pad``,
``width = cols * (w * scale + pad) + pad``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from empirical.io import atomic_write_bytes

HEADER = 14
# Categorical palette (matplotlib's tab10), uint8 RGB; label 0 is drawn black.
PALETTE = np.array(
    [
        (0, 0, 0),
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.uint8,
)


def to_rgb(x: torch.Tensor | np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """An image ``(C, H, W)`` (C = 1: grey; C >= 3: the first three channels) mapped from
    ``[low, high]`` to ``(H, W, 3)`` uint8 (clipped)."""
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, float)
    if a.ndim != 3 or a.shape[0] < 1:
        raise ValueError(f"image must be (C, H, W); got {a.shape}")
    a = np.repeat(a[:1], 3, axis=0) if a.shape[0] < 3 else a[:3]
    a = np.clip((a - low) / (high - low), 0.0, 1.0)
    return (a.transpose(1, 2, 0) * 255.0).round().astype(np.uint8)


def label_rgb(labels: torch.Tensor | np.ndarray) -> np.ndarray:
    """Integer labels ``(H, W)`` -> ``(H, W, 3)`` uint8 colours (:data:`PALETTE`, cycled)."""
    a = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if a.ndim != 2:
        raise ValueError(f"labels must be (H, W); got {a.shape}")
    return PALETTE[a.astype(np.int64) % len(PALETTE)]


def grid_size(
    rows: int, cols: int, h: int, w: int, scale: int, pad: int, titled: bool
) -> tuple[int, int]:
    """``(height, width)`` in pixels of a grid (see the module docstring)."""
    return (HEADER if titled else 0) + rows * (h * scale + pad) + pad, cols * (
        w * scale + pad
    ) + pad


def compose(
    tiles: Sequence[Sequence[np.ndarray]],
    scale: int = 3,
    pad: int = 2,
    titles: Sequence[str] | None = None,
) -> np.ndarray:
    """Tiles ``rows x cols`` of ``(h, w, 3)`` uint8 -> one ``(height, width, 3)`` uint8 image."""
    if scale < 1 or pad < 0:
        raise ValueError(f"scale must be >= 1 and pad >= 0; got {scale}, {pad}")
    rows, cols = len(tiles), len(tiles[0]) if tiles else 0
    if rows == 0 or cols == 0 or any(len(r) != cols for r in tiles):
        raise ValueError("tiles must be a non-empty rectangular grid")
    h, w = tiles[0][0].shape[:2]
    if any(t.shape != (h, w, 3) for r in tiles for t in r):
        raise ValueError(f"every tile must be ({h}, {w}, 3)")
    if titles is not None and len(titles) != cols:
        raise ValueError(f"titles must have {cols} entries; got {len(titles)}")
    height, width = grid_size(rows, cols, h, w, scale, pad, titles is not None)
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    top = HEADER if titles is not None else 0
    big = np.ones((scale, scale, 1), dtype=np.uint8)
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            y, x = top + pad + i * (h * scale + pad), pad + j * (w * scale + pad)
            out[y : y + h * scale, x : x + w * scale] = np.kron(tile, big)
    if titles is not None:
        out = _draw_titles(out, titles, w * scale + pad, pad)
    return out


def _draw_titles(image: np.ndarray, titles: Sequence[str], step: int, pad: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    for j, t in enumerate(titles):
        draw.text((pad + j * step, 1), t, fill=(0, 0, 0))
    return np.asarray(img)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write ``(H, W, 3)`` uint8 as PNG, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())
