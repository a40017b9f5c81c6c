"""Foster et al.'s differentiable colour views (ICLR 2021, "Improving Transformation Invariance").

The transformation t(x, alpha, beta) splits its parameters in two:

- alpha ``(B, 4)``, differentiable: brightness, contrast and saturation factors in [0.6, 1.4] and
  a hue shift in [-0.1, 0.1] turns, applied in that order with the torchvision formulas of
  ``expert.py`` (each is differentiable in its factor);
- beta, not differentiated: a RandomResizedCrop box and horizontal flip (applied first) and
  grayscale with p=0.2 (applied last).

``ViewPair.render1(alpha)`` re-renders view 1 with its beta and a new alpha; ``sample_alpha`` draws
alpha from its uniform prior. Foster's gradient regulariser differentiates the representation of
``render1(alpha1)`` with respect to alpha1.
"""

from __future__ import annotations

import torch

from empirical.data.base import Batch, append_post_view_channels
from empirical.views.base import RenderFn, ViewPair, bernoulli
from empirical.views.expert import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    crop_and_flip,
    grayscale,
    sample_crop,
    shift_hue,
)

ALPHA_NAMES = ("brightness", "contrast", "saturation", "hue")
ALPHA_LOW = (0.6, 0.6, 0.6, -0.1)
ALPHA_HIGH = (1.4, 1.4, 1.4, 0.1)


def sample_colour_alpha(n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n, 4)`` alpha ~ U([0.6, 1.4]^3 x [-0.1, 0.1]), float32 on the generator's device."""
    u = torch.rand((n, 4), generator=generator, device=generator.device)
    low = torch.tensor(ALPHA_LOW, device=u.device)
    high = torch.tensor(ALPHA_HIGH, device=u.device)
    return low + (high - low) * u


def colour_transform(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Apply alpha ``(B, 4)`` = (brightness, contrast, saturation, hue) to RGB ``(B, 3, H, W)``."""
    if alpha.shape != (x.shape[0], 4):
        raise ValueError(f"alpha must have shape ({x.shape[0]}, 4); got {tuple(alpha.shape)}")
    a = alpha.to(x.dtype)
    y = adjust_brightness(x, a[:, 0])
    y = adjust_contrast(y, a[:, 1])
    y = adjust_saturation(y, a[:, 2])
    return shift_hue(y, a[:, 3])


class FosterViews:
    """Two views ``t(x, alpha_i, beta_i)`` with independent alpha and beta per view.

    Args:
        crop_scale: crop area range, ``0 < low <= high <= 1`` (``(1, 1)`` disables cropping).
        p_flip, p_gray: probabilities in [0, 1].
    """

    def __init__(
        self, crop_scale: tuple[float, float] = (0.2, 1.0), p_flip: float = 0.5, p_gray: float = 0.2
    ) -> None:
        if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1; got {crop_scale}")
        for name, p in (("p_flip", p_flip), ("p_gray", p_gray)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]; got {p}")
        self.crop_scale, self.p_flip, self.p_gray = crop_scale, p_flip, p_gray

    def sample_alpha(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return sample_colour_alpha(n, generator)

    def renderer(self, x: torch.Tensor, generator: torch.Generator) -> RenderFn:
        """Draw beta for one view of ``x`` ``(B, 3, H, W)``; return ``render(alpha) -> view``."""
        b, c, h, w = x.shape
        if c != 3:
            raise ValueError(f"Foster colour views need 3 channels; got {c}")
        sx, sy, cx, cy = sample_crop(b, generator, x, self.crop_scale, (3.0 / 4.0, 4.0 / 3.0))
        flip = bernoulli(b, self.p_flip, generator, x)
        gray = bernoulli(b, self.p_gray, generator, x)[:, None, None, None]
        cropped = crop_and_flip(x, sx, sy, cx, cy, flip, (h, w))

        def render(alpha: torch.Tensor) -> torch.Tensor:
            y = colour_transform(cropped, alpha)
            return torch.where(gray, grayscale(y).expand_as(y), y)

        return render

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        x = batch.x
        render1, render2 = self.renderer(x, generator), self.renderer(x, generator)
        alpha1 = self.sample_alpha(x.shape[0], generator).to(device=x.device, dtype=x.dtype)
        alpha2 = self.sample_alpha(x.shape[0], generator).to(device=x.device, dtype=x.dtype)

        def render1_full(alpha: torch.Tensor) -> torch.Tensor:
            return append_post_view_channels(render1(alpha), batch)

        return ViewPair(
            v1=render1_full(alpha1),
            v2=append_post_view_channels(render2(alpha2), batch),
            alpha1=alpha1,
            alpha2=alpha2,
            render1=render1_full,
            sample_alpha=self.sample_alpha,
        )
