"""Downstream linear probes of a linear encoder, analytic (Gaussian) and fitted on samples.

Downstream task k reads the latent ``z_k`` of group k from the representation ``y = W x`` of a
clean input ``x = R concat_k(s_k z_k)`` (no mask, no view noise; optionally probe noise
``x + sigma_probe * eps``). Tamkin et al. ("Feature Dropout", arXiv 2212.08378) measure
suppression by such probes; with Gaussian latents they are closed-form functions of ``W``:

* regression: ``R^2 = tr(S_zy S_yy^+ S_yz) / tr(S_zz)`` (fraction of the variance of ``z_k``
  explained by the best linear prediction from ``y``);
* classification ``label = sign(u^T z_k)``: the best linear predictor ``t_hat`` of
  ``t = u^T z_k`` is Bayes-optimal for the sign, and for jointly Gaussian ``(t, t_hat)`` with
  correlation ``rho`` the accuracy is ``1 - arccos(rho) / pi`` (chance 0.5 at ``rho = 0``).

``S_yy^+`` is the pseudo-inverse with singular values below ``rcond * max`` set to zero, so rank
deficient encoders (e.g. zero rows) are handled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import numpy as np

from linear_theory.model import FloatArray, LinearModel
from linear_theory.moments import clean_inputs, sample_latents

RCOND = 1e-10
P = ParamSpec("P")


def _check_group(model: LinearModel, group: int) -> None:
    if not 0 <= group < model.num_groups:
        raise ValueError(f"group must be in [0, {model.num_groups - 1}]; got {group!r}")


def _check_w(w: FloatArray, model: LinearModel) -> None:
    if w.ndim != 2 or w.shape[1] != model.dim:
        raise ValueError(f"w must have shape (m, {model.dim}); got {w.shape}")


def _direction(model: LinearModel, group: int, u: FloatArray | None) -> FloatArray:
    dk = model.groups[group].dim
    if u is None:
        return np.eye(dk)[0]
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (dk,) or not np.any(u != 0):
        raise ValueError(f"u must be a non-zero vector of shape ({dk},); got {u!r}")
    return u


def probe_covariances(
    w: FloatArray, model: LinearModel, group: int, sigma_probe: float = 0.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(S_zz, S_zy, S_yy)`` for latent ``z_k`` and ``y = W (x + sigma_probe eps)``.

    Shapes ``(d_k, d_k)``, ``(d_k, m)``, ``(m, m)``.
    """
    _check_group(model, group)
    w = np.asarray(w, dtype=np.float64)
    _check_w(w, model)
    if not (np.isfinite(sigma_probe) and sigma_probe >= 0):
        raise ValueError(f"sigma_probe must be finite and >= 0; got {sigma_probe!r}")
    g, sl = model.groups[group], model.slices[group]
    _, signal, _ = model.coordinate_params()
    sig_x = np.diag(signal) + sigma_probe**2 * np.eye(model.dim)  # (d, d), unrotated basis
    w_unrot = w if model.rotation is None else w @ model.rotation  # (m, d) @ (d, d)
    s_yy = w_unrot @ sig_x @ w_unrot.T  # (m, d) @ (d, d) @ (d, m)
    # E[z_k x^T] = diag(var_k) s_k R[:, k]^T, so S_zy = s_k diag(var_k) (W R[:, k])^T.
    s_zy = g.strength * g.variances[:, None] * w_unrot[:, sl].T  # (d_k, m)
    s_zz = np.diag(g.variances)
    return s_zz, s_zy, s_yy


def _explained(s_ay: FloatArray, s_yy: FloatArray, rcond: float) -> FloatArray:
    """``S_ay S_yy^+ S_ya`` for a cross-covariance ``S_ay`` of shape ``(r, m)``; ``(r, r)``."""
    if s_yy.size == 0 or not np.any(s_yy):
        return np.zeros((s_ay.shape[0], s_ay.shape[0]))
    pinv = np.linalg.pinv(s_yy, rcond=rcond, hermitian=True)
    return np.asarray(s_ay @ pinv @ s_ay.T)  # (r, m) @ (m, m) @ (m, r)


def probe_r2(
    w: FloatArray,
    model: LinearModel,
    group: int,
    sigma_probe: float = 0.0,
    rcond: float = RCOND,
) -> float:
    """Analytic R^2 of the best linear regression of ``z_k`` on ``y = W x``, in [0, 1]."""
    s_zz, s_zy, s_yy = probe_covariances(w, model, group, sigma_probe)
    r2 = np.trace(_explained(s_zy, s_yy, rcond)) / np.trace(s_zz)
    return float(np.clip(r2, 0.0, 1.0))


