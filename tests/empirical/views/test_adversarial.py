"""The production single-pass viewmaker step (``empirical.step.train_step``: one backward through
``grad_reverse``) against the original two-pass scheme, written here as a test oracle only.

The oracle is the scheme of the released viewmaker code (Tamkin et al. 2021): one full forward
and backward pass per optimiser, the encoder's pass on ``L`` and the viewmaker's pass on ``-L``,
with no gradient reversal. It uses the run's own parts (views, encoder, head and ``loss_fn`` from
``build_parts``) on the same noise, and is compared before either optimiser steps (the released
code's viewmaker pass saw the encoder after its update; with the same parameters and noise both
passes' gradients must equal the single pass's). ``train_step``'s gradients are read by step
pre-hooks on its two optimisers, i.e. exactly what the optimisers receive, in float64.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from empirical.compute import Compute
from empirical.config import Config, apply_overrides
from empirical.data.base import Batch
from empirical.distributed import DistInfo
from empirical.parts import Parts, build_parts, to_device
from empirical.step import train_step

CPU = torch.device("cpu")
Grads = dict[nn.Parameter, torch.Tensor]


def viewmaker_config(*extra: str) -> Config:
    return apply_overrides(
        Config(),
        [
            "model.encoder=small_resnet",
            "model.width=8",
            "model.head_hidden=16",
            "model.out_dim=8",
            "views.name=viewmaker",
            "views.vm_width=4",
            "views.vm_blocks=1",
            "views.eps=0.2",
            "views.crop_min=0.5",
            "optim.optimizer=adam",
            "optim.batch_size=8",
            "loss.temperature=0.2",
            "run.device=cpu",
            "run.precision=fp64",
            *extra,
        ],
    )


def batch_of(n: int = 8) -> Batch:
    x = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return to_device(Batch(x=x, labels={}, index=torch.arange(n)), CPU, torch.float64)


def encoder_params(parts: Parts) -> list[nn.Parameter]:
    return [*parts.encoder.parameters(), *parts.head.parameters()]


def viewmaker_params(parts: Parts) -> list[nn.Parameter]:
    assert parts.viewmaker is not None
    return list(parts.viewmaker.parameters())


def two_pass_oracle(parts: Parts, batch: Batch, noise: torch.Tensor) -> Grads:
    """The original scheme's gradients: pass 1 backward of L into encoder + head only, pass 2
    backward of -L into the viewmaker only, each a full forward (views, encoder, head, the run's
    ``loss_fn``) from view noise state ``noise``."""
    out: Grads = {}
    turns = ((encoder_params(parts), 1.0), (viewmaker_params(parts), -1.0))
    for params, sign in turns:
        for p in [*encoder_params(parts), *viewmaker_params(parts)]:
            p.grad = None
        parts.generators["views"].set_state(noise)
        pair = parts.views(batch, parts.generators["views"])
        n = pair.v1.shape[0]
        z = parts.head(parts.encoder(torch.cat([pair.v1, pair.v2])))  # (2n, d), BN sees 2n
        loss = parts.loss_fn(z[:n], z[n:])
        grads = torch.autograd.grad(sign * loss, params)
        out.update({p: g for p, g in zip(params, grads, strict=True)})
    return out


def production_gradients(parts: Parts, batch: Batch, cfg: Config, noise: torch.Tensor) -> Grads:
    """The gradients ``train_step`` hands its two optimisers (read by step pre-hooks)."""
    seen: Grads = {}

    def record(opt: torch.optim.Optimizer, *_: object) -> None:
        for group in opt.param_groups:
            for p in group["params"]:
                assert p.grad is not None
                seen[p] = p.grad.detach().clone()

    assert parts.vm_optimizer is not None
    hooks = [o.register_step_pre_hook(record) for o in (parts.optimizer, parts.vm_optimizer)]
    parts.generators["views"].set_state(noise)
    try:
        train_step(parts, batch, cfg, DistInfo(), Compute(CPU, torch.float64, None))
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["views.base=expert", "loss.name=align_lse", "run.channels_last=false"],
    ],
)
def test_train_step_gradients_equal_the_two_pass_scheme_in_float64(extra: list[str]) -> None:
    cfg = viewmaker_config(*extra)
    parts = build_parts(cfg, 3, 3, 10, 10, CPU, DistInfo())
    batch = batch_of()
    noise = parts.generators["views"].get_state()
    oracle = two_pass_oracle(parts, batch, noise)
    single = production_gradients(parts, batch, cfg, noise)

    params = [*encoder_params(parts), *viewmaker_params(parts)]
    assert set(single) == set(oracle) == set(params)  # every parameter, through its optimiser
    assert all(p.dtype == torch.float64 for p in params)
    for p in params:
        torch.testing.assert_close(single[p], oracle[p], rtol=1e-9, atol=1e-12)
    # not vacuous: both models get a gradient (the next test shows the comparison tells a sign)
    for group in (encoder_params(parts), viewmaker_params(parts)):
        assert sum(float(single[p].abs().sum()) for p in group) > 1e-6


def test_the_oracle_tells_a_missing_gradient_reversal() -> None:
    """The comparison above can fail: a step whose viewmaker gradient is not reversed (views
    not marked adversarial) disagrees with the oracle on every viewmaker parameter's sign."""
    cfg = viewmaker_config()
    parts = build_parts(cfg, 3, 3, 10, 10, CPU, DistInfo())
    batch = batch_of()
    noise = parts.generators["views"].get_state()
    oracle = two_pass_oracle(parts, batch, noise)
    views = parts.views

    def unreversed(b: Batch, g: torch.Generator) -> object:
        pair = views(b, g)
        pair.adversarial = False
        return pair

    parts.views = unreversed
    single = production_gradients(parts, batch, cfg, noise)
    for p in viewmaker_params(parts):
        torch.testing.assert_close(single[p], -oracle[p], rtol=1e-9, atol=1e-12)
    for p in encoder_params(parts):
        torch.testing.assert_close(single[p], oracle[p], rtol=1e-9, atol=1e-12)


