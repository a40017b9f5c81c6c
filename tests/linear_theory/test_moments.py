"""Closed-form moments against hand-worked values and Monte Carlo (claim e: 1/sqrt(n) error)."""

from __future__ import annotations

import numpy as np

from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.moments import (
    clean_moment,
    cross_moment,
    empirical_moments,
    sample_views,
    view_moment,
)

# One-dimensional groups: masks of different coordinates are independent, which makes the
# fourth moments below easy to write down exactly.
STRENGTHS = np.array([2.0, 1.0, 0.5])
DROPOUTS = np.array([0.3, 0.0, 0.6])
SIGMA = 0.5


def _model() -> LinearModel:
    return LinearModel.from_arrays([1, 1, 1], STRENGTHS, DROPOUTS, noise=SIGMA, embed_dim=1)


def test_closed_form_moments_exact_values() -> None:
    model = LinearModel(
        groups=(FeatureGroup(dim=2, strength=2.0, dropout=0.5), FeatureGroup(dim=1, strength=1.0)),
        noise=1.0,
    )
    # c = q^2 s^2, a = q s^2 + sigma^2
    np.testing.assert_allclose(cross_moment(model), np.diag([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(view_moment(model), np.diag([3.0, 3.0, 2.0]))
    np.testing.assert_allclose(clean_moment(model), np.diag([4.0, 4.0, 1.0]))


def test_rotation_conjugates_the_moments() -> None:
    rot = random_rotation(3, np.random.default_rng(3))
    base = _model()
    rotated = base.replace(rotation=rot)
    np.testing.assert_allclose(cross_moment(rotated), rot @ cross_moment(base) @ rot.T)
    np.testing.assert_allclose(view_moment(rotated), rot @ view_moment(base) @ rot.T)


def _second_moment_bounds() -> tuple[float, float]:
    """``sqrt(E||x1 x2^T||_F^2)`` and ``sqrt(E||x x^T||_F^2)`` in closed form (1-d groups).

    For ``x_i = b_i s_i u_i + sigma e_i`` with ``b ~ Bernoulli(q)``, ``u, e ~ N(0, 1)``:
    ``E[x1_i^2 x2_i^2] = 3 q^2 s^4 + 2 q s^2 sigma^2 + sigma^4`` and
    ``E[x_i^4] = 3 q s^4 + 6 q s^2 sigma^2 + 3 sigma^4``; distinct coordinates are independent.
    """
    q, s2, n2 = 1 - DROPOUTS, STRENGTHS**2, SIGMA**2
    a = q * s2 + n2
    off = a.sum() ** 2 - (a**2).sum()
    cross = off + (3 * q**2 * s2**2 + 2 * q * s2 * n2 + n2**2).sum()
    single = off + (3 * q * s2**2 + 6 * q * s2 * n2 + 3 * n2**2).sum()
    return float(np.sqrt(cross)), float(np.sqrt(single))


def _rms_errors(n: int, reps: int, seed: int) -> tuple[float, float]:
    model = _model()
    c, a = cross_moment(model), view_moment(model)
    rng = np.random.default_rng(seed)
    err_c, err_a = [], []
    for _ in range(reps):
        _, x1, x2 = sample_views(model, n, rng)
        c_hat, a_hat = empirical_moments(x1, x2)
        err_c.append(np.sum((c_hat - c) ** 2))
        err_a.append(np.sum((a_hat - a) ** 2))
    return float(np.sqrt(np.mean(err_c))), float(np.sqrt(np.mean(err_a)))


def test_claim_e_monte_carlo_error_scales_as_one_over_sqrt_n() -> None:
    """Claim e: the RMS Frobenius error shrinks ~4x from n to 16n and stays below c / sqrt(n).

    The mean of n i.i.d. matrices ``M`` has ``E||mean - E M||_F^2 <= E||M||_F^2 / n``; averaging
    the two views or symmetrising cannot increase it (convexity). So with
    ``c = 1.5 * sqrt(E||M||_F^2)`` (closed form above; 1.5 allows for the spread of an RMS over
    64 repetitions) the RMS error is below ``c / sqrt(n)``.
    """
    n, reps = 400, 64
    c_bound, a_bound = (1.5 * b for b in _second_moment_bounds())
    small_c, small_a = _rms_errors(n, reps, seed=0)
    big_c, big_a = _rms_errors(16 * n, reps, seed=1)
    for small, big in ((small_c, big_c), (small_a, big_a)):
        assert 3.0 < small / big < 5.5  # ideal 4; spread of 64 repetitions
    assert small_c < c_bound / np.sqrt(n) and big_c < c_bound / np.sqrt(16 * n)
    assert small_a < a_bound / np.sqrt(n) and big_a < a_bound / np.sqrt(16 * n)


def test_dropped_group_is_pure_noise_and_kept_views_agree() -> None:
    model = LinearModel(
        groups=(FeatureGroup(dim=2, strength=3.0, dropout=1.0), FeatureGroup(dim=1, strength=1.0)),
        noise=0.0,
    )
    z, x1, x2 = sample_views(model, 50, np.random.default_rng(0))
    np.testing.assert_array_equal(x1[:, :2], 0.0)
    np.testing.assert_array_equal(x1[:, 2], z[:, 2])
    np.testing.assert_array_equal(x1, x2)


def test_masks_drop_whole_groups_independently_per_view() -> None:
    model = LinearModel(groups=(FeatureGroup(dim=3, strength=1.0, dropout=0.5),), noise=0.0)
    _, x1, x2 = sample_views(model, 4000, np.random.default_rng(1))
    zero1, zero2 = np.all(x1 == 0, axis=1), np.all(x2 == 0, axis=1)
    # whole group: each row is either all zero or has no zero entry
    assert np.all(zero1 | np.all(x1 != 0, axis=1))
    # independent per view with p = 0.5: both dropped ~ 1/4 of the time
    assert abs(zero1.mean() - 0.5) < 0.04 and abs((zero1 & zero2).mean() - 0.25) < 0.04
