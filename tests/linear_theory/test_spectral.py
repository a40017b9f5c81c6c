"""Closed-form optimum against references written straight from the equations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.optimize import brentq

from linear_theory.loss import spectral_loss
from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.moments import cross_moment, view_moment
from linear_theory.spectral import (
    allocate_capacity,
    coordinate_eigenvalues,
    dropout_eigenvalue,
    group_eigenvalues,
    group_weights,
    learned_dims,
    optimal_encoder,
    optimal_loss,
    p_star,
    phase_diagram,
    phase_diagram_batched,
    whitened_cross_moment,
)
from linear_theory.strategies import linear_models, two_group_models

SETTINGS = settings(deadline=None, max_examples=40, derandomize=True)


def _reference_t(model: LinearModel) -> np.ndarray:
    """``A^{+1/2} C A^{+1/2}`` from the numeric moment matrices (eigh, pseudo-inverse)."""
    c, a = cross_moment(model), view_moment(model)
    evals, evecs = np.linalg.eigh(a)
    tol = 1e-12 * max(evals.max(), 1.0)
    inv_sqrt = np.where(evals > tol, 1.0 / np.sqrt(np.where(evals > tol, evals, 1.0)), 0.0)
    a_is = (evecs * inv_sqrt) @ evecs.T
    return a_is @ c @ a_is


def test_eigenvalue_exact_values() -> None:
    # q = 0.5, v = 4, sigma = 1: 0.25 * 4 / (2 + 1) = 1/3
    assert dropout_eigenvalue(0.5, 2.0, 1.0) == pytest.approx(1 / 3)
    assert dropout_eigenvalue(0.0, 1.0, 1.0) == pytest.approx(0.5)
    assert dropout_eigenvalue(1.0, 3.0, 0.5) == 0.0
    assert dropout_eigenvalue(0.3, 0.0, 0.0) == 0.0  # no signal, no noise: 0 not nan
    # without noise lambda = q whatever the strength
    np.testing.assert_allclose(dropout_eigenvalue(0.25, [0.1, 1.0, 7.0], 0.0), 0.75)


@SETTINGS
@given(linear_models(max_groups=3, max_dim=3, spectra=None, rotated=None))
def test_closed_form_eigenvalues_match_numeric_whitened_operator(model: LinearModel) -> None:
    ref = np.sort(np.linalg.eigvalsh(_reference_t(model)))
    np.testing.assert_allclose(np.sort(coordinate_eigenvalues(model)), ref, atol=1e-9)
    np.testing.assert_allclose(whitened_cross_moment(model), _reference_t(model), atol=1e-9)
    per_group = np.concatenate(group_eigenvalues(model))
    np.testing.assert_array_equal(per_group, coordinate_eigenvalues(model))


@SETTINGS
@given(linear_models(max_groups=3, max_dim=3, spectra=None, rotated=None))
def test_optimal_encoder_attains_optimal_loss_equal_to_top_m_eigenvalues(
    model: LinearModel,
) -> None:
    ref = np.sort(np.linalg.eigvalsh(_reference_t(model)))[::-1]
    top = ref[: model.embed_dim]
    expected = -float(np.sum(np.where(top > 1e-12, top, 0.0) ** 2))
    assert optimal_loss(model) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    w = optimal_encoder(model)
    assert w.shape == (model.embed_dim, model.dim)
    loss = float(spectral_loss(w, cross_moment(model), view_moment(model)))
    assert loss == pytest.approx(expected, rel=1e-9, abs=1e-12)


@SETTINGS
@given(linear_models(max_groups=3, max_dim=3, spectra=False, rotated=False, edges=False))
def test_optimal_loss_is_the_best_subset_of_directions(model: LinearModel) -> None:
    """Brute force over all subsets of at most m coordinate directions (W rows ``e_i``-scaled)."""
    c, a = np.diag(cross_moment(model)), np.diag(view_moment(model))
    best = 0.0
    for r in range(1, model.embed_dim + 1):
        for subset in itertools.combinations(range(model.dim), r):
            idx = list(subset)
            # optimal scale per kept coordinate: minimise -2 w c + w^2 a^2 -> w = c / a^2
            best = min(best, float(np.sum(-(c[idx] ** 2) / a[idx] ** 2)))
    assert optimal_loss(model) == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_learned_dims_and_weights_hand_worked() -> None:
    # lambda_1 = 4/(4 + 1) = 0.8 > lambda_2 = 1/(1 + 1) = 0.5; m = 3 keeps 2 strong + 1 weak
    model = LinearModel.from_arrays([2, 3], [2.0, 1.0], noise=1.0, embed_dim=3)
    np.testing.assert_allclose(learned_dims(model), [2.0, 1.0])
    assert optimal_loss(model) == pytest.approx(-(2 * 0.8**2 + 0.5**2))
    # W rows sqrt(lambda / a): weights 2 * 0.8 / 5 and 0.5 / 2
    np.testing.assert_allclose(group_weights(optimal_encoder(model), model), [0.32, 0.25])


def test_ties_split_the_remaining_capacity_equally() -> None:
    model = LinearModel.from_arrays([2, 3], [1.0, 1.0], noise=0.5, embed_dim=3)
    np.testing.assert_allclose(learned_dims(model), [1.2, 1.8])
    w = optimal_encoder(model)
    lam = 1 / 1.25
    np.testing.assert_allclose(w @ w.T, (lam / 1.25) * np.eye(3), atol=1e-12)  # orthogonal rows
    per_dir = group_weights(w, model) / np.array([2, 3])
    np.testing.assert_allclose(per_dir, per_dir[0])  # each tied direction gets the same share
    loss = float(spectral_loss(w, cross_moment(model), view_moment(model)))
    assert loss == pytest.approx(-3 * lam**2)


@pytest.mark.parametrize(("r", "n"), [(1, 2), (2, 3), (3, 5), (4, 7), (5, 6)])
def test_tie_frame_has_orthonormal_rows_and_equal_columns(r: int, n: int) -> None:
    model = LinearModel.from_arrays([n], [1.0], noise=1.0, embed_dim=r)
    w = optimal_encoder(model) / np.sqrt(0.5 / 2.0)  # lambda = 1/2, a = 2
    np.testing.assert_allclose(w @ w.T, np.eye(r), atol=1e-12)
    np.testing.assert_allclose(np.sum(w**2, axis=0), r / n, atol=1e-12)


def test_allocate_capacity_exact_cases() -> None:
    lam = np.array([[0.5, 0.9, 0.0], [0.5, 0.5, 0.5], [-0.1, 0.2, 0.2], [0.3, 0.2, 0.1]])
    dims = np.array([2, 1, 4])
    m = np.array([2, 3, 5, 10])
    expected = [[1.0, 1.0, 0.0], [6 / 7 * 1.0, 3 / 7, 12 / 7], [0.0, 1.0, 4.0], [2.0, 1.0, 4.0]]
    np.testing.assert_allclose(allocate_capacity(lam, dims, m), expected)


@settings(deadline=None, max_examples=25, derandomize=True)
@given(linear_models(min_groups=2, max_groups=3, max_dim=3, spectra=False, rotated=False))
def test_batched_phase_diagram_matches_per_model_optimum(model: LinearModel) -> None:
    out = phase_diagram_batched(
        [g.strength for g in model.groups],
        [g.dropout for g in model.groups],
        [g.dim for g in model.groups],
        model.embed_dim,
        model.noise,
    )
    np.testing.assert_allclose(out.learned_dims, learned_dims(model))
    assert float(out.loss) == pytest.approx(optimal_loss(model), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(
        out.learned_fraction * [g.dim for g in model.groups], out.learned_dims
    )


def test_phase_diagram_broadcasts_over_a_4d_grid_and_matches_a_loop() -> None:
    ratio = np.array([0.5, 1.0, 2.0, 4.0])[:, None, None, None]
    p = np.linspace(0, 1, 5)[None, :, None, None]
    m = np.array([1, 2, 3])[None, None, :, None]
    sigma = np.array([0.0, 0.3, 1.0])[None, None, None, :]
    out = phase_diagram(ratio, p, m, sigma, dims=(2, 1))
    assert out.learned_dims.shape == (4, 5, 3, 3, 2)
    assert out.loss.shape == (4, 5, 3, 3)
    for i, j, k, n in itertools.product(range(4), range(5), range(3), range(3)):
        model = LinearModel.from_arrays(
            [2, 1],
            [float(ratio.flat[i]), 1.0],
            [float(p.flat[j]), 0.0],
            noise=float(sigma.flat[n]),
            embed_dim=int(m.flat[k]),
        )
        np.testing.assert_allclose(out.learned_dims[i, j, k, n], learned_dims(model))
        assert out.loss[i, j, k, n] == pytest.approx(optimal_loss(model), abs=1e-14)
    with pytest.raises(ValueError, match=r"^dims must be"):
        phase_diagram(1.0, 0.0, 1, 0.5, dims=(1, 0))


def test_p_star_solves_the_crossing_and_matches_a_root_finder() -> None:
    s1 = np.array([2.0, 3.0, 1.5, 5.0])
    s2 = np.array([1.0, 1.0, 1.0, 0.2])
    sigma = np.array([0.5, 1.0, 0.1, 2.0])
    ps = p_star(s1, s2, sigma)
    for a, b, sg, got in zip(s1, s2, sigma, ps, strict=True):
        target = float(dropout_eigenvalue(0.0, b, sg))
        root = brentq(lambda x, a=a, sg=sg, t=target: dropout_eigenvalue(x, a, sg) - t, 0, 1)
        assert got == pytest.approx(root, abs=1e-10)
        assert float(dropout_eigenvalue(got, a, sg)) == pytest.approx(target, rel=1e-12)
    # no threshold: weak not weaker, equal strengths, no noise, zero weak strength
    assert np.all(
        np.isnan(p_star([1.0, 1.0, 2.0, 2.0], [2.0, 1.0, 1.0, 0.0], [0.5, 0.5, 0.0, 1.0]))
    )


def test_group_weights_rotated_basis_and_normalisation() -> None:
    rng = np.random.default_rng(0)
    rot = random_rotation(3, rng)
    base = LinearModel(groups=(FeatureGroup(2, 1.0), FeatureGroup(1, 1.0)), embed_dim=2)
    w = rng.standard_normal((2, 3))
    rotated = base.replace(rotation=rot)
    np.testing.assert_allclose(group_weights(w @ rot.T, rotated), group_weights(w, base))
    np.testing.assert_allclose(
        group_weights(w, base), [np.sum(w[:, :2] ** 2), np.sum(w[:, 2] ** 2)]
    )
    frac = group_weights(np.stack([w, 2 * w]), base, normalize=True)  # batched (2, m, d)
    np.testing.assert_allclose(frac.sum(-1), 1.0)
    np.testing.assert_allclose(frac[0], frac[1])
    np.testing.assert_array_equal(group_weights(np.zeros((2, 3)), base, normalize=True), 0.0)


# ---------------------------------------------------------------- strategies (public API)


def test_strategies_docstring_example_runs_and_passes() -> None:
    """The example in ``linear_theory.strategies``' docstring is a working property test."""
    import textwrap

    from linear_theory import strategies

    doc = strategies.__doc__ or ""
    code = textwrap.dedent(doc.split("::", 1)[1])
    namespace: dict[str, object] = {}
    exec(compile(code, "<strategies docstring>", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
    assert len(tests) == 1
    tests[0]()


@settings(deadline=None, max_examples=40, derandomize=True)
@given(two_group_models(strong_beats_weak=True, strong_dropout=True, min_gap=0.01))
def test_two_group_strategy_contract(model: LinearModel) -> None:
    strong, weak = model.groups
    assert model.embed_dim == strong.dim and weak.dropout == 0.0
    lam_s = float(dropout_eigenvalue(0.0, strong.strength, model.noise))
    lam_w = float(dropout_eigenvalue(0.0, weak.strength, model.noise))
    assert lam_s > lam_w + 0.01


@settings(deadline=None, max_examples=40, derandomize=True)
@given(two_group_models(strong_beats_weak=False, min_noise=0.0))
def test_two_group_strategy_contract_weak_not_weaker(model: LinearModel) -> None:
    strong, weak = model.groups
    lam_s = float(dropout_eigenvalue(0.0, strong.strength, model.noise))
    lam_w = float(dropout_eigenvalue(0.0, weak.strength, model.noise))
    assert lam_s <= lam_w
    assert np.isnan(p_star(strong.strength, weak.strength, model.noise))


@settings(deadline=None, max_examples=40, derandomize=True)
@given(linear_models(max_groups=3, max_dim=3, min_strength=0.0, rotated=True, spectra=True))
def test_zero_strength_groups_and_singular_moments_are_handled(model: LinearModel) -> None:
    """Strength 0 (and noise 0) make A singular; eigenvalues stay finite and match the reference."""
    assert model.rotation is not None
    assert all(g.spectrum is not None for g in model.groups)
    ref = np.sort(np.linalg.eigvalsh(_reference_t(model)))
    np.testing.assert_allclose(np.sort(coordinate_eigenvalues(model)), ref, atol=1e-9)
    w = optimal_encoder(model)
    assert np.all(np.isfinite(w))
    loss = float(spectral_loss(w, cross_moment(model), view_moment(model)))
    assert loss == pytest.approx(optimal_loss(model), rel=1e-9, abs=1e-12)


def test_strategies_reject_bad_bounds() -> None:
    with pytest.raises(ValueError, match=r"^max_dim must be"):
        linear_models(max_dim=0)
    with pytest.raises(ValueError, match=r"^min_groups must be"):
        linear_models(min_groups=3, max_groups=2)
    with pytest.raises(ValueError, match=r"^min_noise must be"):
        two_group_models(strong_beats_weak=True, min_noise=0.0)
    with pytest.raises(ValueError, match=r"^min_strength must be"):
        two_group_models(min_strength=0.0)
