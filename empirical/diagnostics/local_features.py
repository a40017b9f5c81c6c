"""Local features of a frozen encoder on multi-object images (Chen, Luo, Li, NeurIPS 2021, Sec. 5).

Chen et al. show that instance-level contrastive objectives still learn local features: K-means
on the per-location features of an intermediate stage, run on each image separately, draws a
segmentation-like map of the objects. Here:

- ``kmeans``: batched K-means (k-means++ seeding, Lloyd iterations, ``n_init`` restarts keeping
  the lowest inertia), one clustering per image, randomness from a ``torch.Generator``;
- the per-location features of every stage (``Encoder.feature_maps``) of B images ``(B, C_s,
  h_s, w_s)`` are clustered into k groups per image, and so are the raw pixels ``(B, C, H, W)``
  (the baseline);
- the cluster maps are upsampled (nearest) to the input's resolution, or the truth is reduced to
  the stage's grid (the class covering most of each cell), and scored by the adjusted Rand index
  (ARI; Hubert and Arabie 1985) against the known segmentation: overlay vs background on overlay
  suites (``Batch.overlay_mask``); on overlay suites over Fashion-MNIST three classes, black
  background / overlay / the Fashion-MNIST item (``Batch.x_clean`` above ``ITEM_THRESHOLD``,
  outside the overlay), since K-means with two clusters there splits the item from the black
  background whatever the features; background / digit a / digit b on MultiDigits. ARI is 1 for
  a perfect segmentation (up to relabelling) and ~0 for a random one; images whose truth has a
  single class are not scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from empirical.data.base import Batch, MultiTaskDataset, append_post_view_channels
from empirical.data.subsets import random_subset
from empirical.diagnostics.png import compose, label_rgb, save_png, to_rgb
from empirical.features import eval_mode, module_device

# Fashion-MNIST backgrounds (x_clean, in [0, 1]): a pixel brighter than this in some channel is
# the item, a darker one the black background (of 2000 test images' 28x28 pixels, 3% lie in
# (0, 0.05], 47% above)
ITEM_THRESHOLD = 0.05


def _sq_dist(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(B, P, D)``, ``(B, k, D)`` -> squared distances ``(B, P, k)``."""
    return (x[:, :, None, :] - c[:, None, :, :]).pow(2).sum(-1)


def kmeans_pp_init(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur and Vassilvitskii 2007) of each of B point sets ``(B, P, D)``:
    the first centre uniform, each next one drawn with probability proportional to the squared
    distance to the nearest centre chosen so far. Returns centres ``(B, k, D)``."""
    b, p, _ = x.shape
    rows = torch.arange(b)
    first = torch.randint(0, p, (b,), generator=generator)
    centres = [x[rows, first]]  # each (B, D)
    d2 = _sq_dist(x, centres[0][:, None]).squeeze(-1)  # (B, P)
    for _ in range(1, k):
        weights = d2.double()
        # identical points everywhere: draw uniformly
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))
        nxt = torch.multinomial(weights, 1, generator=generator).squeeze(1)
        centres.append(x[rows, nxt])
        d2 = torch.minimum(d2, _sq_dist(x, centres[-1][:, None]).squeeze(-1))
    return torch.stack(centres, dim=1)


def lloyd(
    x: torch.Tensor, centres: torch.Tensor, iters: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lloyd iterations from ``centres`` ``(B, k, D)`` on points ``(B, P, D)``; an empty cluster
    keeps its centre. Returns labels ``(B, P)``, centres ``(B, k, D)``, inertia ``(B,)`` (sum of
    squared distances to the assigned centre)."""
    k = centres.shape[1]
    labels = _sq_dist(x, centres).argmin(-1)
    for _ in range(iters):
        onehot = F.one_hot(labels, k).to(x.dtype)  # (B, P, k)
        counts = onehot.sum(1)[..., None]  # (B, k, 1)
        sums = torch.einsum("bpk,bpd->bkd", onehot, x)  # (B, k, D)
        centres = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        new = _sq_dist(x, centres).argmin(-1)
        if torch.equal(new, labels):
            break
        labels = new
    d2 = _sq_dist(x, centres)
    return labels, centres, d2.gather(-1, labels[..., None]).squeeze(-1).sum(1)