def probe_correlation(
    w: FloatArray,
    model: LinearModel,
    group: int,
    u: FloatArray | None = None,
    sigma_probe: float = 0.0,
    rcond: float = RCOND,
) -> float:
    """Correlation ``rho`` of ``t = u^T z_k`` with its best linear prediction from ``y``."""
    s_zz, s_zy, s_yy = probe_covariances(w, model, group, sigma_probe)
    uu = _direction(model, group, u)
    s_ty = uu[None, :] @ s_zy  # (1, d_k) @ (d_k, m)
    var_t = float(uu @ s_zz @ uu)
    rho2 = float(_explained(s_ty, s_yy, rcond)[0, 0]) / var_t
    return float(np.sqrt(np.clip(rho2, 0.0, 1.0)))


def _sign_accuracy(correlation: Callable[P, float]) -> Callable[P, float]:
    """The probe of ``correlation`` read as a classifier of the sign: ``1 - arccos(rho) / pi``
    for the same arguments (jointly Gaussian target and prediction)."""

    @functools.wraps(correlation)
    def accuracy(*args: P.args, **kwargs: P.kwargs) -> float:
        return float(1.0 - np.arccos(correlation(*args, **kwargs)) / np.pi)

    accuracy.__name__ = accuracy.__qualname__ = "probe_accuracy"
    accuracy.__doc__ = """Analytic accuracy ``1 - arccos(rho) / pi`` of predicting
    ``sign(u^T z_k)`` from ``y``; the arguments of :func:`probe_correlation`.

    ``u`` defaults to ``e_1`` (the sign of the group's first latent coordinate). Chance is 0.5.

    Note: at an exact eigenvalue tie ``optimal_encoder`` returns one of many optimal subspaces
    (an equal-norm frame over the tied directions). It gives every single coordinate the same
    weight, so coordinate tasks such as the default are read equally well, but a particular
    mixed direction (e.g. ``ones / sqrt(d_k)``) can be orthogonal to it and sit at chance.
    """
    return accuracy


probe_accuracy = _sign_accuracy(probe_correlation)


def _probe_data(
    w: FloatArray, model: LinearModel, n: int, sigma_probe: float, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Latents ``(n, d)`` and features with an intercept column ``(n, m + 1)``."""
    z = sample_latents(model, n, rng)
    x = clean_inputs(model, z)
    if sigma_probe > 0:
        x = x + sigma_probe * rng.standard_normal(x.shape)
    y = x @ np.asarray(w, dtype=np.float64).T  # (n, d) @ (d, m)
    return z, np.concatenate([y, np.ones((n, 1))], axis=1)


def _split(n: int, test_fraction: float) -> int:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction!r}")
    n_train = round(n * (1 - test_fraction))
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"n must leave >= 2 train and test samples; got {n!r}")
    return n_train


def fit_probe_r2(
    w: FloatArray,
    model: LinearModel,
    group: int,
    n: int,
    rng: np.random.Generator,
    sigma_probe: float = 0.0,
    test_fraction: float = 0.5,
) -> float:
    """R^2 of a least-squares probe (with intercept) of ``z_k`` on ``W x``, on a held-out split.

    ``R^2 = 1 - sum of squared test residuals / sum of squared deviations of z_k`` (summed over
    the group's coordinates, matching the trace ratio of ``probe_r2``). Can be < 0 on test data.
    """
    _check_group(model, group)
    _check_w(np.asarray(w), model)
    n_train = _split(n, test_fraction)
    z, feats = _probe_data(w, model, n, sigma_probe, rng)
    target = z[:, model.slices[group]]
    coef, *_ = np.linalg.lstsq(feats[:n_train], target[:n_train], rcond=None)
    resid = target[n_train:] - feats[n_train:] @ coef  # (n_test, m+1) @ (m+1, d_k)
    dev = target[n_train:] - target[n_train:].mean(0)
    return float(1.0 - (resid**2).sum() / (dev**2).sum())


def fit_probe_accuracy(
    w: FloatArray,
    model: LinearModel,
    group: int,
    n: int,
    rng: np.random.Generator,
    u: FloatArray | None = None,
    sigma_probe: float = 0.0,
    test_fraction: float = 0.5,
) -> float:
    """Held-out accuracy of a least-squares classifier of ``sign(u^T z_k)`` on ``W x``.

    Regresses the ``+-1`` label on the features (with intercept) and predicts its sign. For
    Gaussian features this direction is proportional to the best linear predictor of
    ``u^T z_k`` (Bussgang), so it estimates ``probe_accuracy``.
    """
    _check_group(model, group)
    _check_w(np.asarray(w), model)
    uu = _direction(model, group, u)
    n_train = _split(n, test_fraction)
    z, feats = _probe_data(w, model, n, sigma_probe, rng)
    label = np.where(z[:, model.slices[group]] @ uu >= 0, 1.0, -1.0)  # (n,)
    coef, *_ = np.linalg.lstsq(feats[:n_train], label[:n_train], rcond=None)
    pred = np.where(feats[n_train:] @ coef >= 0, 1.0, -1.0)  # (n_test, m+1) @ (m+1,)
    return float(np.mean(pred == label[n_train:]))
