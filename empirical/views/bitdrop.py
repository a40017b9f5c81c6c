"""Bit-dropout views: feature dropout (Tamkin et al. 2023) of Chen et al.'s RandBits.

RandBits appends ``k`` random bits per example (``batch.post_view_channels`` ``(B, k)`` in
{0, 1}) as constant planes AFTER the views are made, so both views carry identical bits: an easy
feature that identifies the instance and suppresses the digit. These views drop the bits: each
view independently, with probability ``p``, shows the example with its whole group of ``k`` bits
**zeroed** (all ``k`` planes 0), else with its bits; the image channels are made by the optional
``base`` transform (e.g. crop-only expert views) and are never touched by the dropout.

Why zeroed, not replaced by fresh random bits: the linear InfoNCE model
(``linear_theory.infonce``, ``InfoNCEConfig.bit_dropout``) sets the whole bits group of a view
to a constant (0, its mean in that model's +-1 coding) with probability ``p``, and the oracle
feature-dropout views show the example without its overlay: dropping removes the feature's
information from the view; it does not add noise. A constant group carries no information
about the instance, exactly as in the theory; fresh random bits would instead keep the bits'
distribution and make them a noisy, label-preserving corruption (a different augmentation). The
constant is 0 of the {0, 1} coding rather than its mean 1/2: the first convolution's bias absorbs
the offset (up to the zero padding at the border); what matters is that it is the same for
every example. In both models a positive pair shares its
bits with probability ``(1 - p)^2`` (both views keep them).

Random draws: both image views first (``base.view`` twice, as ``PairFromSingleView`` does), then
one keep draw per example for view 1 and one for view 2 (``bernoulli``), only when the batch has
bits. So at ``p = 0`` a pair equals the base generator's pair from the same generator state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from empirical.data.base import Batch, append_post_view_channels
from empirical.views.base import SingleView, ViewPair, bernoulli, check_dropout


def drop_bits(bits: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """``bits`` ``(B, k)`` with each example's whole row set to 0 with probability ``p``
    (one draw per example, independent of the values)."""
    drop = bernoulli(bits.shape[0], p, generator, bits)
    return torch.where(drop[:, None], torch.zeros_like(bits), bits)


def _with_bits(view: torch.Tensor, batch: Batch, bits: torch.Tensor) -> torch.Tensor:
    """``view`` with ``bits`` ``(B, k)`` appended as constant planes, as the batch's own
    post-view channels would be."""
    return append_post_view_channels(view, dataclasses.replace(batch, post_view_channels=bits))


class BitDropoutViews:
    """``BitDropoutViews(p, base=None)``: ``base`` image views, then per-view bit dropout.

    Args:
        p: probability in [0, 1] that a view zeroes its random bits.
        base: optional single-view transform of the image channels (each view drawn
            independently); ``None`` leaves the image as it is.
    """

    def __init__(self, p: float, base: SingleView | None = None) -> None:
        self.p = check_dropout(p, base)
        self.base = base

    def _image(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x if self.base is None else self.base.view(x, generator)

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        v1, v2 = self._image(batch.x, generator), self._image(batch.x, generator)
        bits = batch.post_view_channels
        if bits is None:  # k = 0: nothing to drop
            return ViewPair(v1=v1, v2=v2)
        b1, b2 = drop_bits(bits, self.p, generator), drop_bits(bits, self.p, generator)
        return ViewPair(v1=_with_bits(v1, batch, b1), v2=_with_bits(v2, batch, b2))


def bit_dropout_views(p: float, expert_kwargs: dict[str, Any] | None = None) -> BitDropoutViews:
    """The registry's factory: bit dropout ``p`` after expert views built with ``expert_kwargs``
    (``empirical.views.expert.expert_views``, e.g. ``modality`` and ``crop_scale``), or after no
    image transform when ``expert_kwargs`` is ``None``."""
    from empirical.views.expert import expert_views

    base = None if expert_kwargs is None else expert_views(**expert_kwargs)
    return BitDropoutViews(p, base=base)
