"""Data benchmarks (issue 3): building every default suite from an empty cache, and how many
images per second the overlay suites deliver (batch 256, one thread)."""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from empirical.data.cache import CACHE_ENV


def run(batch_size: int = 256, batches: int = 40) -> dict[str, float | int | str]:
    """Returns:
    ``data_build_s``: seconds to build train and test of every default suite (``default_suites``)
    from an empty (temporary) cache folder; ``data_batch_images_per_s``: the slowest default overlay
    suite's images per second over ``batches`` reads of ``batch_size`` random examples.
    """
    from empirical.data.registry import build_suite, default_suites

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    old = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="data_cache_") as tmp:
        os.environ[CACHE_ENV] = tmp
        try:
            names = sorted(default_suites())
            t0 = time.perf_counter()
            built = {n: build_suite(n, "train") for n in names}
            for n in names:
                build_suite(n, "test")
            build_s = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = old
    rates = {}
    for name in (n for n in names if n.startswith("overlay-")):
        ds = built[name]
        rng = np.random.default_rng(0)
        ds.batch(rng.integers(0, len(ds), batch_size), rng)  # warm-up
        t0 = time.perf_counter()
        for _ in range(batches):
            ds.batch(rng.integers(0, len(ds), batch_size), rng)
        rates[name] = batches * batch_size / (time.perf_counter() - t0)
    torch.set_num_threads(threads)  # leave the process as it was for the next benchmark
    slowest = min(rates, key=rates.__getitem__)
    return {
        "data_build_s": round(build_s, 2),
        "data_build_suites": len(names),
        "data_batch_images_per_s": round(rates[slowest]),
        "data_batch_slowest_suite": slowest,
    }


if __name__ == "__main__":
    print(run())
