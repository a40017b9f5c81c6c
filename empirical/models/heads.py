"""Projection heads (SimCLR, Chen et al. 2020; depth studied in Chen, Luo, Li 2021)."""

from __future__ import annotations

import torch
from torch import nn

from empirical.models.base import check_positive


class ProjectionHead(nn.Module):
    """MLP projection head of ``depth`` linear layers.

    Hidden layers are ``Linear -> BatchNorm1d -> ReLU`` (SimCLR); the last layer is a plain
    ``Linear``. Depth 0 is the identity (``hidden_dim`` and ``out_dim`` are then unused and
    ``self.out_dim == in_dim``); depth 1 is ``Linear(in_dim, out_dim)``; depth 2 and 3 have one and
    two hidden layers of width ``hidden_dim``.

    ``forward``: ``(B, in_dim) -> (B, out_dim)``.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, depth: int = 2) -> None:
        super().__init__()
        check_positive("in_dim", in_dim)
        check_positive("hidden_dim", hidden_dim)
        check_positive("out_dim", out_dim)
        if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= 3:
            raise ValueError(f"depth must be an integer in [0, 3]; got {depth!r}")
        self.depth = depth
        self.out_dim = in_dim if depth == 0 else out_dim
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            d = hidden_dim
        if depth >= 1:
            layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)  # empty Sequential = identity

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)
