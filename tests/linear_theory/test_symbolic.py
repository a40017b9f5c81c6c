"""Numeric linear theory == lambdified sympy derivations at many points."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from linear_theory import symbolic as sym
from linear_theory.model import LinearModel
from linear_theory.spectral import dropout_eigenvalue, optimal_loss, p_star

RNG_SEED = 0


def _points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    p = np.concatenate([rng.uniform(0, 1, n), [0.0, 0.5, 0.999]])
    s = np.concatenate([rng.uniform(0.05, 5, n), [1.0, 2.0, 3.0]])
    sigma = np.concatenate([rng.uniform(0.01, 2, n), [0.5, 1.0, 0.1]])
    return p, s, sigma


def test_derived_moments_are_the_closed_form() -> None:
    c, a = sym.moments()
    q = 1 - sym.p
    assert sp.simplify(c - q**2 * sym.s**2) == 0
    assert sp.simplify(a - (q * sym.s**2 + sym.sigma**2)) == 0


def test_numeric_eigenvalue_matches_sympy() -> None:
    p, s, sigma = _points(2000)
    np.testing.assert_allclose(
        dropout_eigenvalue(p, s, sigma), sym.eigenvalue().func(p, s, sigma), rtol=1e-12
    )


def test_derivative_is_sign_evident_and_negative() -> None:
    deriv = sym.eigenvalue_derivative()
    assert sp.simplify(deriv.expr - sym.eigenvalue_derivative_closed_form()) == 0
    p, s, sigma = _points(2000)
    values = deriv.func(p[p < 1], s[p < 1], sigma[p < 1])
    assert np.all(values < 0)
    # central finite difference of the numeric eigenvalue
    h = 1e-6
    inner = (p > h) & (p < 1 - h)
    fd = (
        dropout_eigenvalue(p[inner] + h, s[inner], sigma[inner])
        - dropout_eigenvalue(p[inner] - h, s[inner], sigma[inner])
    ) / (2 * h)
    np.testing.assert_allclose(
        fd, deriv.func(p[inner], s[inner], sigma[inner]), rtol=1e-5, atol=1e-8
    )


def test_numeric_p_star_matches_sympy_where_it_exists() -> None:
    rng = np.random.default_rng(1)
    s1 = rng.uniform(0.05, 5, 3000)
    s2 = rng.uniform(0.05, 5, 3000)
    sigma = rng.uniform(0.01, 2, 3000)
    numeric = p_star(s1, s2, sigma)
    symbolic = sym.p_star().func(s1, s2, sigma)
    exists = dropout_eigenvalue(0.0, s1, sigma) > dropout_eigenvalue(0.0, s2, sigma)
    assert 0.3 < exists.mean() < 0.7  # both regimes are sampled
    np.testing.assert_array_equal(np.isfinite(numeric), exists)
    np.testing.assert_allclose(numeric[exists], symbolic[exists], rtol=1e-9, atol=1e-12)
    assert np.all((numeric[exists] > 0) & (numeric[exists] < 1))


@pytest.mark.parametrize("dims", [(1, 1), (2, 3), (3, 1)])
def test_piecewise_optimal_loss_matches_numeric_for_every_m(dims: tuple[int, int]) -> None:
    func = sym.optimal_loss_two_group().func
    rng = np.random.default_rng(2)
    d1, d2 = dims
    for _ in range(30):
        p1, p2 = rng.uniform(0, 1, 2)
        s1, s2 = rng.uniform(0.1, 4, 2)
        sigma = rng.uniform(0.05, 2)
        ms = np.arange(1, d1 + d2 + 2, dtype=float)
        got = func(ms, d1, d2, p1, p2, s1, s2, sigma)
        for m, value in zip(ms, np.broadcast_to(got, ms.shape), strict=True):
            model = LinearModel.from_arrays(
                [d1, d2], [s1, s2], [p1, p2], noise=sigma, embed_dim=int(m)
            )
            assert value == pytest.approx(optimal_loss(model), rel=1e-10)


def test_derivations_are_cached() -> None:
    assert sym.eigenvalue() is sym.eigenvalue()
    assert sym.p_star() is sym.p_star()
