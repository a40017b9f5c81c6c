"""Evaluation benchmark: probing the default CPU preset's encoder on every task of its suite.

``probe_s`` is the wall time of ``empirical.evaluate.evaluate_probes`` with default options
(pre-pool features of the run's training examples and of the whole test split, then a
weight-decay-selected linear probe per task). Training (a few steps of the default preset, unless
a run directory is given) and building the datasets are not timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def run(
    run_dir: str | None = None, train_steps: int = 3, threads: int = 1
) -> dict[str, float | int | str]:
    """Time the probes of ``run_dir`` (default: a fresh run of the default preset trained for
    ``train_steps`` steps in a temporary folder) with ``threads`` torch CPU threads."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(run_dir, train_steps)
    finally:
        torch.set_num_threads(previous)


def _run(run_dir: str | None, train_steps: int) -> dict[str, float | int | str]:
    import torch

    from empirical import presets
    from empirical.config import apply_overrides
    from empirical.evaluate import EvalInputs, EvalOptions, evaluate_probes
    from empirical.runs import load_run
    from empirical.train import train

    with tempfile.TemporaryDirectory() as tmp:
        if run_dir is None:
            cfg = apply_overrides(
                presets.get(presets.DEFAULT),
                [f"optim.max_steps={train_steps}", "run.knn_every=0", "run.device=cpu"],
            )
            run_dir = str(Path(tmp) / "run")
            train(cfg, run_dir)
        loaded = load_run(run_dir, "cpu")
        train_set, test_set = loaded.dataset("train"), loaded.dataset("test")
        options = EvalOptions()
        t0 = time.perf_counter()
        evaluate_probes(EvalInputs.of(loaded, options, train_set, test_set))
        probe_s = time.perf_counter() - t0
    return {
        "probe_s": round(probe_s, 2),
        "probe_preset": presets.DEFAULT,
        "probe_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    import sys

    print(run(sys.argv[1] if len(sys.argv) > 1 else None))
