"""Viewmaker step cost: the production single-pass step against the original two-pass scheme.

Both run side by side in one process on the parts the training harness builds
(``empirical.parts.build_parts``) for the default CPU preset (``empirical.presets.DEFAULT``,
``viewmaker-digits-cpu``: small ResNet encoder, 2-layer projection head, the slim viewmaker of the
CPU presets, NT-Xent, Adam for encoder + head and for the viewmaker; the values are read from the
preset and reported), on the preset's first training batch (``optim.batch_size`` images of its
suite), one torch thread, float32 on the CPU.

- single pass: ``empirical.step.train_step`` itself, the function the training loop calls (views
  -> ``grad_reverse`` -> one forward of both views -> loss -> ONE backward -> both optimisers).
- two-pass (the original viewmaker scheme, science.md): per batch a full forward and backward for
  the encoder's optimiser, then fresh views and a full forward and backward for the viewmaker's
  optimiser (every gradient computed in both passes, as without an optimiser toggle). Each pass
  is the production forward (``empirical.step.loss_terms``: the same views, encoder, head,
  loss and precision); with ``grad_reverse`` in it, the viewmaker pass's backward of L hands the
  viewmaker the gradient of -L, as the original scheme's backward of -L did.
- two-pass toggled: the same with PyTorch Lightning's optimiser toggle (``requires_grad`` only on
  the stepping model's parameters in each pass), the cheaper variant the released code may have
  run (science.md measured 1.54x for a similar scheme).

Steps are interleaved (single, two-pass, toggled, single, ...) after a warm-up; the median time
per step of each is reported. ``viewmaker_step_speedup = t_two_pass / t_single_pass`` (target
>= 1.9; science.md measured 2.07x), ``viewmaker_step_speedup_toggled = t_toggled / t_single``.
``viewmaker_valid_conv_speedup = t_plain_conv / t_single``: the same production step with the
viewmaker's stride-1 convs run by plain ``F.conv2d`` instead of
:func:`empirical.models.valid_conv.valid_conv2d` (same numbers, oneDNN's slow CPU input gradient).
``viewmaker_bench_load`` is the machine's 1-minute load average at the end (other processes make
every figure here noisier).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from torch import nn

from empirical.compute import Compute
from empirical.config import Config
from empirical.data.base import Batch
from empirical.data.subsets import channel_counts
from empirical.distributed import DistInfo
from empirical.models.valid_conv import plain_conv2d
from empirical.parts import Parts, build_dataset, build_parts, to_device
from empirical.presets import DEFAULT, get
from empirical.step import loss_terms, train_step

REPEATS = 7
CPU = torch.device("cpu")
COMPUTE = Compute(CPU, torch.float32, None)  # float32 on the CPU, no autocast


def preset_step(preset: str) -> tuple[Config, Batch, Parts, Callable[[], object]]:
    """``preset``'s config, first training batch (float32, CPU), the harness's parts, and the
    production step on them (``train_step``, one process, no autocast)."""
    cfg = get(preset)
    data = build_dataset(cfg, "train")
    raw = data.batch(np.arange(cfg.optim.batch_size), np.random.default_rng(cfg.run.seed))
    batch = to_device(raw, CPU, torch.float32)
    channels = channel_counts(data)  # the encoder also reads post-view channels (RandBits)
    parts = build_parts(cfg, channels.total, channels.views, 10**6, 100, CPU, DistInfo())

    def step() -> object:
        return train_step(parts, batch, cfg, DistInfo(), COMPUTE)

    return cfg, batch, parts, step


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each of ``fns``, called in turn ``repeats`` times after one
    warm-up call each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(t) for k, t in times.items()}


@contextmanager
def only_these_require_grad(
    active: Iterable[nn.Parameter], frozen: Iterable[nn.Parameter]
) -> Iterator[None]:
    """Lightning's multi-optimiser toggle: ``requires_grad`` on ``active`` only, then restore."""
    active, frozen = list(active), list(frozen)
    saved = [p.requires_grad for p in active + frozen]
    for p, flag in [(p, True) for p in active] + [(p, False) for p in frozen]:
        p.requires_grad_(flag)
    try:
        yield
    finally:
        for p, flag in zip(active + frozen, saved, strict=True):
            p.requires_grad_(flag)


def two_pass_step(parts: Parts, batch: Batch, cfg: Config, toggle: bool) -> None:
    """The original scheme (module docstring): encoder pass and step, then viewmaker pass and
    step, each pass a full forward and backward of the production loss on fresh views."""
    assert parts.viewmaker is not None and parts.vm_optimizer is not None
    encoder = [*parts.encoder.parameters(), *parts.head.parameters()]
    viewmaker = list(parts.viewmaker.parameters())
    for opt, active, frozen in (
        (parts.optimizer, encoder, viewmaker),
        (parts.vm_optimizer, viewmaker, encoder),
    ):
        parts.optimizer.zero_grad(set_to_none=True)
        parts.vm_optimizer.zero_grad(set_to_none=True)
        with only_these_require_grad(active, frozen) if toggle else nullcontext():
            loss_terms(parts, batch, cfg, DistInfo(), COMPUTE).total.backward()
        opt.step()
    parts.scheduler.step()


def _with_plain_conv(step: Callable[[], object]) -> object:
    with plain_conv2d():
        return step()


def load_average() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def run() -> dict[str, float | int | str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg, batch, parts, single = preset_step(DEFAULT)
        if parts.viewmaker is None:
            raise ValueError(f"preset {DEFAULT!r} must train a viewmaker; views = {cfg.views.name}")
        t = interleaved_medians(
            {
                "single": single,
                "plain_conv": lambda: _with_plain_conv(single),
                "two_pass": lambda: two_pass_step(parts, batch, cfg, toggle=False),
                "toggled": lambda: two_pass_step(parts, batch, cfg, toggle=True),
            },
            REPEATS,
        )
    finally:
        torch.set_num_threads(threads)
    return {
        "viewmaker_step_speedup": t["two_pass"] / t["single"],
        "viewmaker_step_speedup_toggled": t["toggled"] / t["single"],
        "viewmaker_valid_conv_speedup": t["plain_conv"] / t["single"],
        "viewmaker_single_pass_step_s": t["single"],
        "viewmaker_plain_conv_step_s": t["plain_conv"],
        "viewmaker_two_pass_step_s": t["two_pass"],
        "viewmaker_two_pass_toggled_step_s": t["toggled"],
        "viewmaker_bench_preset": DEFAULT,
        "viewmaker_bench_batch": int(batch.x.shape[0]),
        "viewmaker_bench_input": "x".join(str(d) for d in batch.x.shape[1:]),
        "viewmaker_bench_encoder": f"{cfg.model.encoder} width {cfg.model.width}",
        "viewmaker_bench_vm_width": cfg.views.vm_width,
        "viewmaker_bench_vm_blocks": cfg.views.vm_blocks,
        "viewmaker_bench_encoder_optimizer": f"{cfg.optim.optimizer} lr {cfg.optim.lr:g}",
        "viewmaker_bench_load": round(load_average(), 2),
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v}")
