"""View galleries (Tamkin et al. 2021/2023 show viewmaker views beside expert views).

One PNG row per input: the input, ``V`` learned (viewmaker) views, their perturbations and ``V``
expert views. A perturbation ``delta = view - input`` is drawn as ``0.5 + delta / (2 s)`` with
``s`` the largest ``|delta|`` over the channels, pixels and views of that row (mid-grey = no
change; each row's ``s`` is returned so the scale can be reported). For a viewmaker followed by
expert views the difference also contains the crop: draw the viewmaker alone to see its
perturbation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from empirical.data.base import MultiTaskDataset
from empirical.data.subsets import random_subset
from empirical.diagnostics.png import compose, save_png, to_rgb
from empirical.features import eval_mode
from empirical.views.base import ViewGenerator


@dataclass(frozen=True)
class Gallery:
    """Inputs and their views.

    Attributes:
        inputs: ``(B, C, H, W)``.
        learned: ``(V, B, C, H, W)`` viewmaker views, or ``None``.
        expert: ``(V, B, C, H, W)`` expert views, or ``None``.
    """

    inputs: torch.Tensor
    learned: torch.Tensor | None
    expert: torch.Tensor | None


def draw_views(
    x: torch.Tensor, views: ViewGenerator, num_views: int, batch: object, gen: torch.Generator
) -> torch.Tensor:
    """``num_views`` views ``(V, B, C, H, W)`` (post-view channels cut to ``x``'s C)."""
    out: list[torch.Tensor] = []
    with torch.no_grad(), eval_mode(views):
        while len(out) < num_views:
            pair = views(batch, gen)  # type: ignore[arg-type]
            out += [pair.v1[:, : x.shape[1]].cpu(), pair.v2[:, : x.shape[1]].cpu()]
    return torch.stack(out[:num_views])


def make_gallery(
    dataset: MultiTaskDataset,
    learned: ViewGenerator | None,
    expert: ViewGenerator | None,
    num_inputs: int = 8,
    num_views: int = 3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Gallery:
    """Views of ``num_inputs`` random inputs of ``dataset`` (seeded)."""
    if num_inputs < 1 or num_views < 1:
        raise ValueError(f"num_inputs and num_views must be >= 1; got {num_inputs}, {num_views}")
    if learned is None and expert is None:
        raise ValueError("a gallery needs learned or expert views (or both)")
    rng = np.random.default_rng(seed)
    batch = dataset.batch(random_subset(len(dataset), num_inputs, rng), rng)
    on_device = batch.to(device)
    gen = torch.Generator(device=torch.device(device)).manual_seed(seed)
    x = batch.x
    vm = None if learned is None else draw_views(x, learned, num_views, on_device, gen)
    ex = None if expert is None else draw_views(x, expert, num_views, on_device, gen)
    return Gallery(x, vm, ex)


def perturbation_tiles(
    inputs: torch.Tensor, views: torch.Tensor
) -> tuple[torch.Tensor, np.ndarray]:
    """``0.5 + delta / (2 s)`` ``(V, B, C, H, W)`` for ``delta = views - inputs`` and the
    per-row scale ``s`` ``(B,)`` (1 where every delta is 0)."""
    delta = (views - inputs[None]).double()
    s = delta.abs().amax(dim=(0, 2, 3, 4))  # (B,)
    s = torch.where(s > 0, s, torch.ones_like(s))
    return 0.5 + delta / (2.0 * s[None, :, None, None, None]), s.numpy()


def gallery_columns(g: Gallery) -> list[str]:
    """Column titles: ``input``, ``vm 1..V``, ``delta 1..V``, ``expert 1..V``."""
    cols = ["input"]
    if g.learned is not None:
        v = g.learned.shape[0]
        cols += [f"vm {i + 1}" for i in range(v)] + [f"delta {i + 1}" for i in range(v)]
    if g.expert is not None:
        cols += [f"expert {i + 1}" for i in range(g.expert.shape[0])]
    return cols


def gallery_tiles(g: Gallery) -> tuple[list[list[np.ndarray]], list[float]]:
    """The gallery's rows of ``(h, w, 3)`` uint8 tiles (columns :func:`gallery_columns`) and the
    per-row perturbation scale ``s`` (empty without learned views)."""
    rows: list[list[np.ndarray]] = [[to_rgb(x)] for x in g.inputs]
    scales: list[float] = []
    if g.learned is not None:
        deltas, s = perturbation_tiles(g.inputs, g.learned)
        scales = [float(v) for v in s]
        for i, row in enumerate(rows):
            row += [to_rgb(v[i]) for v in g.learned] + [to_rgb(d[i]) for d in deltas]
    if g.expert is not None:
        for i, row in enumerate(rows):
            row += [to_rgb(v[i]) for v in g.expert]
    return rows, scales


def draw_gallery(path: str | Path, g: Gallery, scale: int = 3) -> dict[str, object]:
    """Write the gallery PNG; returns ``{"path", "columns", "delta_scale"}`` (per-row ``s``)."""
    rows, scales = gallery_tiles(g)
    cols = gallery_columns(g)
    out = save_png(path, compose(rows, scale=scale, titles=cols))
    return {"path": str(out), "columns": cols, "delta_scale": scales}
