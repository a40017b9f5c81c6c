"""Spirograph renderer and suite: reference implementation, exact cases, gradients, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.base import MultiTaskDataset
from empirical.data.spirograph import (
    NUISANCE_NAMES,
    TARGET_NAMES,
    TARGET_RANGES,
    NuisanceRanges,
    SpirographDataset,
    build_spirograph,
    render_from_params,
    render_spirograph,
    sample_nuisance,
    sample_targets,
    standardise_targets,
)

GRID = np.linspace(-6.0, 6.0, 32)


def reference_render(targets: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Straight from the equations (Foster et al.): one image, loop over the 40 points."""
    m, b, sigma, fr = targets
    h, fg, fb, br, bg, bb = alpha
    inten = np.zeros((32, 32))
    for t in np.linspace(0.0, 2.0 * math.pi, 40):
        x = (m - h) * math.cos(t) + h * math.cos((m - h) * t / b)
        y = (m - h) * math.sin(t) - h * math.sin((m - h) * t / b)
        for r, v in enumerate(GRID):
            for c, u in enumerate(GRID):
                inten[r, c] += math.exp(-((u - x) ** 2 + (v - y) ** 2) / sigma) / 40
    inten /= inten.max()
    fg_c, bg_c = (fr, fg, fb), (br, bg, bb)
    return np.stack([inten * fg_c[k] + (1 - inten) * bg_c[k] for k in range(3)])


def _params(seed: int, n: int, ranges: NuisanceRanges | None = None) -> tuple[torch.Tensor, ...]:
    gen = np.random.default_rng(seed)
    return sample_targets(n, gen).double(), sample_nuisance(n, gen, ranges).double()


@settings(deadline=None, max_examples=8, derandomize=True)
@given(seed=st.integers(0, 10_000))
def test_renderer_matches_per_point_reference(seed: int) -> None:
    targets, alpha = _params(seed, 2)
    fast = render_from_params(targets, alpha).numpy()
    for k in range(2):
        ref = reference_render(targets[k].numpy(), alpha[k].numpy())
        np.testing.assert_allclose(fast[k], ref, rtol=0, atol=1e-12)


def test_float32_renderer_close_to_float64() -> None:
    targets, alpha = _params(3, 64)
    x64 = render_from_params(targets, alpha)
    x32 = render_from_params(targets.float(), alpha.float())
    assert x32.dtype == torch.float32
    # phase (m - h) t / b reaches ~300 rad: float32 rounding of the angle is ~3e-5
    assert torch.allclose(x32.double(), x64, atol=1e-4)


def test_single_point_curve_exact() -> None:
    """m = h collapses the curve to the point (h, 0): a Gaussian blob with a closed form."""
    h = float(GRID[20])
    sigma = 0.5
    one = torch.ones(1, dtype=torch.float64)
    x = render_spirograph(
        m=one * h,
        b=one * 0.7,
        h=one * h,
        sigma=one * sigma,
        fg_colour=torch.ones(1, 3, dtype=torch.float64),
        bg_colour=torch.zeros(1, 3, dtype=torch.float64),
    )[0]
    v_min = 6.0 / 31.0  # the grid points closest to v = 0 are +-6/31
    uu, vv = np.meshgrid(GRID, GRID)  # (row v, column u)
    expected = np.exp(-((uu - h) ** 2 + vv**2 - v_min**2) / sigma)
    for ch in range(3):
        np.testing.assert_allclose(x[ch].numpy(), expected, rtol=1e-12, atol=0)
    assert x[0, 15, 20].item() == pytest.approx(1.0, abs=1e-15)
    assert x[0, 16, 20].item() == pytest.approx(1.0, abs=1e-15)


def test_equal_colours_give_constant_image() -> None:
    targets, alpha = _params(5, 4)
    alpha[:, 3] = targets[:, 3]  # br = fr
    alpha[:, 4] = alpha[:, 1]  # bg = fg
    alpha[:, 5] = alpha[:, 2]  # bb = fb
    x = render_from_params(targets, alpha)
    fg = torch.stack([targets[:, 3], alpha[:, 1], alpha[:, 2]], dim=1)
    assert torch.allclose(x, fg[:, :, None, None].expand_as(x), atol=1e-14)


