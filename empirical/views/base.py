"""What every view generator returns and the small pieces they share.

A view generator maps a ``Batch`` and a ``torch.Generator`` to a ``ViewPair`` (two views of every
example). All randomness comes from the generator passed in, so views are reproducible by seed.
Per-example channels that must be identical in both views (Chen et al.'s RandBits) are appended
AFTER the views are made, by ``finish_pair``, for every generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from empirical.data.base import Batch, append_post_view_channels

RenderFn = Callable[[torch.Tensor], torch.Tensor]
SampleAlphaFn = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class ViewPair:
    """Two views of a batch of B examples.

    Attributes:
        v1, v2: the views, ``(B, C', H, W)`` (``C'`` includes appended post-view channels).
        alpha1, alpha2: the differentiable transformation parameters of each view (Foster et al.),
            ``(B, A)``, else ``None``.
        render1: ``render1(alpha) -> view`` re-renders view 1 with the same non-differentiable
            parameters (beta) and new ``alpha`` ``(B, A)``; differentiable in ``alpha``. Used by
            the gradient regulariser. ``None`` for views without such parameters.
        sample_alpha: ``sample_alpha(n, generator) -> (n, A)`` draws fresh alpha (regulariser).
        adversarial: True for learned (viewmaker) views: the training loop must pass them
            through ``grad_reverse`` so that one backward pass makes the viewmaker ascend the loss.
    """

    v1: torch.Tensor
    v2: torch.Tensor
    alpha1: torch.Tensor | None = None
    alpha2: torch.Tensor | None = None
    render1: RenderFn | None = None
    sample_alpha: SampleAlphaFn | None = None
    adversarial: bool = False


@runtime_checkable
class ViewGenerator(Protocol):
    """``views(batch, generator) -> ViewPair``."""

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair: ...


@runtime_checkable
class SingleView(Protocol):
    """A transform that makes ONE view of a batch of inputs ``(B, C, H, W)``.

    Generators built from a single-view transform draw each of the two views independently.
    ``OracleDropoutViews`` and ``ViewmakerViews`` compose with these (``base`` / ``expert``).
    """

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


def uniform(
    shape: tuple[int, ...],
    low: float,
    high: float,
    generator: torch.Generator,
    like: torch.Tensor,
) -> torch.Tensor:
    """``U(low, high)`` of ``shape``, drawn on the generator's device, moved to ``like``'s."""
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64)
    return (low + (high - low) * u).to(device=like.device, dtype=like.dtype)


def bernoulli(n: int, p: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """``(n,)`` bool: True with probability ``p`` (exactly never for 0, always for 1)."""
    u = torch.rand((n,), generator=generator, device=generator.device, dtype=torch.float64)
    return (u < p).to(like.device)


def check_dropout(p: float, base: SingleView | None) -> float:
    """``p`` as a float: a dropout view family's probability must lie in [0, 1] and its ``base``
    (a per-view transform, or None) must provide ``view(x, generator)``; ValueError otherwise."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1]; got {p}")
    if base is not None and not isinstance(base, SingleView):
        raise ValueError(f"base must provide view(x, generator); got {type(base).__name__}")
    return float(p)


def finish_pair(v1: torch.Tensor, v2: torch.Tensor, batch: Batch, **extra: object) -> ViewPair:
    """Append the batch's post-view channels to both views and wrap them in a ``ViewPair``."""
    return ViewPair(
        v1=append_post_view_channels(v1, batch),
        v2=append_post_view_channels(v2, batch),
        **extra,  # type: ignore[arg-type]
    )


class PairFromSingleView:
    """Base for generators whose two views are two independent draws of ``view``."""

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, batch: Batch, generator: torch.Generator) -> ViewPair:
        return finish_pair(self.view(batch.x, generator), self.view(batch.x, generator), batch)


class IdentityViews(PairFromSingleView):
    """Both views are the input itself (a control: no augmentation)."""

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x
