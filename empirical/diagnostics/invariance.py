"""Invariance diagnostics of a frozen encoder (Foster, Pukdee, Rainforth, ICLR 2021, Sec. 5).

Two measures of how much a representation still depends on the transformation parameters:

- **Conditional variance.** For each test input x, M copies ``t(x, alpha_m, beta_m)`` under fresh
  parameters; ``z_m`` = the L2-normalised representation of copy m. With unit directions u (uniform
  on the sphere), the conditional variance is

      CV = mean_x mean_u Var_m(u . z_m(x))       (unbiased variance over the M copies),

  the random-projection estimate of ``E_x tr Cov(z | x) / D``. We also report the trace form
  ``mean_x sum_d Var_m(z_md)`` and ``ratio`` = CV / (the same projected variance over all copies
  of all inputs), a scale-free number: 0 for an invariant encoder, about 1 when the transformation
  explains all the spread of the representation.
  ``alpha_only=True`` keeps the non-differentiable parameters beta of one view fixed and varies
  only alpha (``ViewPair.render1`` / ``sample_alpha``); otherwise every copy is a fresh view.
- **Predictability of alpha.** A ridge probe (the shared linear probe, ``empirical.probe``) from
  the representation of a view to its alpha, fitted on views of training inputs and scored by
  ``R^2`` on views of test inputs: ~0 when the representation carries no trace of alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.data.base import Batch, MultiTaskDataset, TaskSpec
from empirical.data.subsets import random_subset
from empirical.features import encode, eval_mode, module_device, read_batches
from empirical.probe import probe_task
from empirical.views.base import ViewGenerator

NORM_FLOOR = 1e-12


@dataclass(frozen=True)
class Copies:
    """M transformed copies of a batch of B inputs.

    Attributes:
        x: ``(M, B, C, H, W)`` the copies (post-view channels included).
        alpha: ``(M, B, A)`` their differentiable parameters, or ``None`` for views without any.
    """

    x: torch.Tensor
    alpha: torch.Tensor | None


def draw_copies(
    batch: Batch,
    views: ViewGenerator,
    num_copies: int,
    generator: torch.Generator,
    alpha_only: bool = False,
) -> Copies:
    """``num_copies`` views of every example of ``batch`` (see the module docstring).

    Without ``alpha_only`` the copies are ``v1, v2`` of ``ceil(M / 2)`` calls of ``views``; with
    it, the views' ``render1`` re-renders view 1 of one call under M fresh ``sample_alpha`` draws.
    """
    if num_copies < 2:
        raise ValueError(f"num_copies must be >= 2 (a variance needs two copies); got {num_copies}")
    xs: list[torch.Tensor] = []
    alphas: list[torch.Tensor | None] = []
    if alpha_only:
        pair = views(batch, generator)
        if pair.render1 is None or pair.sample_alpha is None:
            raise ValueError("alpha_only needs views with render1 and sample_alpha (foster, ...)")
        for _ in range(num_copies):
            a = pair.sample_alpha(len(batch), generator).to(batch.x.device, batch.x.dtype)
            xs.append(pair.render1(a))
            alphas.append(a)
    else:
        while len(xs) < num_copies:
            pair = views(batch, generator)
            xs += [pair.v1, pair.v2]
            alphas += [pair.alpha1, pair.alpha2]
        xs, alphas = xs[:num_copies], alphas[:num_copies]
    alpha = None
    if all(a is not None for a in alphas):
        alpha = torch.stack([a for a in alphas if a is not None])
    return Copies(torch.stack(xs), alpha)


def random_directions(num: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``(num, dim)`` unit vectors, uniform on the sphere (normalised Gaussians)."""
    if num < 1 or dim < 1:
        raise ValueError(f"num and dim must be >= 1; got {num}, {dim}")
    g = torch.randn((num, dim), generator=generator, device=generator.device, dtype=torch.float64)
    return g / g.norm(dim=1, keepdim=True)


def normalise(z: torch.Tensor) -> torch.Tensor:
    """``z / ||z||`` along the last axis (zero vectors stay zero)."""
    return z / z.norm(dim=-1, keepdim=True).clamp_min(NORM_FLOOR)


def conditional_variance(z: torch.Tensor, directions: torch.Tensor) -> dict[str, float]:
    """Conditional-variance statistics of representations ``z`` ``(M, B, D)`` of M copies of B
    inputs (normalised here), projected on ``directions`` ``(K, D)`` (unit vectors).

    Returns:
        ``projected``: ``mean_{b,k} Var_m(u_k . z_mb)`` (unbiased over m);
        ``trace``: ``mean_b sum_d Var_m(z_mbd)``;
        ``total_projected``: ``mean_k Var_{m,b}(u_k . z_mb)`` over all copies of all inputs;
        ``ratio``: ``projected / total_projected`` (0 when ``total_projected`` is 0).
    """
    if z.ndim != 3 or z.shape[0] < 2:
        raise ValueError(f"z must be (M >= 2, B, D); got {tuple(z.shape)}")
    if directions.ndim != 2 or directions.shape[1] != z.shape[2]:
        raise ValueError(f"directions must be (K, {z.shape[2]}); got {tuple(directions.shape)}")
    zn = normalise(z.double())
    proj = torch.einsum("mbd,kd->mbk", zn, directions.to(zn))  # (M, B, K)
    projected = float(proj.var(dim=0, unbiased=True).mean())
    trace = float(zn.var(dim=0, unbiased=True).sum(dim=-1).mean())
    total = float(proj.reshape(-1, proj.shape[-1]).var(dim=0, unbiased=True).mean())
    return {
        "projected": projected,
        "trace": trace,
        "total_projected": total,
        "ratio": projected / total if total > 0 else 0.0,
    }


