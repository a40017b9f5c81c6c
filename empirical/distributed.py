"""Multi-process data parallelism through ``torch.distributed`` (``torchrun``).

Scheme (a design of this project, equivalent to one process with the global batch):

- Each rank reads its contiguous shard of every global batch and makes its own views.
- Embeddings are gathered across ranks WITH gradient (:func:`gather`, i.e.
  ``torch.distributed.nn.functional.all_gather``), so each rank evaluates the contrastive loss of
  the whole global batch (all 2N-2 negatives). Its backward sums the gradient of every rank's
  (identical) loss into the local shard, so a rank's parameter gradient is ``world`` times its
  shard's share of the global gradient, and :func:`average_gradients` (an all-reduce mean) gives
  exactly the single-process gradient.
- BatchNorm uses the statistics of the global batch: :class:`GlobalBatchNorm` reduces the sums
  with a differentiable all-reduce (torch's ``SyncBatchNorm`` refuses CPU tensors).

Gradients are averaged by one flat all-reduce after the single backward pass instead of wrapping
modules in ``DistributedDataParallel``: the step calls encoder, head and viewmaker separately and
the gradient regulariser needs double backprop, neither of which DDP's forward hook supports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Rank layout; ``world == 1`` means a plain single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment (RANK, WORLD_SIZE, ...).

    Uses nccl on CUDA and gloo on the CPU; a no-op (world 1) outside torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank=rank, world=world, local_rank=local_rank)


def shutdown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


def gather(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``x`` ``(n, ...)`` of every rank in rank order -> ``(world * n, ...)``.

    Differentiable: the backward pass sums the incoming gradients of all ranks into each shard.
    """
    if not info.active:
        return x
    return torch.cat(dist_fn.all_gather(x), dim=0)


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """All-reduce mean of the ``.grad`` of ``params`` (one flat buffer, in place)."""
    if not info.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.active:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def all_reduce_mean(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch of all ranks (any input ``(B, C, *spatial)``).

    In training mode with an active process group, the per-channel mean and (biased) variance are
    computed from all-reduced sums (two passes: sum, then sum of squared deviations), through
    ``torch.distributed.nn.functional.all_reduce`` so that gradients flow across ranks. Running
    statistics use the unbiased global variance, as ``nn.BatchNorm`` does. Otherwise it is plain
    BatchNorm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input; got {input.dim()}D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        if dist.get_world_size() == 1:
            return super().forward(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        # statistics in at least float32 (autocast may hand us bf16/fp16 activations)
        x = input if input.dtype == torch.float64 else input.float()
        n_local = torch.tensor([input.numel() // input.shape[1]], dtype=x.dtype, device=x.device)
        sums = dist_fn.all_reduce(torch.cat([x.sum(dim=dims), n_local]))
        n = sums[-1]
        mean = sums[:-1] / n  # (C,)
        sq = dist_fn.all_reduce(((x - mean.view(shape)) ** 2).sum(dim=dims))
        var = sq / n  # (C,) biased
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = 0.1 if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                unbiased = var.detach() * n.detach() / (n.detach() - 1).clamp_min(1)
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        out = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)


def convert_batchnorm(module: nn.Module, device_type: str) -> nn.Module:
    """Replace every BatchNorm of ``module`` by a global-batch BatchNorm (in place; returned).

    CUDA: ``nn.SyncBatchNorm``; CPU: :class:`GlobalBatchNorm`. Parameters and buffers are copied.
    """
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
            child, GlobalBatchNorm
        ):
            new = GlobalBatchNorm(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            new.load_state_dict(child.state_dict())
            setattr(module, name, new)
        else:
            convert_batchnorm(child, device_type)
    return module