def kmeans(
    x: torch.Tensor,
    k: int,
    generator: torch.Generator,
    iters: int = 50,
    n_init: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster each of B point sets ``(B, P, D)`` into ``k`` groups.

    Returns labels ``(B, P)`` int64 in ``[0, k)`` and inertia ``(B,)`` of the best of ``n_init``
    k-means++-seeded runs (per point set).
    """
    if x.ndim != 3:
        raise ValueError(f"x must be (B, P, D); got {tuple(x.shape)}")
    if not 1 <= k <= x.shape[1]:
        raise ValueError(f"k must be in [1, P = {x.shape[1]}]; got {k}")
    if iters < 0 or n_init < 1:
        raise ValueError(f"iters must be >= 0 and n_init >= 1; got {iters}, {n_init}")
    best_labels: torch.Tensor | None = None
    best_inertia: torch.Tensor | None = None
    for _ in range(n_init):
        labels, _, inertia = lloyd(x, kmeans_pp_init(x, k, generator), iters)
        if best_labels is None or best_inertia is None:
            best_labels, best_inertia = labels, inertia
            continue
        better = inertia < best_inertia
        best_labels = torch.where(better[:, None], labels, best_labels)
        best_inertia = torch.where(better, inertia, best_inertia)
    assert best_labels is not None and best_inertia is not None
    return best_labels, best_inertia


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """ARI of two labelings ``(N,)`` (Hubert and Arabie 1985): ``(I - E) / (M - E)`` with
    ``I = sum_ij C(n_ij, 2)``, ``E = sum_i C(a_i, 2) sum_j C(b_j, 2) / C(N, 2)`` and
    ``M = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2`` over the contingency table ``n_ij``; 1.0 when
    ``M = E`` (both labelings trivial), as scikit-learn."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"labelings must have the same length; got {a.size}, {b.size}")
    n = a.size
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max(initial=-1) + 1, bi.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    pairs = float((table * (table - 1) // 2).sum())
    rows = float(sum(comb(int(v), 2) for v in table.sum(1)))
    cols = float(sum(comb(int(v), 2) for v in table.sum(0)))
    total = float(comb(n, 2))
    expected = rows * cols / total if total > 0 else 0.0
    top = (rows + cols) / 2.0
    if top == expected:
        return 1.0
    return (pairs - expected) / (top - expected)


def upsample_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of label maps ``(B, h, w)`` to ``(B, *size)``."""
    out = F.interpolate(labels[:, None].double(), size=size, mode="nearest")
    return out[:, 0].round().long()


def downsample_truth(truth: torch.Tensor, size: tuple[int, int], num_classes: int) -> torch.Tensor:
    """Truth maps ``(B, H, W)`` -> ``(B, *size)``: the class covering most of each cell."""
    onehot = F.one_hot(truth.long(), num_classes).permute(0, 3, 1, 2).double()  # (B, K, H, W)
    return F.adaptive_avg_pool2d(onehot, size).argmax(1)


def on_black_background(dataset: MultiTaskDataset) -> bool:
    """Whether ``dataset`` is an overlay suite over Fashion-MNIST (an item on black), whose
    truth separates the item from the black background."""
    return getattr(getattr(dataset, "config", None), "background", None) == "fashion"


def overlay_truth(overlay: torch.Tensor, clean: torch.Tensor | None) -> torch.Tensor:
    """Truth ``(B, H, W)`` int64 of overlay masks ``(B, H, W)`` bool: 0 background, 1 overlay;
    with the backgrounds alone ``clean`` ``(B, C, H, W)`` in [0, 1] also 2 for the item, the
    pixels outside the overlay brighter than ``ITEM_THRESHOLD`` in some channel (0 is then the
    black background)."""
    truth = overlay.long()
    if clean is not None:
        if clean.shape[0] != overlay.shape[0] or clean.shape[2:] != overlay.shape[1:]:
            raise ValueError(
                f"x_clean must be (B, C, H, W) with the mask's (B, H, W) = "
                f"{tuple(overlay.shape)}; got {tuple(clean.shape)}"
            )
        truth[(clean.amax(1) > ITEM_THRESHOLD) & ~overlay] = 2
    return truth


def segmentation_truth(dataset: MultiTaskDataset, batch: Batch) -> torch.Tensor:
    """Known segmentation ``(B, H, W)`` int64 of a batch: 0 background, 1 overlay (overlay
    suites, from ``overlay_mask``), and over Fashion-MNIST 2 the item (:func:`overlay_truth`
    of ``x_clean``: 0 is then the black background); for MultiDigits 1 digit a, 2 digit b
    (pixels >= 0.5 inside each digit's box, from ``dataset.boxes`` and its sizes).

    Raises:
        ValueError: a Fashion-MNIST overlay batch without ``x_clean``, or a suite with no known
            segmentation.
    """
    if batch.overlay_mask is not None:
        overlay = batch.overlay_mask[:, 0].cpu()
        if not on_black_background(dataset):
            return overlay_truth(overlay, None)
        if batch.x_clean is None:
            raise ValueError(
                f"suite {dataset.name!r}: the item class needs Batch.x_clean (the background alone)"
            )
        return overlay_truth(overlay, batch.x_clean.cpu())
    boxes = getattr(dataset, "boxes", None)
    cfg = getattr(dataset, "config", None)
    if boxes is None or cfg is None or not hasattr(cfg, "size_a"):
        raise ValueError(
            f"suite {dataset.name!r} has no known segmentation (needs overlay_mask or MultiDigits)"
        )
    ink = batch.x[:, 0].cpu() >= 0.5  # (B, H, W)
    h, w = ink.shape[1:]
    r = torch.arange(h)[None, :, None]
    c = torch.arange(w)[None, None, :]
    truth = torch.zeros(ink.shape, dtype=torch.int64)
    bx = torch.from_numpy(np.asarray(boxes)[batch.index.cpu().numpy()])  # (B, 4)
    for label, (row, col, size) in enumerate(((0, 1, cfg.size_a), (2, 3, cfg.size_b)), start=1):
        r0, c0 = bx[:, row, None, None], bx[:, col, None, None]
        inside = (r >= r0) & (r < r0 + size) & (c >= c0) & (c < c0 + size)
        truth[inside & ink] = label
    return truth


def location_features(maps: torch.Tensor) -> torch.Tensor:
    """Feature maps ``(B, C, h, w)`` -> points ``(B, h * w, C)``, row-major locations."""
    return maps.flatten(2).transpose(1, 2)


def cluster_maps(maps: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """K-means of the locations of each image: ``(B, C, h, w)`` -> labels ``(B, h, w)``."""
    b, _, h, w = maps.shape
    labels, _ = kmeans(location_features(maps).double(), k, generator)
    return labels.reshape(b, h, w)


def score_maps(
    labels: torch.Tensor, truth: torch.Tensor, at: str = "input", num_classes: int = 2
) -> np.ndarray:
    """ARI per image ``(B,)`` of cluster maps ``(B, h, w)`` against truth ``(B, H, W)``, at the
    input's resolution (``at="input"``: labels upsampled) or the map's (``"features"``: truth
    reduced); NaN where the truth (at that resolution) has a single class."""
    if at == "input":
        labels = upsample_labels(labels, tuple(truth.shape[1:]))  # type: ignore[arg-type]
    elif at == "features":
        truth = downsample_truth(truth, tuple(labels.shape[1:]), num_classes)  # type: ignore[arg-type]
    else:
        raise ValueError(f"at must be 'input' or 'features'; got {at!r}")
    out = np.full(labels.shape[0], np.nan)
    for i in range(labels.shape[0]):
        t = truth[i].numpy()
        if np.unique(t).size > 1:
            out[i] = adjusted_rand_index(labels[i].numpy(), t)
    return out


def match_to_truth(labels: torch.Tensor, truth: torch.Tensor, k: int) -> torch.Tensor:
    """Relabel clusters ``(B, H, W)`` so that each takes the truth class it overlaps most
    (Hungarian matching per image; for drawing only, scores do not depend on it)."""
    from scipy.optimize import linear_sum_assignment

    out = labels.clone()
    n_truth = int(truth.max()) + 1
    size = max(k, n_truth)
    for i in range(labels.shape[0]):
        table = np.zeros((size, size))
        np.add.at(table, (labels[i].numpy().ravel(), truth[i].numpy().ravel()), 1)
        rows, cols = linear_sum_assignment(-table)
        perm = torch.zeros(size, dtype=torch.int64)
        perm[torch.from_numpy(rows)] = torch.from_numpy(cols).long()
        out[i] = perm[labels[i]]
    return out


def local_feature_maps(
    encoder: nn.Module,
    dataset: MultiTaskDataset,
    num_images: int = 64,
    k: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Cluster maps of ``num_images`` random inputs of ``dataset``: raw pixels and every
    stage of ``encoder.feature_maps`` (frozen, eval mode, no grad).

    Returns ``{"inputs": (B, C, H, W), "truth": (B, H, W), "maps": {name: (B, h, w)}, "k": k}``
    with names ``"pixels"`` then the encoder's stages in order; ``k`` defaults to the number of
    truth classes (2 on overlay suites, 3 on overlay suites over Fashion-MNIST and MultiDigits).
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    batch = dataset.batch(random_subset(len(dataset), num_images, rng), rng)
    truth = segmentation_truth(dataset, batch)
    k = int(truth.max()) + 1 if k is None else k
    if k < 2:
        raise ValueError(f"k must be >= 2; got {k}")
    maps = {"pixels": cluster_maps(batch.x.double(), k, gen)}
    device = module_device(encoder)
    with torch.no_grad(), eval_mode(encoder):
        x = append_post_view_channels(batch.x, batch).to(device)
        stages = encoder.feature_maps(x)  # type: ignore[operator]
        for name, m in stages.items():
            maps[name] = cluster_maps(m.detach().cpu(), k, gen)
    return {"inputs": batch.x, "truth": truth, "maps": maps, "k": k}


def local_feature_scores(
    result: Mapping[str, Any], at: str = "input"
) -> dict[str, dict[str, float | int | list[int]]]:
    """``{name: {"ari", "ari_std", "n", "grid"}}`` over the scored images of
    :func:`local_feature_maps`' result."""
    truth: torch.Tensor = result["truth"]
    n_cls = max(int(truth.max()) + 1, 2)
    out: dict[str, dict[str, float | int | list[int]]] = {}
    for name, labels in result["maps"].items():
        s = score_maps(labels, truth, at, n_cls)
        s = s[~np.isnan(s)]
        out[name] = {
            "ari": float(s.mean()) if s.size else float("nan"),
            "ari_std": float(s.std()) if s.size else float("nan"),
            "n": int(s.size),
            "grid": [int(v) for v in labels.shape[1:]],
        }
    return out


def draw_local_features(
    path: str | Path, result: Mapping[str, Any], num_rows: int = 8, scale: int = 3
) -> Path:
    """PNG: per image a row of the input, the truth, then the cluster map of the pixels and of
    each stage (upsampled to the input's size, clusters matched to truth classes for colour)."""
    x: torch.Tensor = result["inputs"][:num_rows]
    truth: torch.Tensor = result["truth"][:num_rows]
    size = tuple(truth.shape[1:])
    cols = {"input": None, "truth": truth}
    for name, labels in result["maps"].items():
        up = upsample_labels(labels[:num_rows], size)  # type: ignore[arg-type]
        cols[name] = match_to_truth(up, truth, int(result["k"]))
    tiles = [
        [to_rgb(x[i]) if v is None else label_rgb(v[i]) for v in cols.values()]
        for i in range(x.shape[0])
    ]
    return save_png(path, compose(tiles, scale=scale, titles=list(cols)))