def representation_of_copies(
    encoder: nn.Module, head: nn.Module | None, copies: torch.Tensor, layer: str
) -> torch.Tensor:
    """``encode`` each of the M copies ``(M, B, C, H, W)``: ``(M, B, D)`` float32."""
    m, b = copies.shape[:2]
    f = encode(encoder, head, copies.reshape(m * b, *copies.shape[2:]), layer)
    return f.float().reshape(m, b, -1)


def measure_conditional_variance(
    encoder: nn.Module,
    head: nn.Module | None,
    dataset: MultiTaskDataset,
    views: ViewGenerator,
    num_inputs: int = 256,
    num_copies: int = 16,
    num_directions: int = 64,
    layer: str = "pooled",
    alpha_only: bool = False,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Conditional variance of ``encoder`` (frozen, eval mode) over ``num_inputs`` random
    examples of ``dataset`` under ``views``; see :func:`conditional_variance`.

    The statistics of every batch are averaged, weighted by batch size, except ``ratio`` and
    ``total_projected``, which are computed once from all copies (directions shared by all).
    """
    if num_inputs < 1 or batch_size < 1:
        raise ValueError(f"num_inputs and batch_size must be >= 1; got {num_inputs}, {batch_size}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    device = module_device(encoder)
    idx = random_subset(len(dataset), num_inputs, rng)
    zs: list[torch.Tensor] = []
    with torch.no_grad(), eval_mode(encoder, head, views):
        for batch in read_batches(dataset, idx, batch_size, rng):
            c = draw_copies(batch.to(device), views, num_copies, gen, alpha_only)
            zs.append(representation_of_copies(encoder, head, c.x, layer).cpu())
    z = torch.cat(zs, dim=1)  # (M, N, D)
    dirs = random_directions(num_directions, z.shape[2], gen)
    stats = conditional_variance(z, dirs)
    return {
        **stats,
        "num_inputs": int(z.shape[1]),
        "num_copies": num_copies,
        "num_directions": num_directions,
        "layer": layer,
        "alpha_only": alpha_only,
        "dim": int(z.shape[2]),
    }


def view_alpha_features(
    encoder: nn.Module,
    head: nn.Module | None,
    dataset: MultiTaskDataset,
    views: ViewGenerator,
    indices: np.ndarray,
    layer: str,
    batch_size: int,
    rng: np.random.Generator,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Representations ``(2N, D)`` of both views of each example and their alpha ``(2N, A)``."""
    device = module_device(encoder)
    feats: list[torch.Tensor] = []
    alphas: list[torch.Tensor] = []
    with torch.no_grad(), eval_mode(encoder, head, views):
        for batch in read_batches(dataset, indices, batch_size, rng):
            c = draw_copies(batch.to(device), views, 2, generator)
            if c.alpha is None:
                raise ValueError("views without alpha: nothing to predict (foster, spirograph)")
            feats.append(representation_of_copies(encoder, head, c.x, layer).flatten(0, 1).cpu())
            alphas.append(c.alpha.flatten(0, 1).float().cpu())
    return torch.cat(feats), torch.cat(alphas)


def alpha_predictability(
    encoder: nn.Module,
    head: nn.Module | None,
    train: MultiTaskDataset,
    test: MultiTaskDataset,
    views: ViewGenerator,
    num_train: int = 1024,
    num_test: int = 512,
    layer: str = "pooled",
    batch_size: int = 128,
    seed: int = 0,
    names: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """R^2 of the shared ridge probe from the representation of a view to its alpha.

    Fitted on both views of ``num_train`` random training examples, scored on both views of
    ``num_test`` random test examples (fresh parameters). ``names`` label alpha's columns.
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    tr_idx = random_subset(len(train), num_train, rng)
    te_idx = random_subset(len(test), num_test, rng)
    args = (layer, batch_size, rng, gen)
    x_tr, a_tr = view_alpha_features(encoder, head, train, views, tr_idx, *args)
    x_te, a_te = view_alpha_features(encoder, head, test, views, te_idx, *args)
    task = TaskSpec("alpha", "regression", dim=int(a_tr.shape[1]))
    _, metrics = probe_task(task, x_tr, a_tr, x_te, a_te, rng=np.random.default_rng(seed))
    out: dict[str, Any] = {**metrics, "layer": layer}
    if names is not None and len(names) == task.dim:
        out["names"] = list(names)
    return out
