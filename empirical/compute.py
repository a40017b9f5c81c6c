"""Where and in which dtypes a run computes, worked out once from the config and the device.

``dtype`` is the dtype of the weights and of the inputs (float64 for ``run.precision=fp64``,
else float32); ``amp`` is the autocast dtype of the forward pass (None: no autocast). The
arithmetic of the encoder runs in ``amp`` when it is set, else in ``dtype``: that is
:attr:`Compute.precision`, the name ``summary.json`` records.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from empirical.config import Config
from empirical.distributed import DistInfo
from empirical.parts import resolve_device, resolve_dtype, resolve_precision


@dataclass(frozen=True)
class Compute:
    device: torch.device
    dtype: torch.dtype
    amp: torch.dtype | None

    @property
    def precision(self) -> str:
        """The dtype the encoder's arithmetic runs in: float64, float32, bfloat16 or float16."""
        return str(self.amp or self.dtype).removeprefix("torch.")


def device_of(cfg: Config, device: str | None = None) -> torch.device:
    """``device`` (an override, e.g. a resume on other hardware) else ``run.device``."""
    return resolve_device(device or cfg.run.device)


def resolve_compute(cfg: Config, device: torch.device, info: DistInfo) -> Compute:
    """The run's :class:`Compute` on ``device``; with several CUDA processes each uses (and
    selects) the GPU of its local rank."""
    if info.active and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    amp = resolve_precision(cfg.run.precision, device)
    return Compute(device, resolve_dtype(cfg.run.precision), amp)
