"""Closed-form global optimum of the linear spectral contrastive loss, p* and phase diagrams.

The population loss ``L(W) = -2 tr(P C) + tr(P A P A)`` with ``P = W^T W`` (Tamkin et al.,
"Feature Dropout", arXiv 2212.08378, linear model; science.md) is minimised over rank <= m by
keeping the top-m eigen-directions of ``T = A^{-1/2} C A^{-1/2}``:
``W* = Lambda_m^{1/2} U_m^T A^{-1/2}`` and ``L* = -sum_{top m} lambda^2`` (eigenvalues <= 0 are
never kept). For the linear model ``C`` and ``A`` are diagonal in the rotated basis ``R``, so the
eigenvalue of coordinate ``i`` of group ``k`` (keep ``q_k = 1 - p_k``, signal
``v_i = s_k^2 spectrum_i``) is

    lambda_i = q_k^2 v_i / (q_k v_i + sigma^2)     (0 where the numerator is 0)

with eigenvector ``R e_i``; rotations leave the eigenvalues unchanged.

Ties at the capacity boundary: when the m-th and (m+1)-th largest eigenvalues are equal, every
choice inside the tied eigenspace is optimal. This module splits the remaining capacity equally
over all tied directions: ``learned_dims`` is then fractional, and ``optimal_encoder`` spreads
its tied rows over an equal-norm tight frame so that each tied direction carries the same weight.
Eigenvalues are tied when they differ by at most ``tie_rtol`` times the larger one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from linear_theory.model import FloatArray, LinearModel
from linear_theory.moments import moment_diagonals

TIE_RTOL = 1e-10


def eigenvalue(keep: ArrayLike, signal: ArrayLike, noise: ArrayLike) -> FloatArray:
    """``lambda = q^2 v / (q v + sigma^2)`` broadcast over arrays; 0 where ``q v = 0``.

    Args:
        keep: keep probability ``q = 1 - p`` in [0, 1].
        signal: signal variance ``v = s^2 * spectrum`` (>= 0).
        noise: view noise standard deviation ``sigma`` (>= 0).
    """
    q = np.asarray(keep, dtype=np.float64)
    v = np.asarray(signal, dtype=np.float64)
    s2 = np.asarray(noise, dtype=np.float64) ** 2
    qv = q * v
    den = qv + s2
    safe = np.where(qv > 0, den, 1.0)
    return np.asarray(np.where(qv > 0, q * qv / safe, 0.0))


def dropout_eigenvalue(
    p: ArrayLike, strength: ArrayLike, noise: ArrayLike, variance: ArrayLike = 1.0
) -> FloatArray:
    """Eigenvalue for dropout ``p``, strength ``s`` and latent variance; broadcast."""
    s = np.asarray(strength, dtype=np.float64)
    return eigenvalue(1.0 - np.asarray(p, dtype=np.float64), s**2 * np.asarray(variance), noise)


def coordinate_eigenvalues(model: LinearModel) -> FloatArray:
    """Eigenvalue of ``T`` for each unrotated coordinate, shape ``(d,)`` (eigenvector ``R e_i``)."""
    keep, signal, _ = model.coordinate_params()
    return eigenvalue(keep, signal, model.noise)


def group_eigenvalues(model: LinearModel) -> tuple[FloatArray, ...]:
    """Per group ``k`` the eigenvalues of its coordinates, each shape ``(d_k,)``."""
    lam = coordinate_eigenvalues(model)
    return tuple(lam[s] for s in model.slices)


def whitened_cross_moment(model: LinearModel) -> FloatArray:
    """``T = A^{+1/2} C A^{+1/2}`` built numerically from the moments, shape ``(d, d)``.

    Uses the pseudo-inverse square root (directions with ``A = 0`` have ``C = 0`` too). Meant as
    a reference for tests and teaching; the closed form is ``coordinate_eigenvalues``.
    """
    c_diag, a_diag = moment_diagonals(model)
    inv_sqrt = np.where(a_diag > 0, 1.0 / np.sqrt(np.where(a_diag > 0, a_diag, 1.0)), 0.0)
    t = np.diag(inv_sqrt * c_diag * inv_sqrt)
    if model.rotation is not None:
        r = model.rotation
        t = r @ t @ r.T  # (d, d) @ (d, d) @ (d, d)
    return np.asarray(t)


def allocate_capacity(
    eigenvalues: ArrayLike, dims: ArrayLike, m: ArrayLike, tie_rtol: float = TIE_RTOL
) -> FloatArray:
    """How many directions of each group the rank-m optimum keeps; batched and vectorised.

    Groups are blocks of ``dims[..., k]`` directions sharing the eigenvalue
    ``eigenvalues[..., k]``. Directions are kept in decreasing order of eigenvalue, only while
    the eigenvalue is > 0 and until ``m`` are kept. Groups whose eigenvalues tie (within
    ``tie_rtol``) share the capacity left for them in proportion to their dims (equal split
    per direction), so the result can be fractional.

    Args:
        eigenvalues: shape ``(..., K)``.
        dims: shape ``(..., K)`` (broadcast), non-negative.
        m: embedding dimension, shape ``(...)`` (broadcast), non-negative.

    Returns:
        Kept directions per group, shape ``(..., K)`` (broadcast shape), each in ``[0, dims]``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    d = np.asarray(dims, dtype=np.float64)
    cap = np.asarray(m, dtype=np.float64)[..., None]  # (..., 1)
    lam, d = np.broadcast_arrays(lam, d)
    scale = np.maximum(np.abs(lam[..., :, None]), np.abs(lam[..., None, :]))  # (..., K, K)
    diff = lam[..., None, :] - lam[..., :, None]  # [..., k, j] = lam_j - lam_k
    tied = np.abs(diff) <= tie_rtol * scale
    greater = (diff > 0) & ~tied
    d_greater = np.einsum("...kj,...j->...k", greater.astype(np.float64), d)  # (..., K)
    d_tied = np.einsum("...kj,...j->...k", tied.astype(np.float64), d)  # (..., K)
    left = np.clip(cap - d_greater, 0.0, d_tied)
    share = np.where(d_tied > 0, left / np.where(d_tied > 0, d_tied, 1.0), 0.0)
    return np.asarray(np.where(lam > 0, d * share, 0.0))


