"""Frozen features of a trained encoder, the input of every linear probe and diagnostic (issue 5).

``extract_features`` encodes a dataset at one layer of a frozen encoder (a trained run's, loaded by
``empirical.runs.load_run``):

- ``"prepool"``: the last feature map, flattened, ``(N, C * H * W)`` (the linear probe of the
  Viewmaker and Feature Dropout papers reads the frozen pre-pool features; Tamkin et al. 2021/2023);
- ``"pooled"``: global-average-pooled features ``(N, C)`` (SimCLR's representation ``h``);
- ``"projection"``: the projection head's output ``(N, out_dim)``.

With a view generator and ``num_copies = M`` every example is encoded in M transformed copies and
the M feature vectors are averaged (Foster, Pukdee, Rainforth, ICLR 2021, test-time feature
averaging: ``z(x) = (1/M) sum_m f(t(x, alpha_m, beta_m))``); all copies of one example share one
read of the dataset (for overlay suites: the same overlay). Post-view channels (Chen et al.'s
RandBits) are appended after the views, as in training. The encoder runs in eval mode under
``torch.no_grad`` on whatever device its parameters live on; features come back on the CPU.

The pieces (``encode``, ``eval_mode``, ``read_batches``) are public so that diagnostics can reuse
them (conditional variance, dropout rate of views, local-feature clustering).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from empirical.data.base import Batch, MultiTaskDataset, TaskSpec, append_post_view_channels
from empirical.views.base import ViewGenerator

Layer = Literal["prepool", "pooled", "projection"]
LAYERS: tuple[str, ...] = ("prepool", "pooled", "projection")


@dataclass
class Features:
    """Features of N examples and their labels.

    Attributes:
        x: ``(N, D)`` float32 on the CPU.
        labels: task name -> ``(N,)`` int64 (classification) or ``(N, dim)`` float32 (regression).
        index: dataset indices ``(N,)`` int64.
        tasks: the dataset's tasks.
        layer: the layer the features were read from.
        num_copies: M, the number of transformed copies averaged (1 = a single pass).
    """

    x: torch.Tensor
    labels: dict[str, torch.Tensor]
    index: torch.Tensor
    tasks: tuple[TaskSpec, ...]
    layer: str
    num_copies: int

    def __len__(self) -> int:
        return int(self.x.shape[0])


@contextmanager
def eval_mode(*modules: Any) -> Iterator[None]:
    """Put every ``nn.Module`` among ``modules`` in eval mode; restore each one's mode after."""
    mods = [m for m in modules if isinstance(m, nn.Module)]
    was = [m.training for m in mods]
    try:
        for m in mods:
            m.eval()
        yield
    finally:
        for m, w in zip(mods, was, strict=True):
            m.train(w)


def module_device(module: nn.Module) -> torch.device:
    """Device of the module's first parameter or buffer (CPU if it has none)."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def encode(encoder: nn.Module, head: nn.Module | None, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Features of inputs ``x`` ``(B, C, H, W)`` at ``layer``: ``(B, D)``.

    ``prepool``: ``encoder.feature_maps(x)["prepool"]`` ``(B, C', H', W')`` flattened to
    ``(B, C' H' W')``; ``pooled``: ``encoder(x)`` ``(B, feat_dim)``; ``projection``:
    ``head(encoder(x))`` ``(B, out_dim)``. No mode change and no ``no_grad`` here (callers decide).
    """
    if layer == "prepool":
        return encoder.feature_maps(x)["prepool"].flatten(1)  # type: ignore[operator]
    h = encoder(x)
    if layer == "pooled":
        return h
    if layer == "projection":
        if head is None:
            raise ValueError("layer 'projection' needs a projection head")
        return head(h)
    raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")


def read_batches(
    dataset: MultiTaskDataset,
    indices: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
) -> Iterator[Batch]:
    """``dataset.batch`` over ``indices`` in order, ``batch_size`` at a time (per-read randomness,
    e.g. overlays, from ``rng``)."""
    for lo in range(0, len(indices), batch_size):
        yield dataset.batch(indices[lo : lo + batch_size], rng)


