"""Gradient-flow dynamics of the spectral contrastive loss: closed form, integration, SGD, GD.

Derivation (science.md, "Dynamics"; issue 2, claim g). Work in the unrotated basis, where
``C = diag(c)`` and ``A = diag(a)`` (``c_i = q_k^2 v_i``, ``a_i = q_k v_i + sigma^2``; see
``linear_theory.moments``). For a rotated model ``x = R x_0`` the encoder ``W`` acts as
``V = W R`` on the unrotated input, and gradient flow on ``W`` is gradient flow on ``V`` (the
loss and its gradient are equivariant under ``W -> W R``), so everything below is about the
columns ``v_i`` of ``V = W R``, shape ``(m, d)``.

Gradient flow ``dW/dt = -dL/dW = 4 W C - 4 W A P A`` with ``P = W^T W``. Column ``i`` reads

    dv_i/dt = 4 c_i v_i - 4 a_i sum_j a_j (v_j . v_i) v_j.

If the columns are mutually orthogonal (``v_j . v_i = 0`` for ``i != j``) the sum keeps only
``j = i`` and ``dv_i/dt = 4 (c_i - a_i^2 r_i) v_i`` with ``r_i = ||v_i||^2``: every column is only
rescaled, so the columns stay orthogonal for all time (the orthogonal set is invariant), and

    dr_i/dt = 2 v_i . dv_i/dt = 8 c_i r_i - 8 a_i^2 r_i^2,

a logistic equation with rate ``8 c_i`` and capacity ``K_i = c_i / a_i^2``:

    r_i(t) = K_i / (1 + (K_i / r_i(0) - 1) exp(-8 c_i t))
           = r_i(0) / (exp(-8 c_i t) + 8 a_i^2 r_i(0) (1 - exp(-8 c_i t)) / (8 c_i)).

The second form is the one implemented: it has no overflow, gives ``r = 0`` for ``r(0) = 0``
and its ``c_i -> 0`` limit ``r(0) / (1 + 8 a_i^2 r(0) t)`` (a dropped or signal-free coordinate
decays), and ``r`` constant when ``c_i = a_i = 0``. The captured eigenvalue ``a_i r_i`` tends to
``c_i / a_i = lambda_i``, the eigenvalue of ``T = A^{-1/2} C A^{-1/2}``, and the coordinate's
loss ``-2 c_i r_i + a_i^2 r_i^2`` to ``-lambda_i^2``. The rate is ``8 c_i = 8 lambda_i a_i``: the
time to reach a fraction ``f`` of ``K_i`` is

    t_f = ln((K_i / r_i(0) - 1) / (1/f - 1)) / (8 c_i),   t_1/2 = ln(K_i / r_i(0) - 1) / (8 c_i),

so a weak feature is learned later, along a sigmoid whose time scale ``1 / (8 lambda_i a_i)``
grows as its eigenvalue shrinks. At fixed ``a`` and ``r(0)``, with ``x = lambda / (a r(0))``,
``d t_f / d lambda < 0`` exactly when ``ln((x - 1) / (1/f - 1)) > x / (x - 1)``; for ``f = 1/2``
when ``x > x* ~= 4.59`` (root of ``ln(x - 1) = x / (x - 1)``), i.e. from any small start (for
a start close to capacity the logarithm shrinks faster than the rate grows).

When the closed form holds. Exactly for an orthogonal-column start, e.g. the decoupled small
initialisation of :func:`decoupled_init` (at most ``m`` nonzero columns of ``V``, each a
scaled unit vector of its own row; :func:`decoupled_norms` gives its exact ``r_i(0)``).
Approximately for a generic small random start with ``m`` well above the number of signal
directions: the limits are the same, and the coupling term only removes each column's overlap
with the columns learned before it, which delays the later column by about
``-ln(1 - cos^2) / (8 c_i)``; the overlaps shrink as ``m`` grows (two 1-d groups, random start:
largest gap between simulated and closed-form group curves 95%, 12%, 4%, 0.04% of the larger
limit at ``m = 2, 4, 16, 64``).

Competition, ``m`` smaller than the number of directions. For ``m = 1`` (one row ``w``) the
flow is exactly ``dw_i/dt = 4 w_i (c_i - a_i u)`` with the captured eigenvalue
``u = sum_j a_j w_j^2``: direction ``i`` grows only while ``u < lambda_i``. Every direction
grows at first; once the strongest one pushes ``u`` past ``lambda_i``, direction ``i`` decays
to zero: a weaker group is learned a little, peaks exactly when ``u = lambda_i``, and is then
suppressed, as the optimum (top-``m`` directions only) requires. For larger ``m`` the same
happens once the ``m`` strongest directions fill the embedding.

Numerics: :func:`integrate_gradient_flow` integrates the full ``(m, d)`` ODE with scipy;
:func:`sgd_on_views` runs minibatch SGD on sampled view pairs with an unbiased gradient;
:func:`gradient_descent` runs plain gradient descent on a batch of ``B`` configurations at once
(torch, CPU, batch-last layout) or, as its reference, per configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from linear_theory.loss import spectral_loss, spectral_loss_grad
from linear_theory.model import FloatArray, LinearModel
from linear_theory.moments import cross_moment, moment_diagonals, sample_views, view_moment

# --------------------------------------------------------------------------------------------
# Closed form


def _check_r0(model: LinearModel, r0: float | FloatArray) -> FloatArray:
    r = np.broadcast_to(np.asarray(r0, dtype=np.float64), (model.dim,)).copy()
    if not np.all(np.isfinite(r) & (r >= 0)):
        raise ValueError(f"r0 must be finite and >= 0 (scalar or shape ({model.dim},)); got {r0!r}")
    return r


def logistic_norms(c: FloatArray, a: FloatArray, r0: FloatArray, t: FloatArray) -> FloatArray:
    """Solution of ``dr/dt = 8 c r - 8 a^2 r^2`` (module docstring), elementwise.

    Args:
        c, a, r0: broadcastable arrays, ``c >= 0``, ``r0 >= 0``.
        t: times ``>= 0``, broadcastable with the others.
    Returns:
        ``r(t)`` with the broadcast shape.
    """
    alpha = 8.0 * np.asarray(c, dtype=np.float64)
    beta = 8.0 * np.asarray(a, dtype=np.float64) ** 2
    t = np.asarray(t, dtype=np.float64)
    decay = np.exp(-alpha * t)
    with np.errstate(divide="ignore", invalid="ignore"):
        # phi = (1 - exp(-alpha t)) / alpha, with its limit t at alpha = 0
        phi = np.where(alpha > 0, -np.expm1(-alpha * t) / np.where(alpha > 0, alpha, 1.0), t)
    denom = decay + beta * r0 * phi
    return np.asarray(np.where(r0 > 0, r0 / np.where(r0 > 0, denom, 1.0), 0.0))


@dataclass(frozen=True)
class ModeCurves:
    """Closed-form learning curves of gradient flow (decoupled dynamics).

    Attributes:
        t: times, shape ``(T,)``.
        norms: ``r_i(t) = ||(W R)[:, i]||^2`` per unrotated coordinate, shape ``(T, d)``.
        group_weight: ``sum_{i in k} r_i(t)``, the squared Frobenius norm of ``W R`` restricted
            to group k (what ``linear_theory.spectral.group_weights`` computes from a ``W``),
            shape ``(T, K)``.
        group_limit: ``lim_{t->inf}`` of ``group_weight`` (``sum_{i in k} c_i / a_i^2`` over
            coordinates with ``c_i > 0`` and ``r_i(0) > 0``), shape ``(K,)``.
    """

    t: FloatArray
    norms: FloatArray
    group_weight: FloatArray
    group_limit: FloatArray


def _group_sum(model: LinearModel, x: FloatArray) -> FloatArray:
    """Sum the last axis ``(..., d)`` over each group's coordinates -> ``(..., K)``."""
    return np.stack([x[..., s].sum(axis=-1) for s in model.slices], axis=-1)


