"""Analytic probes: exact values, degenerate encoders, agreement with probes fitted on samples."""

from __future__ import annotations

import numpy as np
import pytest

from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.probes import (
    fit_probe_accuracy,
    fit_probe_r2,
    probe_accuracy,
    probe_correlation,
    probe_r2,
)


def _model(rotated: bool) -> LinearModel:
    rot = random_rotation(5, np.random.default_rng(11)) if rotated else None
    return LinearModel(
        groups=(
            FeatureGroup(dim=2, strength=2.0, spectrum=(1.0, 0.3)),
            FeatureGroup(dim=3, strength=0.7),
        ),
        noise=0.5,
        embed_dim=2,
        rotation=rot,
    )


def test_exact_values_single_coordinate_with_probe_noise() -> None:
    s, sp_ = 2.0, 1.5
    model = LinearModel.from_arrays([1], [s])
    w = np.array([[3.0]])
    assert probe_r2(w, model, 0) == pytest.approx(1.0)
    assert probe_accuracy(w, model, 0) == pytest.approx(1.0)
    assert probe_r2(w, model, 0, sigma_probe=sp_) == pytest.approx(s**2 / (s**2 + sp_**2))
    rho = s / np.hypot(s, sp_)
    assert probe_accuracy(w, model, 0, sigma_probe=sp_) == pytest.approx(1 - np.arccos(rho) / np.pi)


@pytest.mark.parametrize("rotated", [False, True])
def test_degenerate_encoders_zero_full_and_rank_deficient(rotated: bool) -> None:
    model = _model(rotated)
    r = np.eye(5) if model.rotation is None else model.rotation
    zero = np.zeros((2, 5))
    for k in (0, 1):
        assert probe_r2(zero, model, k) == 0.0
        assert probe_accuracy(zero, model, k) == 0.5
    # full-rank encoder recovers everything
    assert probe_r2(np.eye(5), model, 1) == pytest.approx(1.0)
    # encoder reading only group 0's first coordinate, duplicated (rank 1 of 3 rows)
    row = r[:, 0]
    w = np.stack([row, 2 * row, np.zeros(5)])
    # z_0 has variances (1, 0.3): one coordinate of total variance 1.3 recovered
    assert probe_r2(w, model, 0) == pytest.approx(1.0 / 1.3)
    assert probe_r2(w, model, 1) == pytest.approx(0.0, abs=1e-12)
    assert probe_accuracy(w, model, 1) == pytest.approx(0.5, abs=1e-9)
    # u = e_1 is read exactly; u = e_2 not at all
    assert probe_accuracy(w, model, 0, u=np.array([1.0, 0.0])) == pytest.approx(1.0)
    assert probe_correlation(w, model, 0, u=np.array([0.0, 1.0])) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("rotated", "sigma_probe"), [(False, 0.0), (True, 0.0), (True, 0.8)])
def test_analytic_probes_match_fitted_probes(rotated: bool, sigma_probe: float) -> None:
    """Held-out fitted R^2 / accuracy on 40k samples agree with the closed forms.

    Tolerances: with n_test = 20k the accuracy has standard error <= 0.0036 (0.015 is ~4 s.e.);
    R^2 estimates with 2-3 features and 20k samples are within ~0.01.
    """
    model = _model(rotated)
    rng = np.random.default_rng(5)
    for _ in range(3):
        w = rng.standard_normal((2, 5))
        for k in (0, 1):
            r2 = probe_r2(w, model, k, sigma_probe=sigma_probe)
            fit = fit_probe_r2(w, model, k, 40_000, rng, sigma_probe=sigma_probe)
            assert fit == pytest.approx(r2, abs=0.015)
            acc = probe_accuracy(w, model, k, sigma_probe=sigma_probe)
            fit_acc = fit_probe_accuracy(w, model, k, 40_000, rng, sigma_probe=sigma_probe)
            assert fit_acc == pytest.approx(acc, abs=0.015)


def test_bad_arguments_raise_naming_the_field() -> None:
    model = _model(False)
    w = np.zeros((2, 5))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^group must be"):
        probe_r2(w, model, 2)
    with pytest.raises(ValueError, match=r"^w must have shape"):
        probe_r2(np.zeros((2, 4)), model, 0)
    with pytest.raises(ValueError, match=r"^sigma_probe must be"):
        probe_r2(w, model, 0, sigma_probe=-1.0)
    with pytest.raises(ValueError, match=r"^u must be"):
        probe_accuracy(w, model, 0, u=np.zeros(2))
    with pytest.raises(ValueError, match=r"^test_fraction must be"):
        fit_probe_r2(w, model, 0, 100, rng, test_fraction=1.0)
    with pytest.raises(ValueError, match=r"^n must leave"):
        fit_probe_accuracy(w, model, 0, 3, rng)
