"""What ``empirical.allocator.keep_freed_memory`` buys: the training step of two figure
configurations (an oracle run of exp_oracle_dropout, a viewmaker run of exp_views_multitask)
with glibc's default allocator settings against the tuned ones.

Each measurement is a fresh subprocess (the allocator is set once per process) with
``FEATUREDROP_MALLOC=default`` or ``tuned`` and one torch thread: the configuration's parts and
first batch (``benchmarks.throughput.configuration_step``), :data:`WARMUP` steps, then
:data:`STEPS` timed steps, their median and the minor page faults per timed step
(``getrusage``). The two settings alternate for :data:`ROUNDS` rounds, so that a drift of the
machine's speed falls on both; reported are each setting's median over its rounds and the ratio
``default / tuned`` (above 1: the tuned allocator is faster).

Keys per configuration (LABEL = ``figure.preset``): ``allocator_LABEL_default_step_s``,
``_tuned_step_s``, ``_speedup``, ``_default_faults_per_step``, ``_tuned_faults_per_step``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

WARMUP, STEPS, ROUNDS = 2, 6, 2
FIGURES = ("exp_oracle_dropout", "exp_views_multitask")


def _child(label: str) -> None:
    import resource
    import time

    import torch

    from benchmarks.throughput import configuration_step, configurations
    from empirical.allocator import keep_freed_memory

    torch.set_num_threads(1)
    state = keep_freed_memory()
    config = next(c for c in configurations()[0] if c.label == label)
    step, _batch = configuration_step(config)
    for _ in range(WARMUP):
        step()
    times = []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    print(
        json.dumps(
            {
                "allocator": state,
                "step_s": statistics.median(times),
                "faults_per_step": faults / STEPS,
            }
        )
    )


def _measure(label: str, setting: str) -> dict[str, float | str]:
    env = {**os.environ, "FEATUREDROP_MALLOC": setting}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.allocator", "--child", label],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def labels() -> list[str]:
    """The first configuration of each figure in :data:`FIGURES`
    (``benchmarks.throughput.configurations``)."""
    from benchmarks.throughput import configurations

    configs = configurations()[0]
    return [next(c.label for c in configs if c.label.startswith(f"{f}.")) for f in FIGURES]


def run() -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {}
    for label in labels():
        got: dict[str, list[dict[str, float | str]]] = {"default": [], "tuned": []}
        for _ in range(ROUNDS):
            for setting in got:
                got[setting].append(_measure(label, setting))
        key = f"allocator_{label}"
        step = {s: statistics.median(float(m["step_s"]) for m in ms) for s, ms in got.items()}
        for s, ms in got.items():
            out[f"{key}_{s}_step_s"] = round(step[s], 4)
            out[f"{key}_{s}_faults_per_step"] = round(
                statistics.median(float(m["faults_per_step"]) for m in ms)
            )
        out[f"{key}_speedup"] = round(step["default"] / step["tuned"], 3)
        out[f"{key}_tuned_state"] = str(got["tuned"][0]["allocator"])
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        print(json.dumps(run(), indent=2))
