"""Residual encoders: the CIFAR-stem ResNet-18 and a configurable small ResNet for CPU scale.

ResNet: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), basic blocks.
CIFAR stem (as in SimCLR's CIFAR experiments, the Viewmaker and Feature Dropout papers): one
3x3 convolution with stride 1 and no max-pooling, so a 32x32 input keeps full resolution in the
first stage. The ResNet-18 has stages of widths (64, 128, 256, 512) with two blocks each; without
a classifier it has 11.17M parameters for 3 input channels.
"""

from __future__ import annotations

import torch
from torch import nn

from empirical.models.base import Encoder, check_positive, check_positive_tuple


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut, then ReLU.

    ``(B, c_in, H, W) -> (B, c_out, H / stride, W / stride)``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(Encoder):
    """ResNet encoder with a CIFAR stem.

    Args:
        in_channels: input channels (3 for RGB; RandBits appends k more).
        widths: channels of each stage; stage s > 0 halves the resolution (stride 2).
        blocks: basic blocks per stage (same length as ``widths``).
        stem_stride: stride of the 3x3 stem conv (1 = CIFAR stem; 2 halves the resolution
            early, four times cheaper, for CPU-scale small ResNets).

    ``forward``: ``(B, in_channels, H, W) -> (B, widths[-1])``. Feature maps: ``"stem"``,
    ``"stage1"`` ... and the last stage as ``"prepool"``.
    """

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        check_positive("in_channels", in_channels)
        widths = check_positive_tuple("widths", widths)
        blocks = check_positive_tuple("blocks", blocks)
        if len(widths) != len(blocks):
            raise ValueError(
                f"widths and blocks must have the same length; got {len(widths)} and {len(blocks)}"
            )
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2; got {stem_stride!r}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        c_in = widths[0]
        for s, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            layers = [BasicBlock(c_in, width, stride=1 if s == 0 else 2)]
            layers += [BasicBlock(width, width, stride=1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.feat_dim = widths[-1]

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = {"stem": self.stem(x)}
        h = maps["stem"]
        for s, stage in enumerate(self.stages):
            h = stage(h)
            last = s == len(self.stages) - 1
            maps["prepool" if last else f"stage{s + 1}"] = h
        return maps


def resnet18(in_channels: int = 3) -> ResNet:
    """The CIFAR-stem ResNet-18 of the three papers (11.17M parameters for RGB input)."""
    return ResNet(in_channels, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), stem_stride=1)


def small_resnet(
    in_channels: int = 3,
    width: int = 32,
    blocks: tuple[int, ...] = (1, 1, 1),
    stem_stride: int = 2,
) -> ResNet:
    """CPU-scale ResNet: stages of widths ``width * 2**s`` for ``s < len(blocks)``.

    A design of this project. Default: width 32, one block per stage at 16x16, 8x8, 4x4 for a
    32x32 input (stem stride 2): 0.31M parameters, 24.6 MFLOP (forward) per 32x32 RGB example.
    """
    check_positive("width", width)
    blocks = check_positive_tuple("blocks", blocks)
    widths = tuple(width * 2**s for s in range(len(blocks)))
    return ResNet(in_channels, widths=widths, blocks=blocks, stem_stride=stem_stride)
