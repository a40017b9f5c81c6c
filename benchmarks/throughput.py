"""Throughput of the CPU configurations the experiment figures train (issue 10, "Budget and
performance"): images per second of a full training step, single-threaded, and the fraction of
the machine's float32 matmul FLOP/s it achieves.

Configurations: for every registered figure that lists its runs (``FigureSpec.specs``, else its
module's specs function in :data:`SPECS_FUNCTIONS`), the first run of each preset it uses, with
the overrides the figure's ``default_config`` gives it (for the overlay suites
``figures.experiments.common.cpu_scale``); presets of :data:`EXTRA_PRESETS` that no figure covers
are measured as the preset itself. Runs sharing preset and overrides are measured once.

Per configuration, in this process with one torch thread: the run's resolved config, its parts
(``empirical.parts.build_parts``) and its first training batch; one production step
(``empirical.step.train_step``) under ``torch.utils.flop_counter.FlopCounterMode`` (the step's
FLOPs: forward and backward of every matmul and convolution, views and viewmaker included; it is
also the warm-up), then the median time of :data:`REPEATS` steps. ``images/s = batch / step_s``;
``flop_fraction = step_flops / step_s / matmul_flop_per_s``, where ``matmul_flop_per_s`` is the
best dense ``(1024, 1024) @ (1024, 1024)`` float32 product measured here with the same one
thread (``benchmarks.train.matmul_flops_per_s``). Configurations are measured round-robin over
the figures until :data:`BUDGET_S` seconds have passed; the rest are reported as skipped.

Keys: ``throughput_matmul_gflops_1thread``, and per configuration ``throughput_LABEL_img_per_s``,
``_step_s``, ``_gflop_per_step``, ``_flop_fraction`` and ``_overrides`` (LABEL =
``figure.preset``); ``throughput_skipped`` lists configurations left out.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

REPEATS = 2
BUDGET_S = 90.0
# specs functions of figures whose FigureSpec does not list its runs (yet)
SPECS_FUNCTIONS = {
    "exp_oracle_dropout": "figures.experiments.oracle:oracle_specs",
    "exp_views_multitask": "figures.experiments.multitask:multitask_specs",
    "exp_randbits": "figures.experiments.randbits:randbits_specs",
    "exp_foster": "figures.experiments.foster:foster_specs",
    "exp_audio": "figures.experiments.audio:audio_specs",
    "exp_viewmaker_budget": "figures.experiments.budget:all_specs",
    "exp_local_features": "figures.experiments.local:local_specs",
}
EXTRA_PRESETS = ("randbits-cpu", "spirograph-cpu", "expert-audio-cpu", "viewmaker-audio-cpu")


@dataclass(frozen=True)
class Configuration:
    """One training configuration: a label (``figure.preset``), preset and overrides."""

    label: str
    preset: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Measurement:
    """A configuration's step: FLOPs per step, median seconds, images/s, matmul fraction."""

    step_flops: int
    step_s: float
    img_per_s: float
    flop_fraction: float


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (``FlopCounterMode``: matmuls and convolutions, forward and
    backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def flop_fraction(step_flops: float, step_s: float, matmul_flop_per_s: float) -> float:
    """The step's achieved FLOP/s (``step_flops / step_s``) as a fraction of the matmul FLOP/s."""
    if step_s <= 0.0 or matmul_flop_per_s <= 0.0:
        raise ValueError(
            f"step_s and matmul_flop_per_s must be > 0; got {step_s} and {matmul_flop_per_s}"
        )
    return step_flops / step_s / matmul_flop_per_s


def measure(
    step: Callable[[], object],
    batch_size: int,
    matmul_flop_per_s: float,
    repeats: int = REPEATS,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Count one step's FLOPs (the warm-up), then time ``repeats`` steps (median)."""
    flops = count_flops(step)
    times = []
    for _ in range(repeats):
        start = clock()
        step()
        times.append(clock() - start)
    step_s = statistics.median(times)
    return Measurement(
        flops, step_s, batch_size / step_s, flop_fraction(flops, step_s, matmul_flop_per_s)
    )


def _specs_of(name: str, spec: Any) -> list[Any]:
    cfg = spec.default_config()
    if spec.specs is not None:
        return list(spec.specs(cfg))
    if name not in SPECS_FUNCTIONS:
        return []
    module, fn = SPECS_FUNCTIONS[name].split(":")
    return list(getattr(importlib.import_module(module), fn)(cfg))


def configurations() -> tuple[list[Configuration], list[str]]:
    """The figures' configurations, round-robin over the figures in order of their number of
    runs (most first: where ``make figures`` spends its time), each figure's first preset first,
    then the uncovered extra presets; the second value names figures whose runs could not be
    listed, with why."""
    from figures.registry import FIGURES

    listed: list[tuple[str, list[Any]]] = []
    problems: list[str] = []
    for name, spec in sorted(FIGURES.items()):
        try:
            listed.append((name, _specs_of(name, spec)))
        except Exception as exc:  # a figure being edited must not stop the benchmark
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    per_figure: list[list[Configuration]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for name, specs in sorted(listed, key=lambda x: -len(x[1])):
        mine: list[Configuration] = []
        for s in specs:
            key = (s.preset, tuple(s.overrides))
            if key in seen or any(c.preset == s.preset for c in mine):
                continue
            seen.add(key)
            mine.append(Configuration(f"{name}.{s.preset}", s.preset, tuple(s.overrides)))
        if mine:
            per_figure.append(mine)
    ordered = [
        c for i in range(max(map(len, per_figure), default=0)) for c in _column(per_figure, i)
    ]
    covered = {c.preset for c in ordered}
    ordered += [Configuration(p, p, ()) for p in EXTRA_PRESETS if p not in covered]
    return ordered, problems


def _column(rows: Sequence[Sequence[Configuration]], i: int) -> list[Configuration]:
    return [r[i] for r in rows if i < len(r)]


def configuration_step(c: Configuration) -> tuple[Callable[[], object], int]:
    """The production training step of configuration ``c`` on its first batch, and the batch
    size."""
    import numpy as np

    from empirical import presets
    from empirical.compute import resolve_compute
    from empirical.config import apply_overrides
    from empirical.data.subsets import channel_counts
    from empirical.distributed import DistInfo
    from empirical.parts import build_dataset, build_parts, to_device
    from empirical.step import train_step

    cfg = apply_overrides(presets.get(c.preset), [*c.overrides, "run.device=cpu"])
    info, cpu = DistInfo(), torch.device("cpu")
    compute = resolve_compute(cfg, cpu, info)
    data = build_dataset(cfg, "train")
    size = cfg.optim.batch_size
    raw = data.batch(np.arange(size) % len(data), np.random.default_rng(cfg.run.seed))
    batch = to_device(raw, cpu, compute.dtype)
    channels = channel_counts(data)
    parts = build_parts(cfg, channels.total, channels.views, 10**6, 100, cpu, info)

    def step() -> object:
        return train_step(parts, batch, cfg, info, compute)

    return step, size


def run() -> dict[str, float | int | str]:
    from benchmarks.train import matmul_flops_per_s

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    out: dict[str, float | int | str] = {}
    try:
        matmul = matmul_flops_per_s()
        out["throughput_matmul_gflops_1thread"] = round(matmul / 1e9, 2)
        configs, problems = configurations()
        skipped = [*problems]
        start = time.perf_counter()
        for c in configs:
            if time.perf_counter() - start > BUDGET_S:
                skipped.append(f"{c.label}: over the {BUDGET_S:g} s budget")
                continue
            try:
                step, size = configuration_step(c)
                m = measure(step, size, matmul)
            except Exception as exc:  # reported, the other configurations still run
                skipped.append(f"{c.label}: {type(exc).__name__}: {exc}")
                continue
            key = f"throughput_{c.label}"
            out[f"{key}_img_per_s"] = round(m.img_per_s, 1)
            out[f"{key}_step_s"] = round(m.step_s, 4)
            out[f"{key}_gflop_per_step"] = round(m.step_flops / 1e9, 3)
            out[f"{key}_flop_fraction"] = round(m.flop_fraction, 4)
            out[f"{key}_overrides"] = " ".join(c.overrides)
        out["throughput_skipped"] = "; ".join(skipped)
        out["throughput_bench_s"] = round(time.perf_counter() - start, 1)
    finally:
        torch.set_num_threads(previous)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
