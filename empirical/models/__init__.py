"""Encoders, projection heads and FLOP counting for the contrastive training harness.

``build_encoder(name, in_channels, **kw)`` builds one of :data:`ENCODERS` (a ``Registry``):

- ``"resnet18"``: CIFAR-stem ResNet-18 (3x3 stem conv, stride 1, no max-pool), 512-d.
- ``"small_resnet"``: ``width`` (32), ``blocks`` ((1, 1, 1)), ``stem_stride`` (2).
- ``"convnet"``: ``channels`` ((32, 64, 128)), ``kernel_size`` (3), ``downsample``.
- ``"chen_convnet"``: Chen et al.'s small 3-layer ConvNet for RandBits, ``channels``.
- ``"spectrogram"``: ConvNet for ``(B, 1, 64, T)`` log-mels, ``channels``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from empirical.models.base import Encoder
from empirical.models.convnet import ConvNet, chen_convnet, convnet, spectrogram_encoder
from empirical.models.flops import count_flops
from empirical.models.heads import ProjectionHead
from empirical.models.resnet import ResNet, resnet18, small_resnet
from empirical.registry import Registry

ENCODERS: Registry[Callable[..., Encoder]] = Registry("encoder")
ENCODERS.register("resnet18", resnet18, description="CIFAR-stem ResNet-18, 512-d")
ENCODERS.register("small_resnet", small_resnet, description="small ResNet of base width `width`")
ENCODERS.register("convnet", convnet, description="plain ConvNet")
ENCODERS.register("chen_convnet", chen_convnet, description="Chen et al.'s 3-layer ConvNet")
ENCODERS.register("spectrogram", spectrogram_encoder, description="ConvNet for log-mels")


def build_encoder(name: str, in_channels: int, **kw: Any) -> Encoder:
    """Build the encoder ``name`` for inputs with ``in_channels`` channels.

    Raises ``ValueError`` for an unknown name or an unknown keyword (naming it).
    """
    return ENCODERS.build(name, in_channels=in_channels, **kw)


__all__ = [
    "ENCODERS",
    "ConvNet",
    "Encoder",
    "ProjectionHead",
    "ResNet",
    "build_encoder",
    "count_flops",
]
