"""The interface every multi-task dataset implements, shared by training and evaluation.

A dataset is indexable by example; ``batch(indices, rng)`` reads a batch. Reading draws any
per-read randomness (for overlay suites: the overlay, drawn fresh at each read and shared by both
views made from that batch) from ``rng``, so a batch is reproducible from a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch

TaskKind = Literal["classification", "regression"]


@dataclass(frozen=True)
class TaskSpec:
    """A downstream task read off each example.

    Attributes:
        name: key of the task's labels in ``Batch.labels``.
        kind: ``"classification"`` (integer labels in ``[0, num_classes)``) or ``"regression"``
            (float targets of shape ``(B, dim)``).
        num_classes: number of classes (classification only, >= 2).
        dim: target dimension (regression only, >= 1).
    """

    name: str
    kind: TaskKind
    num_classes: int = 0
    dim: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise ValueError(f"kind must be 'classification' or 'regression'; got {self.kind!r}")
        if self.kind == "classification" and self.num_classes < 2:
            raise ValueError(
                f"num_classes must be >= 2 for classification task {self.name!r}; "
                f"got {self.num_classes}"
            )
        if self.kind == "regression" and self.dim < 1:
            raise ValueError(f"dim must be >= 1 for regression task {self.name!r}; got {self.dim}")

    @property
    def chance(self) -> float:
        """Chance accuracy of a uniform guess (classification); 0 R^2 for regression."""
        return 1.0 / self.num_classes if self.kind == "classification" else 0.0


@dataclass
class Batch:
    """A batch of examples.

    Attributes:
        x: inputs, ``(B, C, H, W)`` float32 (images in [0, 1]; spectrograms ``(B, 1, F, T)``).
        labels: one tensor per task: ``(B,)`` int64 for classification, ``(B, dim)`` float32
            for regression.
        index: dataset indices of the examples, ``(B,)`` int64.
        x_clean: the same examples without their overlay (overlay suites; oracle feature-dropout
            views need it), ``(B, C, H, W)``, else ``None``.
        overlay_mask: where the overlay is drawn, ``(B, 1, H, W)`` bool, else ``None``.
        post_view_channels: per-example values appended as constant channels AFTER the views are
            made (RandBits: ``(B, k)`` in {0, 1}), else ``None``.
        params: generator parameters (Spirograph: targets and nuisance parameters), name -> tensor.
    """

    x: torch.Tensor
    labels: dict[str, torch.Tensor]
    index: torch.Tensor
    x_clean: torch.Tensor | None = None
    overlay_mask: torch.Tensor | None = None
    post_view_channels: torch.Tensor | None = None
    params: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Batch:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(
            x=self.x.to(device, non_blocking=True),
            labels={k: v.to(device, non_blocking=True) for k, v in self.labels.items()},
            index=self.index.to(device),
            x_clean=mv(self.x_clean),
            overlay_mask=mv(self.overlay_mask),
            post_view_channels=mv(self.post_view_channels),
            params={k: v.to(device, non_blocking=True) for k, v in self.params.items()},
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])


SPLITS = ("train", "test")


def split_stream(split: str) -> int:
    """Index of ``split`` in ``SPLITS`` (train 0, test 1), the random stream a suite draws that
    split from; ValueError for any other split."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return SPLITS.index(split)


def check_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """``indices`` as int64 ``(B,)``; ValueError unless 1-D and each in ``[0, n)``."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 1:
        raise ValueError(f"indices must be 1-D; got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}); got {idx.min()}..{idx.max()}")
    return idx


@runtime_checkable
class MultiTaskDataset(Protocol):
    """What every suite provides."""

    name: str
    split: str
    tasks: tuple[TaskSpec, ...]
    input_shape: tuple[int, int, int]

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch: ...


def append_post_view_channels(view: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Append ``post_view_channels`` ``(B, k)`` to a view as constant ``(B, k, H, W)`` planes."""
    if batch.post_view_channels is None:
        return view
    b, _, h, w = view.shape
    planes = batch.post_view_channels.to(view.dtype)[:, :, None, None].expand(b, -1, h, w)
    return torch.cat([view, planes], dim=1)


DatasetFactory = Callable[..., MultiTaskDataset]
