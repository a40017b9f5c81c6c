"""Spirograph renderer benchmark: one batch of 512 RGB 32x32 images, single thread, float32."""

from __future__ import annotations

import time


def run(repeats: int = 20) -> dict[str, float | int | str]:
    """Best-of-``repeats`` wall time of ``render_from_params`` on 512 examples (milliseconds)."""
    import numpy as np
    import torch

    from empirical.data.spirograph import render_from_params, sample_nuisance, sample_targets

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = np.random.default_rng(0)
        targets, alpha = sample_targets(512, gen), sample_nuisance(512, gen)
        with torch.no_grad():
            for _ in range(3):
                render_from_params(targets, alpha)
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                render_from_params(targets, alpha)
                best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return {"spirograph_render_512_ms": round(best * 1000.0, 3)}


if __name__ == "__main__":
    print(run())
