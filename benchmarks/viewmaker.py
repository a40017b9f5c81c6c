"""Viewmaker step cost: the released two-pass alternating scheme vs the single-pass step.

Both steps run side by side in one process on the same models (a CPU-scale small ResNet encoder,
width 32, with a 2-layer projection head; the CPU preset's slim viewmaker, base width 16, 3
residual blocks), the same batch (128 RGB 32x32 images) and the same view noise stream. Steps are
interleaved (single, two-pass, single, ...) after a warm-up and the median time per step of each
is reported.

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

import torch
from torch import nn

from empirical.adversarial import single_pass_step, two_pass_step
from empirical.data.base import Batch
from empirical.losses import build_loss
from empirical.models import ProjectionHead, build_encoder
from empirical.views.viewmaker import Viewmaker, ViewmakerViews

BATCH = 128
SIDE = 32
VIEWMAKER_WIDTH = 16
REPEATS = 5


def _setup() -> tuple[Batch, ViewmakerViews, nn.Module, nn.Module]:
    torch.manual_seed(0)
    x = torch.rand(BATCH, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(1))
    batch = Batch(x=x, labels={}, index=torch.arange(BATCH))
    views = ViewmakerViews(Viewmaker(3, base_channels=VIEWMAKER_WIDTH, eps=0.05))
    encoder = build_encoder("small_resnet", 3, width=32)
    embed = nn.Sequential(encoder, ProjectionHead(encoder.feat_dim, 256, 128, depth=2))
    return batch, views, embed, build_loss("ntxent", temperature=0.5)


def _time(fn: Callable[[], float]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run() -> dict[str, float | int | str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batch, views, embed, loss_fn = _setup()
        enc_opt = torch.optim.SGD(embed.parameters(), lr=0.03, momentum=0.9, weight_decay=1e-4)
        vm_opt = torch.optim.Adam(views.parameters(), lr=1e-3)
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
    }


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k}: {v}")