def _capacity(c: FloatArray, a: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(c > 0, c / np.where(a > 0, a, 1.0) ** 2, 0.0))


def mode_curves(model: LinearModel, t: FloatArray, r0: float | FloatArray) -> ModeCurves:
    """Closed-form ``r_i(t)`` and per-group weights of gradient flow (module docstring).

    Exact when the columns of ``W0 R`` are mutually orthogonal (e.g. :func:`decoupled_init`);
    approximate for a generic small random start with ``m`` above the number of directions.

    Args:
        model: the linear model (C, A diagonal in the unrotated basis).
        t: times ``>= 0``, shape ``(T,)``.
        r0: initial squared column norms of ``W0 R``: a scalar or shape ``(d,)``
            (:func:`mode_norms` of the initial ``W``).
    """
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if times.ndim != 1 or not np.all(np.isfinite(times) & (times >= 0)):
        raise ValueError(f"t must be a 1-d array of finite times >= 0; got shape {times.shape}")
    r_init = _check_r0(model, r0)
    c, a = moment_diagonals(model)
    norms = logistic_norms(c, a, r_init, times[:, None])  # (T, d)
    limit = np.where(r_init > 0, _capacity(c, a), 0.0)
    return ModeCurves(times, norms, _group_sum(model, norms), _group_sum(model, limit))


