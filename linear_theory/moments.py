"""Population moments of the linear model's views, in closed form and by Monte Carlo.

With independent latents and masks drawn independently per view (keep probability
``q_k = 1 - p_k``), for coordinate ``i`` of group ``k`` with signal variance
``v_i = s_k^2 Var(z_i)``:

* cross-view moment ``C = E[x~1 x~2^T] = R diag(q_k^2 v_i) R^T`` (view noise is independent);
* single-view moment ``A = E[x~ x~^T] = R diag(q_k v_i) R^T + sigma^2 I``.

Off-diagonal entries vanish in the unrotated basis because distinct coordinates are independent
with zero mean.
"""

from __future__ import annotations

import numpy as np

from linear_theory.model import FloatArray, LinearModel


def moment_diagonals(model: LinearModel) -> tuple[FloatArray, FloatArray]:
    """Diagonals ``(c, a)`` of ``C`` and ``A`` in the unrotated basis, each shape ``(d,)``."""
    keep, signal, _ = model.coordinate_params()
    c = keep**2 * signal
    a = keep * signal + model.noise**2
    return c, a


def _rotate(model: LinearModel, diag: FloatArray) -> FloatArray:
    mat = np.diag(diag)
    if model.rotation is None:
        return mat
    r = model.rotation
    return np.asarray(r @ mat @ r.T)  # (d, d) @ (d, d) @ (d, d)


def cross_moment(model: LinearModel) -> FloatArray:
    """``C = E[x~1 x~2^T]``, shape ``(d, d)``."""
    return _rotate(model, moment_diagonals(model)[0])


def view_moment(model: LinearModel) -> FloatArray:
    """``A = E[x~ x~^T]``, shape ``(d, d)``."""
    return _rotate(model, moment_diagonals(model)[1])


def clean_moment(model: LinearModel) -> FloatArray:
    """``E[x x^T]`` of clean inputs (no mask, no noise), shape ``(d, d)``."""
    _, signal, _ = model.coordinate_params()
    return _rotate(model, signal)


def sample_latents(model: LinearModel, n: int, rng: np.random.Generator) -> FloatArray:
    """Latents ``z = concat_k z_k``, shape ``(n, d)``, Gaussian with the groups' variances."""
    if n < 1:
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    _, _, var = model.coordinate_params()
    return rng.standard_normal((n, model.dim)) * np.sqrt(var)


def clean_inputs(model: LinearModel, z: FloatArray) -> FloatArray:
    """Clean inputs ``x = R concat_k(s_k z_k)`` from latents ``z`` of shape ``(n, d)``."""
    scale = np.concatenate([np.full(g.dim, g.strength) for g in model.groups])
    x = z * scale
    if model.rotation is not None:
        x = x @ model.rotation.T  # (n, d) @ (d, d)
    return np.asarray(x)


def sample_views(
    model: LinearModel, n: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Draw ``n`` examples and two views of each.

    Returns ``(z, x1, x2)``: latents ``(n, d)`` and the two views ``(n, d)``. Each view drops
    group k with probability ``p_k`` independently of the other view, then adds ``sigma`` noise.
    """
    z = sample_latents(model, n, rng)
    scale = np.concatenate([np.full(g.dim, g.strength) for g in model.groups])
    keep = np.array([g.keep for g in model.groups])
    idx = model.group_index
    views = []
    for _ in range(2):
        mask = (rng.random((n, model.num_groups)) < keep)[:, idx]  # (n, K) -> (n, d)
        x = z * scale * mask
        if model.rotation is not None:
            x = x @ model.rotation.T  # (n, d) @ (d, d)
        x = x + model.noise * rng.standard_normal((n, model.dim))
        views.append(x)
    return z, views[0], views[1]


def empirical_moments(x1: FloatArray, x2: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Symmetrised Monte Carlo estimates ``(C_hat, A_hat)`` from paired views ``(n, d)``."""
    n = x1.shape[0]
    c = (x1.T @ x2 + x2.T @ x1) / (2 * n)  # (d, n) @ (n, d)
    a = (x1.T @ x1 + x2.T @ x2) / (2 * n)
    return c, a
