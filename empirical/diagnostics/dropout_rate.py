"""The feature-dropout rate of views (Tamkin, Glasgow, He, Goodman, NeurIPS 2023, Sec. 5).

The central observation of Feature Dropout: viewmaker views stochastically *destroy* features
such as a superimposed digit, so that a view sometimes no longer carries the overlay's label. We
measure it with a **judge**: a classifier trained (supervised) on the overlay-bearing inputs of
an overlay suite, un-augmented, for one label (the overlay's or the background's); a small
ConvNet (``empirical.models.convnet``) trained with Adam on fresh reads (every read draws a new
overlay). Its accuracy on held-out inputs is reported as ``clean_accuracy``.

For a view generator, each of N test inputs x gets V views; with ``a_x`` the judge's accuracy on
the inputs, ``a_v`` its accuracy on the views and ``c = 1 / K`` chance, we report

- ``view_error = 1 - a_v``: the raw fraction of views the judge gets wrong;
- ``flip_rate``: the fraction of views judged wrong among the views of inputs judged right;
- ``rate = (a_x - a_v) / (a_x - c)``, the **feature-dropout rate** (a definition of this
  project): if a fraction r of views destroys the label (the judge then guesses at chance) and
  the others keep it (the judge is as accurate as on the inputs), ``a_v = (1 - r) a_x + r c``, so
  ``rate`` estimates r: 0 for views that keep the label (identity views: exactly 0), 1 for
  views that remove it (oracle views with p = 1 show the background alone: ~1 up to sampling).
  It corrects for the judge's own errors; it can leave [0, 1] by sampling noise, or when views
  make the judge systematically wrong (below chance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from empirical.data.base import MultiTaskDataset, TaskSpec
from empirical.data.subsets import random_subset
from empirical.features import eval_mode, read_batches
from empirical.models import convnet
from empirical.views.base import ViewGenerator
from empirical.views.expert import expert_views
from empirical.views.viewmaker import Viewmaker, ViewmakerViews


@dataclass(frozen=True)
class JudgeConfig:
    """How a judge is trained.

    Attributes:
        channels: ConvNet stage widths (each stage conv-BN-ReLU-maxpool).
        steps: Adam steps; batch_size: examples per step; lr: Adam learning rate.
        num_test: held-out test inputs for ``clean_accuracy`` (0 = none).
        augment: ``"none"`` (train on the inputs as they are, the default) or ``"expert"``
            (on expert image views of them: a judge that also reads cropped, recoloured inputs,
            so that expert views are not counted as destroying a label the judge merely
            cannot read at a new scale).
        seed: seeds the initialisation, the batches and the overlays.
    """

    channels: tuple[int, ...] = (16, 32, 64)
    steps: int = 400
    batch_size: int = 128
    lr: float = 2e-3
    num_test: int = 1024
    augment: str = "none"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(
                f"channels must be a non-empty tuple of ints >= 1; got {self.channels}"
            )
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1; got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2; got {self.batch_size}")
        if not 0.0 < self.lr <= 1.0:
            raise ValueError(f"lr must be in (0, 1]; got {self.lr}")
        if self.augment not in ("none", "expert"):
            raise ValueError(f"augment must be 'none' or 'expert'; got {self.augment!r}")
        if self.num_test < 0:
            raise ValueError(f"num_test must be >= 0; got {self.num_test}")


class JudgeNet(nn.Module):
    """ConvNet + linear classifier: ``(B, C, H, W) -> (B, K)`` logits."""

    def __init__(self, in_channels: int, num_classes: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.body = convnet(in_channels, channels)
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))  # (B, feat) -> (B, K)


@dataclass
class Judge:
    """A trained judge of one task.

    Attributes:
        task: the classification task judged.
        net: the classifier (eval mode).
        in_channels: channels of its inputs (the suite's; post-view channels are cut off).
        clean_accuracy: accuracy on held-out un-augmented test inputs (NaN if not measured).
        config: how it was trained.
    """

    task: TaskSpec
    net: JudgeNet
    in_channels: int
    clean_accuracy: float
    config: JudgeConfig

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted labels ``(B,)`` of inputs or views ``(B, C', H, W)`` (first C channels)."""
        with torch.no_grad(), eval_mode(self.net):
            return self.net(x[:, : self.in_channels].float()).argmax(dim=1)


def find_task(dataset: MultiTaskDataset, name: str) -> TaskSpec:
    """The classification task ``name`` of ``dataset``."""
    for t in dataset.tasks:
        if t.name == name:
            if t.kind != "classification":
                raise ValueError(f"task {name!r} is not a classification task")
            return t
    names = ", ".join(t.name for t in dataset.tasks)
    raise ValueError(f"task must be one of {names}; got {name!r}")


def judge_accuracy(
    judge: Judge, dataset: MultiTaskDataset, num: int, rng: np.random.Generator
) -> float:
    """Accuracy of ``judge`` on ``num`` random un-augmented inputs of ``dataset``."""
    hits, total = 0, 0
    for batch in read_batches(dataset, random_subset(len(dataset), num, rng), 256, rng):
        hits += int((judge.predict(batch.x) == batch.labels[judge.task.name]).sum())
        total += len(batch)
    return hits / total if total else float("nan")


def train_judge(
    train: MultiTaskDataset,
    task: str,
    config: JudgeConfig | None = None,
    test: MultiTaskDataset | None = None,
) -> Judge:
    """Train a judge of ``task`` on un-augmented inputs of ``train`` (fresh reads each step);
    ``clean_accuracy`` on ``config.num_test`` random inputs of ``test``."""
    cfg = config or JudgeConfig()
    spec = find_task(train, task)
    c = int(train.input_shape[0])
    rng = np.random.default_rng(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = JudgeNet(c, spec.num_classes, cfg.channels)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    augment = expert_views("image") if cfg.augment == "expert" else None
    net.train()
    n = len(train)
    for _ in range(cfg.steps):
        batch = train.batch(rng.integers(0, n, cfg.batch_size), rng)
        x = batch.x[:, :c] if augment is None else augment.view(batch.x[:, :c], gen)
        loss = F.cross_entropy(net(x), batch.labels[task])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    judge = Judge(spec, net, c, float("nan"), cfg)
    if test is not None and cfg.num_test > 0:
        judge.clean_accuracy = judge_accuracy(judge, test, cfg.num_test, rng)
    return judge


def rates(
    correct_inputs: torch.Tensor, correct_views: torch.Tensor, chance: float
) -> dict[str, float]:
    """The dropout-rate statistics from hit indicators (see the module docstring).

    Args:
        correct_inputs: ``(N,)`` bool, judge right on each input.
        correct_views: ``(V, N)`` bool, judge right on each view of each input.
        chance: ``1 / K``.
    """
    if correct_views.ndim != 2 or correct_views.shape[1] != correct_inputs.shape[0]:
        raise ValueError(
            f"correct_views must be (V, {correct_inputs.shape[0]}); got "
            f"{tuple(correct_views.shape)}"
        )
    a_x = float(correct_inputs.double().mean())
    a_v = float(correct_views.double().mean())
    right = correct_views[:, correct_inputs]  # (V, N_right)
    flip = float((~right).double().mean()) if right.numel() else float("nan")
    rate = (a_x - a_v) / (a_x - chance) if a_x > chance else float("nan")
    return {
        "input_accuracy": a_x,
        "view_accuracy": a_v,
        "view_error": 1.0 - a_v,
        "flip_rate": flip,
        "rate": rate,
        "chance": chance,
        "num_inputs": int(correct_inputs.shape[0]),
        "num_views": int(correct_views.numel()),
    }


def dropout_rate(
    judges: Mapping[str, Judge],
    dataset: MultiTaskDataset,
    views: ViewGenerator,
    num_inputs: int = 512,
    views_per_input: int = 4,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Feature-dropout rate of ``views`` for every judged task: ``{task: rates(...)}``, over
    ``num_inputs`` random test inputs.

    The views are made on ``device`` (where a trained viewmaker lives); the judges run on the
    CPU. ``views_per_input`` views per input, two per call of ``views``.
    """
    if num_inputs < 1 or views_per_input < 1 or batch_size < 1:
        raise ValueError(
            "num_inputs, views_per_input and batch_size must be >= 1; got "
            f"{num_inputs}, {views_per_input}, {batch_size}"
        )
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=torch.device(device)).manual_seed(seed)
    right_x: dict[str, list[torch.Tensor]] = {t: [] for t in judges}
    right_v: dict[str, list[torch.Tensor]] = {t: [] for t in judges}
    idx = random_subset(len(dataset), num_inputs, rng)
    with torch.no_grad(), eval_mode(views):
        for batch in read_batches(dataset, idx, batch_size, rng):
            vs: list[torch.Tensor] = []
            on_device = batch.to(device)
            while len(vs) < views_per_input:
                pair = views(on_device, gen)
                vs += [pair.v1.cpu(), pair.v2.cpu()]
            for t, judge in judges.items():
                y = batch.labels[t]
                right_x[t].append(judge.predict(batch.x) == y)
                right_v[t].append(
                    torch.stack([judge.predict(v) == y for v in vs[:views_per_input]])
                )
    return {
        t: rates(torch.cat(right_x[t]), torch.cat(right_v[t], dim=1), judges[t].task.chance)
        for t in judges
    }


def untrained_viewmaker(
    in_channels: int,
    eps: float,
    width: int = 8,
    blocks: int = 2,
    seed: int = 0,
    expert: Any = None,
) -> ViewmakerViews:
    """A freshly initialised viewmaker (``ViewmakerViews``) with budget ``eps``; the weights are
    drawn from a torch generator seeded with ``seed`` (the global generator is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vm = Viewmaker(in_channels, width, blocks, eps=eps)
    return ViewmakerViews(vm, expert=expert).eval()
