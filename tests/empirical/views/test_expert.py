"""Expert views: exact degenerate cases, colour ops from their formulas, per-example parameters."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.base import Batch
from empirical.views.expert import (
    AudioExpertViews,
    ImageExpertViews,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    blur_kernel_size,
    gaussian_blur,
    grayscale,
    shift_hue,
)

OFF = {"p_jitter": 0.0, "p_gray": 0.0, "p_blur": 0.0, "p_flip": 0.0}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(b: int = 4, c: int = 3, side: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, side, side, generator=gen(seed), dtype=torch.float64)


def test_identity_when_everything_is_off() -> None:
    x = images()
    v = ImageExpertViews(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), **OFF).view(x, gen(0))
    torch.testing.assert_close(v, x, rtol=0, atol=1e-12)


def test_flip_with_probability_one_mirrors() -> None:
    x = images()
    kw = {**OFF, "p_flip": 1.0}
    v = ImageExpertViews(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), **kw).view(x, gen(0))
    torch.testing.assert_close(v, torch.flip(x, dims=[-1]), rtol=0, atol=1e-12)


def test_grayscale_with_probability_one_gives_equal_channels() -> None:
    x = images()
    kw = {**OFF, "p_gray": 1.0}
    v = ImageExpertViews(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), **kw).view(x, gen(0))
    ref = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for ch in range(3):
        torch.testing.assert_close(v[:, ch], ref, rtol=0, atol=1e-12)


def test_crop_parameters_are_per_example() -> None:
    x = images(b=1).expand(6, -1, -1, -1)  # six copies of one image
    v = ImageExpertViews(**OFF).view(x, gen(3))
    diffs = [float((v[0] - v[i]).abs().mean()) for i in range(1, 6)]
    assert min(diffs) > 1e-3


def test_views_reproducible_by_seed_and_in_unit_range() -> None:
    x = images(b=8, side=32)
    views = ImageExpertViews()
    a, b = views.view(x, gen(5)), views.view(x, gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, views.view(x, gen(6)))
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0


def test_one_channel_inputs_and_odd_sizes() -> None:
    x = images(b=3, c=1, side=28)
    v = ImageExpertViews().view(x, gen(0))
    assert v.shape == x.shape and v.min() >= 0.0 and v.max() <= 1.0
    with pytest.raises(ValueError, match="1 or 3 channels"):
        ImageExpertViews().view(images(c=2), gen(0))


@settings(deadline=None, max_examples=10, derandomize=True)
@given(seed=st.integers(0, 2**16), level=st.floats(0.05, 0.95))
def test_constant_gray_image_stays_constant_without_jitter(seed: int, level: float) -> None:
    # crop, flip, grayscale and blur all preserve a constant gray image exactly
    x = torch.full((3, 3, 16, 16), level, dtype=torch.float64)
    v = ImageExpertViews(p_jitter=0.0, p_gray=0.5, p_blur=0.5).view(x, gen(seed))
    torch.testing.assert_close(v, x, rtol=0, atol=1e-12)


def test_colour_ops_match_torchvision_formulas_per_example() -> None:
    x = images(b=3)
    f = torch.tensor([0.6, 1.0, 1.4], dtype=torch.float64)
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    for i in range(3):
        fi = float(f[i])
        torch.testing.assert_close(adjust_brightness(x, f)[i], (fi * x[i]).clamp(0, 1))
        mean = float(gray[i].mean())
        torch.testing.assert_close(
            adjust_contrast(x, f)[i], (fi * x[i] + (1 - fi) * mean).clamp(0, 1)
        )
        torch.testing.assert_close(
            adjust_saturation(x, f)[i], (fi * x[i] + (1 - fi) * gray[i]).clamp(0, 1)
        )
    torch.testing.assert_close(grayscale(x), gray)


def test_hue_shift_exact_cases() -> None:
    red = torch.zeros(2, 3, 2, 2, dtype=torch.float64)
    red[:, 0] = 1.0
    shifted = shift_hue(red, torch.tensor([0.0, 1.0 / 3.0], dtype=torch.float64))
    torch.testing.assert_close(shifted[0], red[0], rtol=0, atol=1e-6)  # no shift
    green = torch.zeros(3, 2, 2, dtype=torch.float64)
    green[1] = 1.0
    torch.testing.assert_close(shifted[1], green, rtol=0, atol=1e-6)  # a third of a turn


def test_gaussian_blur_matches_per_example_reference() -> None:
    x = images(b=2, c=3, side=9)
    sigma = torch.tensor([0.5, 1.5], dtype=torch.float64)
    got = gaussian_blur(x, sigma, 5)
    for i in range(2):
        t = torch.arange(-2, 3, dtype=torch.float64)
        k1 = torch.exp(-(t**2) / (2 * float(sigma[i]) ** 2))
        k2 = torch.outer(k1, k1) / k1.sum() ** 2  # (5, 5)
        padded = torch.nn.functional.pad(x[i : i + 1], (2, 2, 2, 2), mode="reflect")
        ref = torch.nn.functional.conv2d(padded, k2.expand(3, 1, 5, 5), groups=3)
        torch.testing.assert_close(got[i : i + 1], ref)
    assert blur_kernel_size(32) == 3 and blur_kernel_size(64) == 7 and blur_kernel_size(224) == 23


def test_expert_pair_appends_identical_post_view_channels() -> None:
    bits = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    batch = Batch(
        x=torch.rand(2, 3, 8, 8), labels={}, index=torch.arange(2), post_view_channels=bits
    )
    pair = ImageExpertViews()(batch, gen(0))
    assert pair.v1.shape == (2, 6, 8, 8)
    assert torch.equal(pair.v1[:, 3:], pair.v2[:, 3:])
    assert torch.equal(pair.v1[:, 3:, 0, 0], bits)
    assert not torch.equal(pair.v1[:, :3], pair.v2[:, :3])


@pytest.mark.parametrize(
    "kw",
    [
        {"crop_scale": (0.0, 1.0)},
        {"crop_scale": (0.5, 1.2)},
        {"crop_ratio": (2.0, 1.0)},
        {"jitter": (0.4, 0.4, 1.0, 0.1)},
        {"jitter": (0.4, 0.4, 0.4, 0.6)},
        {"p_jitter": 1.5},
        {"p_gray": -0.1},
        {"p_blur": 2.0},
        {"p_flip": -1.0},
        {"blur_sigma": (0.0, 1.0)},
    ],
)
def test_image_bad_arguments_raise(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kw)).split("_")[0]):
        ImageExpertViews(**kw)  # type: ignore[arg-type]


def test_audio_views_mask_bands_with_the_mean_and_add_no_noise_at_zero() -> None:
    x = torch.randn(64, 1, 20, 30, generator=gen(0), dtype=torch.float64)
    v = AudioExpertViews(max_time_frac=0.2, max_freq_frac=0.25, noise_std=0.0).view(x, gen(1))
    changed = v != x
    mean = x.mean(dim=(1, 2, 3))
    for i in range(64):
        t_cols = changed[i, 0].all(dim=0)  # time columns fully masked
        f_rows = changed[i, 0].all(dim=1)  # frequency rows fully masked
        assert int(t_cols.sum()) <= int(0.2 * 30) and int(f_rows.sum()) <= int(0.25 * 20)
        assert torch.all(v[i, 0][changed[i, 0]] == mean[i])
        masked = t_cols[None, :] | f_rows[:, None]
        assert torch.equal(changed[i, 0], masked)  # only whole bands change
    assert changed.any()


def test_audio_identity_when_off_and_noise_scale() -> None:
    x = torch.randn(16, 1, 20, 30, generator=gen(0), dtype=torch.float64) * 3.0
    off = AudioExpertViews(0.0, 0.0, 0.0)
    assert torch.equal(off.view(x, gen(1)), x)
    noisy = AudioExpertViews(0.0, 0.0, 0.5).view(x, gen(1))
    ratio = (noisy - x).std() / x.std()
    assert 0.45 < float(ratio) < 0.55
    with pytest.raises(ValueError, match="noise_std"):
        AudioExpertViews(noise_std=-1.0)
    with pytest.raises(ValueError, match="max_time_frac"):
        AudioExpertViews(max_time_frac=1.5)


def _hue_inputs(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.rand(12, 3, 6, 5, generator=g, dtype=dtype)
    x[0] = x[0, :1]  # grey: hue undefined, kept at 0
    x[1] = 0.0  # black
    x[2] = 1.0  # white
    x[3, 0], x[3, 1:] = 1.0, 0.0  # pure red
    x[4, :, :2] = x[4, :1, :2]  # partly grey
    x[5, 1] = x[5, 0]  # ties between the largest channels
    shift = torch.linspace(-0.5, 0.5, 12, dtype=dtype)
    return x, shift


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hue_shift_matches_kornia_round_trip(dtype: torch.dtype) -> None:
    import math

    from kornia.enhance import adjust_hue

    x, shift = _hue_inputs(dtype)
    ref = adjust_hue(x, shift * (2.0 * math.pi)).clamp(0.0, 1.0)
    torch.testing.assert_close(shift_hue(x, shift), ref, rtol=0, atol=1e-5)


def test_hue_shift_gradients_match_kornia() -> None:
    import math

    from kornia.enhance import adjust_hue

    x0, shift0 = _hue_inputs(torch.float64)
    x0, shift0 = x0[6:], shift0[6:] * 0.3  # generic pixels (no ties), as in Foster's penalty
    grads = []
    for fn in (shift_hue, lambda x, s: adjust_hue(x, s * (2.0 * math.pi)).clamp(0.0, 1.0)):
        x, s = x0.clone().requires_grad_(), shift0.clone().requires_grad_()
        out = fn(x, s)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append((x.grad, s.grad))
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-9)
