"""Invariance diagnostics: conditional variance (against a loop reference, exact zeros for
invariant encoders and identity views) and the predictability of alpha."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from empirical.diagnostics.invariance import (
    alpha_predictability,
    conditional_variance,
    draw_copies,
    measure_conditional_variance,
    random_directions,
)
from empirical.views.base import IdentityViews
from empirical.views.foster import FosterViews

COLOUR_ONLY = {"crop_scale": (1.0, 1.0), "p_flip": 0.0, "p_gray": 0.0}


class Constant(nn.Module):
    """Ignores its input: a perfectly invariant encoder."""

    def __init__(self, dim: int = 5) -> None:
        super().__init__()
        self.register_buffer("value", torch.linspace(-1.0, 2.0, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


class ChannelStats(nn.Module):
    """Per-channel mean and standard deviation of the image: sees brightness and contrast."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("dummy", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def random_conv() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def reference(z: np.ndarray, dirs: np.ndarray) -> tuple[float, float]:
    """Loops straight from the definition: mean over inputs and directions of the unbiased
    variance over copies of u . z / |z|; and mean over inputs of the trace of the covariance."""
    m, b, _ = z.shape
    proj_vars, traces = [], []
    for j in range(b):
        zn = np.array([z[i, j] / np.linalg.norm(z[i, j]) for i in range(m)])
        for u in dirs:
            p = zn @ u
            proj_vars.append(sum((v - p.mean()) ** 2 for v in p) / (m - 1))
        traces.append(np.trace(np.cov(zn.T, ddof=1)))
    return float(np.mean(proj_vars)), float(np.mean(traces))


def test_conditional_variance_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(6, 4, 3, generator=g, dtype=torch.float64)
    dirs = random_directions(5, 3, g)
    out = conditional_variance(z, dirs)
    proj, trace = reference(z.numpy(), dirs.numpy())
    assert out["projected"] == pytest.approx(proj, rel=1e-10)
    assert out["trace"] == pytest.approx(trace, rel=1e-10)
    assert 0.0 < out["ratio"] < 2.0


@settings(deadline=None, max_examples=25, derandomize=True)
@given(
    seed=st.integers(0, 2**16),
    m=st.integers(2, 6),
    b=st.integers(1, 5),
    d=st.integers(1, 6),
)
def test_conditional_variance_ignores_the_norm(seed: int, m: int, b: int, d: int) -> None:
    """The representation is normalised: rescaling each copy by a positive factor changes
    nothing; copies that are positive multiples of one vector have zero variance."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(m, b, d, generator=g, dtype=torch.float64)
    scale = 0.1 + 10 * torch.rand(m, b, 1, generator=g, dtype=torch.float64)
    dirs = random_directions(4, d, g)
    a, s = conditional_variance(z, dirs), conditional_variance(z * scale, dirs)
    assert s["projected"] == pytest.approx(a["projected"], rel=1e-9, abs=1e-12)
    assert s["trace"] == pytest.approx(a["trace"], rel=1e-9, abs=1e-12)
    same = conditional_variance(z[:1] * scale, dirs)
    assert same["projected"] == pytest.approx(0.0, abs=1e-20)
    assert same["trace"] == pytest.approx(0.0, abs=1e-20)


def test_random_projection_estimates_trace_over_dim() -> None:
    """E_u[u^T S u] = tr S / D for u uniform on the sphere: with many directions the projected
    variance approaches trace / D."""
    g = torch.Generator().manual_seed(3)
    z = torch.randn(8, 50, 6, generator=g, dtype=torch.float64)
    out = conditional_variance(z, random_directions(20000, 6, g))
    assert out["projected"] == pytest.approx(out["trace"] / 6, rel=0.03)


def test_invariant_encoders_and_identity_views_give_zero(tiny_test) -> None:
    views = FosterViews(**COLOUR_ONLY)
    const = measure_conditional_variance(Constant(), None, tiny_test, views, 32, num_copies=4)
    assert const["projected"] == 0.0 and const["trace"] == 0.0 and const["ratio"] == 0.0
    ident = measure_conditional_variance(
        random_conv(), None, tiny_test, IdentityViews(), 32, num_copies=4
    )
    assert ident["projected"] == pytest.approx(0.0, abs=1e-12)
    assert ident["total_projected"] > 1e-6  # the inputs themselves differ
    moved = measure_conditional_variance(random_conv(), None, tiny_test, views, 32, num_copies=4)
    assert moved["projected"] > 1e-5
    assert moved["trace"] > 1e-5
    assert 0.0 < moved["ratio"] <= 1.5


def test_alpha_only_copies_share_beta(tiny_test) -> None:
    """With cropping on, alpha-only copies differ less than fresh views (beta held fixed)."""
    batch = tiny_test.batch(np.arange(4), np.random.default_rng(0))
    views = FosterViews()
    c = draw_copies(batch, views, 3, torch.Generator().manual_seed(0), alpha_only=True)
    assert c.x.shape == (3, 4, 3, 16, 16) and c.alpha is not None and c.alpha.shape == (3, 4, 4)
    enc = random_conv()
    full = measure_conditional_variance(enc, None, tiny_test, views, 64, num_copies=6)
    alpha = measure_conditional_variance(
        enc, None, tiny_test, views, 64, num_copies=6, alpha_only=True
    )
    assert 0.0 < alpha["trace"] < full["trace"]


def test_alpha_predictability(tiny_train, tiny_test) -> None:
    views = FosterViews(**COLOUR_ONLY)
    seen = alpha_predictability(ChannelStats(), None, tiny_train, tiny_test, views, 256, 128)
    blind = alpha_predictability(Constant(), None, tiny_train, tiny_test, views, 256, 128)
    r2 = seen["r2_per_dim"]
    assert r2[0] > 0.5 and r2[1] > 0.5  # brightness and contrast are read off channel stats
    assert seen["r2"] > 0.3
    assert blind["r2"] <= 0.01 and all(v <= 0.01 for v in blind["r2_per_dim"])


def test_errors(tiny_test) -> None:
    batch = tiny_test.batch(np.arange(2), np.random.default_rng(0))
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="num_copies"):
        draw_copies(batch, IdentityViews(), 1, g)
    with pytest.raises(ValueError, match="alpha_only"):
        draw_copies(batch, IdentityViews(), 2, g, alpha_only=True)
    with pytest.raises(ValueError, match="without alpha"):
        alpha_predictability(Constant(), None, tiny_test, tiny_test, IdentityViews(), 4, 4)
    with pytest.raises(ValueError, match="z must be"):
        conditional_variance(torch.zeros(1, 2, 3), torch.ones(1, 3))
