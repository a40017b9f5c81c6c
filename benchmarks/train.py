"""Training-harness benchmarks (issue 4): the default CPU presets of the digits-on-natural suite.

Runs ``python -m empirical.train`` on ``expert-digits-cpu`` and ``viewmaker-digits-cpu`` (the
default preset) in subprocesses, in full, and reports:

- ``pretrain_digits_cpu_s``: wall time of the default (viewmaker) preset, process start to end;
  ``pretrain_digits_cpu_s_expert`` the same for expert views. Target: at most 300 s each.
- ``train_images_per_s_expert`` / ``_viewmaker``: training images per second of those runs (sum
  of step times, from summary.json).
- ``train_flops_fraction``: achieved FLOP/s of the viewmaker preset's training step divided by the
  dense float32 matmul FLOP/s measured here, with the same thread count. Step FLOPs per image =
  3 (forward + backward) x 2 views x forward FLOPs of viewmaker + encoder + head, counted with
  ``empirical.models.count_flops``; ``train_flops_fraction_expert`` without the viewmaker.
- ``train_peak_rss_mb``: peak resident memory of those runs (max over both). Target <= 4000.
- ``data_vs_step_ratio`` (issue 3): batches per second the data path delivers for the default
  preset (reading random examples of its suite, overlays drawn, plus the view-independent batch
  assembly ``to_device``; batch size and thread count of the preset run) divided by the training
  steps per second of that preset's run above (its step times include reading its batches).
  Target: at least 5. ``data_batches_per_s`` and ``train_steps_per_s`` are the two rates.
- ``train_step_overhead_expert`` (issue 9): the share of a production training step
  (``empirical.step.train_step`` on ``expert-digits-cpu``'s first batch, in process) spent beyond
  the encoder's and head's own forward and backward: ``1 - t_encoder / t_step``, where
  ``t_encoder`` is the forward of encoder + head on the step's two views (concatenated, in the
  step's memory format) and a backward from a fixed output gradient. The rest is the views, the
  loss, zeroing, the optimiser and the schedule. Target: at most 0.25. Median of interleaved
  repetitions, with the training runs' thread count (``train_threads``) and, as ``..._1thread``,
  with one thread; ``train_step_s_expert``, ``train_step_encoder_s_expert`` and
  ``train_step_views_s_expert`` (the views alone) are reported beside it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def matmul_flops_per_s(n: int = 1024, repeats: int = 10) -> float:
    """Dense float32 ``(n, n) @ (n, n)`` FLOP/s (2 n^3 per product), best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b  # (n, n) @ (n, n) -> (n, n)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


class _Bound(nn.Module):
    """``viewmaker(x, generator)`` as a one-argument module for ``count_flops``."""

    def __init__(self, viewmaker: nn.Module) -> None:
        super().__init__()
        self.viewmaker = viewmaker
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.viewmaker(x, self.generator)


def step_flops_per_image(preset: str) -> int:
    """Training FLOPs per image of ``preset``: 3 x 2 views x forward FLOPs of its modules."""
    from empirical import presets
    from empirical.models import ProjectionHead, build_encoder, count_flops
    from empirical.parts import build_views, encoder_kwargs

    cfg = presets.get(preset)
    shape = (3, 32, 32)
    encoder = build_encoder(cfg.model.encoder, shape[0], **encoder_kwargs(cfg))
    head = ProjectionHead(
        encoder.feat_dim, cfg.model.head_hidden, cfg.model.out_dim, cfg.model.head_depth
    )
    forward = count_flops(encoder, shape) + count_flops(head, (encoder.feat_dim,))
    views = build_views(cfg, shape[0])
    viewmaker = getattr(views, "viewmaker", None)
    if isinstance(viewmaker, nn.Module):
        forward += count_flops(_Bound(viewmaker), shape)
    return 3 * 2 * forward


def bench_threads() -> int:
    """Thread count of the training runs and of the matmul reference: ``FEATUREDROP_BENCH_THREADS``
    or every CPU of the machine (what a user's ``make bench`` gets)."""
    return int(os.environ.get("FEATUREDROP_BENCH_THREADS", os.cpu_count() or 1))