def coordinate_kept(model: LinearModel, tie_rtol: float = TIE_RTOL) -> FloatArray:
    """Fraction of each unrotated coordinate's direction kept at the optimum, shape ``(d,)``."""
    lam = coordinate_eigenvalues(model)
    return allocate_capacity(lam, np.ones_like(lam), model.embed_dim, tie_rtol)


def learned_dims(model: LinearModel, tie_rtol: float = TIE_RTOL) -> FloatArray:
    """Directions of each group kept by the optimum, shape ``(K,)``; fractional at ties."""
    kept = coordinate_kept(model, tie_rtol)
    return np.asarray([kept[s].sum() for s in model.slices])


def optimal_loss(model: LinearModel, tie_rtol: float = TIE_RTOL) -> float:
    """Global minimum ``-sum_{top m, lambda > 0} lambda^2`` of the spectral loss."""
    lam = coordinate_eigenvalues(model)
    return float(-(coordinate_kept(model, tie_rtol) * lam**2).sum())


def _equal_norm_frame(r: int, n: int) -> FloatArray:
    """``(r, n)`` matrix with orthonormal rows and all column norms ``sqrt(r / n)``, ``r < n``.

    Rows of the real DFT basis: a constant row when ``r`` is odd, then cosine/sine pairs of
    frequencies ``1 .. floor(r/2)`` (all below ``n / 2``, so the rows are orthonormal).
    """
    j = np.arange(n)
    rows: list[FloatArray] = []
    if r % 2 == 1:
        rows.append(np.full(n, 1.0 / np.sqrt(n)))
    for f in range(1, r // 2 + 1):
        ang = 2.0 * np.pi * f * j / n
        rows.append(np.sqrt(2.0 / n) * np.cos(ang))
        rows.append(np.sqrt(2.0 / n) * np.sin(ang))
    return np.asarray(rows, dtype=np.float64).reshape(r, n)


def optimal_encoder(model: LinearModel, tie_rtol: float = TIE_RTOL) -> FloatArray:
    """A global minimiser ``W* = Lambda_m^{1/2} U_m^T A^{-1/2}``, shape ``(m, d)``.

    Row ``l`` for a kept coordinate ``i`` is ``sqrt(lambda_i / a_i) (R e_i)^T``; rows beyond the
    number of positive eigenvalues are zero. When the capacity boundary cuts a tie of ``n``
    directions with ``r < n`` rows left, those ``r`` rows mix the tied directions through an
    equal-norm tight frame (real DFT rows), so each tied direction gets the same share
    ``r / n``. This is one of many optimal subspaces: it weighs every tied coordinate equally,
    but a mixed direction such as the tied block's all-ones vector can be orthogonal to it.
    """
    lam = coordinate_eigenvalues(model)
    _, a_diag = moment_diagonals(model)
    kept = coordinate_kept(model, tie_rtol)
    d, m = model.dim, model.embed_dim
    scale = np.sqrt(np.where(lam > 0, lam / np.where(a_diag > 0, a_diag, 1.0), 0.0))  # (d,)
    full = np.flatnonzero(kept >= 1.0 - 1e-12)
    part = np.flatnonzero((kept > 1e-12) & (kept < 1.0 - 1e-12))
    full = full[np.argsort(-lam[full], kind="stable")]
    w = np.zeros((m, d))
    w[np.arange(full.size), full] = scale[full]
    if part.size:
        r = round(float(kept[part].sum()))
        frame = _equal_norm_frame(r, part.size)  # (r, n)
        w[full.size : full.size + r, part] = frame * scale[part]
    if model.rotation is not None:
        w = w @ model.rotation.T  # (m, d) @ (d, d)
    return w


def group_weights(w: FloatArray, model: LinearModel, normalize: bool = False) -> FloatArray:
    """Squared Frobenius norm of ``W`` on each group's input subspace, ``||W R[:, g_k]||_F^2``.

    Args:
        w: encoder(s), shape ``(..., m, d)``.
        model: the model (its rotation ``R`` defines the group subspaces).
        normalize: divide by the total ``||W||_F^2`` (fractions summing to 1; 0 for ``W = 0``).

    Returns:
        Shape ``(..., K)``.
    """
    w = np.asarray(w, dtype=np.float64)
    if model.rotation is not None:
        w = w @ model.rotation  # (..., m, d) @ (d, d): coordinates in the group basis
    col = np.einsum("...ij,...ij->...j", w, w)  # (..., d)
    out = np.stack([col[..., s].sum(-1) for s in model.slices], axis=-1)  # (..., K)
    if normalize:
        tot = out.sum(-1, keepdims=True)
        out = np.where(tot > 0, out / np.where(tot > 0, tot, 1.0), 0.0)
    return np.asarray(out)


def p_star(s_strong: ArrayLike, s_weak: ArrayLike, sigma: ArrayLike) -> FloatArray:
    """Dropout on the strong group at which its eigenvalue meets the undropped weak group's.

    Solves ``lambda(1 - p, s_strong^2, sigma) = lambda(1, s_weak^2, sigma) =: mu`` for isotropic
    groups: ``q^2 v - mu v q - mu sigma^2 = 0`` with ``v = s_strong^2``, whose positive root is
    ``q* = (mu + sqrt(mu^2 + 4 mu sigma^2 / v)) / 2``; ``p* = 1 - q*``. Since lambda increases
    strictly in ``q``, ``p*`` exists in (0, 1) and is unique iff
    ``lambda_strong(0) > lambda_weak(0) > 0``; elsewhere the result is nan. Broadcasts.
    """
    s1 = np.asarray(s_strong, dtype=np.float64)
    s2 = np.asarray(s_weak, dtype=np.float64)
    sig = np.asarray(sigma, dtype=np.float64)
    lam1 = eigenvalue(1.0, s1**2, sig)
    mu = eigenvalue(1.0, s2**2, sig)
    ok = (lam1 > mu * (1.0 + TIE_RTOL)) & (mu > 0)
    v = np.where(ok, s1**2, 1.0)
    q = 0.5 * (mu + np.sqrt(mu**2 + 4.0 * mu * sig**2 / v))
    return np.asarray(np.where(ok, 1.0 - q, np.nan))


class PhaseDiagram(NamedTuple):
    """Closed-form optimum over a batch of configurations (shapes ``(..., K)`` or ``(...)``)."""

    eigenvalues: FloatArray
    learned_dims: FloatArray
    learned_fraction: FloatArray
    loss: FloatArray


def phase_diagram_batched(
    strengths: ArrayLike,
    dropouts: ArrayLike,
    dims: ArrayLike,
    m: ArrayLike,
    sigma: ArrayLike,
) -> PhaseDiagram:
    """Optimum of a batch of isotropic K-group models, fully vectorised.

    Args:
        strengths: ``s_k``, shape ``(..., K)``.
        dropouts: ``p_k``, shape ``(..., K)`` (broadcast).
        dims: ``d_k``, shape ``(..., K)`` (broadcast).
        m: embedding dimension, shape ``(...)`` (broadcast).
        sigma: view noise, shape ``(...)`` (broadcast).

    Returns:
        ``PhaseDiagram`` with eigenvalues, learned dims and fractions ``(..., K)`` and the optimal
        loss ``(...)``.
    """
    s = np.asarray(strengths, dtype=np.float64)
    lam = dropout_eigenvalue(dropouts, s, np.asarray(sigma, dtype=np.float64)[..., None])
    d = np.asarray(dims, dtype=np.float64)
    kept = allocate_capacity(lam, d, m)
    lam, kept = np.broadcast_arrays(lam, kept)
    frac = kept / np.where(d > 0, d, 1.0)
    loss = -(kept * lam**2).sum(-1)
    return PhaseDiagram(lam, kept, np.asarray(frac), np.asarray(loss))


def phase_diagram(
    strength_ratio: ArrayLike,
    p: ArrayLike,
    m: ArrayLike,
    sigma: ArrayLike,
    dims: Sequence[int] = (1, 1),
    weak_strength: float = 1.0,
) -> PhaseDiagram:
    """Two-group phase diagram: group 1 (strength ``ratio * s_2``) dropped with ``p``, group 2 not.

    All of ``strength_ratio, p, m, sigma`` broadcast against each other (e.g. a meshgrid over
    ``(s1/s2, p)``); ``dims = (d_1, d_2)``. Returns ``PhaseDiagram`` with trailing axis K = 2.
    """
    if len(dims) != 2 or min(dims) < 1:
        raise ValueError(f"dims must be two integers >= 1; got {dims!r}")
    ratio = np.asarray(strength_ratio, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    ratio, pp, mm, sig = np.broadcast_arrays(ratio, pp, np.asarray(m), np.asarray(sigma))
    strengths = np.stack([ratio * weak_strength, np.full_like(ratio, weak_strength)], axis=-1)
    dropouts = np.stack([pp, np.zeros_like(pp)], axis=-1)
    return phase_diagram_batched(strengths, dropouts, np.asarray(dims), mm, sig)