def eigenvalue_learning_time(
    eigenvalue: FloatArray, view_variance: FloatArray, r0: FloatArray, frac: float = 0.5
) -> FloatArray:
    """Time for ``r`` to reach ``frac`` of its limit, as a function of the eigenvalue.

    ``t_f = ln((lambda / (a r0) - 1) / (1/f - 1)) / (8 lambda a)`` with ``c = lambda a`` and
    ``K = lambda / a``; ``0`` if ``r0 >= f K``, ``inf`` if ``lambda = 0`` or ``r0 = 0``.
    Arguments broadcast; ``eigenvalue >= 0``, ``view_variance > 0``, ``r0 >= 0``.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must be in (0, 1); got {frac!r}")
    lam = np.asarray(eigenvalue, dtype=np.float64)
    a = np.asarray(view_variance, dtype=np.float64)
    r = np.asarray(r0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (lam / (a * r) - 1.0) / (1.0 / frac - 1.0)  # (K/r0 - 1) / (1/f - 1)
        time = np.log(np.maximum(ratio, 1.0)) / (8.0 * lam * a)
    out = np.where((lam > 0) & (r > 0), time, np.inf)
    return np.asarray(np.where((lam > 0) & (r > 0) & (ratio <= 1.0), 0.0, out))


def learning_time(model: LinearModel, r0: float | FloatArray, frac: float = 0.5) -> FloatArray:
    """Per-group time at which ``sum_{i in k} r_i`` reaches ``frac`` of its limit, shape ``(K,)``.

    Coordinates with ``c_i = 0`` (never learned) are left out of the group's sum; a group with
    no learnable coordinate gets ``inf``. For an isotropic group this equals the coordinate
    time :func:`eigenvalue_learning_time`; otherwise the group sum is inverted by bisection.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must be in (0, 1); got {frac!r}")
    r_init = _check_r0(model, r0)
    c, a = moment_diagonals(model)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(c > 0, c / np.where(a > 0, a, 1.0), 0.0)
    coord_t = eigenvalue_learning_time(lam, np.where(a > 0, a, 1.0), r_init, frac)  # (d,)
    out = np.empty(model.num_groups)
    for k, sl in enumerate(model.slices):
        live = (c[sl] > 0) & (r_init[sl] > 0)
        if not live.any():
            out[k] = np.inf
            continue
        ck, ak, rk, tk = c[sl][live], a[sl][live], r_init[sl][live], coord_t[sl][live]
        if np.all(tk == tk[0]):
            out[k] = tk[0]
            continue
        target = frac * np.sum(ck / ak**2)
        lo, hi = 0.0, float(np.max(tk))  # at max_i t_i every r_i >= f K_i
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if logistic_norms(ck, ak, rk, np.asarray(mid)).sum() >= target:
                hi = mid
            else:
                lo = mid
        out[k] = hi
    return out


# --------------------------------------------------------------------------------------------
# Weights, norms and initialisations


def mode_norms(model: LinearModel, w: FloatArray) -> FloatArray:
    """Squared column norms ``r_i = ||(W R)[:, i]||^2`` of ``w`` ``(..., m, d)`` -> ``(..., d)``."""
    v = w if model.rotation is None else w @ model.rotation  # (..., m, d) @ (d, d)
    return np.asarray(np.sum(v**2, axis=-2))


def _decoupled_coords(model: LinearModel, coords: NDArray[np.int64] | None) -> NDArray[np.int64]:
    m, d = model.embed_dim, model.dim
    if coords is None:
        c, a = moment_diagonals(model)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(c > 0, c / np.where(a > 0, a, 1.0), 0.0)
        coords = np.argsort(-lam, kind="stable")[: min(m, d)]
    idx = np.asarray(coords, dtype=np.int64)
    if idx.ndim != 1 or len(idx) > m or len(set(idx.tolist())) != len(idx):
        raise ValueError(f"coords must be at most m={m} distinct indices; got {coords!r}")
    if len(idx) and not (0 <= idx.min() and idx.max() < d):
        raise ValueError(f"coords must lie in [0, {d}); got {coords!r}")
    return idx


