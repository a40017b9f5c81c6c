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

**Which parameters are differentiated** (``regulariser.nuisance``). ``"all"`` is the paper's
penalty: every column of alpha. ``"no-h"`` is a DEVIATION FROM THE PAPER for Spirograph: the
curve parameter ``h`` is still randomised in every view but is not differentiated; the penalty
becomes ``min(U, mean_{k,b} [G_{b,S} . (alpha'_{kb,S} - alpha1_{b,S})]^2)`` over the colour
columns ``S`` only (the ``h`` column of ``alpha' - alpha1`` is set to 0). Reason, measured
(docs/foster_penalty.md): the faithful penalty is almost all from ``h``, which enters the
curve's phase ``(m - h) t / b``; lowering it makes the encoder discard the curve's shape, which
carries the targets.

**Decomposition** (:func:`penalty_decomposition`). With exact per-example Jacobian columns
``J_bj = dh1_b / dalpha_bj``, the expected penalty (over v, uncapped) is
``sum_{j,l} M_jl`` with ``M_jl = mean_{k,b} delta_kbj delta_kbl (J_bj . J_bl)``: ``M_jj`` is the
penalty if only parameter ``j`` were differentiated, the row sum ``sum_l M_jl`` an exact split of
the total among the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FeaturesFn = Callable[[torch.Tensor], torch.Tensor]
RenderFn = Callable[[torch.Tensor], torch.Tensor]
SampleAlpha = Callable[[int, torch.Generator], torch.Tensor]

NUISANCE_CHOICES: tuple[str, ...] = ("all", "no-h")
"""``regulariser.nuisance``: ``all`` = the paper's penalty (every alpha differentiated);
``no-h`` = Spirograph's ``h`` randomised but not differentiated (a deviation from the paper)."""


def alpha_names(views: str) -> tuple[str, ...] | None:
    """Names of the alpha columns of view generator ``views`` (``views.name``), if known."""
    if views == "spirograph":
        from empirical.data.spirograph import NUISANCE_NAMES

        return NUISANCE_NAMES
    if views == "foster":
        from empirical.views.foster import ALPHA_NAMES

        return ALPHA_NAMES
    return None


def differentiated(nuisance: str, names: Sequence[str] | None, num_params: int) -> tuple[bool, ...]:
    """Which of the ``num_params`` alpha columns (named ``names``) the penalty differentiates
    under ``regulariser.nuisance = nuisance`` (see :data:`NUISANCE_CHOICES`).

    Raises:
        empirical.config.ConfigError: (a ValueError naming ``regulariser.nuisance``) an unknown
            choice, or ``no-h`` for views whose alpha has no ``h`` column.
    """
    from empirical.config import ConfigError

    key = "regulariser.nuisance"
    if nuisance == "all":
        return (True,) * num_params
    if nuisance != "no-h":
        raise ConfigError(key, f"expected one of {', '.join(NUISANCE_CHOICES)}; got {nuisance!r}")
    if names is None or "h" not in names or len(names) != num_params:
        shown = tuple(names) if names is not None else "unnamed"
        raise ConfigError(
            key, f"'no-h' needs views whose alpha has an 'h' column (spirograph); got {shown}"
        )
    return tuple(n != "h" for n in names)


def _mask(differentiate: Sequence[bool] | None, alpha1: torch.Tensor) -> torch.Tensor | None:
    """``(P,)`` 0/1 mask of the flattened alpha columns, or ``None`` for all."""
    if differentiate is None:
        return None
    p = alpha1[0].numel() if alpha1.ndim > 1 else 1
    if len(differentiate) != p:
        raise ValueError(
            f"differentiate must have one flag per alpha column ({p}); got {len(differentiate)}"
        )
    return torch.tensor([float(d) for d in differentiate], dtype=alpha1.dtype, device=alpha1.device)


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
    differentiate: Sequence[bool] | None = None,
) -> torch.Tensor:
    b = alpha1.shape[0]
    mask = _mask(differentiate, alpha1)
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
    if mask is not None:  # columns not differentiated: no move along them, no G term
        delta = delta * mask
    proj = torch.einsum("kbp,bp->kb", delta, g.reshape(b, -1))  # (K, B, P), (B, P) -> (K, B)
    return torch.clamp(proj.pow(2).mean(), max=cap)


def projected_penalty(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    alpha_prime: torch.Tensor,
    v: torch.Tensor,
    cap: float = math.inf,
    differentiate: Sequence[bool] | None = None,
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
        differentiate: one flag per (flattened) alpha column; columns flagged False are not
            differentiated (:func:`differentiated`); ``None`` = all (the paper's penalty).

    Returns:
        ``()`` tensor, differentiable with respect to the parameters used by ``features_fn``
        and ``render_fn``.
    """
    return _penalty(
        features_fn, render_fn, alpha1, alpha_prime, lambda _shape: v, cap, differentiate
    )


def gradient_penalty(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    sample_alpha: SampleAlpha,
    num_samples: int = 100,
    cap: float = 1.0,
    *,
    generator: torch.Generator,
    differentiate: Sequence[bool] | None = None,
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
        differentiate: flags of the alpha columns the penalty differentiates (``None`` = all,
            the paper's); see :func:`differentiated`.

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
        differentiate,
    )


@dataclass(frozen=True)
class PenaltyParts:
    """The expected (over v, uncapped) penalty split among the P alpha columns.

    Attributes:
        gram: ``(P, P)`` ``M_jl = mean_{k,b} delta_kbj delta_kbl (J_bj . J_bl)``; the expected
            penalty is ``gram.sum()``.
        jacobian_sq: ``(P,)`` ``mean_b ||J_bj||^2``, how fast the representation moves per unit
            of parameter j.
        delta_sq: ``(P,)`` ``mean_{k,b} delta_kbj^2``, how far the fresh draws move parameter j.
    """

    gram: torch.Tensor
    jacobian_sq: torch.Tensor
    delta_sq: torch.Tensor

    @property
    def total(self) -> float:
        """The expected penalty ``mean_{k,b} ||J_b delta_kb||^2``."""
        return float(self.gram.sum())

    @property
    def alone(self) -> torch.Tensor:
        """``(P,)`` ``M_jj``: the expected penalty if only parameter j were differentiated."""
        return torch.diagonal(self.gram)

    @property
    def attributed(self) -> torch.Tensor:
        """``(P,)`` row sums ``sum_l M_jl``: an exact split of :attr:`total` (cross terms shared
        equally between their two parameters)."""
        return self.gram.sum(dim=1)

    def restricted(self, differentiate: Sequence[bool]) -> float:
        """The expected penalty when only the flagged columns are differentiated."""
        m = torch.tensor([float(d) for d in differentiate], dtype=self.gram.dtype)
        return float(m @ self.gram @ m)


def jacobian_columns(
    features_fn: FeaturesFn, render_fn: RenderFn, alpha1: torch.Tensor
) -> torch.Tensor:
    """``(B, D, P)`` exact per-example ``dh_b / dalpha_bj`` of ``h = normalize(features(render(
    alpha)))`` at ``alpha1`` ``(B, P)``, exact per example only when examples do not interact
    (e.g. BatchNorm in eval mode).

    Forward-mode products ``J t`` by the double-backward trick: ``g(w) = J^T w`` is linear in
    ``w``, so ``d(g(w) . t)/dw = J t``; one forward pass, then one backward per column.
    """
    if alpha1.ndim != 2:
        raise ValueError(f"alpha1 must have shape (B, P); got {tuple(alpha1.shape)}")
    b = alpha1.shape[0]
    with torch.enable_grad():
        alpha = alpha1.detach().requires_grad_(True)
        h = F.normalize(features_fn(render_fn(alpha)).reshape(b, -1), dim=1)  # (B, D)
        w = torch.zeros_like(h, requires_grad=True)
        (g,) = torch.autograd.grad(h, alpha, w, create_graph=True)  # J^T w, (B, P)
        cols = []
        for j in range(alpha.shape[1]):
            tangent = torch.zeros_like(alpha)
            tangent[:, j] = 1.0
            (col,) = torch.autograd.grad(g, w, tangent, retain_graph=True)  # J e_j, (B, D)
            cols.append(col.detach())
    return torch.stack(cols, dim=-1)


def penalty_decomposition(
    features_fn: FeaturesFn,
    render_fn: RenderFn,
    alpha1: torch.Tensor,
    alpha_prime: torch.Tensor,
) -> PenaltyParts:
    """:class:`PenaltyParts` of the penalty at ``alpha1`` ``(B, P)`` with fresh draws
    ``alpha_prime`` ``(K, B, P)`` (float64 sums)."""
    if alpha_prime.ndim != 3 or alpha_prime.shape[1:] != alpha1.shape:
        raise ValueError(
            f"alpha_prime must have shape (K, *alpha1.shape) = (K, {tuple(alpha1.shape)}); "
            f"got {tuple(alpha_prime.shape)}"
        )
    jac = jacobian_columns(features_fn, render_fn, alpha1).double()  # (B, D, P)
    delta = (alpha_prime - alpha1.detach()).double()  # (K, B, P)
    jtj = torch.einsum("bdj,bdl->bjl", jac, jac)  # (B, P, P)
    dd = torch.einsum("kbj,kbl->bjl", delta, delta) / delta.shape[0]  # (B, P, P)
    return PenaltyParts(
        gram=(jtj * dd).mean(dim=0),
        jacobian_sq=torch.diagonal(jtj, dim1=1, dim2=2).mean(dim=0),
        delta_sq=delta.pow(2).mean(dim=(0, 1)),
    )
