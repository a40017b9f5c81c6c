"""Linear-theory benchmarks: closed-form phase diagram and vectorised gradient flow."""

from __future__ import annotations


def run() -> dict[str, float | int | str]:
    from benchmarks import theory_dynamics, theory_spectral

    out: dict[str, float | int | str] = {}
    out.update(theory_spectral.run())
    out.update(theory_dynamics.run())
    return out