def test_train_step_moves_the_viewmaker_up_the_loss_and_the_encoder_down() -> None:
    """With the other model's learning rate at 0, one production step on fixed noise raises the
    loss through the viewmaker and lowers it through the encoder (BatchNorm momentum 0, so the
    loss on the same noise is a function of the parameters only)."""
    cfg = viewmaker_config("optim.optimizer=sgd", "optim.momentum=0", "optim.weight_decay=0")
    parts = build_parts(cfg, 3, 3, 10, 10, CPU, DistInfo())
    assert parts.vm_optimizer is not None
    for module in [*parts.encoder.modules(), *parts.head.modules()]:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0
    batch = batch_of()
    noise = parts.generators["views"].get_state()

    def loss_now() -> float:
        parts.generators["views"].set_state(noise)
        with torch.no_grad():
            pair = parts.views(batch, parts.generators["views"])
            n = pair.v1.shape[0]
            z = parts.head(parts.encoder(torch.cat([pair.v1, pair.v2])))
            return float(parts.loss_fn(z[:n], z[n:]))

    def step(encoder_lr: float, vm_lr: float) -> None:
        for opt, lr in ((parts.optimizer, encoder_lr), (parts.vm_optimizer, vm_lr)):
            for group in opt.param_groups:  # type: ignore[union-attr]
                group["lr"] = lr
        parts.generators["views"].set_state(noise)
        train_step(parts, batch, cfg, DistInfo(), Compute(CPU, torch.float64, None))

    before = loss_now()
    step(0.0, 1e-3)
    after_viewmaker = loss_now()
    assert after_viewmaker > before
    step(1e-2, 0.0)
    assert loss_now() < after_viewmaker
