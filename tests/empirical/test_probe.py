"""The linear probe (empirical.probe): exact metrics, recovery of known linear signals, the closed
forms against references written from their equations, optimality of the logistic fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.base import TaskSpec
from empirical.probe import (
    LOGISTIC_GRID,
    Standardiser,
    fit_logistic,
    fit_probe,
    fit_ridge,
    probe_task,
    task_metrics,
)

CLS3 = TaskSpec("c", "classification", num_classes=3)
REG2 = TaskSpec("r", "regression", dim=2)


def test_classification_metrics_exact() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 0, 0])
    m = task_metrics(CLS3, logits, y)
    assert m["accuracy"] == 0.75
    assert m["chance"] == pytest.approx(1 / 3)
    assert m["majority"] == 0.75  # three of four labels are class 0
    assert m["loss"] == pytest.approx(float(F.cross_entropy(logits.double(), y)))


def test_regression_metrics_exact() -> None:
    y = torch.tensor([[1.0, 0.0], [2.0, 2.0], [3.0, 4.0]])
    perfect = task_metrics(REG2, y.clone(), y)
    assert perfect["r2"] == 1.0 and perfect["mse"] == 0.0
    mean = task_metrics(REG2, y.mean(0).expand(3, 2), y)  # predicting the mean: R^2 = 0
    assert mean["r2_per_dim"] == [0.0, 0.0]
    # SST = (2, 8), MSE per dim = SST / 3
    assert mean["mse_per_dim"] == pytest.approx([2 / 3, 8 / 3])
    off = task_metrics(REG2, y + torch.tensor([1.0, 2.0]), y)  # constant offsets
    assert off["mse_per_dim"] == pytest.approx([1.0, 4.0])
    assert off["r2_per_dim"] == pytest.approx([1 - 3 / 2, 1 - 12 / 8])


def test_standardiser_zero_mean_unit_std_and_constant_features() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=g) * torch.tensor([1.0, 10.0, 0.1, 0.0]) + 3.0
    s = Standardiser.fit(x)
    z = s(x)
    torch.testing.assert_close(z.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[:, :3].std(0, unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    assert torch.all(z[:, 3] == 0)  # constant feature: centred only
    # scales are floored at 1% of the RMS std: a nearly dead feature is not blown up
    rms = float(x.std(0, unbiased=False).square().mean().sqrt())
    assert float(s.scale[3]) == pytest.approx(0.01 * rms)
    assert torch.equal(Standardiser.fit(torch.ones(5, 3)).scale, torch.ones(3))


def _ridge_reference(z: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimise (1/N)||Z W + b - Y||^2 + lam ||W||^2 by the normal equations of [Z, 1]."""
    n, d = z.shape
    a = np.hstack([z, np.ones((n, 1))])
    reg = lam * n * np.eye(d + 1)
    reg[d, d] = 0.0  # bias unpenalised
    sol = np.linalg.solve(a.T @ a + reg, a.T @ y)
    return sol[:d], sol[d]


@pytest.mark.parametrize(("n", "d"), [(50, 8), (8, 20)])  # primal and dual Gram
def test_ridge_matches_normal_equations(n: int, d: int) -> None:
    rng = np.random.default_rng(1)
    z, y = rng.normal(size=(n, d)), rng.normal(size=(n, 3))
    lams = [1e-3, 0.1, 2.0]
    fits = fit_ridge(torch.from_numpy(z), torch.from_numpy(y), lams)
    for lam, (w, b) in zip(lams, fits, strict=True):
        w_ref, b_ref = _ridge_reference(z, y, lam)
        np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(b.numpy(), b_ref, rtol=1e-8, atol=1e-10)


def test_ridge_lambda_zero_is_least_squares_and_recovers_exact_signal() -> None:
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.normal(size=(100, 6)))
    w_true, b_true = torch.from_numpy(rng.normal(size=(6, 2))), torch.tensor([0.5, -1.0])
    y = x @ w_true + b_true
    (w, b), *_ = fit_ridge(x, y, [0.0])
    torch.testing.assert_close(w, w_true, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(b, b_true.double(), rtol=1e-9, atol=1e-9)


def test_ridge_probe_recovers_noisy_linear_signal() -> None:
    """y = x w + noise with Var(x w) = 1 and noise variance 0.25: the population R^2 is 0.8."""
    g = torch.Generator().manual_seed(3)
    n, d = 4000, 10
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, 1, generator=g)
    w = w / w.norm()
    y = x @ w + 0.5 * torch.randn(n, 1, generator=g)
    task = TaskSpec("r", "regression", dim=1)
    _, m = probe_task(task, x[:3000], y[:3000], x[3000:], y[3000:])
    assert m["r2"] == pytest.approx(0.8, abs=0.03)
    assert m["mse"] == pytest.approx(0.25, abs=0.03)


