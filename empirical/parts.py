"""Building the parts of a training run from a :class:`~empirical.config.Config` (issue 4).

The dataset, device and precision, the encoder and projection head, the view generator
(expert, oracle feature dropout, viewmaker, Foster, Spirograph), the loss, the optimisers and the
learning-rate schedule, all seeded from ``run.seed``. A ``ValueError`` from any builder becomes a
:class:`~empirical.config.ConfigError` naming the dotted config key (exit status 2 on the CLI).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from empirical.config import Config, ConfigError
from empirical.data.base import Batch, MultiTaskDataset
from empirical.distributed import DistInfo, convert_batchnorm


def build_dataset(cfg: Config, split: str) -> MultiTaskDataset:
    """The suite of ``cfg.data`` (``build_suite``), or ``module:function`` for a user suite.

    Raises:
        ConfigError: the builder rejected the suite (``data.suite``) or its options
            (``data.options``).
    """
    try:
        return _build_dataset(cfg, split)
    except ConfigError:
        raise
    except ValueError as e:
        key = "data.suite" if "unknown suite" in str(e).lower() else "data.options"
        raise ConfigError(key, str(e)) from e


def _build_dataset(cfg: Config, split: str) -> MultiTaskDataset:
    suite, options = cfg.data.suite, dict(cfg.data.options)
    if ":" in suite:
        import importlib

        module, attr = suite.split(":", 1)
        factory = getattr(importlib.import_module(module), attr)
        return factory(split=split, **options)
    from empirical.data.registry import build_suite

    return build_suite(suite, split, **options)


# parameter names in builders' ValueError messages -> the config key that sets them
_BUILDER_KEYS = {
    "crop_scale": "views.crop_min",
    "jitter": "views.jitter",
    "p_jitter": "views.colour",
    "p_gray": "views.gray",
    "p_blur": "views.blur",
    "p_flip": "views.flip",
    "eps": "views.eps",
    "base_channels": "views.vm_width",
    "num_res_blocks": "views.vm_blocks",
    "temperature": "loss.temperature",
    "lam": "loss.lam",
    "prior": "loss.prior",
    "width": "model.width",
    "channels": "model.width",
}


@contextmanager
def config_errors(section: str) -> Iterator[None]:
    """Re-raise a ``ValueError`` from a builder as a :class:`ConfigError` naming the config key
    (the dotted key whose builder parameter the message names first, else ``section``)."""
    try:
        yield
    except ConfigError:
        raise
    except ValueError as e:
        text = str(e)
        words = text.replace(":", " ").replace(",", " ").split()
        prefix = section.split(".")[0] + "."
        key = next(
            (
                _BUILDER_KEYS[w]
                for w in words
                if w in _BUILDER_KEYS and _BUILDER_KEYS[w].startswith(prefix)
            ),
            section,
        )
        raise ConfigError(key, text) from e


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device", "cuda requested but torch.cuda.is_available() is False")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype (None = float32): auto -> bf16 on CUDA when supported, else fp16 on CUDA,
    fp32 on the CPU."""
    if name in ("fp32", "fp64"):
        return None
    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("run.precision", "fp16 needs CUDA; use bf16 or fp32 on the CPU")
    return torch.bfloat16 if name == "bf16" else torch.float16


def resolve_dtype(name: str) -> torch.dtype:
    """Dtype of the weights and inputs for ``run.precision`` ``name``: float64 for fp64, else
    float32 (autocast, when on, casts inside the forward pass)."""
    return torch.float64 if name == "fp64" else torch.float32


def encoder_kwargs(cfg: Config) -> dict[str, Any]:
    m = cfg.model
    w = m.width
    if m.encoder == "small_resnet":
        return {"width": w}
    if m.encoder == "convnet":
        return {"channels": (w, 2 * w, 4 * w)}
    return {}


def build_views(cfg: Config, in_channels: int) -> Callable[[Batch, torch.Generator], Any]:
    """The view generator of ``cfg.views`` (``empirical.views.build_views``) for inputs with
    ``in_channels`` channels (before post-view channels)."""
    from empirical.views import build_views as build

    v = cfg.views
    audio = cfg.model.encoder == "spectrogram"
    j = v.jitter
    expert_kw: dict[str, Any] = (
        {}
        if audio
        else {
            "crop_scale": (v.crop_min, v.crop_max),
            "jitter": (j, j, j, min(j / 4.0, 0.5)),
            "p_jitter": v.colour if j > 0 else 0.0,
            "p_gray": v.gray,
            "p_blur": v.blur,
            "p_flip": v.flip,
        }
    )
    modality = "audio" if audio else "image"
    with_base = v.base == "expert"
    if v.name == "expert":
        return build("expert", modality=modality, **expert_kw)
    if v.name == "oracle":
        return build(
            "oracle",
            p=v.p,
            base="expert" if with_base else None,
            base_kwargs={"modality": modality, **expert_kw} if with_base else None,
        )
    if v.name == "bitdrop":
        return build(
            "bitdrop",
            p=v.bit_p,
            expert_kwargs={"modality": modality, **expert_kw} if with_base else None,
        )
    if v.name == "viewmaker":
        if with_base and audio:
            raise ConfigError("views.base", "expert views after a viewmaker are image-only")
        return build(
            "viewmaker",
            in_channels=in_channels,
            base_channels=v.vm_width,
            num_res_blocks=v.vm_blocks,
            eps=v.eps,
            clamp=v.clamp,
            expert=with_base,
            expert_kwargs=expert_kw if with_base else None,
        )
    if v.name == "foster":
        return build("foster", crop_scale=(v.crop_min, v.crop_max), p_flip=v.flip, p_gray=v.gray)
    if v.name == "spirograph":  # fresh nuisance from the dataset's own ranges
        data = cfg.data.options
        return build("spirograph", **{k: data[k] for k in ("h_range", "bg_range") if k in data})
    return build(v.name)


