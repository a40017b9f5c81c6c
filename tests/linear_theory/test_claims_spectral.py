"""Claims (a)-(d) of the linear theory (issue 2, section 3) as hypothesis properties.

(a) descent on the population spectral loss reaches the closed-form optimum;
(b) suppression without dropout; (c) monotone eigenvalues, existence/uniqueness of p* and the
weak group entering above it; (d) invariances and view symmetry of the loss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from empirical.losses import build_loss
from linear_theory.dynamics import minibatch_gradient
from linear_theory.loss import spectral_loss, spectral_loss_grad
from linear_theory.model import FloatArray, LinearModel, random_rotation
from linear_theory.moments import cross_moment, sample_views, view_moment
from linear_theory.probes import probe_accuracy, probe_r2
from linear_theory.spectral import (
    dropout_eigenvalue,
    group_weights,
    learned_dims,
    optimal_encoder,
    optimal_loss,
    p_star,
)
from linear_theory.strategies import linear_models, noises, two_group_models


def _descend(model: LinearModel, seed: int) -> FloatArray:
    """L-BFGS on W (shape (m, d)) from a random start, with the analytic gradient."""
    c, a = cross_moment(model), view_moment(model)
    m, d = model.embed_dim, model.dim

    def fun(v: FloatArray) -> tuple[float, FloatArray]:
        w = v.reshape(m, d)
        return float(spectral_loss(w, c, a)), spectral_loss_grad(w, c, a).ravel()

    w0 = 0.1 * np.random.default_rng(seed).standard_normal(m * d)
    res = minimize(
        fun, w0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-12, "ftol": 0}
    )
    return np.asarray(res.x.reshape(m, d))


# ---------------------------------------------------------------- (a) descent reaches optimum


@settings(deadline=None, max_examples=60, derandomize=True)
@given(linear_models(max_groups=3, max_dim=4), st.integers(0, 2**16))
def test_claim_a_descent_reaches_closed_form_optimum(model: LinearModel, seed: int) -> None:
    w = _descend(model, seed)
    got = float(spectral_loss(w, cross_moment(model), view_moment(model)))
    best = optimal_loss(model)
    assert got >= best - 1e-9 * (1 + abs(best))  # the closed form is a lower bound
    assert abs(got - best) <= 1e-3 * abs(best) + 1e-10


def test_claim_a_plain_gradient_descent_from_small_init() -> None:
    """A plain GD loop (fixed step) from a small start, on a rotated three-group model."""
    rot = random_rotation(6, np.random.default_rng(4))
    model = LinearModel.from_arrays([2, 3, 1], [2.0, 1.0, 0.6], [0.2, 0.0, 0.5], noise=0.7)
    model = model.replace(embed_dim=3, rotation=rot)
    c, a = cross_moment(model), view_moment(model)
    w = 1e-3 * np.random.default_rng(0).standard_normal((3, 6))
    lr = 0.02 / np.linalg.eigvalsh(a).max() ** 2
    for _ in range(20_000):
        w = w - lr * spectral_loss_grad(w, c, a)
    got = float(spectral_loss(w, c, a))
    assert got == pytest.approx(optimal_loss(model), rel=1e-3)


# ---------------------------------------------------------------- (b) suppression


@settings(deadline=None, max_examples=60, derandomize=True)
@given(two_group_models(strong_beats_weak=True, min_gap=1e-3))
def test_claim_b_weak_group_suppressed_at_the_optimum(model: LinearModel) -> None:
    assert model.embed_dim == model.groups[0].dim and model.groups[0].dropout == 0.0
    np.testing.assert_allclose(learned_dims(model), [model.groups[0].dim, 0.0])
    w = optimal_encoder(model)
    assert group_weights(w, model, normalize=True)[1] < 1e-12
    assert probe_r2(w, model, 1) < 1e-12
    assert probe_accuracy(w, model, 1) == pytest.approx(0.5, abs=1e-6)
    # the strong group is fully learned
    assert probe_r2(w, model, 0) == pytest.approx(1.0)


@settings(deadline=None, max_examples=30, derandomize=True)
@given(two_group_models(strong_beats_weak=True, min_gap=0.05, max_dim=3), st.integers(0, 99))
def test_claim_b_descent_also_suppresses_the_weak_group(model: LinearModel, seed: int) -> None:
    """Not only the closed form: any minimiser found by descent gives the weak group ~nothing."""
    w = _descend(model, seed)
    assert group_weights(w, model, normalize=True)[1] < 1e-4
    assert probe_r2(w, model, 1) < 1e-4
    assert probe_accuracy(w, model, 1) < 0.5 + 1e-2


# ---------------------------------------------------------------- (c) lambda(p) and p*

_strength = st.floats(0.05, 5.0, allow_nan=False)


@settings(deadline=None, max_examples=200, derandomize=True)
@given(
    _strength,
    noises(0.0, 2.0),
    st.floats(0.0, 1.0, exclude_max=True),
    st.floats(0.0, 1.0, exclude_max=True),
)
def test_claim_c_eigenvalue_strictly_decreasing_and_zero_at_one(
    s: float, sigma: float, pa: float, pb: float
) -> None:
    lo, hi = min(pa, pb), max(pa, pb)
    assume(hi - lo > 1e-9)
    assert dropout_eigenvalue(lo, s, sigma) > dropout_eigenvalue(hi, s, sigma)
    assert dropout_eigenvalue(hi, s, sigma) > 0
    assert dropout_eigenvalue(1.0, s, sigma) == 0.0


@settings(deadline=None, max_examples=200, derandomize=True)
@given(_strength, _strength, noises(0.0, 2.0))
def test_claim_c_p_star_exists_and_is_unique_iff_strong_beats_weak(
    s1: float, s2: float, sigma: float
) -> None:
    lam1 = float(dropout_eigenvalue(0.0, s1, sigma))
    lam2 = float(dropout_eigenvalue(0.0, s2, sigma))
    assume(abs(lam1 - lam2) > 1e-9 * lam2)  # exact ties are the boundary of both regimes
    ps = float(p_star(s1, s2, sigma))
    grid = np.linspace(0.0, 1.0, 4001)
    above = dropout_eigenvalue(grid, s1, sigma) > lam2  # (grid,)
    crossings = int(np.count_nonzero(above[:-1] != above[1:]))
    if lam1 > lam2:
        assert 0.0 < ps < 1.0
        assert float(dropout_eigenvalue(ps, s1, sigma)) == pytest.approx(lam2, rel=1e-9)
        assert crossings == 1  # a single sign change of lambda_1(p) - lambda_2(0) on [0, 1]
    else:
        assert np.isnan(ps)
        assert crossings == 0 and not above.any()


@settings(deadline=None, max_examples=60, derandomize=True)
@given(two_group_models(strong_beats_weak=True, min_gap=1e-2), st.floats(0.01, 1.0))
def test_claim_c_weak_group_learned_above_p_star(model: LinearModel, frac: float) -> None:
    s1, s2 = model.groups[0].strength, model.groups[1].strength
    ps = float(p_star(s1, s2, model.noise))
    d1, d2 = model.groups[0].dim, model.groups[1].dim
    above = model.with_dropout([ps + frac * (1.0 - ps), 0.0])
    assert learned_dims(above)[1] == pytest.approx(min(d1, d2))
    w = optimal_encoder(above)
    assert probe_r2(w, above, 1) > 0.2
    assert probe_accuracy(w, above, 1) > 0.6
    below = model.with_dropout([ps * (1.0 - frac), 0.0])
    assert learned_dims(below)[1] == 0.0


# ---------------------------------------------------------------- (d) invariances


@settings(deadline=None, max_examples=60, derandomize=True)
@given(linear_models(max_groups=3, max_dim=3), st.integers(0, 2**16))
def test_claim_d_loss_invariant_to_orthogonal_mixing_and_input_rotation(
    model: LinearModel, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    m, d = model.embed_dim, model.dim
    w = rng.standard_normal((m, d))
    c, a = cross_moment(model), view_moment(model)
    base = float(spectral_loss(w, c, a))
    tol = 1e-9 * (1 + abs(base))
    q = random_rotation(m, rng)
    assert float(spectral_loss(q @ w, c, a)) == pytest.approx(base, abs=tol)  # (m,m)@(m,d)
    rot = random_rotation(d, rng)
    r_total = rot if model.rotation is None else rot @ model.rotation
    rotated = model.replace(rotation=r_total)  # inputs rotated by `rot` on top of the model's
    loss_rot = spectral_loss(w @ rot.T, cross_moment(rotated), view_moment(rotated))
    assert float(loss_rot) == pytest.approx(base, abs=tol)


def _spectral_minibatch(w: FloatArray, x1: FloatArray, x2: FloatArray) -> float:
    """The empirical package's minibatch spectral loss on the embeddings ``x @ W^T``."""
    z1 = torch.from_numpy(x1 @ w.T)  # (n, d) @ (d, m) -> (n, m)
    z2 = torch.from_numpy(x2 @ w.T)  # (n, d) @ (d, m) -> (n, m)
    return float(build_loss("spectral")(z1, z2))


