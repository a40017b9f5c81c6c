"""A stride-1 "valid" convolution (no padding: the input is padded beforehand, as the viewmaker's
reflection-padded convs do) that avoids oneDNN's slow CPU kernels for the viewmaker's shapes.

Why: on CPU, oneDNN's backward-data kernel for a valid convolution (output smaller than the input)
is slow for the viewmaker's shapes: the 9x9 conv from 8 to 3 channels on 32x32 images, batch 256,
one thread, takes 1.09 s for its input gradient against 0.08 s for the same numbers computed as a
forward convolution of the zero-padded output gradient with the flipped, transposed kernel
(AVX2, ``benchmarks/viewmaker.py`` measures the whole viewmaker). The two agree to float32
rounding (relative 1e-6); the weight gradient is torch's own (``aten.convolution_backward``).

Kernels of ``FFT_MIN_TAPS`` (25) taps or more (the viewmaker's 9x9 convs) go through the FFT
instead: a valid cross-correlation is the uncontaminated part of the circular convolution of
``x`` with the flipped kernel zero-padded to ``x``'s size (overlap-save), and autograd
differentiates the FFTs. For the 9x9 conv from 8 to 3 channels above, forward and backward take
0.20 s against 0.39 s with the fast input gradient and 1.20 s with plain ``F.conv2d``; the values
agree to float32 rounding of the FFT (relative 2e-6 for outputs, 2e-5 for the weight gradient,
which sums over batch and pixels).

``valid_conv2d(x, weight, bias)`` equals ``F.conv2d(x, weight, bias)`` (stride 1, no padding,
dilation 1, groups 1) in value and gradients; on CUDA it IS ``F.conv2d``. Double backward works
(the backward is made of differentiable ops).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F


class _ValidConv2d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = grad_w = grad_b = None
        if need_x:
            kh, kw = weight.shape[-2:]
            flipped = weight.flip(2, 3).transpose(0, 1)  # (C_in, C_out, kh, kw)
            grad_x = F.conv2d(grad, flipped, padding=(kh - 1, kw - 1))
        if need_w:
            grad_w = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                None,
                [1, 1],
                [0, 0],
                [1, 1],
                False,
                [0, 0],
                1,
                [False, True, False],
            )[1]
        if need_b:  # False when bias is None
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b


FFT_MIN_TAPS = 25  # kernels with at least this many taps (5x5 and up) use the FFT
_plain = False  # set by plain_conv2d()


@contextmanager
def plain_conv2d() -> Iterator[None]:
    """Within it, :func:`valid_conv2d` is plain ``F.conv2d`` (torch's own kernels and backward):
    the reference that ``benchmarks/viewmaker.py`` times and the tests compare against."""
    global _plain
    saved, _plain = _plain, True
    try:
        yield
    finally:
        _plain = saved


def fft_valid_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding, groups 1) by the FFT (overlap-save:
    the circular convolution of size ``x``'s, cropped to the valid outputs)."""
    (b, c, h, w), (o, kh, kw) = x.shape, (weight.shape[0], *weight.shape[-2:])
    spectrum = torch.fft.rfft2(x)  # (B, C, H, W // 2 + 1)
    kernel = torch.fft.rfft2(weight.flip(2, 3), s=(h, w))  # (O, C, H, W // 2 + 1)
    freqs = spectrum.shape[-1]
    # per frequency, a (B, C) x (C, O) complex matmul
    mixed = torch.bmm(
        spectrum.permute(2, 3, 0, 1).reshape(h * freqs, b, c),
        kernel.permute(2, 3, 1, 0).reshape(h * freqs, c, o),
    )
    full = torch.fft.irfft2(mixed.reshape(h, freqs, b, o).permute(2, 3, 0, 1), s=(h, w))
    out = full[..., kh - 1 :, kw - 1 :]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def valid_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding, groups 1) on the CPU: by the FFT for
    kernels of ``FFT_MIN_TAPS`` taps or more, else with the fast input gradient (module
    docstring); plain ``F.conv2d`` off the CPU and within :func:`plain_conv2d`."""
    if _plain or x.device.type != "cpu":
        return F.conv2d(x, weight, bias)
    if weight.shape[-2] * weight.shape[-1] >= FFT_MIN_TAPS:
        return fft_valid_conv2d(x, weight, bias)
    out: torch.Tensor = _ValidConv2d.apply(x, weight, bias)
    return out
