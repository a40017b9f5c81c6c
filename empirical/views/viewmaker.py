"""Viewmaker networks (Tamkin, Wu, Goodman, ICLR 2021): learned adversarial views.

The generator follows the paper's released architecture (fast neural style transfer, Johnson et al.
2016): reflection padding throughout; a 9x9 conv (C + noise -> w); two stride-2 3x3 convs
(-> 2w -> 4w), each with InstanceNorm(affine) + ReLU; ``num_res_blocks`` residual blocks, a fresh
uniform noise channel concatenated before each (as in the released code the noise channels
accumulate: block k sees 4w + k channels and keeps them); two nearest x2 upsampling 3x3 convs
(-> 2w -> w) with InstanceNorm + ReLU; a 9x9 conv back to C. ``w = base_channels`` (32 in the
paper). Odd sizes: each upsampling goes to the exact size of the matching downsampling stage.

Noise is drawn from the ``torch.Generator`` passed to ``forward`` (on the generator's device, then
moved to the input's: pass a generator on the input's device to avoid copies).

Budget: ``delta = tanh(out)`` rescaled per example so that mean |delta| over C*H*W equals eps
(``delta * eps / (mean|delta| + 1e-4)``); view = x + delta, clamped to [0, 1] if ``clamp``.

The viewmaker maximises the encoder's contrastive loss. ``grad_reverse`` lets ONE backward pass do
both: the encoder descends the loss and the viewmaker, behind the reversal, ascends it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from empirical.data.base import Batch
from empirical.models.valid_conv import valid_conv2d
from empirical.views.base import SingleView, ViewPair, finish_pair

L1_SMOOTHING = 1e-4  # the released code's denominator smoothing


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def grad_reverse(x: torch.Tensor) -> torch.Tensor:
    """Identity in the forward pass; negates the gradient in the backward pass."""
    out: torch.Tensor = _GradReverse.apply(x)
    return out


def l1_budget(out: torch.Tensor, eps: float) -> torch.Tensor:
    """``delta = tanh(out) * eps / (mean|tanh(out)| + 1e-4)``, mean over C, H, W per example."""
    delta = torch.tanh(out)
    magnitude = delta.abs().mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return delta * (eps / (magnitude + L1_SMOOTHING))


class _Conv(nn.Sequential):
    """Reflection padding + conv (size-preserving at stride 1). At stride 1 the conv runs as
    :func:`~empirical.models.valid_conv.valid_conv2d` (same numbers; on the CPU the 9x9 output
    conv's forward and backward are 6x faster); the children stay ``(pad, conv)``, so
    checkpoints keep their keys."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, conv = self[0], self[1]
        assert isinstance(conv, nn.Conv2d)
        y = pad(x)
        if conv.stride != (1, 1):
            out: torch.Tensor = conv(y)
            return out
        return valid_conv2d(y, conv.weight, conv.bias)


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.in1 = (
            _Conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )
        self.conv2, self.in2 = (
            _Conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(out))


class Viewmaker(nn.Module):
    """``Viewmaker(in_channels, base_channels=32, num_res_blocks=3, eps=0.05, clamp=False,
    noise_channels=1)``; ``forward(x, generator) -> view`` of the same shape ``(B, C, H, W)``.

    Args:
        in_channels: C, channels of the input (RandBits channels excluded: appended later).
        base_channels: width w of the first conv (32 in the paper; widths w, 2w, 4w).
        num_res_blocks: residual blocks, 1 to 5 (paper: 3 for images, 5 in some configs).
        eps: L1 budget, mean |delta| per example, > 0.
        clamp: clamp the view to [0, 1] (the released configs did not).
        noise_channels: uniform noise channels concatenated at the input and before each block.
    """

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 32,
        num_res_blocks: int = 3,
        eps: float = 0.05,
        clamp: bool = False,
        noise_channels: int = 1,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1; got {in_channels}")
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1; got {base_channels}")
        if not 1 <= num_res_blocks <= 5:
            raise ValueError(f"num_res_blocks must be in [1, 5]; got {num_res_blocks}")
        if not eps > 0.0:
            raise ValueError(f"eps must be > 0; got {eps}")
        if noise_channels < 1:
            raise ValueError(f"noise_channels must be >= 1; got {noise_channels}")
        w, n = base_channels, noise_channels
        self.in_channels, self.eps, self.clamp, self.noise_channels = in_channels, eps, clamp, n
        self.down = nn.ModuleList(
            [
                _Conv(in_channels + n, w, 9),
                _Conv(w, 2 * w, 3, stride=2),
                _Conv(2 * w, 4 * w, 3, stride=2),
            ]
        )
        self.down_norms = nn.ModuleList(
            [nn.InstanceNorm2d(c, affine=True) for c in (w, 2 * w, 4 * w)]
        )
        self.res_blocks = nn.ModuleList(
            [_ResidualBlock(4 * w + (k + 1) * n) for k in range(num_res_blocks)]
        )
        self.up = nn.ModuleList([_Conv(4 * w + num_res_blocks * n, 2 * w, 3), _Conv(2 * w, w, 3)])
        self.up_norms = nn.ModuleList([nn.InstanceNorm2d(c, affine=True) for c in (2 * w, w)])
        self.out = _Conv(w, in_channels, 9)

    def _noise(self, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        b, _, h, w = y.shape
        u = torch.rand((b, self.noise_channels, h, w), generator=generator, device=generator.device)
        return torch.cat([y, u.to(device=y.device, dtype=y.dtype)], dim=1)

    def delta(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The perturbation ``(B, C, H, W)``, mean |delta| = eps per example (up to 1e-4)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input must be (B, {self.in_channels}, H, W); got {tuple(x.shape)}")
        y = self._noise(x, generator)
        sizes = []
        for conv, norm in zip(self.down, self.down_norms, strict=True):
            sizes.append(y.shape[-2:])
            y = F.relu(norm(conv(y)))
        for block in self.res_blocks:
            y = block(self._noise(y, generator))
        for conv, norm, size in zip(self.up, self.up_norms, sizes[:0:-1], strict=True):
            y = F.relu(norm(conv(F.interpolate(y, size=tuple(size), mode="nearest"))))
        return l1_budget(self.out(y), self.eps)

    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A stochastic view ``x + delta`` of ``x`` ``(B, C, H, W)``."""
        v = x + self.delta(x, generator)
        return v.clamp(0.0, 1.0) if self.clamp else v


class ViewmakerViews(nn.Module):
    """``ViewmakerViews(viewmaker, expert=None)``: two independent viewmaker calls on the same
    input, each optionally followed by expert views (``expert.view``).

    The pair is marked ``adversarial``: the training loop passes both views through
    ``grad_reverse`` (this module does NOT reverse the gradient itself).
    """

    def __init__(self, viewmaker: Viewmaker, expert: SingleView | None = None) -> None:
        super().__init__()
        if expert is not None and not isinstance(expert, SingleView):
            raise ValueError(f"expert must provide view(x, generator); got {type(expert).__name__}")
        self.viewmaker = viewmaker
        self.expert = expert

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        v = self.viewmaker(x, generator)
        return v if self.expert is None else self.expert.view(v, generator)

    def forward(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        v1, v2 = self.view(batch.x, generator), self.view(batch.x, generator)
        return finish_pair(v1, v2, batch, adversarial=True)