@settings(deadline=None, max_examples=20, derandomize=True)
@given(linear_models(max_groups=2, max_dim=3), st.integers(0, 2**16))
def test_claim_d_losses_and_gradient_symmetric_in_the_views(model: LinearModel, seed: int) -> None:
    """Swapping the two views leaves the package's losses and gradient estimate unchanged.

    Population loss: swapping the views transposes the cross moment, so
    ``spectral_loss(W, C^T, A) = spectral_loss(W, C, A)``; it is checked with the plug-in
    moments of a sample, whose ``C_hat = X1^T X2 / n`` is not symmetric (the swap is not the
    identity). Also ``minibatch_gradient(W, X1, X2) = minibatch_gradient(W, X2, X1)`` and the
    empirical ``build_loss("spectral")(z1, z2) = (z2, z1)`` on ``z = X W^T``.
    """
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((model.embed_dim, model.dim))
    _, x1, x2 = sample_views(model, 40, rng)
    n = x1.shape[0]
    c12 = x1.T @ x2 / n  # (d, n) @ (n, d): cross moment of (view 1, view 2)
    a = (x1.T @ x1 + x2.T @ x2) / (2 * n)  # (d, n) @ (n, d): view moment
    assume(float(np.abs(c12 - c12.T).max()) > 1e-6)
    forward = float(spectral_loss(w, c12, a))
    assert float(spectral_loss(w, c12.T, a)) == pytest.approx(forward, rel=1e-12, abs=1e-12)
    g12, g21 = minibatch_gradient(w, x1, x2), minibatch_gradient(w, x2, x1)
    np.testing.assert_allclose(g21, g12, rtol=1e-10, atol=1e-12 * (1 + np.abs(g12).max()))
    mb = _spectral_minibatch(w, x1, x2)
    assert _spectral_minibatch(w, x2, x1) == pytest.approx(mb, rel=1e-12, abs=1e-12)


def test_claim_d_minibatch_loss_estimates_the_population_loss() -> None:
    """The empirical spectral loss is unbiased: it converges to ``-2 tr(PC) + tr(PAPA)``."""
    rng = np.random.default_rng(0)
    model = LinearModel.from_arrays([2, 1], [1.5, 1.0], [0.3, 0.0], noise=0.5, embed_dim=2)
    w = rng.standard_normal((2, 3))
    pop = float(spectral_loss(w, cross_moment(model), view_moment(model)))
    est = np.mean([_spectral_minibatch(w, *sample_views(model, 1000, rng)[1:]) for _ in range(20)])
    assert est == pytest.approx(pop, rel=0.05)
