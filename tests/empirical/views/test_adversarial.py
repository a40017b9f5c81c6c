"""Single-pass adversarial step (grad_reverse) vs the released two-pass alternating scheme."""

from __future__ import annotations

import torch
from torch import nn

from empirical.adversarial import (
    encoder_pass,
    single_pass_loss,
    single_pass_step,
    two_pass_step,
    viewmaker_pass,
)
from empirical.data.base import Batch
from empirical.losses import build_loss
from empirical.views.viewmaker import Viewmaker, ViewmakerViews


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def setup() -> tuple[Batch, ViewmakerViews, nn.Module, nn.Module]:
    torch.manual_seed(0)
    views = ViewmakerViews(Viewmaker(3, base_channels=4, num_res_blocks=2, eps=0.2)).double()
    embed = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 6),
    ).double()
    x = torch.rand(6, 3, 12, 12, generator=gen(1), dtype=torch.float64)
    return Batch(x=x, labels={}, index=torch.arange(6)), views, embed, build_loss("ntxent")


def grads(m: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in m.parameters()]


def test_single_pass_gradients_equal_two_pass_gradients_on_the_same_views() -> None:
    batch, views, embed, loss_fn = setup()
    single_pass_loss(batch, views, embed, loss_fn, gen(7)).backward()
    enc_single, vm_single = grads(embed), grads(views)

    embed.zero_grad(set_to_none=True)
    views.zero_grad(set_to_none=True)
    encoder_pass(batch, views, embed, loss_fn, gen(7))  # same noise
    assert all(g is None for g in grads(views))  # the toggled pass builds no viewmaker graph
    enc_two = grads(embed)
    viewmaker_pass(batch, views, embed, loss_fn, gen(7))  # same noise, encoder not yet stepped
    vm_two = grads(views)
    for a, b in zip(grads(embed), enc_two, strict=True):  # viewmaker pass: encoder grads kept
        assert a is not None and b is not None and torch.equal(a, b)

    for a, b in zip(enc_single + vm_single, enc_two + vm_two, strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert sum(float(g.abs().sum()) for g in vm_two if g is not None) > 1e-6  # not vacuous


def test_untoggled_encoder_pass_gives_the_viewmaker_the_opposite_gradient() -> None:
    batch, views, embed, loss_fn = setup()
    single_pass_loss(batch, views, embed, loss_fn, gen(3)).backward()
    vm_single = grads(views)
    views.zero_grad(set_to_none=True)
    encoder_pass(batch, views, embed, loss_fn, gen(3), toggle=False)
    for a, b in zip(vm_single, grads(views), strict=True):
        assert a is not None and b is not None
        torch.testing.assert_close(a, -b, rtol=1e-10, atol=1e-12)


def test_single_pass_step_encoder_descends_and_viewmaker_ascends() -> None:
    batch, views, embed, loss_fn = setup()

    def loss_at(seed: int) -> float:
        with torch.no_grad():
            return float(single_pass_loss(batch, views, embed, loss_fn, gen(seed)))

    embed.eval()  # fixed BN statistics so the loss is a function of the parameters only
    # viewmaker step only: the loss on the same noise must go up
    enc_opt = torch.optim.SGD(embed.parameters(), lr=0.0)
    vm_opt = torch.optim.SGD(views.parameters(), lr=1e-2)
    before = loss_at(5)
    single_pass_step(batch, views, embed, loss_fn, gen(5), enc_opt, vm_opt)
    after_vm = loss_at(5)
    assert after_vm > before
    # encoder step only: the loss on the same noise must go down
    enc_opt = torch.optim.SGD(embed.parameters(), lr=1e-2)
    vm_opt = torch.optim.SGD(views.parameters(), lr=0.0)
    single_pass_step(batch, views, embed, loss_fn, gen(5), enc_opt, vm_opt)
    assert loss_at(5) < after_vm


def test_two_pass_step_updates_both_and_restores_requires_grad() -> None:
    batch, views, embed, loss_fn = setup()
    next(views.parameters()).requires_grad_(False)  # a frozen parameter stays frozen
    before = [p.detach().clone() for p in [*embed.parameters(), *views.parameters()]]
    flags = [p.requires_grad for p in [*embed.parameters(), *views.parameters()]]
    enc_opt = torch.optim.SGD(embed.parameters(), lr=0.1)
    vm_opt = torch.optim.SGD([p for p in views.parameters() if p.requires_grad], lr=0.1)
    loss = two_pass_step(batch, views, embed, loss_fn, gen(2), enc_opt, vm_opt)
    assert loss > 0.0
    after = list(embed.parameters()) + list(views.parameters())
    assert [p.requires_grad for p in after] == flags
    moved = [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]
    n_enc = len(list(embed.parameters()))
    assert any(moved[:n_enc]) and any(moved[n_enc:])
