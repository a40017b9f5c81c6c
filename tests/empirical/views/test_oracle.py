"""Oracle feature-dropout views: exact p = 0 / 1, the drop rate, independence of the two views."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.base import Batch
from empirical.views.expert import ImageExpertViews
from empirical.views.oracle import OracleDropoutViews


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def overlay_batch(n: int, bits: torch.Tensor | None = None) -> Batch:
    """Clean images are 0, overlaid ones 1: a view's pixel tells which it shows."""
    return Batch(
        x=torch.ones(n, 1, 2, 2),
        labels={},
        index=torch.arange(n),
        x_clean=torch.zeros(n, 1, 2, 2),
        post_view_channels=bits,
    )


def dropped(v: torch.Tensor) -> torch.Tensor:
    return v[:, 0, 0, 0] == 0.0


@settings(deadline=None, max_examples=10, derandomize=True)
@given(seed=st.integers(0, 2**20))
def test_p_one_always_clean_and_p_zero_never(seed: int) -> None:
    batch = overlay_batch(64)
    always = OracleDropoutViews(1.0)(batch, gen(seed))
    never = OracleDropoutViews(0.0)(batch, gen(seed))
    assert torch.equal(always.v1, batch.x_clean) and torch.equal(always.v2, batch.x_clean)
    assert torch.equal(never.v1, batch.x) and torch.equal(never.v2, batch.x)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_rate_is_p_and_views_are_independent(
    p: float, check_independent_drops: Callable[[torch.Tensor, torch.Tensor, float], None]
) -> None:
    n = 20_000
    pair = OracleDropoutViews(p)(overlay_batch(n), gen(1))
    check_independent_drops(dropped(pair.v1), dropped(pair.v2), p)


def test_base_views_follow_the_dropout_and_bits_are_appended() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8)
    bits = torch.tensor([[1.0], [0.0], [1.0], [1.0]])
    batch = Batch(x=x, labels={}, index=torch.arange(4), x_clean=torch.zeros_like(x))
    batch.post_view_channels = bits
    base = ImageExpertViews(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), p_jitter=0.0)
    base.p_gray = base.p_blur = 0.0
    base.p_flip = 1.0
    pair = OracleDropoutViews(0.0, base=base)(batch, gen(0))
    torch.testing.assert_close(pair.v1[:, :3], torch.flip(x, dims=[-1]), rtol=0, atol=1e-6)
    assert torch.equal(pair.v1[:, 3:], pair.v2[:, 3:])
    assert torch.equal(pair.v1[:, 3, 0, 0], bits[:, 0])
    again = OracleDropoutViews(0.0, base=base)(batch, gen(0))
    assert torch.equal(again.v1, pair.v1)


def test_bad_arguments_raise() -> None:
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError, match="p must be in"):
            OracleDropoutViews(p)
    with pytest.raises(ValueError, match="base"):
        OracleDropoutViews(0.5, base=object())  # type: ignore[arg-type]
    no_clean = Batch(x=torch.ones(2, 1, 2, 2), labels={}, index=torch.arange(2))
    with pytest.raises(ValueError, match="x_clean"):
        OracleDropoutViews(0.5)(no_clean, gen(0))
