"""A stride-1 "valid" convolution (no padding: the input is padded beforehand, as the viewmaker's
reflection-padded convs do) whose input gradient is computed as a forward convolution.

Why: on CPU, oneDNN's backward-data kernel for a valid convolution (output smaller than the input)
is slow for the viewmaker's shapes: the 9x9 conv from 8 to 3 channels on 32x32 images, batch 256,
one thread, takes 1.09 s for its input gradient against 0.08 s for the same numbers computed as a
forward convolution of the zero-padded output gradient with the flipped, transposed kernel
(AVX2, ``benchmarks/viewmaker.py`` measures the whole viewmaker). The two agree to float32
rounding (relative 1e-6); the weight gradient is torch's own (``aten.convolution_backward``).

``valid_conv2d(x, weight, bias)`` equals ``F.conv2d(x, weight, bias)`` (stride 1, no padding,
dilation 1, groups 1) in value and gradients; on CUDA it IS ``F.conv2d``. Double backward works
(the backward is made of differentiable ops).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class _ValidConv2d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
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
        if need_b and ctx.has_bias:
            grad_b = grad.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b


def valid_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding, groups 1) with the fast CPU input
    gradient described in the module docstring; plain ``F.conv2d`` off the CPU."""
    if x.device.type != "cpu":
        return F.conv2d(x, weight, bias)
    out: torch.Tensor = _ValidConv2d.apply(x, weight, bias)
    return out
