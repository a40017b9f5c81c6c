"""Plain convolutional encoders: a configurable small ConvNet, Chen's small 3-layer ConvNet for
RandBits, and a spectrogram encoder for log-mel inputs.

Each stage is ``conv(k x k) -> BatchNorm -> ReLU`` followed by a 2x downsampling (max-pooling, or
the conv's own stride 2). Features are global-average-pooled, so any input size at least
``2**len(channels)`` per side works (spectrograms of any length T).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from empirical.models.base import Encoder, check_positive, check_positive_tuple

Downsample = Literal["maxpool", "stride"]


class ConvNet(Encoder):
    """Stack of conv-BN-ReLU stages, each halving the resolution.

    Args:
        in_channels: input channels.
        channels: output channels of each stage.
        kernel_size: odd conv kernel size (padding keeps the size before downsampling).
        downsample: ``"maxpool"`` (stride-1 conv then 2x2 max-pool) or ``"stride"`` (stride-2
            conv).

    ``forward``: ``(B, in_channels, H, W) -> (B, channels[-1])``. Feature maps ``"stage1"`` ...
    with the last stage as ``"prepool"``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, ...] = (32, 64, 128),
        kernel_size: int = 3,
        downsample: Downsample = "maxpool",
    ) -> None:
        super().__init__()
        check_positive("in_channels", in_channels)
        channels = check_positive_tuple("channels", channels)
        if check_positive("kernel_size", kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be odd; got {kernel_size}")
        if downsample not in ("maxpool", "stride"):
            raise ValueError(f"downsample must be 'maxpool' or 'stride'; got {downsample!r}")
        stages = []
        c_in = in_channels
        for c_out in channels:
            stride = 2 if downsample == "stride" else 1
            layers: list[nn.Module] = [
                nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            if downsample == "maxpool":
                layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.feat_dim = channels[-1]

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps: dict[str, torch.Tensor] = {}
        h = x
        for s, stage in enumerate(self.stages):
            h = stage(h)
            maps["prepool" if s == len(self.stages) - 1 else f"stage{s + 1}"] = h
        return maps


def convnet(
    in_channels: int = 3,
    channels: tuple[int, ...] = (32, 64, 128),
    kernel_size: int = 3,
    downsample: Downsample = "maxpool",
) -> ConvNet:
    """Configurable small ConvNet for CPU-scale runs (a design of this project)."""
    return ConvNet(in_channels, channels, kernel_size, downsample)


def chen_convnet(in_channels: int = 1, channels: tuple[int, ...] = (32, 64, 128)) -> ConvNet:
    """Small 3-layer ConvNet for the RandBits protocol (Chen, Luo, Li, NeurIPS 2021).

    The paper describes a small 3-layer conv net on MNIST; its widths are not in our reference,
    so this project uses three 3x3 stride-2 conv-BN-ReLU layers (32, 64, 128 channels by
    default) and global average pooling: 28x28 -> 14 -> 7 -> 4.
    """
    if len(tuple(channels)) != 3:
        raise ValueError(f"channels must have 3 entries (3 layers); got {channels!r}")
    return ConvNet(in_channels, tuple(channels), kernel_size=3, downsample="stride")


def spectrogram_encoder(
    in_channels: int = 1, channels: tuple[int, ...] = (16, 32, 64, 128)
) -> ConvNet:
    """Small ConvNet for log-mel spectrograms ``(B, 1, 64, T)`` (a design of this project).

    Four 3x3 conv-BN-ReLU-maxpool stages: 64 mel bins -> 4; time T -> T // 16 (T >= 16), then
    pooled over frequency and time, so clips of any length give a ``(B, channels[-1])`` vector.
    """
    return ConvNet(in_channels, tuple(channels), kernel_size=3, downsample="maxpool")
