"""One optimisation step of the training loop (Tamkin et al. 2021/2023; Chen et al. 2021;
Foster et al. 2021):

    views(batch) -> [grad_reverse if the views are learned] -> encoder -> head -> loss
    (+ lambda * gradient penalty) -> ONE backward -> encoder/head step and viewmaker step.

Both views are encoded in one forward pass of ``cat([v1, v2])`` (BatchNorm sees the 2N views of
the global batch); embeddings are gathered across ranks with gradient (``empirical.distributed``).

The objective is ``loss = contrastive + regulariser.weight * penalty`` (:class:`LossTerms`);
the step reports all three (:class:`StepLoss`), averaged over ranks, so that runs with and
without the gradient penalty can be compared on the contrastive loss alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from empirical.compute import Compute
from empirical.config import Config, ConfigError
from empirical.data.base import Batch
from empirical.distributed import DistInfo, average_gradients, gather
from empirical.parts import Parts


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the run stops without touching the last checkpoint."""


@dataclass(frozen=True)
class LossTerms:
    """The objective of one step and its parts (0-dim tensors): ``total = contrastive +
    regulariser.weight * penalty``; ``penalty`` is the unweighted gradient penalty (Foster et
    al. 2021), a constant 0 when ``regulariser.weight`` is 0."""

    total: torch.Tensor
    contrastive: torch.Tensor
    penalty: torch.Tensor


@dataclass(frozen=True)
class StepLoss:
    """The logged values of one step (floats, averaged over ranks): the objective ``loss`` and
    its parts ``contrastive`` and ``penalty`` (see :class:`LossTerms`)."""

    loss: float
    contrastive: float
    penalty: float

    def __float__(self) -> float:
        return self.loss


def loss_terms(
    parts: Parts, batch: Batch, cfg: Config, info: DistInfo, compute: Compute
) -> LossTerms:
    """views -> (grad_reverse) -> encoder -> head -> gathered loss, plus lambda * GP; the
    forward autocasts to ``compute.amp`` when it is set. ``batch`` is on ``compute.device``."""
    amp, device = compute.amp, compute.device
    pair = parts.views(batch, parts.generators["views"])
    v1, v2 = pair.v1, pair.v2
    if getattr(pair, "adversarial", False):
        from empirical.views.viewmaker import grad_reverse

        v1, v2 = grad_reverse(v1), grad_reverse(v2)
    n = v1.shape[0]
    with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        x = torch.cat([v1, v2])  # (2n, C, H, W)
        if cfg.run.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        z = parts.head(parts.encoder(x))  # (2n, d)
    z = z.float() if amp is not None else z
    z1, z2 = gather(z[:n], info), gather(z[n:], info)  # (N, d) each, N = global batch
    loss = parts.loss_fn(z1, z2)
    if cfg.regulariser.weight <= 0:
        return LossTerms(loss, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    from empirical.regulariser import alpha_names, differentiated, gradient_penalty

    if pair.render1 is None or pair.alpha1 is None or pair.sample_alpha is None:
        raise ConfigError(
            "regulariser.weight",
            f"> 0 needs views with differentiable parameters; {cfg.views.name!r} has none",
        )

    def features(view: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            h = parts.encoder(view)
        return h.float() if amp is not None else h

    gp = gradient_penalty(
        features,
        pair.render1,
        pair.alpha1,
        pair.sample_alpha,
        num_samples=cfg.regulariser.num_samples,
        cap=cfg.regulariser.cap,
        generator=parts.generators["regulariser"],
        differentiate=differentiated(
            cfg.regulariser.nuisance, alpha_names(cfg.views.name), pair.alpha1[0].numel()
        ),
    )
    return LossTerms(loss + cfg.regulariser.weight * gp, loss, gp)


def train_step(
    parts: Parts,
    batch: Batch,
    cfg: Config,
    info: DistInfo,
    compute: Compute,
    stop_requested: bool = False,
) -> tuple[StepLoss, bool]:
    """One optimisation step; returns (loss and its parts, stop), agreed across ranks.

    Raises:
        NonFiniteLoss: before any parameter changes.
    """
    parts.optimizer.zero_grad(set_to_none=True)
    if parts.vm_optimizer is not None:
        parts.vm_optimizer.zero_grad(set_to_none=True)
    terms = loss_terms(parts, batch, cfg, info, compute)
    logged = (terms.total, terms.contrastive, terms.penalty)
    stop = torch.tensor(float(stop_requested), device=compute.device)
    flags = torch.stack([*(t.detach().float() for t in logged), stop])  # (4,)
    if info.active:
        import torch.distributed as dist

        dist.all_reduce(flags)
        flags /= info.world
    value = StepLoss(float(flags[0]), float(flags[1]), float(flags[2]))
    if not math.isfinite(value.loss):
        raise NonFiniteLoss(f"loss is {value.loss} at this step")
    parts.scaler.scale(terms.total).backward()
    params = [p for m in parts.modules().values() for p in m.parameters()]
    average_gradients(params, info)
    parts.scaler.step(parts.optimizer)
    if parts.vm_optimizer is not None:
        parts.scaler.step(parts.vm_optimizer)
    parts.scaler.update()
    parts.scheduler.step()
    return value, bool(flags[3] > 0)
