"""The encoder interface shared by every architecture.

An :class:`Encoder` maps a batch of inputs ``(B, C, H, W)`` to pooled features ``(B, feat_dim)``
(global average pooling of its last feature map) and exposes its per-stage feature maps, the
last under the key ``"prepool"`` (the linear probe of the Feature Dropout and Viewmaker papers
reads the pre-pool features of the frozen encoder).
"""

from __future__ import annotations

import torch
from torch import nn


def check_positive(name: str, value: int) -> int:
    """Return ``value`` if it is an int >= 1, else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return value


def check_positive_tuple(name: str, values: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Return ``values`` as a non-empty tuple of ints >= 1, else raise ``ValueError``."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} must be a non-empty sequence of integers >= 1; got {values!r}")
    for v in values:
        check_positive(name, v)
    return values


class Encoder(nn.Module):
    """Base class: subclasses implement :meth:`feature_maps` and set ``feat_dim``.

    Attributes:
        feat_dim: number of channels of the ``"prepool"`` map = dimension of :meth:`forward`.
    """

    feat_dim: int

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-stage maps ``name -> (B, C_s, H_s, W_s)``, in order; the last is ``"prepool"``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features: ``(B, C, H, W) -> (B, feat_dim)`` (mean over the last map's grid)."""
        return self.feature_maps(x)["prepool"].mean(dim=(2, 3))