def pretrain(preset: str, out: Path, threads: int) -> dict[str, float]:
    """Run ``preset`` in full in a subprocess with ``threads`` torch threads; wall time, images/s
    and peak RSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "empirical.train",
            "--preset",
            preset,
            "--out",
            str(out),
            "--quiet",
            f"run.threads={threads}",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{preset} failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "wall_s": wall,
        "img_per_s": float(summary["img_per_s"]),
        "rss_mb": max(rss_kb, before) / 1024.0,
        "knn": summary["knn"],
    }


def data_batches_per_s(preset: str, batches: int = 30) -> float:
    """Batches per second of ``preset``'s data path as the loop runs it: ``train_set.batch`` of
    the next ``batch_size`` examples of the epoch's permutation of the training subset (overlays
    drawn fresh) plus ``to_device``; one warm-up batch, then the mean over ``batches``."""
    import numpy as np

    from empirical import presets
    from empirical.parts import build_dataset, to_device
    from empirical.plan import epoch_permutation, training_subset

    cfg = presets.get(preset)
    train_set = build_dataset(cfg, "train")
    subset = training_subset(cfg.run.seed, len(train_set), cfg.data.train_size)
    perm = epoch_permutation(cfg.run.seed, 0, len(subset))
    rng = np.random.default_rng([cfg.run.seed, 1, 0])
    size, cpu = cfg.optim.batch_size, torch.device("cpu")
    steps = len(subset) // size

    def read(i: int) -> None:
        lo = (i % steps) * size
        to_device(train_set.batch(subset[perm[lo : lo + size]], rng), cpu, torch.float32)

    read(0)
    t = time.perf_counter()
    for i in range(batches):
        read(i + 1)
    return batches / (time.perf_counter() - t)


def step_overhead(preset: str = "expert-digits-cpu", repeats: int = 7) -> dict[str, float]:
    """Median seconds of ``train_step``, of encoder + head forward and backward alone on the same
    views, and of the views alone (interleaved, current torch threads); see the module docstring."""
    from benchmarks.viewmaker import interleaved_medians, preset_step

    cfg, batch, parts, step = preset_step(preset)
    views = parts.views
    generator = torch.Generator().manual_seed(cfg.run.seed)
    pair = views(batch, generator)
    x = torch.cat([pair.v1, pair.v2])  # (2n, C, H, W), as the step feeds the encoder
    if cfg.run.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        grad_z = torch.randn_like(parts.head(parts.encoder(x)))  # (2n, d)

    def encoder_only() -> None:
        parts.optimizer.zero_grad(set_to_none=True)
        parts.head(parts.encoder(x)).backward(grad_z)

    t = interleaved_medians(
        {"step": step, "encoder": encoder_only, "views": lambda: views(batch, generator)},
        repeats,
    )
    return {
        "train_step_s_expert": round(t["step"], 4),
        "train_step_encoder_s_expert": round(t["encoder"], 4),
        "train_step_views_s_expert": round(t["views"], 4),
        "train_step_overhead_expert": round(1.0 - t["encoder"] / t["step"], 3),
    }


def run() -> dict[str, float | int | str]:
    threads, previous = bench_threads(), torch.get_num_threads()
    torch.set_num_threads(threads)  # the matmul reference runs with the training runs' threads
    try:
        matmul = matmul_flops_per_s()
        data_rate = data_batches_per_s("viewmaker-digits-cpu")
        overhead = step_overhead()  # with the training runs' threads
        torch.set_num_threads(1)  # and with one (less sensitive to other load on the machine)
        overhead.update({f"{k}_1thread": v for k, v in step_overhead().items()})
    finally:
        torch.set_num_threads(previous)
    out: dict[str, float | int | str] = {"train_matmul_gflops": round(matmul / 1e9, 2), **overhead}
    with tempfile.TemporaryDirectory() as tmp:
        expert = pretrain("expert-digits-cpu", Path(tmp) / "expert", threads)
        viewmaker = pretrain("viewmaker-digits-cpu", Path(tmp) / "viewmaker", threads)
    from empirical import presets

    steps_rate = viewmaker["img_per_s"] / presets.get("viewmaker-digits-cpu").optim.batch_size
    flops_vm = step_flops_per_image("viewmaker-digits-cpu")
    flops_ex = step_flops_per_image("expert-digits-cpu")
    out.update(
        {
            "pretrain_digits_cpu_s": round(viewmaker["wall_s"], 1),
            "pretrain_digits_cpu_s_expert": round(expert["wall_s"], 1),
            "train_images_per_s_expert": round(expert["img_per_s"], 1),
            "train_images_per_s_viewmaker": round(viewmaker["img_per_s"], 1),
            "train_flops_fraction": round(flops_vm * viewmaker["img_per_s"] / matmul, 3),
            "train_flops_fraction_expert": round(flops_ex * expert["img_per_s"] / matmul, 3),
            "train_peak_rss_mb": round(max(expert["rss_mb"], viewmaker["rss_mb"]), 1),
            "train_threads": threads,
            "data_batches_per_s": round(data_rate, 2),
            "train_steps_per_s": round(steps_rate, 3),
            "data_vs_step_ratio": round(data_rate / steps_rate, 2),
        }
    )
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
