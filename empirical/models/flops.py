"""FLOP counting by forward hooks, for the FLOP-fraction benchmark.

Counts 2 x multiply-adds of convolution and linear layers only (normalisation, activations,
pooling and residual additions are ignored; ConvTranspose is not counted):

- ``Conv{1,2,3}d``: ``2 * C_in * C_out * prod(kernel) * prod(output spatial) / groups``;
- ``Linear``: ``2 * in_features * out_features`` per row (rows = all leading dims but batch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def count_flops(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs of ``module`` for ONE example of shape ``input_shape`` (no batch dim).

    Runs one forward pass on zeros of shape ``(2, *input_shape)`` under ``torch.no_grad`` in
    eval mode (training flags are restored), on the device of the module's first parameter.
    Returns the count per example (batch of 2 divided by 2; the hooked layers act per example).
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be non-empty positive sizes; got {input_shape!r}")
    batch = 2
    total = 0

    def conv_hook(m: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)
        k = math.prod(m.kernel_size)
        spatial = math.prod(out.shape[2:])
        total += 2 * m.in_channels * m.out_channels * k * spatial * out.shape[0] // m.groups

    def linear_hook(m: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Linear)
        rows = out.numel() // m.out_features
        total += 2 * m.in_features * m.out_features * rows

    handles = []
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    modes = {m: m.training for m in module.modules()}
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros((batch, *shape), device=device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return total // batch
