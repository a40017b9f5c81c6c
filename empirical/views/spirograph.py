"""Spirograph views (Foster, Pukdee, Rainforth, ICLR 2021): the same curve, fresh nuisance.

Each view re-renders every example from its targets ``(m, b, sigma, fr)`` (``batch.params
["targets"]``) with a FRESH nuisance draw alpha = ``(h, fg, fb, br, bg, bb)`` ``(B, 6)``; the two
views differ only in alpha. Rendering (``empirical.data.spirograph.render_from_params``) is
differentiable in alpha, so ``ViewPair.render1`` serves Foster's gradient regulariser.
"""

from __future__ import annotations

import torch

from empirical.data.base import Batch, append_post_view_channels
from empirical.data.spirograph import NuisanceRanges, render_from_params, sample_nuisance
from empirical.views.base import ViewPair

_DEFAULT = NuisanceRanges()


class SpirographViews:
    """``SpirographViews(ranges=None)``: views with fresh nuisance alpha ~ ``ranges`` (default:
    Foster's ranges)."""

    def __init__(self, ranges: NuisanceRanges | None = None) -> None:
        if ranges is not None and not isinstance(ranges, NuisanceRanges):
            raise ValueError(f"ranges must be a NuisanceRanges; got {type(ranges).__name__}")
        self.ranges = ranges or NuisanceRanges()

    def sample_alpha(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, 6)`` nuisance draws, float32 on the generator's device."""
        return sample_nuisance(n, generator, self.ranges)

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        targets = batch.params.get("targets")
        if targets is None:
            raise ValueError("Spirograph views need batch.params['targets'] (the spirograph suite)")
        n = targets.shape[0]
        alpha1 = self.sample_alpha(n, generator).to(device=targets.device, dtype=targets.dtype)
        alpha2 = self.sample_alpha(n, generator).to(device=targets.device, dtype=targets.dtype)

        def render1(alpha: torch.Tensor) -> torch.Tensor:
            return append_post_view_channels(render_from_params(targets, alpha), batch)

        v2 = append_post_view_channels(render_from_params(targets, alpha2), batch)
        return ViewPair(
            v1=render1(alpha1),
            v2=v2,
            alpha1=alpha1,
            alpha2=alpha2,
            render1=render1,
            sample_alpha=self.sample_alpha,
        )


def spirograph_views(
    h_range: tuple[float, float] = _DEFAULT.h, bg_range: tuple[float, float] = _DEFAULT.bg
) -> SpirographViews:
    """Spirograph views drawing ``h`` from ``h_range`` and the background colour from
    ``bg_range``: the option names (and defaults) of the spirograph suite, so that a run's views
    use its dataset's nuisance ranges."""
    return SpirographViews(NuisanceRanges(h=_pair(h_range), bg=_pair(bg_range)))


def _pair(value: tuple[float, float]) -> tuple[float, float]:
    lo, hi = value  # a JSON config gives a list
    return (float(lo), float(hi))
