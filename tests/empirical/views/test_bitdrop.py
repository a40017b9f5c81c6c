"""Bit-dropout views (RandBits): the drop rate, whole-group zeroing, image channels untouched,
p = 0 the identity on the bits, determinism from the seed, and the config path."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from empirical.config import Config, ConfigError, apply_overrides
from empirical.data.base import Batch
from empirical.parts import build_views
from empirical.views import build_views as build
from empirical.views.bitdrop import BitDropoutViews, drop_bits
from empirical.views.expert import ImageExpertViews

K = 3  # bits per example in these tests
IMAGE = 3  # image channels (RGB)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bits_batch(n: int, k: int = K, seed: int = 0) -> Batch:
    """Random images ``(n, 3, 8, 8)`` and random bits ``(n, k)`` in {0, 1}, none of them all 0."""
    g = gen(seed)
    bits = torch.randint(0, 2, (n, k), generator=g).float()
    bits[:, 0] = 1.0  # so that "all planes 0" means "dropped"
    x = torch.rand(n, IMAGE, 8, 8, generator=g)
    return Batch(x=x, labels={}, index=torch.arange(n), post_view_channels=bits)


def crop_only() -> ImageExpertViews:
    return ImageExpertViews(crop_scale=(0.5, 1.0), p_jitter=0.0, p_gray=0.0, p_blur=0.0, p_flip=0.0)


def bit_planes(v: torch.Tensor) -> torch.Tensor:
    return v[:, IMAGE:]


def dropped(v: torch.Tensor) -> torch.Tensor:
    """``(B,)`` True where a view's bit planes are all 0."""
    return bit_planes(v).flatten(1).eq(0).all(1)


@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_drop_rate_is_p_per_view_and_views_are_independent(
    p: float, check_independent_drops: Callable[[torch.Tensor, torch.Tensor, float], None]
) -> None:
    """Each view drops with probability p; the two views independently (P(both) = p^2). The
    tolerance is 5 binomial standard errors of the n examples."""
    n = 20_000
    pair = BitDropoutViews(p)(bits_batch(n), gen(1))
    check_independent_drops(dropped(pair.v1), dropped(pair.v2), p)


def test_a_view_drops_the_whole_group_or_keeps_it_exactly() -> None:
    batch = bits_batch(4000)
    pair = BitDropoutViews(0.5)(batch, gen(3))
    bits = batch.post_view_channels
    assert bits is not None
    for v in (pair.v1, pair.v2):
        planes = bit_planes(v)
        assert torch.all(planes == planes[:, :, :1, :1])  # constant planes
        values = planes[:, :, 0, 0]
        kept = ~dropped(v)
        assert torch.equal(values[kept], bits[kept])  # kept: the example's own bits
        assert torch.all(values[~kept] == 0)  # dropped: every one of the k bits is 0


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_image_channels_are_the_base_views_whatever_p(p: float) -> None:
    """The dropout never touches the image channels: they equal the crop-only views drawn from
    the same generator state, at any p."""
    batch = bits_batch(64)
    pair = BitDropoutViews(p, base=crop_only())(batch, gen(5))
    ref = crop_only()(batch, gen(5))
    assert torch.equal(pair.v1[:, :IMAGE], ref.v1[:, :IMAGE])
    assert torch.equal(pair.v2[:, :IMAGE], ref.v2[:, :IMAGE])
    plain = BitDropoutViews(p)(batch, gen(5))
    assert torch.equal(plain.v1[:, :IMAGE], batch.x) and torch.equal(plain.v2[:, :IMAGE], batch.x)


def test_p_zero_is_the_identity_on_the_bits_and_p_one_zeroes_them() -> None:
    batch = bits_batch(256)
    never = BitDropoutViews(0.0, base=crop_only())(batch, gen(7))
    ref = crop_only()(batch, gen(7))  # the base generator appends the bits unchanged
    assert torch.equal(never.v1, ref.v1) and torch.equal(never.v2, ref.v2)
    always = BitDropoutViews(1.0)(batch, gen(7))
    assert torch.all(bit_planes(always.v1) == 0) and torch.all(bit_planes(always.v2) == 0)


def test_views_are_deterministic_from_the_seed() -> None:
    batch = bits_batch(512)
    views = BitDropoutViews(0.5, base=crop_only())
    a, b, c = views(batch, gen(11)), views(batch, gen(11)), views(batch, gen(12))
    assert torch.equal(a.v1, b.v1) and torch.equal(a.v2, b.v2)
    assert not torch.equal(dropped(a.v1), dropped(c.v1))


def test_without_bits_the_views_are_the_base_views() -> None:
    batch = bits_batch(8)
    batch.post_view_channels = None  # k = 0
    pair = BitDropoutViews(0.5, base=crop_only())(batch, gen(2))
    ref = crop_only()(batch, gen(2))
    assert pair.v1.shape == (8, IMAGE, 8, 8)
    assert torch.equal(pair.v1, ref.v1) and torch.equal(pair.v2, ref.v2)


def test_drop_bits_rows() -> None:
    bits = torch.ones(1000, 5)
    out = drop_bits(bits, 0.3, gen(0))
    rows = out.sum(1)
    assert set(rows.unique().tolist()) <= {0.0, 5.0}  # a row is dropped whole or not at all
    assert torch.equal(drop_bits(bits, 0.0, gen(0)), bits)


def test_bad_arguments_raise() -> None:
    for p in (-0.1, 1.1):
        with pytest.raises(ValueError, match="p must be in"):
            BitDropoutViews(p)
    with pytest.raises(ValueError, match="base"):
        BitDropoutViews(0.5, base=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown option"):
        build("bitdrop", p=0.5, base="expert")


def test_config_builds_bit_dropout_after_crop_only_expert_views() -> None:
    cfg = apply_overrides(
        Config(),
        ["views.name=bitdrop", "views.bit_p=0.25", "views.base=expert", "views.crop_min=0.5"],
    )
    views = build_views(cfg, 1)
    assert isinstance(views, BitDropoutViews) and views.p == 0.25
    assert isinstance(views.base, ImageExpertViews) and views.base.crop_scale == (0.5, 1.0)
    bare = build_views(apply_overrides(Config(), ["views.name=bitdrop"]), 1)
    assert isinstance(bare, BitDropoutViews) and bare.base is None and bare.p == 0.0
    for bad in ("1.5", "-0.1"):
        with pytest.raises(ConfigError, match=r"bit_p.*\[0, 1\]"):
            apply_overrides(Config(), [f"views.bit_p={bad}"])
