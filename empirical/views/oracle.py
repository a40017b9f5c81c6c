"""Oracle feature-dropout views: the empirical twin of the linear theory's dropout probability p.

On overlay suites (Tamkin et al.'s multi-task data: a shape, digit or letter drawn over a natural
image) each view independently shows the example WITHOUT its overlay (``batch.x_clean``) with
probability p, else the overlaid input ``batch.x``; the optional ``base`` transform (e.g. expert
views) is then applied to each view. The two views' dropout decisions are independent draws, as the
theory's per-view masks.
"""

from __future__ import annotations

import torch

from empirical.data.base import Batch
from empirical.views.base import SingleView, ViewPair, bernoulli, check_dropout, finish_pair


def drop_overlay(
    x: torch.Tensor, x_clean: torch.Tensor, p: float, generator: torch.Generator
) -> torch.Tensor:
    """Each example of ``x`` ``(B, C, H, W)`` replaced by ``x_clean``'s with probability ``p``."""
    drop = bernoulli(x.shape[0], p, generator, x)
    return torch.where(drop[:, None, None, None], x_clean, x)


class OracleDropoutViews:
    """``OracleDropoutViews(p, base=None)``: per-view overlay dropout, then ``base`` views.

    Args:
        p: probability in [0, 1] that a view drops the overlay.
        base: optional single-view transform applied to each view after the dropout.
    """

    def __init__(self, p: float, base: SingleView | None = None) -> None:
        self.p = check_dropout(p, base)
        self.base = base

    def view(self, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        """One view ``(B, C, H, W)`` of the batch (without post-view channels)."""
        if batch.x_clean is None:
            raise ValueError("oracle dropout views need batch.x_clean (an overlay suite)")
        v = drop_overlay(batch.x, batch.x_clean, self.p, generator)
        return v if self.base is None else self.base.view(v, generator)

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        return finish_pair(self.view(batch, generator), self.view(batch, generator), batch)