def decoupled_init(
    model: LinearModel, r0: float, coords: NDArray[np.int64] | None = None
) -> FloatArray:
    """Orthogonal-column start ``W0 = sqrt(r0) E R^T``, shape ``(m, d)``.

    ``E`` has a single 1 at ``(j, coords[j])`` for each row ``j < len(coords)``; ``coords``
    defaults to the ``min(m, d)`` unrotated coordinates of largest eigenvalue ``c_i / a_i``.
    Under this start the closed form :func:`mode_curves` with :func:`decoupled_norms` is exact.
    """
    if not (math.isfinite(r0) and r0 > 0):
        raise ValueError(f"r0 must be finite and > 0; got {r0!r}")
    idx = _decoupled_coords(model, coords)
    v = np.zeros((model.embed_dim, model.dim))
    v[np.arange(len(idx)), idx] = math.sqrt(r0)
    return v if model.rotation is None else np.asarray(v @ model.rotation.T)  # (m, d) @ (d, d)


def decoupled_norms(
    model: LinearModel, r0: float, coords: NDArray[np.int64] | None = None
) -> FloatArray:
    """The exact ``r_i(0)`` of :func:`decoupled_init`: ``r0`` on ``coords``, else 0; ``(d,)``.

    (:func:`mode_norms` of the rotated start differs by rounding, ~1e-33, in the zero columns,
    which the closed form would let grow.)
    """
    if not (math.isfinite(r0) and r0 > 0):
        raise ValueError(f"r0 must be finite and > 0; got {r0!r}")
    out = np.zeros(model.dim)
    out[_decoupled_coords(model, coords)] = r0
    return out


# --------------------------------------------------------------------------------------------
# Numerical integration of the full ODE