def test_peak_pixel_has_foreground_colour_and_range() -> None:
    targets, alpha = _params(7, 16)
    x = render_from_params(targets, alpha)
    fg = torch.stack([targets[:, 3], alpha[:, 1], alpha[:, 2]], dim=1)
    bg = alpha[:, 3:6]
    lo = torch.minimum(fg, bg)[:, :, None, None]
    hi = torch.maximum(fg, bg)[:, :, None, None]
    assert bool(((x >= lo - 1e-12) & (x <= hi + 1e-12)).all())
    # the normalised intensity reaches exactly 1 somewhere: that pixel is the foreground colour
    dist = (x - fg[:, :, None, None]).abs().sum(dim=1).flatten(1)  # (B, 1024)
    assert float(dist.min(dim=1).values.max()) < 1e-12


def test_gradients_wrt_alpha_match_finite_differences() -> None:
    targets, alpha = _params(11, 3)
    weights = torch.randn(
        3, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )

    def loss(a: torch.Tensor) -> torch.Tensor:
        return (render_from_params(targets, a) * weights).sum()

    a = alpha.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss(a), a)
    eps = 1e-6
    fd = torch.zeros_like(alpha)
    for i in range(alpha.shape[0]):
        for j in range(alpha.shape[1]):
            plus, minus = alpha.clone(), alpha.clone()
            plus[i, j] += eps
            minus[i, j] -= eps
            fd[i, j] = (loss(plus) - loss(minus)) / (2 * eps)
    assert torch.allclose(grad, fd, rtol=1e-6, atol=1e-7)
    assert bool((grad.abs() > 1e-3).all())  # every nuisance parameter moves the image


def test_gradcheck_wrt_alpha_and_targets() -> None:
    targets, alpha = _params(13, 2)
    a = alpha.clone().requires_grad_(True)
    t = targets.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(render_from_params, (t, a), fast_mode=True)


@settings(deadline=None, max_examples=25, derandomize=True)
@given(
    h_lo=st.floats(0.1, 4.0),
    h_width=st.floats(0.05, 3.0),
    bg_lo=st.floats(0.0, 0.9),
    bg_width=st.floats(0.01, 0.1),
    seed=st.integers(0, 1000),
    use_torch=st.booleans(),
)
def test_sampled_parameters_inside_ranges(
    h_lo: float, h_width: float, bg_lo: float, bg_width: float, seed: int, use_torch: bool
) -> None:
    ranges = NuisanceRanges(h=(h_lo, h_lo + h_width), bg=(bg_lo, bg_lo + bg_width))
    gen: np.random.Generator | torch.Generator = (
        torch.Generator().manual_seed(seed) if use_torch else np.random.default_rng(seed)
    )
    alpha = sample_nuisance(200, gen, ranges).double()
    targets = sample_targets(200, gen).double()
    for j, (lo, hi) in enumerate(ranges.bounds()):
        assert bool((alpha[:, j] >= lo - 1e-6).all() and (alpha[:, j] <= hi + 1e-6).all())
    for j, name in enumerate(TARGET_NAMES):
        lo, hi = TARGET_RANGES[name]
        assert bool((targets[:, j] >= lo - 1e-6).all() and (targets[:, j] <= hi + 1e-6).all())


def test_default_ranges_are_the_papers() -> None:
    r = NuisanceRanges()
    assert dict(zip(NUISANCE_NAMES, r.bounds(), strict=True)) == {
        "h": (0.5, 2.5),
        "fg": (0.4, 1.0),
        "fb": (0.4, 1.0),
        "br": (0.0, 0.6),
        "bg": (0.0, 0.6),
        "bb": (0.0, 0.6),
    }
    alpha = sample_nuisance(20_000, np.random.default_rng(0)).double()
    lo = torch.tensor([a for a, _ in r.bounds()], dtype=torch.float64)
    hi = torch.tensor([b for _, b in r.bounds()], dtype=torch.float64)
    # uniform: mean at the midpoint, variance (hi - lo)^2 / 12
    assert torch.allclose(alpha.mean(0), (lo + hi) / 2, atol=0.02)
    assert torch.allclose(alpha.var(0), (hi - lo) ** 2 / 12, rtol=0.05)