def test_logistic_probe_recovers_linear_classes() -> None:
    """Labels = argmax of a random linear map of Gaussian features (noise-free): a linear probe
    separates them almost perfectly, far above chance (1/4)."""
    g = torch.Generator().manual_seed(4)
    n, d, k = 3000, 12, 4
    x = torch.randn(n, d, generator=g) * 3.0 + 1.0
    y = (x @ torch.randn(d, k, generator=g)).argmax(1)
    task = TaskSpec("c", "classification", num_classes=k)
    probe, m = probe_task(task, x[:2000], y[:2000], x[2000:], y[2000:])
    assert m["accuracy"] > 0.95
    assert m["chance"] == 0.25
    assert set(probe.validation) == set(LOGISTIC_GRID)
    best = max(probe.validation.values())
    assert probe.validation[probe.weight_decay] == best


def test_logistic_solution_is_stationary_for_the_reference_objective() -> None:
    """At the L-BFGS solution the autograd gradient of mean CE + (lam/2)||W||^2 vanishes."""
    g = torch.Generator().manual_seed(5)
    z = torch.randn(300, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (300,), generator=g)
    lam = 1e-2
    w, b = fit_logistic(z, y, 3, lam, max_iter=500)
    w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    loss = F.cross_entropy(z @ w + b, y) + 0.5 * lam * (w * w).sum()
    gw, gb = torch.autograd.grad(loss, [w, b])
    assert gw.abs().max() < 1e-5 and gb.abs().max() < 1e-5


def test_probe_selection_is_deterministic() -> None:
    g = torch.Generator().manual_seed(6)
    x = torch.randn(400, 5, generator=g)
    y = (x[:, 0] + 0.5 * torch.randn(400, generator=g) > 0).long()
    task = TaskSpec("c", "classification", num_classes=2)
    p1 = fit_probe(task, x, y, rng=np.random.default_rng(7))
    p2 = fit_probe(task, x, y, rng=np.random.default_rng(7))
    assert p1.weight_decay == p2.weight_decay and p1.validation == p2.validation
    assert torch.equal(p1.weight, p2.weight)


@settings(deadline=None, max_examples=15, derandomize=True)
@given(
    scale=st.lists(st.floats(0.2, 5.0), min_size=4, max_size=4),
    shift=st.lists(st.floats(-5.0, 5.0), min_size=4, max_size=4),
)
def test_probe_invariant_to_per_feature_affine_maps(scale: list[float], shift: list[float]) -> None:
    """Standardisation makes the probe's predictions invariant to x -> a x + c (a > 0 per
    feature, every feature's std above the 1%-of-RMS floor): the fitted function is the same."""
    g = torch.Generator().manual_seed(8)
    x = torch.randn(200, 4, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0]], dtype=torch.float64)
    y = y + 0.1 * torch.randn(200, 1, generator=g, dtype=torch.float64)
    a, c = torch.tensor(scale, dtype=torch.float64), torch.tensor(shift, dtype=torch.float64)
    task = TaskSpec("r", "regression", dim=1)
    p1 = fit_probe(task, x.double(), y, weight_decay=0.01)
    p2 = fit_probe(task, (a * x + c).double(), y, weight_decay=0.01)
    torch.testing.assert_close(p1.predict(x), p2.predict(a * x + c), rtol=1e-4, atol=1e-4)


def test_probe_rejects_bad_arguments() -> None:
    x, y = torch.zeros(10, 2), torch.zeros(10, dtype=torch.long)
    task = TaskSpec("c", "classification", num_classes=2)
    with pytest.raises(ValueError, match="val_fraction"):
        fit_probe(task, x, y, val_fraction=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        fit_probe(task, x, y, weight_decay=-1.0)
    with pytest.raises(ValueError, match="x must be"):
        fit_probe(task, x, y[:5])
    with pytest.raises(ValueError, match="weight_decays"):
        fit_ridge(x, y[:, None].float(), [-1.0])
