"""Adversarial (viewmaker) training steps: the single-pass step and the original two-pass scheme.

The viewmaker maximises the encoder's contrastive loss L while the encoder minimises it (Tamkin et
al. 2021; viewmaker loss = -L).

Single pass (this project's training step): views -> ``grad_reverse`` -> encoder + head -> L -> ONE
backward. The encoder/head parameters receive dL/dtheta, the viewmaker's parameters -dL/dphi, so
one backward pass yields both optimisers' gradients; then both optimisers step.

Reference two-pass scheme (what the released code did; used only in a test and the benchmark).
The released code (PyTorch Lightning 0.9, two optimisers, ``training_step`` called once per
optimiser per batch) ran, per batch:

1. encoder pass: Lightning sets ``requires_grad`` only on the encoder optimiser's parameters,
   so the viewmaker runs without a graph (the views are effectively detached); two viewmaker calls
   with fresh noise -> encoder -> L; backward of L; encoder optimiser step.
2. viewmaker pass: ``requires_grad`` only on the viewmaker's parameters; two NEW viewmaker calls
   (fresh noise) -> the just-updated encoder -> L; backward of -L (through the encoder's
   activations); viewmaker optimiser step.

Each pass is a full forward and backward. ``toggle=False`` gives the naive variant in which both
passes compute every gradient (each optimiser then uses its own part). With the same noise and
before either optimiser step, the two passes' gradients equal the single pass's (the test checks
it); the released scheme additionally lets the viewmaker see the encoder after its update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from empirical.data.base import Batch
from empirical.views.base import ViewPair
from empirical.views.viewmaker import ViewmakerViews, grad_reverse

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Embed = Callable[[torch.Tensor], torch.Tensor]


def reversed_views(pair: ViewPair) -> tuple[torch.Tensor, torch.Tensor]:
    """The views to feed the encoder: through ``grad_reverse`` if the pair is adversarial."""
    if pair.adversarial:
        return grad_reverse(pair.v1), grad_reverse(pair.v2)
    return pair.v1, pair.v2


def single_pass_loss(
    batch: Batch,
    views: ViewmakerViews,
    embed: Embed,
    loss_fn: LossFn,
    generator: torch.Generator,
) -> torch.Tensor:
    """L on reversed viewmaker views; ``L.backward()`` gives the encoder dL and the viewmaker -dL.

    Args:
        batch: inputs ``batch.x`` ``(B, C, H, W)``.
        views: the viewmaker views (an ``nn.Module`` holding the viewmaker).
        embed: encoder + projection head, ``(B, C', H, W) -> (B, d)``.
        loss_fn: ``loss_fn(z1, z2) -> scalar`` contrastive loss.
        generator: the viewmaker's noise.
    """
    v1, v2 = reversed_views(views(batch, generator))
    return loss_fn(embed(v1), embed(v2))


def single_pass_step(
    batch: Batch,
    views: ViewmakerViews,
    embed: Embed,
    loss_fn: LossFn,
    generator: torch.Generator,
    encoder_opt: torch.optim.Optimizer,
    viewmaker_opt: torch.optim.Optimizer,
) -> float:
    """One adversarial step with one forward and one backward pass; returns L."""
    encoder_opt.zero_grad(set_to_none=True)
    viewmaker_opt.zero_grad(set_to_none=True)
    loss = single_pass_loss(batch, views, embed, loss_fn, generator)
    loss.backward()
    encoder_opt.step()
    viewmaker_opt.step()
    return float(loss.detach())


@contextmanager
def only_these_require_grad(
    active: Iterable[nn.Parameter], frozen: Iterable[nn.Parameter]
) -> Iterator[None]:
    """Lightning's multi-optimiser toggle: ``requires_grad`` on ``active`` only, then restore."""
    active, frozen = list(active), list(frozen)
    saved = [p.requires_grad for p in active + frozen]
    for p in active:
        p.requires_grad_(True)
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(active + frozen, saved, strict=True):
            p.requires_grad_(flag)


def _toggled(
    toggle: bool, active: Iterable[nn.Parameter], frozen: Iterable[nn.Parameter]
) -> AbstractContextManager[None]:
    return only_these_require_grad(active, frozen) if toggle else nullcontext()


def _pass(
    batch: Batch,
    views: ViewmakerViews,
    embed: nn.Module,
    loss_fn: LossFn,
    generator: torch.Generator,
    toggle: bool,
    viewmaker_turn: bool,
) -> torch.Tensor:
    """One pass of the two-pass scheme: fresh views, backward of L (encoder turn) or -L
    (viewmaker turn) into that turn's parameters only (all parameters if not ``toggle``)."""
    active, frozen = (views, embed) if viewmaker_turn else (embed, views)
    with _toggled(toggle, active.parameters(), frozen.parameters()):
        pair = views(batch, generator)
        loss = loss_fn(embed(pair.v1), embed(pair.v2))
        (-loss if viewmaker_turn else loss).backward()
    return loss.detach()


def encoder_pass(
    batch: Batch,
    views: ViewmakerViews,
    embed: nn.Module,
    loss_fn: LossFn,
    generator: torch.Generator,
    toggle: bool = True,
) -> torch.Tensor:
    """Two-pass scheme, pass 1: backward of L into the encoder/head only (all parameters if not
    ``toggle``); returns L (detached)."""
    return _pass(batch, views, embed, loss_fn, generator, toggle, viewmaker_turn=False)


def viewmaker_pass(
    batch: Batch,
    views: ViewmakerViews,
    embed: nn.Module,
    loss_fn: LossFn,
    generator: torch.Generator,
    toggle: bool = True,
) -> torch.Tensor:
    """Two-pass scheme, pass 2: backward of -L into the viewmaker only (all parameters if not
    ``toggle``); returns L (detached)."""
    return _pass(batch, views, embed, loss_fn, generator, toggle, viewmaker_turn=True)


def two_pass_step(
    batch: Batch,
    views: ViewmakerViews,
    embed: nn.Module,
    loss_fn: LossFn,
    generator: torch.Generator,
    encoder_opt: torch.optim.Optimizer,
    viewmaker_opt: torch.optim.Optimizer,
    toggle: bool = True,
) -> float:
    """The released alternating scheme (see module docstring); returns the encoder pass's L."""
    encoder_opt.zero_grad(set_to_none=True)
    viewmaker_opt.zero_grad(set_to_none=True)
    loss = encoder_pass(batch, views, embed, loss_fn, generator, toggle)
    encoder_opt.step()
    viewmaker_opt.zero_grad(set_to_none=True)
    viewmaker_pass(batch, views, embed, loss_fn, generator, toggle)
    viewmaker_opt.step()
    return float(loss)
