"""Foster et al.'s colour views and Spirograph views: alpha ranges, re-rendering, gradients."""

from __future__ import annotations

import pytest
import torch

from empirical.data.base import Batch
from empirical.data.spirograph import NuisanceRanges, render_from_params, sample_targets
from empirical.views.foster import FosterViews, colour_transform, sample_colour_alpha
from empirical.views.spirograph import SpirographViews


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image_batch(n: int = 4, bits: torch.Tensor | None = None) -> Batch:
    x = 0.1 + 0.8 * torch.rand(n, 3, 8, 8, generator=gen(0), dtype=torch.float64)
    return Batch(x=x, labels={}, index=torch.arange(n), post_view_channels=bits)


def test_identity_alpha_leaves_the_image_unchanged() -> None:
    x = image_batch().x
    alpha = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64).expand(4, 4)
    torch.testing.assert_close(colour_transform(x, alpha), x, rtol=0, atol=1e-6)


def test_alpha_ranges() -> None:
    a = sample_colour_alpha(10_000, gen(0))
    assert torch.all(a[:, :3] >= 0.6) and torch.all(a[:, :3] <= 1.4)
    assert torch.all(a[:, 3] >= -0.1) and torch.all(a[:, 3] <= 0.1)
    assert float(a[:, :3].min()) < 0.61 and float(a[:, :3].max()) > 1.39  # the whole range


def test_render1_reproduces_view1_and_appends_bits() -> None:
    bits = torch.tensor([[1.0], [0.0], [1.0], [0.0]], dtype=torch.float64)
    pair = FosterViews()(image_batch(bits=bits), gen(1))
    assert pair.render1 is not None and pair.alpha1 is not None and pair.alpha2 is not None
    assert torch.equal(pair.render1(pair.alpha1), pair.v1)
    assert pair.v1.shape == (4, 4, 8, 8) and torch.equal(pair.v1[:, 3:], pair.v2[:, 3:])
    assert not torch.equal(pair.alpha1, pair.alpha2)
    assert pair.sample_alpha is not None and pair.sample_alpha(5, gen(0)).shape == (5, 4)


def test_render1_is_differentiable_in_alpha() -> None:
    views = FosterViews(crop_scale=(1.0, 1.0), p_flip=0.0, p_gray=0.0)
    pair = views(image_batch(n=2), gen(2))
    assert pair.render1 is not None and pair.alpha1 is not None
    render1 = pair.render1
    alpha = pair.alpha1.detach().clone().requires_grad_(True)
    # autograd vs finite differences (float64); away from clamps the transform is smooth
    assert torch.autograd.gradcheck(lambda a: render1(a).sum(dim=(1, 2, 3)), (alpha,), atol=1e-5)
    render1(alpha).sum().backward()
    assert alpha.grad is not None and torch.all(alpha.grad.abs().sum(dim=0) > 0)


def test_foster_bad_arguments() -> None:
    with pytest.raises(ValueError, match="crop_scale"):
        FosterViews(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="p_gray"):
        FosterViews(p_gray=1.5)
    with pytest.raises(ValueError, match="3 channels"):
        FosterViews()(Batch(x=torch.rand(2, 1, 8, 8), labels={}, index=torch.arange(2)), gen(0))


def spirograph_batch(n: int = 4) -> Batch:
    targets = sample_targets(n, gen(0)).double()
    return Batch(
        x=torch.zeros(n, 3, 32, 32), labels={}, index=torch.arange(n), params={"targets": targets}
    )


def test_spirograph_views_rerender_with_fresh_nuisance() -> None:
    ranges = NuisanceRanges(h=(1.0, 2.0))
    batch = spirograph_batch()
    pair = SpirographViews(ranges)(batch, gen(3))
    assert pair.alpha1 is not None and pair.alpha2 is not None and pair.render1 is not None
    targets = batch.params["targets"]
    torch.testing.assert_close(pair.v1, render_from_params(targets, pair.alpha1))
    torch.testing.assert_close(pair.v2, render_from_params(targets, pair.alpha2))
    assert not torch.equal(pair.alpha1, pair.alpha2)
    for a in (pair.alpha1, pair.alpha2):
        assert torch.all((a[:, 0] >= 1.0) & (a[:, 0] <= 2.0))
        assert torch.all((a[:, 1:3] >= 0.4) & (a[:, 1:3] <= 1.0))
        assert torch.all((a[:, 3:] >= 0.0) & (a[:, 3:] <= 0.6))
    again = SpirographViews(ranges)(batch, gen(3))
    assert torch.equal(again.v1, pair.v1)


def test_spirograph_render1_differentiable_in_alpha() -> None:
    pair = SpirographViews()(spirograph_batch(n=2), gen(4))
    assert pair.render1 is not None and pair.alpha1 is not None
    alpha = pair.alpha1.detach().clone().requires_grad_(True)
    pair.render1(alpha).square().sum().backward()
    assert alpha.grad is not None and torch.all(alpha.grad.abs() > 0)
    with pytest.raises(ValueError, match="targets"):
        SpirographViews()(image_batch(), gen(0))
