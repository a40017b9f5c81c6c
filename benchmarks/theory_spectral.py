"""Benchmark: closed-form K=2 phase diagram on a 512 x 512 grid over (s1/s2, p)."""

from __future__ import annotations

import time

import numpy as np

from linear_theory.spectral import phase_diagram

GRID = 512
REPEATS = 5


def run() -> dict[str, float | int | str]:
    """Best of 5 wall-clock seconds for ``phase_diagram`` on a 512 x 512 (s1/s2, p) grid."""
    ratio = np.linspace(0.05, 5.0, GRID)
    p = np.linspace(0.0, 1.0, GRID)
    rr, pp = np.meshgrid(ratio, p, indexing="ij")  # (GRID, GRID) each
    best = np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = phase_diagram(rr, pp, m=1, sigma=0.5, dims=(1, 1))
        best = min(best, time.perf_counter() - start)
    if out.learned_dims.shape != (GRID, GRID, 2):
        raise RuntimeError(f"unexpected phase diagram shape {out.learned_dims.shape}")
    return {"theory_phase_512_s": round(best, 6)}


if __name__ == "__main__":
    print(run())
