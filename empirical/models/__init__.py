"""Encoders, projection heads and FLOP counting for the contrastive training harness.

``build_encoder(name, in_channels, **kw)`` builds one of :data:`ENCODERS`:

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

ENCODERS: dict[str, Callable[..., Encoder]] = {
    "resnet18": resnet18,
    "small_resnet": small_resnet,
    "convnet": convnet,
    "chen_convnet": chen_convnet,
    "spectrogram": spectrogram_encoder,
}


def build_encoder(name: str, in_channels: int, **kw: Any) -> Encoder:
    """Build the encoder ``name`` for inputs with ``in_channels`` channels.

    Raises ``ValueError`` for an unknown name or an unknown keyword (naming it).
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}")
    try:
        return ENCODERS[name](in_channels=in_channels, **kw)
    except TypeError as e:  # an unexpected keyword argument
        raise ValueError(f"bad option for encoder {name!r}: {e}") from e


__all__ = [
    "ENCODERS",
    "ConvNet",
    "Encoder",
    "ProjectionHead",
    "ResNet",
    "build_encoder",
    "count_flops",
]
