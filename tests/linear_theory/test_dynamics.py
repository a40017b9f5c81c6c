"""Claim (g): closed-form gradient-flow dynamics, checked against integration, SGD and GD.

Tiers: exact values of the logistic solution in degenerate cases; hypothesis properties
(closed form == scipy integration for random models, rotated ones included; learning time
decreases in the eigenvalue); reference implementations (brute-force U-statistic, plain
gradient descent straight from ``spectral_loss_grad``); tiny end-to-end runs (SGD tracks the
flow; batched GD == loop GD and reaches the optimal loss; competition when ``m`` is small).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from linear_theory.dynamics import (
    decoupled_init,
    decoupled_norms,
    eigenvalue_learning_time,
    gradient_descent,
    integrate_gradient_flow,
    joint_eigenbasis,
    learning_time,
    logistic_norms,
    minibatch_gradient,
    mode_curves,
    mode_norms,
    sgd_on_views,
)
from linear_theory.loss import spectral_loss, spectral_loss_grad
from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.moments import cross_moment, moment_diagonals, sample_views, view_moment
from linear_theory.spectral import coordinate_eigenvalues, group_weights, optimal_loss
from linear_theory.strategies import linear_models

R0 = 1e-3


def top_m_loss(c: np.ndarray, a: np.ndarray, m: int) -> float:
    """Closed-form optimal loss for diagonal ``C, A``: ``-sum of the top-m (c_i / a_i)^2``."""
    lam = np.where(c > 0, c / np.where(a > 0, a, 1.0), 0.0)
    return float(-np.sum(np.sort(lam)[::-1][:m] ** 2))


# ------------------------------------------------------------------------------------------
# Exact values


def test_logistic_degenerate_cases() -> None:
    t = np.array([0.0, 0.5, 3.0, 40.0])
    # c = a = 0 (no signal, no noise): r stays at r0
    np.testing.assert_array_equal(logistic_norms(0.0, 0.0, 0.3, t), np.full(4, 0.3))
    # c = 0, a > 0 (group dropped, or no signal): dr/dt = -8 a^2 r^2
    a = 0.7
    np.testing.assert_allclose(
        logistic_norms(0.0, a, 0.3, t), 0.3 / (1 + 8 * a**2 * 0.3 * t), rtol=1e-14
    )
    # r0 = 0 stays 0; r0 = K stays K; t = 0 gives r0
    np.testing.assert_array_equal(logistic_norms(0.5, 0.8, 0.0, t), np.zeros(4))
    k = 0.5 / 0.8**2
    np.testing.assert_allclose(logistic_norms(0.5, 0.8, k, t), np.full(4, k), rtol=1e-14)
    assert logistic_norms(0.5, 0.8, 1e-4, 0.0) == pytest.approx(1e-4, rel=1e-15)
    # the textbook form K / (1 + (K/r0 - 1) exp(-8 c t)), and the limit K
    c, a, r0 = 0.6, 1.1, 1e-3
    k = c / a**2
    ref = k / (1 + (k / r0 - 1) * np.exp(-8 * c * t))
    np.testing.assert_allclose(logistic_norms(c, a, r0, t), ref, rtol=1e-12)
    assert logistic_norms(c, a, r0, 200.0) == pytest.approx(k, rel=1e-12)
    # a start above capacity decays to K
    assert logistic_norms(c, a, 3 * k, 200.0) == pytest.approx(k, rel=1e-12)


def test_mode_curves_dropped_and_signal_free_groups() -> None:
    dropped = FeatureGroup(dim=2, strength=1.3, dropout=1.0)
    silent = FeatureGroup(dim=1, strength=0.0)
    kept = FeatureGroup(dim=1, strength=1.0, dropout=0.5)
    sigma = 0.4
    model = LinearModel((dropped, silent, kept), noise=sigma, embed_dim=4)
    t = np.linspace(0.0, 10.0, 6)
    curves = mode_curves(model, t, 0.2)
    c, a = moment_diagonals(model)
    np.testing.assert_allclose(c[:3], 0.0)
    # dropped group: a = sigma^2, pure decay; signal-free: a = sigma^2 too
    decay = 0.2 / (1 + 8 * sigma**4 * 0.2 * t)
    np.testing.assert_allclose(curves.norms[:, 0], decay, rtol=1e-13)
    np.testing.assert_allclose(curves.norms[:, 2], decay, rtol=1e-13)
    np.testing.assert_allclose(curves.group_limit, [0.0, 0.0, c[3] / a[3] ** 2])
    np.testing.assert_allclose(curves.group_weight[:, 0], 2 * decay, rtol=1e-13)
    lt = learning_time(model, 0.2)
    assert np.isinf(lt[0]) and np.isinf(lt[1]) and np.isfinite(lt[2])
    # no noise, no signal: nothing moves
    frozen = LinearModel((silent,), noise=0.0, embed_dim=1)
    np.testing.assert_array_equal(mode_curves(frozen, t, 0.2).norms, np.full((6, 1), 0.2))


def test_half_time_formula_and_value() -> None:
    model = LinearModel.from_arrays([1, 2], [1.5, 0.7], [0.2, 0.0], noise=0.3, embed_dim=3)
    c, a = moment_diagonals(model)
    k = c / a**2
    t_half = learning_time(model, R0)
    np.testing.assert_allclose(t_half, np.log(k[[0, 1]] / R0 - 1) / (8 * c[[0, 1]]), rtol=1e-12)
    at_half = mode_curves(model, t_half, R0).group_weight  # (K times, K groups)
    np.testing.assert_allclose(np.diag(at_half), 0.5 * np.array([k[0], 2 * k[1]]), rtol=1e-10)
    # general fraction, and a start already above it
    lam = c / a
    t90 = eigenvalue_learning_time(lam, a, R0, 0.9)
    np.testing.assert_allclose(logistic_norms(c, a, R0, t90), 0.9 * k, rtol=1e-10)
    assert eigenvalue_learning_time(0.5, 1.0, 0.4, 0.5) == 0.0
    assert np.isinf(eigenvalue_learning_time(0.0, 1.0, 0.1))
    assert np.isinf(eigenvalue_learning_time(0.5, 1.0, 0.0))


def test_group_learning_time_non_isotropic_by_bisection() -> None:
    group = FeatureGroup(dim=3, strength=1.0, spectrum=(0.3, 1.0, 2.5))
    model = LinearModel((group,), noise=0.2, embed_dim=3)
    for frac in (0.2, 0.5, 0.8):
        (t_k,) = learning_time(model, R0, frac)
        curves = mode_curves(model, np.array([t_k]), R0)
        assert curves.group_weight[0, 0] == pytest.approx(frac * curves.group_limit[0], rel=1e-9)


def test_bad_arguments_raise() -> None:
    model = LinearModel.from_arrays([2], [1.0], embed_dim=1)
    with pytest.raises(ValueError, match="r0"):
        mode_curves(model, np.array([0.0, 1.0]), -1.0)
    with pytest.raises(ValueError, match="t must"):
        mode_curves(model, np.array([-1.0]), 0.1)
    with pytest.raises(ValueError, match="frac"):
        learning_time(model, 0.1, frac=1.0)
    with pytest.raises(ValueError, match="coords"):
        decoupled_init(model, 0.1, coords=np.array([0, 1]))
    with pytest.raises(ValueError, match="w0"):
        integrate_gradient_flow(model, np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="batch"):
        sgd_on_views(model, np.zeros((1, 2)), 3, 0.1, 1, np.random.default_rng(0))
    c = np.eye(2)[None]
    with pytest.raises(ValueError, match="W0"):
        gradient_descent(c, c, np.zeros((1, 1, 3)), 0.1, 5, 1e-6)
    with pytest.raises(ValueError, match="lr"):
        gradient_descent(c, c, np.zeros((1, 1, 2)), -0.1, 5, 1e-6, method="loop")
    with pytest.raises(ValueError, match="method"):
        gradient_descent(c, c, np.zeros((1, 1, 2)), 0.1, 5, 1e-6, method="newton")
    with pytest.raises(ValueError, match="tol"):
        gradient_descent(c, c, np.zeros((1, 1, 2)), 0.1, 5, -1.0)


# ------------------------------------------------------------------------------------------
# Claim (g): closed form == numerical integration


@settings(deadline=None, max_examples=40, derandomize=True)
@given(
    model=linear_models(max_groups=3, max_dim=2, max_strength=2.0, max_noise=1.0),
    r0=st.floats(1e-4, 1e-1),
)
def test_closed_form_matches_integration(model: LinearModel, r0: float) -> None:
    w0 = decoupled_init(model, r0)
    r_init = decoupled_norms(model, r0)
    np.testing.assert_allclose(mode_norms(model, w0), r_init, rtol=1e-12, atol=1e-15)
    times = learning_time(model, r_init, 0.95)
    horizon = float(np.max(times[np.isfinite(times)], initial=1.0))
    assume(horizon < 100.0)  # bounded integration time
    t = np.linspace(0.0, 1.5 * horizon, 7)
    flow = integrate_gradient_flow(model, w0, t, rtol=1e-12, atol=1e-14)
    curves = mode_curves(model, t, r_init)
    scale = max(float(np.max(curves.norms)), r0)
    np.testing.assert_allclose(mode_norms(model, flow), curves.norms, rtol=1e-6, atol=1e-8 * scale)
    np.testing.assert_allclose(
        group_weights(flow, model), curves.group_weight, rtol=1e-6, atol=1e-8 * scale
    )
    # the columns of W R stay orthogonal along the flow
    v = flow if model.rotation is None else flow @ model.rotation  # (T, m, d) @ (d, d)
    gram = np.swapaxes(v, 1, 2) @ v  # (T, d, d)
    off = gram - gram * np.eye(model.dim)
    assert np.max(np.abs(off)) <= 1e-7 * scale


def test_closed_form_limit_is_optimal_when_capacity_suffices() -> None:
    rng = np.random.default_rng(5)
    model = LinearModel.from_arrays([2, 1, 2], [1.5, 1.0, 0.6], [0.2, 0.0, 0.5], 0.3, 5)
    model = model.replace(rotation=random_rotation(5, rng))
    w0 = decoupled_init(model, R0)
    t_end = 3 * float(np.max(learning_time(model, R0, 0.99)))
    (w_end,) = integrate_gradient_flow(model, w0, np.array([t_end]))
    c, a = cross_moment(model), view_moment(model)
    assert float(spectral_loss(w_end, c, a)) == pytest.approx(optimal_loss(model), rel=1e-6)
    lam = coordinate_eigenvalues(model)
    _, a_diag = moment_diagonals(model)
    np.testing.assert_allclose(a_diag * mode_norms(model, w_end), lam, rtol=1e-6)


# ------------------------------------------------------------------------------------------
# Learning time against the eigenvalue

X_STAR = 4.5911  # root of ln(x - 1) = x / (x - 1); t_1/2(lambda) decreases for lambda > x* a r0


def test_x_star_is_the_turning_point() -> None:
    assert math.log(X_STAR - 1) == pytest.approx(X_STAR / (X_STAR - 1), abs=1e-4)
    lam = np.array([0.9, 1.0, 1.1]) * X_STAR  # a = r0 = 1: minimum of 1 / t at x*
    t = eigenvalue_learning_time(lam, 1.0, 1.0)
    assert t[1] > t[0] and t[1] > t[2]


@settings(deadline=None, max_examples=60, derandomize=True)
@given(
    lam=st.floats(1e-2, 10.0),
    ratio=st.floats(1.01, 10.0),
    a=st.floats(0.05, 5.0),
    frac=st.floats(0.05, 0.95),
    x=st.floats(1.5, 1e6),
)
def test_learning_time_decreases_in_eigenvalue(
    lam: float, ratio: float, a: float, frac: float, x: float
) -> None:
    """With r0 = lam / (a x): t_f decreases in lambda whenever ln((x-1)/k) > x/(x-1),
    k = 1/f - 1 (for f = 1/2: x > x*), i.e. from any small enough start."""
    r0 = lam / (a * x)
    k = 1 / frac - 1
    assume(math.log((x - 1) / k) > x / (x - 1))
    slow, fast = eigenvalue_learning_time(np.array([lam, lam * ratio]), a, r0, frac)
    assert 0 < fast < slow < np.inf


@settings(deadline=None, max_examples=30, derandomize=True)
@given(lam=st.floats(1e-2, 10.0), a=st.floats(0.05, 5.0), x=st.floats(2.05, X_STAR - 0.05))
def test_learning_time_increases_in_eigenvalue_from_a_large_start(
    lam: float, a: float, x: float
) -> None:
    """Below x* (start close to capacity) the half time grows with lambda: the condition is
    needed, not an artefact of the test."""
    r0 = lam / (a * x)
    lower, higher = eigenvalue_learning_time(np.array([lam, lam * 1.001]), a, r0)
    assert higher > lower


def test_learning_time_grows_with_dropout() -> None:
    # noise-free isotropic group: lambda = 1 - p and a = (1 - p) s^2
    ps = np.linspace(0.0, 0.9, 10)
    times = [learning_time(LinearModel.from_arrays([2], [1.0], [p]), R0)[0] for p in ps]
    lams = [coordinate_eigenvalues(LinearModel.from_arrays([2], [1.0], [p]))[0] for p in ps]
    np.testing.assert_allclose(lams, 1 - ps, rtol=1e-12)
    assert np.all(np.diff(times) > 0)


# ------------------------------------------------------------------------------------------
# Minibatch SGD on sampled views


def test_minibatch_gradient_equals_brute_force_u_statistic() -> None:
    rng = np.random.default_rng(2)
    n, d, m = 5, 3, 2
    x1, x2, w = (
        rng.standard_normal((n, d)),
        rng.standard_normal((n, d)),
        rng.standard_normal((m, d)),
    )
    p = w.T @ w
    views = [(x1[i], i) for i in range(n)] + [(x2[i], i) for i in range(n)]
    apa = np.zeros((d, d))
    for xi, ei in views:
        for xj, ej in views:
            if ei != ej:
                apa += (xi @ p @ xj) * np.outer(xi, xj)
    apa /= 4 * n * (n - 1)
    c_hat = sum(np.outer(x1[i], x2[i]) + np.outer(x2[i], x1[i]) for i in range(n)) / (2 * n)
    ref = -4 * w @ c_hat + 4 * w @ apa
    np.testing.assert_allclose(minibatch_gradient(w, x1, x2), ref, rtol=1e-12, atol=1e-12)


def test_minibatch_gradient_is_unbiased() -> None:
    rng = np.random.default_rng(3)
    model = LinearModel.from_arrays([1, 2], [1.2, 0.8], [0.3, 0.1], noise=0.4, embed_dim=2)
    w = 0.5 * rng.standard_normal((2, 3))
    reps, batch = 2000, 8  # small batches: the bias would show, the mean of many must not
    grads = np.stack(
        [minibatch_gradient(w, *sample_views(model, batch, rng)[1:]) for _ in range(reps)]
    )
    exact = spectral_loss_grad(w, cross_moment(model), view_moment(model))
    se = grads.std(axis=0) / math.sqrt(reps)
    assert np.all(np.abs(grads.mean(axis=0) - exact) <= 4.5 * se)


def test_sgd_tracks_gradient_flow() -> None:
    """lr = 1e-3, batch 256: SGD stays within 2% (of the largest r) of the flow at t = lr * k."""
    rng = np.random.default_rng(1)
    model = LinearModel.from_arrays([1, 2], [1.2, 0.8], [0.0, 0.3], noise=0.3, embed_dim=3)
    model = model.replace(rotation=random_rotation(3, rng))
    w0 = decoupled_init(model, R0)
    horizon = 1.2 * float(np.max(learning_time(model, R0, 0.9)))
    lr = 1e-3
    steps = round(horizon / lr)
    sgd = sgd_on_views(model, w0, steps, lr, 256, np.random.default_rng(0), record_every=400)
    np.testing.assert_allclose(sgd.t[-1], lr * steps)
    flow = integrate_gradient_flow(model, w0, sgd.t)
    r_sgd, r_flow = mode_norms(model, sgd.w), mode_norms(model, flow)
    assert np.max(np.abs(r_sgd - r_flow)) <= 0.02 * np.max(r_flow)
    # and both learned: the end point is near the closed-form limit
    limit = mode_curves(model, np.array([0.0]), mode_norms(model, w0)).group_limit
    np.testing.assert_allclose(group_weights(sgd.w[-1], model), limit, rtol=0.05)


# ------------------------------------------------------------------------------------------
# Gradient descent: batched == loop == reference, and optimal loss


def _configs(rng: np.random.Generator, kind: str, b: int = 4, m: int = 2, d: int = 4):
    keep = rng.uniform(0.5, 1.0, (b, d))
    sig = rng.uniform(0.5, 1.5, (b, d))
    c, a = keep**2 * sig, keep * sig + 0.1
    cm, am = c[:, :, None] * np.eye(d), a[:, :, None] * np.eye(d)
    if kind in ("rotated", "generic"):
        rot = np.stack([random_rotation(d, rng) for _ in range(b)])
        cm = rot @ cm @ np.swapaxes(rot, 1, 2)
        rot2 = rot if kind == "rotated" else np.stack([random_rotation(d, rng) for _ in range(b)])
        am = rot2 @ am @ np.swapaxes(rot2, 1, 2)
    return cm, am, 0.1 * rng.standard_normal((b, m, d)), c, a


def _reference_gd(c, a, w0, lr, steps, tol):
    """Plain gradient descent straight from ``spectral_loss_grad``, one configuration."""
    w = w0.copy()
    for k in range(steps + 1):
        g = spectral_loss_grad(w, c, a)
        if np.sum(g * g) <= tol**2:
            return w, k, True
        if k == steps:
            return w, k, False
        w = w - lr * g
    raise AssertionError("unreachable")


@pytest.mark.parametrize("kind", ["diagonal", "rotated", "generic"])
def test_batched_equals_loop_equals_reference(kind: str) -> None:
    rng = np.random.default_rng({"diagonal": 0, "rotated": 1, "generic": 2}[kind])
    c, a, w0, _, _ = _configs(rng, kind)
    assert (joint_eigenbasis(c, a) is None) == (kind == "generic")
    lr = np.array([0.05, 0.04, 0.05, 0.03])
    steps, tol = 400, 1e-7
    fast = gradient_descent(c, a, w0, lr, steps, tol)
    slow = gradient_descent(c, a, w0, lr, steps, tol, method="loop")
    np.testing.assert_array_equal(fast.steps, slow.steps)
    np.testing.assert_array_equal(fast.converged, slow.converged)
    np.testing.assert_allclose(fast.w, slow.w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12)
    for i in range(len(c)):
        w_ref, k_ref, conv_ref = _reference_gd(c[i], a[i], w0[i], lr[i], steps, tol)
        assert (k_ref, conv_ref) == (fast.steps[i], fast.converged[i])
        np.testing.assert_allclose(fast.w[i], w_ref, rtol=0, atol=1e-10)


def test_batched_gd_float32_agrees() -> None:
    c, a, w0, _, _ = _configs(np.random.default_rng(4), "rotated")
    f64 = gradient_descent(c, a, w0, 0.05, 300, 1e-4)
    f32 = gradient_descent(c, a, w0, 0.05, 300, 1e-4, dtype=torch.float32)
    l32 = gradient_descent(c, a, w0, 0.05, 300, 1e-4, dtype=torch.float32, method="loop")
    np.testing.assert_allclose(f32.loss, f64.loss, rtol=1e-5)
    np.testing.assert_allclose(l32.loss, f32.loss, rtol=1e-5)


def test_budget_zero_steps_and_converged_configs_freeze() -> None:
    c, a, w0, _, _ = _configs(np.random.default_rng(5), "diagonal")
    none = gradient_descent(c, a, w0, 0.05, 0, 1e-7)
    np.testing.assert_array_equal(none.w, w0)
    np.testing.assert_array_equal(none.steps, 0)
    assert not none.converged.any()
    huge = gradient_descent(c, a, w0, 0.05, 50, 1e6)  # everything converged at once
    np.testing.assert_array_equal(huge.w, w0)
    assert huge.converged.all() and np.all(huge.steps == 0)


@pytest.mark.parametrize("kind", ["diagonal", "rotated"])
def test_batched_gd_reaches_closed_form_optimal_loss(kind: str) -> None:
    """Claim (a), vectorised: GD from a small random start reaches -sum top-m lambda^2."""
    rng = np.random.default_rng(6)
    b, m, d = 64, 2, 4
    c, a, w0, cd, ad = _configs(rng, kind, b=b, m=m, d=d)
    lam = np.sort(cd / ad, axis=1)[:, ::-1]
    gap_ok = lam[:, m] <= 0.9 * lam[:, m - 1]  # separable within the budget
    res = gradient_descent(c, a, 0.1 * w0, 0.1 / cd.max(axis=1), 5000, 1e-8)
    opt = np.array([top_m_loss(cd[i], ad[i], m) for i in range(b)])
    assert res.converged[gap_ok].all()
    np.testing.assert_allclose(res.loss[gap_ok], opt[gap_ok], rtol=1e-3)
    assert np.all(res.loss >= opt - 1e-12)  # never below the global minimum
    np.testing.assert_allclose(res.loss, opt, rtol=2e-2)  # near-ties: nearly optimal anyway


def test_top_m_helper_matches_spectral_optimal_loss() -> None:
    model = LinearModel.from_arrays([2, 1, 3], [1.4, 0.9, 0.5], [0.3, 0.0, 0.1], 0.5, 3)
    c, a = moment_diagonals(model)
    assert top_m_loss(c, a, 3) == pytest.approx(optimal_loss(model), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Competition: m smaller than the number of directions


def test_competition_suppresses_the_weaker_group() -> None:
    """m = 1, two 1-d groups, lambda_strong > lambda_weak, small random start."""
    model = LinearModel.from_arrays([1, 1], [1.2, 0.8], noise=0.5, embed_dim=1)
    lam = coordinate_eigenvalues(model)
    assert lam[0] > lam[1]
    _, a = moment_diagonals(model)
    t = np.linspace(0.0, 60.0, 2401)
    for seed in range(3):
        w0 = 0.01 * np.random.default_rng(seed).standard_normal((1, 2))
        flow = integrate_gradient_flow(model, w0, t)
        weights = group_weights(flow, model)  # (T, 2)
        decoupled = mode_curves(model, t, mode_norms(model, w0))
        # the strong group is learned as if alone; the weak one grows, then is suppressed
        np.testing.assert_allclose(weights[-1, 0], decoupled.group_limit[0], rtol=1e-6)
        assert weights[-1, 1] <= 1e-6 * decoupled.group_limit[1]
        peak = int(np.argmax(weights[:, 1]))
        assert weights[peak, 1] > 2 * weights[0, 1]
        assert weights[peak, 1] < 0.1 * decoupled.group_limit[1]
        # it stops growing when the captured eigenvalue u = sum_i a_i r_i reaches lambda_weak
        captured = mode_norms(model, flow) @ a  # (T,)
        assert captured[peak] == pytest.approx(lam[1], rel=0.02)


def test_enough_capacity_learns_both_groups_from_random_start() -> None:
    """Same model with m = 64 >> d: the closed form is approximately right (columns nearly
    orthogonal), the weaker group is learned later, and both reach their closed-form limit."""
    model = LinearModel.from_arrays([1, 1], [1.2, 0.8], noise=0.5, embed_dim=64)
    t = np.linspace(0.0, 60.0, 121)
    w0 = 0.002 * np.random.default_rng(0).standard_normal((64, 2))
    weights = group_weights(integrate_gradient_flow(model, w0, t), model)
    curves = mode_curves(model, t, mode_norms(model, w0))
    np.testing.assert_allclose(weights[-1], curves.group_limit, rtol=1e-6)
    assert np.max(np.abs(weights - curves.group_weight)) <= 0.05 * np.max(curves.group_limit)
    half = [t[np.argmax(weights[:, k] >= 0.5 * curves.group_limit[k])] for k in range(2)]
    assert half[0] < half[1]