def integrate_gradient_flow(
    model: LinearModel,
    w0: FloatArray,
    t_eval: FloatArray,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> FloatArray:
    """Integrate ``dW/dt = -dL/dW`` (scipy ``solve_ivp``, DOP853); returns ``(T, m, d)``.

    Args:
        model: the linear model (its ``C``, ``A`` include the rotation).
        w0: initial weights, shape ``(m, d)``.
        t_eval: increasing times ``>= 0``, shape ``(T,)``; integration starts at 0.
    """
    w0 = np.asarray(w0, dtype=np.float64)
    m, d = model.embed_dim, model.dim
    if w0.shape != (m, d):
        raise ValueError(f"w0 must have shape (m, d) = ({m}, {d}); got {w0.shape}")
    times = np.asarray(t_eval, dtype=np.float64)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("t_eval must be a 1-d non-decreasing array of times >= 0")
    c, a = cross_moment(model), view_moment(model)

    def rhs(_t: float, y: FloatArray) -> FloatArray:
        return -spectral_loss_grad(y.reshape(m, d), c, a).ravel()

    sol = solve_ivp(
        rhs, (0.0, float(times[-1])), w0.ravel(), "DOP853", t_eval=times, rtol=rtol, atol=atol
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return np.asarray(sol.y.T.reshape(len(times), m, d))


# --------------------------------------------------------------------------------------------
# Minibatch SGD on sampled views


def minibatch_gradient(w: FloatArray, x1: FloatArray, x2: FloatArray) -> FloatArray:
    """Unbiased minibatch estimate of ``dL/dW = -4 W C + 4 W A P A``, shape ``(m, d)``.

    ``x1, x2`` are the two views of ``n >= 2`` independent examples, ``(n, d)``. The ``C`` term
    uses the symmetrised ``C_hat = (X1^T X2 + X2^T X1) / 2n``. The ``(f.f')^2`` term is the
    U-statistic over all ordered pairs ``(i, j)`` of the ``2n`` views ``X`` that come from
    *different* examples: ``E[(x_i^T P x_j) x_i x_j^T] = A P A`` for such pairs, so
    ``4 W M / (4 n (n - 1))`` with ``M = sum_pairs (x_i^T P x_j) x_i x_j^T`` is unbiased for
    ``4 W A P A``. ``M`` is the all-pairs sum ``S P S`` (``S = X^T X``) minus the pairs
    ``(i, i)`` and the two views of one example, so the cost is ``O(n d^2)``.
    """
    n, _ = x1.shape
    if n < 2:
        raise ValueError(f"batch must be >= 2 examples; got {n}")
    p = w.T @ w  # (d, m) @ (m, d) -> (d, d)
    c_hat = (x1.T @ x2 + x2.T @ x1) / (2 * n)  # (d, n) @ (n, d) -> (d, d)
    x = np.concatenate([x1, x2], axis=0)  # (2n, d)
    s = x.T @ x  # (d, 2n) @ (2n, d) -> (d, d)
    same = np.einsum("rd,de,re->r", x, p, x)  # x_r^T P x_r, (2n,)
    cross = np.einsum("nd,de,ne->n", x1, p, x2)  # x1_e^T P x2_e, (n,)
    pair_sum = s @ p @ s  # (d, d) @ (d, d) @ (d, d): all ordered pairs
    pair_sum -= x.T @ (same[:, None] * x)  # (d, 2n) @ (2n, d): pairs (i, i)
    between = x1.T @ (cross[:, None] * x2)  # (d, n) @ (n, d): two views of one example
    pair_sum -= between + between.T
    apa = pair_sum / (4 * n * (n - 1))  # estimates A P A
    return np.asarray(-4.0 * (w @ c_hat) + 4.0 * (w @ apa))  # (m, d) @ (d, d)


@dataclass(frozen=True)
class SGDResult:
    """Snapshots of an SGD run: ``t = lr * step`` ``(S,)`` and weights ``w`` ``(S, m, d)``."""

    t: FloatArray
    w: FloatArray


def sgd_on_views(
    model: LinearModel,
    w0: FloatArray,
    steps: int,
    lr: float,
    batch: int,
    rng: np.random.Generator,
    record_every: int = 1,
) -> SGDResult:
    """Minibatch SGD ``W <- W - lr * g_hat`` on fresh view pairs each step.

    ``g_hat`` is :func:`minibatch_gradient` of ``batch`` examples from
    :func:`linear_theory.moments.sample_views`. Step ``k`` corresponds to gradient-flow time
    ``lr * k``; for small ``lr`` SGD tracks the flow (Euler error ``O(lr)``, noise
    ``O(sqrt(lr / batch))``). Snapshots at steps ``0, record_every, ...`` and the last step.
    """
    if steps < 0:
        raise ValueError(f"steps must be an integer >= 0; got {steps!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0; got {lr!r}")
    if batch < 2:
        raise ValueError(f"batch must be an integer >= 2; got {batch!r}")
    if record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1; got {record_every!r}")
    w = np.array(w0, dtype=np.float64)
    if w.shape != (model.embed_dim, model.dim):
        raise ValueError(f"w0 must have shape (m, d) = {(model.embed_dim, model.dim)}")
    ts, ws = [0.0], [w.copy()]
    for k in range(1, steps + 1):
        _, x1, x2 = sample_views(model, batch, rng)
        w -= lr * minibatch_gradient(w, x1, x2)
        if k % record_every == 0 or k == steps:
            ts.append(lr * k)
            ws.append(w.copy())
    return SGDResult(np.asarray(ts), np.stack(ws))


# --------------------------------------------------------------------------------------------
# Plain gradient descent: vectorised over configurations, and the per-configuration loop


@dataclass(frozen=True)
class DescentResult:
    """Outcome of gradient descent on ``B`` configurations.

    Attributes:
        w: final weights, ``(B, m, d)``.
        steps: updates applied per configuration, ``(B,)`` (the step at which
            ``||dL/dW||_F <= tol`` first held, else the step budget).
        converged: whether the tolerance was met, ``(B,)``.
        loss: final spectral loss, ``(B,)``.
    """

    w: FloatArray
    steps: NDArray[np.int64]
    converged: NDArray[np.bool_]
    loss: FloatArray


def joint_eigenbasis(c: FloatArray, a: FloatArray, atol: float = 1e-10) -> FloatArray | None:
    """Orthogonal ``Q`` ``(B, d, d)`` diagonalising every ``C`` and ``A`` at once, else ``None``.

    Commuting symmetric ``C, A`` (every model of this package: both are ``R diag R^T``) share an
    eigenbasis, found as the eigenvectors of ``C + t A`` for a generic ``t``; ``None`` when the
    off-diagonal part of ``Q^T C Q`` or ``Q^T A Q`` exceeds ``atol`` times the entries' scale.
    """
    _, q = np.linalg.eigh(c + 0.6180339887 * a)  # (B, d, d)
    off = max(_off_diagonal(np.swapaxes(q, -1, -2) @ m @ q) for m in (c, a))  # Q^T M Q
    scale = max(1.0, float(np.max(np.abs(c), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    return np.asarray(q) if off <= atol * scale else None


def _off_diagonal(mats: FloatArray) -> float:
    """Largest absolute off-diagonal entry of a stack ``(B, d, d)``."""
    off = np.abs(mats)
    np.einsum("...ii->...i", off)[...] = 0.0
    return float(np.max(off, initial=0.0))


@dataclass(frozen=True)
class _Problem:
    """Gradient-descent problem in the basis it is run in (shared by both implementations).

    With a joint eigenbasis ``Q`` (``diag``) the iterates are ``V = W Q`` and ``C, A`` are the
    diagonals ``c, a`` ``(B, d)``: ``W_k Q`` are exactly the iterates of gradient descent on the
    rotated problem, and ``||g||_F`` is unchanged (``q`` is ``None`` when ``Q = I``). Otherwise
    ``c, a`` are the dense ``(B, d, d)`` matrices and ``V = W``.
    """

    c: FloatArray
    a: FloatArray
    v0: FloatArray
    q: FloatArray | None
    diag: bool
    lr: FloatArray


def _prepare(
    c: FloatArray, a: FloatArray, w0: FloatArray, lr: float | FloatArray, steps: int, tol: float
) -> _Problem:
    c, a, w0 = (np.asarray(x, dtype=np.float64) for x in (c, a, w0))
    if c.ndim != 3 or c.shape[1] != c.shape[2] or a.shape != c.shape:
        raise ValueError(f"C and A must both have shape (B, d, d); got {c.shape}, {a.shape}")
    b, d = c.shape[0], c.shape[1]
    if w0.ndim != 3 or w0.shape[0] != b or w0.shape[2] != d:
        raise ValueError(f"W0 must have shape (B, m, d) = ({b}, m, {d}); got {w0.shape}")
    lrs = np.broadcast_to(np.asarray(lr, dtype=np.float64), (b,)).copy()
    if not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError(f"lr must be finite and > 0 (scalar or shape ({b},)); got {lr!r}")
    if not (isinstance(steps, int | np.integer) and steps >= 0):
        raise ValueError(f"steps must be an integer >= 0; got {steps!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be finite and >= 0; got {tol!r}")

    def diagonals(x: FloatArray) -> FloatArray:
        return np.diagonal(x, axis1=-2, axis2=-1).copy()  # (B, d)

    if max(_off_diagonal(c), _off_diagonal(a)) == 0.0:  # already diagonal: Q = I
        return _Problem(diagonals(c), diagonals(a), w0, None, True, lrs)
    q = joint_eigenbasis(c, a) if b else None
    if q is None:
        return _Problem(c, a, w0, None, False, lrs)
    qt = np.swapaxes(q, -1, -2)
    cd, ad = diagonals(qt @ c @ q), diagonals(qt @ a @ q)  # (B, d, d) @ (B, d, d) @ (B, d, d)
    return _Problem(cd, ad, w0 @ q, q, True, lrs)  # (B, m, d) @ (B, d, d)


def _finish(
    prob: _Problem,
    c: FloatArray,
    a: FloatArray,
    v: FloatArray,
    used: NDArray[np.int64],
    conv: NDArray[np.bool_],
) -> DescentResult:
    w = v if prob.q is None else v @ np.swapaxes(prob.q, -1, -2)  # (B, m, d) @ (B, d, d)
    c, a = np.asarray(c, dtype=np.float64), np.asarray(a, dtype=np.float64)
    return DescentResult(np.asarray(w), used, conv, spectral_loss(w, c, a))


class _BatchLastKernel:
    """``dL/dV = 4 (V A V^T)(V A) - 4 V C`` for ``n`` configurations in batch-last layout.

    ``v`` is ``(m, d, n)`` and is updated in place by the caller; ``c, a`` are ``(d, n)``
    diagonals or ``(d, d, n)`` dense matrices. Each matrix product is a short sum of
    elementwise products over the contracted index (a few large vector operations), written
    into preallocated buffers through views built once: for the small ``d`` of these models this
    vectorises far better than ``B`` tiny matmuls.
    """

    def __init__(self, v: torch.Tensor, c: torch.Tensor, a: torch.Tensor) -> None:
        m, d, _ = v.shape
        self.v, self.c, self.a = v, c, a
        self.diag = c.dim() == 2
        self.u = torch.empty_like(v)  # V A, (m, d, n)
        self.vc = torch.empty_like(v)  # V C, (m, d, n)
        self.s = v.new_empty((m, m, v.shape[-1]))  # V A V^T, (m, m, n)
        self.grad = torch.empty_like(v)
        self.sq = torch.empty_like(v)
        # (V A)[:, j] V[:, j]^T: (m, 1, n) * (1, m, n) -> (m, m, n), summed over j < d
        self.s_terms = [(self.u[:, None, j, :], v[None, :, j, :]) for j in range(d)]
        # S[:, j] (V A)[j, :]: (m, 1, n) * (1, d, n) -> (m, d, n), summed over j < m
        self.g_terms = [(self.s[:, j, None, :], self.u[None, j]) for j in range(m)]
        # V[:, j] M[j, :] for dense M: (m, 1, n) * (1, d, n) -> (m, d, n), summed over j < d
        self.v_rows = [v[:, j, None, :] for j in range(d)]
        self.a_rows = [] if self.diag else [a[None, j] for j in range(d)]
        self.c_rows = [] if self.diag else [c[None, j] for j in range(d)]

    def gradient(self) -> torch.Tensor:
        """The gradient at the current ``v``, ``(m, d, n)`` (a buffer, overwritten next call)."""
        v, u, s, grad = self.v, self.u, self.s, self.grad
        if self.diag:
            torch.mul(v, self.a, out=u)  # (m, d, n) * (d, n): V A for diagonal A
        else:
            rows = zip(self.v_rows, self.a_rows, self.c_rows, strict=True)
            for j, (vj, aj, cj) in enumerate(rows):
                if j == 0:
                    torch.mul(vj, aj, out=u)
                    torch.mul(vj, cj, out=self.vc)
                else:
                    u.addcmul_(vj, aj)
                    self.vc.addcmul_(vj, cj)
        for j, (x, y) in enumerate(self.s_terms):
            torch.mul(x, y, out=s) if j == 0 else s.addcmul_(x, y)
        for j, (x, y) in enumerate(self.g_terms):
            torch.mul(x, y, out=grad) if j == 0 else grad.addcmul_(x, y)
        if self.diag:
            grad.addcmul_(v, self.c, value=-1.0)  # -= V C for diagonal C
        else:
            grad.sub_(self.vc)
        return grad.mul_(4.0)

    def squared_norm(self, grad: torch.Tensor) -> torch.Tensor:
        """``||grad||_F^2`` per configuration, ``(n,)``."""
        return torch.mul(grad, grad, out=self.sq).sum((0, 1))


def gradient_descent(
    c: FloatArray,
    a: FloatArray,
    w0: FloatArray,
    lr: float | FloatArray,
    steps: int,
    tol: float,
    dtype: torch.dtype = torch.float64,
    method: str = "batched",
) -> DescentResult:
    """Gradient descent on the spectral loss of ``B`` configurations (CPU).

    Per configuration and step ``k = 0, ..., steps``: ``g = dL/dW`` at the current ``W``; if
    ``||g||_F <= tol`` the configuration stops with ``steps_used = k``, else, for ``k < steps``,
    ``W <- W - lr g``. Converged configurations are frozen (masked update) and dropped from the
    working set once they are a third of it. When all ``C, A`` commute (always, for models of
    this package) the iterates are run as ``V = W Q`` in the joint eigenbasis
    (:func:`joint_eigenbasis`), where ``V C`` and ``V A`` are elementwise; otherwise densely.
    ``method="batched"`` runs all configurations at once in torch, batch-last
    ``(rows, cols, B)`` (see ``_BatchLastKernel``); ``method="loop"`` is the same algorithm as a
    per-configuration numpy loop (the benchmark baseline, and the reference the batched version
    is tested against).

    Args:
        c, a: ``C`` and ``A`` of each configuration, ``(B, d, d)``, symmetric.
        w0: initial weights ``(B, m, d)``.
        lr: step size, scalar or ``(B,)``.
        steps: maximal number of updates (>= 0).
        tol: gradient-norm tolerance (>= 0).
        dtype: dtype of the iteration (torch.float64 or torch.float32).
        method: ``"batched"`` or ``"loop"``.
    """
    if method not in _ITERATES:
        raise ValueError(f"method must be one of {sorted(_ITERATES)}; got {method!r}")
    prob = _prepare(c, a, w0, lr, steps, tol)
    v, used, conv = _ITERATES[method](prob, steps, tol, dtype)
    return _finish(prob, c, a, v, used, conv)


_Iterates = tuple[FloatArray, NDArray[np.int64], NDArray[np.bool_]]


def _batched_iterates(prob: _Problem, steps: int, tol: float, dtype: torch.dtype) -> _Iterates:
    """Final ``V`` ``(B, m, d)``, steps used and convergence flags, all configurations at once."""
    b, m, d = prob.v0.shape

    def batch_last(x: FloatArray) -> torch.Tensor:
        return torch.from_numpy(np.moveaxis(x, 0, -1).copy()).to(dtype)

    v, cm, am, rate = (batch_last(x) for x in (prob.v0, prob.c, prob.a, prob.lr))
    idx = torch.arange(b)  # original index of each working column
    frozen = torch.zeros(b, dtype=torch.bool)
    v_out = torch.empty((m, d, b), dtype=dtype)
    used = torch.full((b,), steps, dtype=torch.int64)
    conv = torch.zeros(b, dtype=torch.bool)
    tol2 = tol * tol
    n_frozen, coef = 0, rate
    kernel = _BatchLastKernel(v, cm, am)
    for k in range(steps + 1):
        if v.shape[-1] == 0:
            break
        grad = kernel.gradient()  # (m, d, n)
        done = kernel.squared_norm(grad) <= tol2  # (n,); frozen configurations stay done
        n_done = int(done.sum())
        if n_done > n_frozen:
            newly = done & ~frozen
            used[idx[newly]] = k
            conv[idx[newly]] = True
            frozen, n_frozen = done, n_done
            coef = torch.where(frozen, 0.0, rate)  # frozen configurations keep V exactly
        if k == steps:
            break
        v.addcmul_(grad, coef, value=-1.0)  # V <- V - lr g
        if n_frozen and 3 * n_frozen >= v.shape[-1]:
            v_out[..., idx[frozen]] = v[..., frozen]
            keep = ~frozen
            v, cm, am, rate, idx = v[..., keep], cm[..., keep], am[..., keep], rate[keep], idx[keep]
            frozen, n_frozen, coef = torch.zeros_like(keep[keep]), 0, rate
            kernel = _BatchLastKernel(v, cm, am)
    v_out[..., idx] = v
    v_np = v_out.to(torch.float64).permute(2, 0, 1).numpy()  # (B, m, d)
    return v_np, used.numpy(), conv.numpy()


def _loop_iterates(prob: _Problem, steps: int, tol: float, dtype: torch.dtype) -> _Iterates:
    """What :func:`_batched_iterates` returns, one configuration at a time in numpy."""
    np_dtype = torch.empty((), dtype=dtype).numpy().dtype.type
    b = prob.v0.shape[0]
    v_out = np.empty_like(prob.v0)
    used = np.full(b, steps, dtype=np.int64)
    conv = np.zeros(b, dtype=bool)
    tol2 = tol * tol
    diag = prob.diag
    for i in range(b):
        ci, ai, v = (
            prob.c[i].astype(np_dtype),
            prob.a[i].astype(np_dtype),
            prob.v0[i].astype(np_dtype),
        )
        rate = np_dtype(prob.lr[i])
        for k in range(steps + 1):
            u = v * ai if diag else v @ ai  # V A: (m, d) * (d,) or (m, d) @ (d, d)
            vc = v * ci if diag else v @ ci  # V C
            grad = 4.0 * ((u @ v.T) @ u - vc)  # (m, d) @ (d, m) @ (m, d)
            if float(np.sum(grad * grad)) <= tol2:
                used[i], conv[i] = k, True
                break
            if k == steps:
                break
            v = v - rate * grad
        v_out[i] = v
    return v_out, used, conv


_ITERATES = {"batched": _batched_iterates, "loop": _loop_iterates}