def _check_args(layer: str, copies: Sequence[int], batch_size: int, views: object) -> None:
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {layer!r}")
    if not copies or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in copies):
        raise ValueError(f"num_copies must be integers >= 1; got {list(copies)}")
    if views is None and max(copies) > 1:
        raise ValueError(f"num_copies > 1 needs views; got num_copies {max(copies)} and no views")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")


def extract_averaged_features(
    encoder: nn.Module,
    head: nn.Module | None,
    dataset: MultiTaskDataset,
    layer: str = "prepool",
    views: ViewGenerator | None = None,
    copies: Sequence[int] = (1,),
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    generator: torch.Generator | None = None,
) -> dict[int, Features]:
    """Features averaged over the first M transformed copies, for every M in ``copies``, from ONE
    pass of ``max(copies)`` copies (so a sweep over M costs as much as its largest M).

    Args:
        encoder, head: the frozen modules (put in eval mode for the call, then restored).
        dataset: the examples; ``indices`` ``(N,)`` selects some (default: all, in order).
        layer: one of :data:`LAYERS`.
        views: ``views(batch, generator) -> ViewPair``; each call yields two copies (v1, v2).
            ``None``: the clean inputs (then every M must be 1).
        copies: the M values wanted, each >= 1.
        batch_size: examples per forward pass.
        rng: numpy generator of the dataset reads (default ``default_rng(0)``).
        generator: torch generator of the views (default seeded with 0, on the CPU).

    Returns:
        ``{M: Features}``; ``Features.x`` ``(N, D)`` = mean over copies ``m < M`` of
        ``encode(view_m)``.
    """
    copies = sorted(set(copies))
    _check_args(layer, copies, batch_size, views)
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    rng = np.random.default_rng(0) if rng is None else rng
    generator = torch.Generator().manual_seed(0) if generator is None else generator
    device = module_device(encoder)
    m_max = copies[-1]
    out: dict[int, list[torch.Tensor]] = {m: [] for m in copies}
    labels: dict[str, list[torch.Tensor]] = {}
    index: list[torch.Tensor] = []
    with torch.no_grad(), eval_mode(encoder, head, views):
        for batch in read_batches(dataset, idx, batch_size, rng):
            for name, y in batch.labels.items():
                labels.setdefault(name, []).append(y.cpu())
            index.append(batch.index.cpu())
            batch = batch.to(device)
            if views is None:
                f = encode(encoder, head, append_post_view_channels(batch.x, batch), layer)
                out[1].append(f.float().cpu())
                continue
            total: torch.Tensor | None = None
            pending: list[torch.Tensor] = []
            for m in range(1, m_max + 1):
                if not pending:
                    pair = views(batch, generator)
                    pending = [pair.v2, pair.v1]
                f = encode(encoder, head, pending.pop(), layer).float()  # (B, D)
                total = f if total is None else total + f
                if m in out:
                    out[m].append((total / m).cpu())
    cat_labels = {k: torch.cat(v) for k, v in labels.items()}
    cat_index = torch.cat(index) if index else torch.zeros(0, dtype=torch.int64)
    return {
        m: Features(torch.cat(f), cat_labels, cat_index, tuple(dataset.tasks), layer, m)
        for m, f in out.items()
    }


def extract_features(
    encoder: nn.Module,
    head: nn.Module | None,
    dataset: MultiTaskDataset,
    layer: str = "prepool",
    views: ViewGenerator | None = None,
    num_copies: int = 1,
    batch_size: int = 256,
    indices: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    generator: torch.Generator | None = None,
) -> Features:
    """Features ``(N, D)`` of ``dataset`` at ``layer``, averaged over ``num_copies`` views (Foster
    et al.'s feature averaging) when ``views`` is given; see :func:`extract_averaged_features`."""
    return extract_averaged_features(
        encoder, head, dataset, layer, views, (num_copies,), batch_size, indices, rng, generator
    )[num_copies]