def check_channels_last(device: torch.device) -> None:
    """``run.channels_last`` is allowed on CUDA only.

    Measured with torch 2.13's CPU build (oneDNN 3.12): in channels_last, a 1x1 convolution of
    stride 2 with fewer input channels than the kernel's channel block (IC < 8 with the AVX2
    kernels, ``ONEDNN_MAX_CPU_ISA=AVX2``) computes weight gradients off by 10-95% with two
    threads and corrupts the heap (abort, segfault) with one; the ResNets' strided shortcuts hit
    it at ``model.width`` < 8. With the AVX-512 kernels the same scan found no wrong case. The
    CPU speed-up of channels_last was about 15% (width 16, one thread), so the CPU path stays in
    the contiguous format on every ISA rather than trusting a per-shape list.

    Raises:
        ConfigError: ``run.channels_last`` on a device other than CUDA.
    """
    if device.type != "cuda":
        raise ConfigError(
            "run.channels_last",
            f"true is allowed on CUDA only (device {device.type}): torch's oneDNN CPU kernels "
            "compute wrong gradients for strided 1x1 convs in channels_last; use false",
        )


def to_device(batch: Batch, device: torch.device, dtype: torch.dtype) -> Batch:
    """``batch`` on ``device`` with its floating-point inputs (x, x_clean, bits) in ``dtype``."""
    batch = batch.to(device)
    if dtype == torch.float32:
        return batch

    def cast(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(dtype)

    batch.x = batch.x.to(dtype)
    batch.x_clean = cast(batch.x_clean)
    batch.post_view_channels = cast(batch.post_view_channels)
    batch.params = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.params.items()}
    return batch


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warm-up over ``warmup`` steps, then constant or cosine decay to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    return 1.0


@dataclass
class Parts:
    """Everything the step needs; modules live on the run's device."""

    encoder: nn.Module
    head: nn.Module
    views: Any
    viewmaker: nn.Module | None
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    vm_optimizer: torch.optim.Optimizer | None
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    generators: dict[str, torch.Generator] = field(default_factory=dict)

    def modules(self) -> dict[str, nn.Module]:
        out = {"encoder": self.encoder, "head": self.head}
        if self.viewmaker is not None:
            out["viewmaker"] = self.viewmaker
        return out


def build_parts(
    cfg: Config,
    in_channels: int,
    view_channels: int,
    steps_total: int,
    steps_per_epoch: int,
    device: torch.device,
    info: DistInfo,
) -> Parts:
    """Seeded construction of models, views, loss, optimisers and schedule."""
    from empirical.losses import build_loss
    from empirical.models import ProjectionHead, build_encoder

    # initialise from the run seed inside a fork of torch's global RNG: the caller's global
    # random state is left exactly as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.run.seed)
        with config_errors("model"):
            encoder = build_encoder(cfg.model.encoder, in_channels, **encoder_kwargs(cfg))
            head = ProjectionHead(
                int(encoder.feat_dim),
                cfg.model.head_hidden,
                cfg.model.out_dim,
                cfg.model.head_depth,
            )
        with config_errors("views"):
            views = build_views(cfg, view_channels)
    viewmaker = views if isinstance(views, nn.Module) else None
    if info.active:
        convert_batchnorm(encoder, device.type)
        convert_batchnorm(head, device.type)
    dtype = resolve_dtype(cfg.run.precision)
    encoder.to(device, dtype)
    if cfg.run.channels_last:
        check_channels_last(device)
        # 4-D (conv) weights only; torch's stubs lack the memory_format overload of Module.to
        encoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    head.to(device, dtype)
    if viewmaker is not None:
        viewmaker.to(device, dtype)
    loss_gen = torch.Generator().manual_seed(cfg.run.seed + 7)
    loss_kw: dict[str, Any] = {}
    if cfg.loss.name == "ntxent":
        loss_kw = {"temperature": cfg.loss.temperature}
    elif cfg.loss.name == "align_lse":
        loss_kw = {"lam": cfg.loss.lam, "temperature": cfg.loss.temperature}
    elif cfg.loss.name == "align_swd":
        loss_kw = {"lam": cfg.loss.lam, "prior": cfg.loss.prior, "generator": loss_gen}
    with config_errors("loss"):
        loss_fn = build_loss(cfg.loss.name, **loss_kw)
    params = [*encoder.parameters(), *head.parameters()]
    o = cfg.optim
    optimizer: torch.optim.Optimizer
    if o.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay
        )
    else:
        optimizer = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    vm_optimizer = (
        torch.optim.Adam(viewmaker.parameters(), lr=o.vm_lr) if viewmaker is not None else None
    )
    warmup = o.warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps_total, warmup, o.schedule)
    )
    amp = resolve_precision(cfg.run.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    generators = {
        # per-rank view and regulariser draws; the loss generator is shared (same on all ranks)
        "views": torch.Generator().manual_seed(cfg.run.seed * 1000 + 1 + info.rank),
        "regulariser": torch.Generator().manual_seed(cfg.run.seed * 1000 + 500 + info.rank),
        "loss": loss_gen,
    }
    return Parts(
        encoder,
        head,
        views,
        viewmaker,
        loss_fn,
        optimizer,
        vm_optimizer,
        scheduler,
        scaler,
        generators,
    )
