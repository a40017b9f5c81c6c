"""Foster's gradient regulariser for transformation invariance.

Foster, Pukdee, Rainforth, "Improving Transformation Invariance in Contrastive Representation
Learning" (ICLR 2021). For a view ``t(x, alpha1, beta)`` with differentiable parameters
``alpha1`` and the L2-normalised pre-projection representation ``h1 = h(alpha1)``, ``(B, D)``:

1. draw a Rademacher vector ``v_b`` in ``{-1, +1}^D`` per example;
2. ``G = d(sum_b v_b . h1_b) / d alpha1``, ``(B, P)``, by double backprop (``create_graph``), so
   ``G_b = J_b^T v_b`` with ``J_b = dh1_b / dalpha1_b`` ``(D, P)``;
3. draw ``K`` fresh ``alpha'_kb`` per example;
4. ``GP = min(U, mean_{k,b} [G_b . (alpha'_kb - alpha1_b)]^2)``.

Since ``E_v[v v^T] = I``, ``E_v GP`` (uncapped) ``= mean_{k,b} ||J_b (alpha'_kb - alpha1_b)||^2``,
a first-order surrogate for the conditional variance of ``h`` over the transformation. The
training loss is ``InfoNCE + lambda * GP`` (lambda 0.1, U = 1 on CIFAR; lambda 0.01, U = 1000
on Spirograph).

Caveat: with BatchNorm in training mode, ``h1_b`` also depends on the other examples' ``alpha``,
so ``G_b`` then carries cross-example terms (as in any batched implementation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

FeaturesFn = Callable[[torch.Tensor], torch.Tensor]
RenderFn = Callable[[torch.Tensor], torch.Tensor]
SampleAlpha = Callable[[int, torch.Generator], torch.Tensor]


def rademacher(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Independent +-1 entries (float32) of ``shape``, drawn on ``generator``'s device."""
    bits = torch.randint(0, 2, shape, generator=generator, device=generator.device)
    return (2 * bits - 1).to(torch.float32)


def _penalty(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    alpha_prime: torch.Tensor,
    draw_v: Callable[[tuple[int, ...]], torch.Tensor],
    cap: float,
) -> torch.Tensor:
    b = alpha1.shape[0]
    if alpha_prime.ndim != alpha1.ndim + 1 or alpha_prime.shape[1:] != alpha1.shape:
        raise ValueError(
            f"alpha_prime must have shape (K, *alpha1.shape) = (K, {tuple(alpha1.shape)}); "
            f"got {tuple(alpha_prime.shape)}"
        )
    alpha = alpha1.detach().requires_grad_(True)
    h = F.normalize(features_fn(render_fn(alpha)).reshape(b, -1), dim=1)  # (B, D)
    v = draw_v(tuple(h.shape))
    if v.shape != h.shape:
        raise ValueError(f"v must have the representation's shape {tuple(h.shape)}")
    (g,) = torch.autograd.grad(
        (v.to(h) * h).sum(), alpha, create_graph=True, allow_unused=True
    )  # (B, *A)
    if g is None:  # h does not depend on alpha at all: J = 0
        g = torch.zeros_like(alpha)
    delta = (alpha_prime - alpha1.detach()).reshape(alpha_prime.shape[0], b, -1)  # (K, B, P)
    proj = torch.einsum("kbp,bp->kb", delta, g.reshape(b, -1))  # (K, B, P), (B, P) -> (K, B)
    return torch.clamp(proj.pow(2).mean(), max=cap)


def projected_penalty(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    alpha_prime: torch.Tensor,
    v: torch.Tensor,
    cap: float = math.inf,
) -> torch.Tensor:
    """The penalty for GIVEN draws (the deterministic core of :func:`gradient_penalty`).

    Args:
        features_fn: view ``(B, ...)`` -> representation ``(B, D)`` (or ``(B, ...)``, flattened);
            normalised here.
        render_fn: ``alpha (B, *A) -> view``, differentiable in ``alpha``.
        alpha1: parameters of the first view, ``(B, *A)`` (detached here).
        alpha_prime: fresh parameters, ``(K, B, *A)``.
        v: Rademacher (or any) projection vectors, ``(B, D)``.
        cap: ``U``; the penalty is ``min(U, .)`` (no gradient when capped).

    Returns:
        ``()`` tensor, differentiable with respect to the parameters used by ``features_fn``
        and ``render_fn``.
    """
    return _penalty(features_fn, render_fn, alpha1, alpha_prime, lambda _shape: v, cap)


def gradient_penalty(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    sample_alpha: SampleAlpha,
    num_samples: int = 100,
    cap: float = 1.0,
    *,
    generator: torch.Generator,
) -> torch.Tensor:
    """Foster's gradient penalty ``GP = min(U, mean_{k,b} [G_b . (alpha'_kb - alpha1_b)]^2)``.

    Runs its own forward pass ``features_fn(render_fn(alpha1))`` (with ``alpha1`` as a fresh
    leaf requiring grad) and one double-backprop ``autograd.grad``.

    Args:
        features_fn: view -> pre-projection representation ``(B, D)`` (normalised inside).
        render_fn: ``alpha (B, *A) -> view``, differentiable in ``alpha``.
        alpha1: the first view's differentiable parameters, ``(B, *A)``.
        sample_alpha: ``(n, generator) -> (n, *A)`` fresh parameters.
        num_samples: ``K`` fresh ``alpha'`` per example (>= 1; 100 in the paper).
        cap: ``U`` (> 0; may be ``math.inf``).
        generator: source of ``alpha'`` (drawn first, ``K * B`` rows at once, row ``k * B + b``
            for example ``b``) and then of ``v``.

    Returns:
        ``()`` penalty, differentiable with respect to the encoder parameters.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be an integer >= 1; got {num_samples!r}")
    if not cap > 0:
        raise ValueError(f"cap must be > 0 (math.inf allowed); got {cap!r}")
    if alpha1.ndim < 1 or alpha1.shape[0] < 1:
        raise ValueError(f"alpha1 must have shape (B, ...) with B >= 1; got {tuple(alpha1.shape)}")
    b = alpha1.shape[0]
    drawn = sample_alpha(num_samples * b, generator)
    if drawn.shape[1:] != alpha1.shape[1:] or drawn.shape[0] != num_samples * b:
        raise ValueError(
            f"sample_alpha({num_samples * b}) must return shape "
            f"({num_samples * b}, *{tuple(alpha1.shape[1:])}); got {tuple(drawn.shape)}"
        )
    alpha_prime = drawn.to(alpha1).reshape(num_samples, *alpha1.shape)  # (K, B, *A)
    return _penalty(
        features_fn,
        render_fn,
        alpha1,
        alpha_prime,
        lambda shape: rademacher(shape, generator).to(alpha1.device),
        cap,
    )
