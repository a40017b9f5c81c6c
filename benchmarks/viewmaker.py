"""Viewmaker step cost: the released two-pass alternating scheme vs the single-pass step.

Both steps run side by side in one process on the models, loss and optimisers the training
harness builds (``empirical.train.build_parts``) for the default CPU preset
(``empirical.presets.DEFAULT``, ``viewmaker-digits-cpu``): a small ResNet encoder (``model.width``
32) with a 2-layer projection head (256 hidden, 128 out), the slim viewmaker of the CPU presets
(``views.vm_width`` 8 base channels, ``views.vm_blocks`` 2 residual blocks, eps 0.05), NT-Xent at
temperature 0.1, Adam (lr 1e-3, weight decay 1e-6) for encoder + head and Adam (1e-3) for the
viewmaker; the exact values are read from the preset and reported. The batch is 128 training
images of the preset's suite (RGB 32x32, ``optim.batch_size``) and the view noise stream is shared.
Steps are interleaved (single, two-pass, two-pass without toggle, ...) after a warm-up and the
median time per step of each is reported; one torch thread.

``viewmaker_step_speedup = t_two_pass / t_single_pass`` for the two-pass alternating scheme as the
project's reference (science.md) describes the original implementation: one full forward and
backward pass per optimizer, every gradient computed in both passes. The released code ran under
PyTorch Lightning, whose optimizer toggle may have switched off ``requires_grad`` of the other
model's parameters in each pass (the encoder pass then builds no viewmaker graph, the viewmaker
pass computes no encoder weight gradients); that cheaper two-pass variant is reported as
``viewmaker_step_speedup_toggled`` (science.md measured 1.54x for a similar detached scheme; it
cannot reach 1.7x, since its extra cost is one viewmaker and one encoder forward).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.adversarial import single_pass_step, two_pass_step
from empirical.config import Config
from empirical.data.base import Batch
from empirical.distributed import DistInfo
from empirical.presets import DEFAULT, get
from empirical.train import build_dataset, build_parts
from empirical.views.viewmaker import ViewmakerViews

REPEATS = 5


def _setup(cfg: Config) -> tuple[Batch, Any]:
    """The preset's first training batch and the harness's parts (CPU, one process, fp32)."""
    data = build_dataset(cfg, "train")
    batch = data.batch(np.arange(cfg.optim.batch_size), np.random.default_rng(cfg.run.seed))
    channels = int(batch.x.shape[1])
    parts = build_parts(cfg, channels, channels, 1000, 100, torch.device("cpu"), DistInfo())
    if not isinstance(parts.views, ViewmakerViews) or parts.vm_optimizer is None:
        raise ValueError(f"preset {DEFAULT!r} must train a viewmaker; views = {cfg.views.name!r}")
    return batch, parts


def _time(fn: Callable[[], float]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run() -> dict[str, float | int | str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = get(DEFAULT)
        batch, parts = _setup(cfg)
        embed = nn.Sequential(parts.encoder, parts.head)
        views, loss_fn = parts.views, parts.loss_fn
        enc_opt, vm_opt = parts.optimizer, parts.vm_optimizer
        g = torch.Generator().manual_seed(2)

        def single() -> float:
            return single_pass_step(batch, views, embed, loss_fn, g, enc_opt, vm_opt)

        def two() -> float:
            return two_pass_step(batch, views, embed, loss_fn, g, enc_opt, vm_opt)

        def naive() -> float:
            return two_pass_step(batch, views, embed, loss_fn, g, enc_opt, vm_opt, toggle=False)

        single(), two(), naive()  # warm-up
        t1, t2, t3 = [], [], []
        for _ in range(REPEATS):
            t1.append(_time(single))
            t2.append(_time(two))
            t3.append(_time(naive))
    finally:
        torch.set_num_threads(threads)
    s1, s2, s3 = (statistics.median(t) for t in (t1, t2, t3))
    return {
        "viewmaker_step_speedup": s3 / s1,
        "viewmaker_step_speedup_toggled": s2 / s1,
        "viewmaker_single_pass_step_s": s1,
        "viewmaker_two_pass_step_s": s3,
        "viewmaker_two_pass_toggled_step_s": s2,
        "viewmaker_bench_preset": DEFAULT,
        "viewmaker_bench_batch": int(batch.x.shape[0]),
        "viewmaker_bench_input": "x".join(str(d) for d in batch.x.shape[1:]),
        "viewmaker_bench_encoder": f"{cfg.model.encoder} width {cfg.model.width}",
        "viewmaker_bench_vm_width": cfg.views.vm_width,
        "viewmaker_bench_vm_blocks": cfg.views.vm_blocks,
        "viewmaker_bench_encoder_optimizer": f"{cfg.optim.optimizer} lr {cfg.optim.lr:g}",
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v}")
