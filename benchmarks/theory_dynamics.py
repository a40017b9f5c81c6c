"""Vectorised gradient descent on many linear models against a per-configuration Python loop.

``B`` random models (3 isotropic groups of dimension 2, so ``d = 6``; ``m = 2``; random
strengths, dropouts and noise) are trained from a small random start by
:func:`linear_theory.dynamics.gradient_descent` in one call, and a subset of the same
configurations (same start, step sizes, step budget and tolerance) by
the same function's per-configuration loop (``method="loop"``). Per-configuration CPU times
(``time.process_time``, one thread, so other processes on the machine do not inflate them) are
compared side by side in this run; both results are checked against the closed-form optimal
loss ``-sum of the top-m (c_i / a_i)^2`` and against each other.

Configurations are drawn until ``B`` have a spectral gap ``lambda_(m+1) <= 0.8 lambda_(m)`` at
the capacity boundary: with a near-tie gradient descent needs arbitrarily many steps to separate
the two directions (the loss is then nearly optimal anyway). Step sizes are per configuration,
``LR / max_i c_i``. The main figures use the unrotated (diagonal) ``C, A`` and float32 in both
implementations; ``_float64`` repeats them in float64, and ``_rotated`` (float32) with a random
rotation per configuration (same dynamics; the batched code then first finds the joint
eigenbasis of ``C`` and ``A``, with a batched ``eigh`` that is part of the timed cost).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from linear_theory.dynamics import gradient_descent
from linear_theory.model import FloatArray

NUM_CONFIGS = 20_000
LOOP_CONFIGS = 200
GROUP_DIMS = (2, 2, 2)
EMBED_DIM = 2
MAX_GAP = 0.8
LR = 0.1
STEPS = 5000
TOL = 1e-5  # gradient norm; float32 rounding sits near 1e-6
INIT_SCALE = 0.05


def make_configs(
    b: int, rng: np.random.Generator, rotate: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Random ``(C, A, W0, lr, optimal_loss)``: ``(B, d, d)`` x2, ``(B, m, d)``, ``(B,)`` x2."""
    k, d = len(GROUP_DIMS), sum(GROUP_DIMS)
    idx = np.repeat(np.arange(k), GROUP_DIMS)
    c_parts, a_parts, have = [], [], 0
    while have < b:
        strength = rng.uniform(0.5, 1.5, (b, k))
        keep = 1.0 - rng.uniform(0.0, 0.6, (b, k))
        noise = rng.uniform(0.1, 0.6, (b, 1))
        c = (keep**2 * strength**2)[:, idx]  # (b, d) diagonal of C
        a = (keep * strength**2)[:, idx] + noise**2  # (b, d) diagonal of A
        lam = np.sort(c / a, axis=1)[:, ::-1]  # eigenvalues of T, descending
        ok = lam[:, EMBED_DIM] <= MAX_GAP * lam[:, EMBED_DIM - 1]
        c_parts.append(c[ok])
        a_parts.append(a[ok])
        have += int(ok.sum())
    c, a = np.concatenate(c_parts)[:b], np.concatenate(a_parts)[:b]
    lam = np.sort(c / a, axis=1)[:, ::-1]
    opt = -np.sum(lam[:, :EMBED_DIM] ** 2, axis=1)
    lr = LR / c.max(axis=1)
    cm, am = c[:, :, None] * np.eye(d), a[:, :, None] * np.eye(d)  # (B, d, d) diagonal
    if rotate:
        q, r = np.linalg.qr(rng.standard_normal((b, d, d)))
        rot = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]  # (B, d, d) Haar
        rot_t = np.swapaxes(rot, 1, 2)
        cm, am = rot @ cm @ rot_t, rot @ am @ rot_t  # R diag R^T, (B, d, d)
    w0 = INIT_SCALE * rng.standard_normal((b, EMBED_DIM, d))
    return cm, am, w0, lr, opt


def compare(rotate: bool, double: bool, seed: int) -> dict[str, float]:
    """Time both implementations on the same configurations; check losses and agreement."""
    c, a, w0, lr, opt = make_configs(NUM_CONFIGS, np.random.default_rng(seed), rotate)
    sub = slice(0, LOOP_CONFIGS)
    dtype = torch.float64 if double else torch.float32
    t0, w0_wall = time.process_time(), time.perf_counter()
    batched = gradient_descent(c, a, w0, lr, STEPS, TOL, dtype=dtype)
    t_batched = (time.process_time() - t0) / NUM_CONFIGS
    wall_batched = (time.perf_counter() - w0_wall) / NUM_CONFIGS
    t0, w0_wall = time.process_time(), time.perf_counter()
    loop = gradient_descent(c[sub], a[sub], w0[sub], lr[sub], STEPS, TOL, dtype, "loop")
    t_loop = (time.process_time() - t0) / LOOP_CONFIGS
    wall_loop = (time.perf_counter() - w0_wall) / LOOP_CONFIGS
    return {
        "speedup": t_loop / t_batched,
        "speedup_wall": wall_loop / wall_batched,
        "batched_s_per_config": t_batched,
        "loop_s_per_config": t_loop,
        "mean_steps": float(batched.steps.mean()),
        "max_steps": float(batched.steps.max()),
        "converged_frac": float(batched.converged.mean()),
        "max_rel_err_batched": float(np.max(np.abs(batched.loss - opt) / np.abs(opt))),
        "max_rel_err_loop": float(np.max(np.abs(loop.loss - opt[sub]) / np.abs(opt[sub]))),
        "max_abs_diff_batched_loop": float(np.abs(batched.w[sub] - loop.w).max()),
        "steps_equal_frac": float(np.mean(batched.steps[sub] == loop.steps)),
    }


def run() -> dict[str, float | int | str]:
    """All three variants on one torch thread; the caller's thread count is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out: dict[str, float | int | str] = {
            "theory_gradflow_configs": NUM_CONFIGS,
            "theory_gradflow_loop_configs": LOOP_CONFIGS,
        }
        variants = ((False, False, ""), (False, True, "_float64"), (True, False, "_rotated"))
        for rotate, double, suffix in variants:
            for key, value in compare(rotate, double, seed=0).items():
                out[f"theory_gradflow_{key}{suffix}"] = value
        return out
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value}")
