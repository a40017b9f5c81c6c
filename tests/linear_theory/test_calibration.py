"""linear_theory.calibration: the estimates recover a known linear model's parameters from its
samples (tolerances from the sample size), and bad input is rejected naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linear_theory.calibration import (
    calibrate,
    covariance,
    participation_ratio,
    random_projection,
    sample_components,
)
from linear_theory.model import FeatureGroup, LinearModel, random_rotation

N = 20_000


def _model(rotate: bool) -> LinearModel:
    groups = (FeatureGroup(3, 2.0, name="overlay"), FeatureGroup(5, 0.7, name="background"))
    rot = random_rotation(8, np.random.default_rng(1)) if rotate else None
    return LinearModel(groups=groups, noise=0.4, embed_dim=2, rotation=rot)


def _rel_tol(n: int, dim: int) -> float:
    """Six standard errors of a variance averaged over ``dim`` Gaussian directions from ``n``
    samples (relative sd ``sqrt(2 / (n dim))``)."""
    return 6.0 * math.sqrt(2.0 / (n * dim))


@pytest.mark.parametrize("rotate", [False, True])
def test_calibration_recovers_a_known_model(rotate: bool) -> None:
    model = _model(rotate)
    groups, v1, v2 = sample_components(model, N, np.random.default_rng(0))
    cal = calibrate(groups, v1, v2)
    assert [g.name for g in cal.groups] == ["overlay", "background"]
    for est, true in zip(cal.groups, model.groups, strict=True):
        assert est.dim == true.dim
        assert est.dim_exact == pytest.approx(true.dim, rel=_rel_tol(N, 1))
        assert est.strength**2 == pytest.approx(true.strength**2, rel=_rel_tol(N, true.dim))
        assert est.noise**2 == pytest.approx(model.noise**2, rel=_rel_tol(N, true.dim))
    assert cal.noise**2 == pytest.approx(model.noise**2, rel=_rel_tol(N, model.dim))
    assert cal.overlap["overlay/background"] == pytest.approx(0.0, abs=_rel_tol(N, 1))
    rebuilt = cal.model([0.5, 0.0], embed_dim=2)
    assert [g.dim for g in rebuilt.groups] == [3, 5] and rebuilt.groups[0].dropout == 0.5


def test_calibration_survives_a_random_projection() -> None:
    """The model's signal embedded in 12 dims and projected to 10 keeps dims and strengths up
    to the projection's spread (a 10-dim random subspace of 12 dims keeps each direction's
    variance to within about 20%)."""
    model = _model(False)
    groups, v1, v2 = sample_components(model, N, np.random.default_rng(2))
    embed = np.eye(8, 12)  # (8, 12): pad with 4 empty input dims
    g = random_projection(12, 10, seed=0)  # (12, 10)
    cal = calibrate({k: v @ embed @ g for k, v in groups.items()}, v1 @ embed @ g, v2 @ embed @ g)
    for est, true in zip(cal.groups, model.groups, strict=True):
        assert est.dim == true.dim
        assert est.strength == pytest.approx(true.strength, rel=0.2)


def test_participation_ratio_of_isotropic_and_spiked_covariances() -> None:
    assert participation_ratio(np.diag([2.0, 2.0, 2.0, 0.0]), n=10**9) == pytest.approx(3.0)
    assert participation_ratio(np.diag([1.0, 0.0]), n=10**9) == pytest.approx(1.0)
    assert participation_ratio(np.zeros((3, 3)), n=10) == 0.0
    # finite n: the raw ratio of a sample covariance is biased low; the correction removes it
    # (100 samples of 50 isotropic dims: raw about 33, corrected within a few % of 50)
    x = np.random.default_rng(3).standard_normal((100, 50))
    raw = np.trace(covariance(x)) ** 2 / np.sum(covariance(x) ** 2)
    corrected = participation_ratio(covariance(x), n=100)
    assert raw < 40 and corrected == pytest.approx(50.0, rel=0.05)


def test_random_projection_is_scaled_orthonormal_and_seeded() -> None:
    g = random_projection(50, 10, seed=4)
    assert g.T @ g == pytest.approx(5.0 * np.eye(10))
    assert np.array_equal(g, random_projection(50, 10, seed=4))
    with pytest.raises(ValueError, match="out_dim"):
        random_projection(5, 6, seed=0)


def _good() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    return sample_components(_model(False), 50, np.random.default_rng(5))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda g, a, b: ({}, a, b), "groups must name"),
        (
            lambda g, a, b: ({**g, "background": g["background"][:, :4]}, a, b),
            r"groups\['background'\] must have shape",
        ),
        (lambda g, a, b: ({**g, "background": g["background"][0]}, a, b), "2-d matrix"),
        (lambda g, a, b: (g, a[:10], b), "view1"),
        (lambda g, a, b: (g, a, np.full_like(b, np.nan)), "view2 must be finite"),
        (
            lambda g, a, b: ({**g, "overlay": np.ones_like(g["overlay"])}, a, b),
            r"groups\['overlay'\] has no variance",
        ),
    ],
)
def test_bad_input_names_the_field(mutate: object, field: str) -> None:
    groups, v1, v2 = mutate(*_good())  # type: ignore[operator]
    with pytest.raises(ValueError, match=field):
        calibrate(groups, v1, v2)


def test_model_needs_one_dropout_per_group() -> None:
    cal = calibrate(*_good())
    with pytest.raises(ValueError, match="dropouts"):
        cal.model([0.1], embed_dim=2)


def test_noise_is_read_along_each_groups_subspace() -> None:
    """View noise only in the background's 5 dims: the overlay's sigma_k is 0, the background's
    the noise's sd, and sigma their dim-weighted root mean square (averaging the noise over all
    8 dims instead would give both groups sqrt(5/8) of it)."""
    model = _model(False).replace(noise=0.0)
    rng = np.random.default_rng(6)
    groups, v1, v2 = sample_components(model, N, rng)
    noise = np.zeros((2, N, 8))
    noise[:, :, 3:] = 0.5 * rng.standard_normal((2, N, 5))
    cal = calibrate(groups, v1 + noise[0], v2 + noise[1])
    over, back = cal.groups
    assert over.noise == pytest.approx(0.0, abs=0.01)
    assert back.noise**2 == pytest.approx(0.25, rel=_rel_tol(N, 5))
    assert cal.noise**2 == pytest.approx(5 * 0.25 / 8, rel=_rel_tol(N, 5))