def test_standardise_targets_maps_range_ends_exactly() -> None:
    lo = torch.tensor([[TARGET_RANGES[k][0] for k in TARGET_NAMES]], dtype=torch.float64)
    hi = torch.tensor([[TARGET_RANGES[k][1] for k in TARGET_NAMES]], dtype=torch.float64)
    assert torch.allclose(
        standardise_targets(lo), torch.full((1, 4), -math.sqrt(3.0), dtype=torch.float64)
    )
    assert torch.allclose(
        standardise_targets(hi), torch.full((1, 4), math.sqrt(3.0), dtype=torch.float64)
    )


def test_dataset_determinism_and_batch_contents() -> None:
    a = SpirographDataset("train", n_train=50, n_test=20, seed=4)
    b = SpirographDataset("train", n_train=50, n_test=20, seed=4)
    c = SpirographDataset("train", n_train=50, n_test=20, seed=5)
    test = SpirographDataset("test", n_train=50, n_test=20, seed=4)
    assert isinstance(a, MultiTaskDataset)
    assert len(a) == 50 and len(test) == 20
    assert torch.equal(a.targets, b.targets)
    assert not torch.allclose(a.targets, c.targets)
    assert not torch.allclose(a.targets[:20], test.targets)
    idx = np.array([3, 0, 49, 3])
    ba = a.batch(idx, np.random.default_rng(9))
    bb = b.batch(idx, np.random.default_rng(9))
    bc = a.batch(idx, np.random.default_rng(10))
    assert torch.equal(ba.x, bb.x)
    assert not torch.allclose(ba.x, bc.x)  # fresh nuisance draw, same targets
    assert torch.equal(ba.params["targets"], bc.params["targets"])
    assert ba.x.shape == (4, 3, 32, 32) and ba.x.dtype == torch.float32
    assert torch.equal(ba.index, torch.from_numpy(idx))
    assert torch.equal(ba.params["targets"], a.targets[idx])
    assert torch.allclose(ba.labels["targets"], standardise_targets(a.targets[idx]))
    # the view code re-renders from params: identical to the batch
    assert torch.allclose(render_from_params(ba.params["targets"], ba.params["alpha"]), ba.x)
    raw = SpirographDataset("train", n_train=50, seed=4, standardise=False).batch(
        idx, np.random.default_rng(9)
    )
    assert torch.equal(raw.labels["targets"], a.targets[idx])


def test_shifted_ranges_reach_the_batch() -> None:
    ds = SpirographDataset("test", n_test=64, h_range=(3.0, 3.5), bg_range=(0.8, 0.9))
    batch = ds.batch(np.arange(64), np.random.default_rng(0))
    alpha = batch.params["alpha"]
    assert bool(((alpha[:, 0] >= 3.0) & (alpha[:, 0] <= 3.5)).all())
    assert bool(((alpha[:, 3:] >= 0.8) & (alpha[:, 3:] <= 0.9)).all())
    assert bool(torch.isfinite(batch.x).all())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_train": 0}, "^n_train must be"),
        ({"n_test": -3}, "^n_test must be"),
        ({"h_range": (2.0, 1.0)}, r"^h_range must be .* got \(2\.0, 1\.0\)$"),
        ({"h_range": (0.0, 1.0)}, r"^h_range must be .* got \(0\.0, 1\.0\)$"),
        ({"bg_range": (0.5, 1.2)}, r"^bg_range must be .* got \(0\.5, 1\.2\)$"),
        ({"split": "valid"}, "^split must be"),
        ({"seed": -1}, "^seed must be"),
        ({"colour": 3}, r"^unknown option\(s\) \['colour'\]"),
    ],
)
def test_bad_arguments_raise_value_error_naming_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_spirograph(**kwargs)


def test_render_from_params_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="alpha"):
        render_from_params(torch.ones(2, 4), torch.ones(2, 5))
    with pytest.raises(ValueError, match="targets"):
        render_from_params(torch.ones(2, 3), torch.ones(2, 6))
