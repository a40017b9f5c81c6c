"""``exp_oracle_dropout`` (Tamkin et al. 2023; the empirical twin of ``theory_vs_p``): oracle
feature-dropout views on an overlay suite for a range of p; probe accuracy of the overlay (the
easy / strong feature) and the background (the weak one) against p, beside the linear model's
optimum.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures import style
from figures.claims import Claim
from figures.experiments.common import (
    TAMKIN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _probe,
    _reference_lines,
    _slug,
    _steps,
    _sweep,
    _theory_defaults,
    _train_time,
    cpu_scale,
    gains,
    linear_probe_vs_p,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval
from figures.sweep import RUNS_DIR, RunSpec, load_eval

# ---------------------------------------------------------------------------------------------
# (1) oracle feature dropout against p


def oracle_config() -> Config:
    return {
        # per suite: its preset, its data suite and its tasks (the overlay's first)
        "suites": {
            "shapes": {
                "preset": "oracle-shapes-cpu",
                "suite": "overlay-shapes-on-fashion",
                "tasks": ["shape", "background"],
            },
            "digits": {
                "preset": "oracle-digits-cpu",
                "suite": "overlay-digits-on-fashion",
                "tasks": ["digit", "background"],
            },
        },
        "ps": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "seeds": [0, 1, 2],
        "overrides": cpu_scale(192),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "pooled"},
        "theory": {**_theory_defaults(), "grid": 101},
        "runs_root": str(RUNS_DIR),
    }


def oracle_specs(cfg: Config) -> list[RunSpec]:
    """One run per suite, p and seed (p = 1 is the overlay-free control: both views without
    their overlay)."""
    return [
        RunSpec(
            "exp_oracle_dropout",
            f"{name}-p{p:g}-s{seed}",
            suite["preset"],
            (
                *cfg["overrides"],
                f"data.suite={suite['suite']}",
                "views.name=oracle",
                f"views.p={p}",
            ),
            seed,
            (_probe(cfg),),
        )
        for name, suite in cfg["suites"].items()
        for p in cfg["ps"]
        for seed in cfg["seeds"]
    ]


def compute_oracle(cfg: Config) -> Results:
    specs = oracle_specs(cfg)
    probe = _probe(cfg)
    base = _sweep(cfg, specs, (probe,))
    tasks = cfg["tasks"]
    acc: dict[str, list[list[float]]] = {t: [] for t in tasks}
    untrained: dict[str, list[list[float]]] = {t: [] for t in tasks}
    pixels: dict[str, list[float]] = {t: [] for t in tasks}
    times = []
    suite = ""
    it = iter(specs)
    for _ in cfg["ps"]:
        per_seed: dict[str, list[float]] = {t: [] for t in tasks}
        per_seed_u: dict[str, list[float]] = {t: [] for t in tasks}
        for _ in cfg["seeds"]:
            spec = next(it)
            rec = load_eval(spec.run_dir(base.root), probe)
            unt = base.untrained(spec.name, probe)
            for t in tasks:
                per_seed[t].append(rec["metrics"][t]["accuracy"])
                per_seed_u[t].append(unt["metrics"][t]["accuracy"])
            times.append(_train_time(spec.run_dir(base.root)) + rec["elapsed_s"])
            suite = rec["config"]["data"]["suite"]
        px = base.pixel(spec.name)["metrics"]
        for t in tasks:
            acc[t].append(per_seed[t])
            untrained[t].append(per_seed_u[t])
            pixels[t].append(px[t]["accuracy"])
    p_grid = np.linspace(0.0, 1.0, cfg["theory"]["grid"])
    return {
        "ps": cfg["ps"],
        "seeds": cfg["seeds"],
        "suite": suite,
        "accuracy": acc,  # task -> (len(ps), len(seeds))
        "untrained": untrained,  # task -> (len(ps), len(seeds)): the same seeds untrained
        "pixels": pixels,  # task -> (len(ps),): raw-pixel probe
        "chance": 0.1,
        "run_s": times,
        "theory_p": p_grid.tolist(),
        "theory_acc": linear_probe_vs_p(cfg["theory"], p_grid.tolist()),
    }


def oracle_gains(res: Results) -> dict[str, list[Interval]]:
    """Task -> the gain interval at each p."""
    return {t: gains(res["accuracy"][t], res["untrained"][t]) for t in res["accuracy"]}


def oracle_gate(res: Results) -> Gate:
    return gate(
        {
            f"p={p:g} {t}": g
            for t, per_p in oracle_gains(res).items()
            for p, g in zip(res["ps"], per_p, strict=True)
        }
    )


def plot_oracle(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 3, width=3.3, height=3.3)
    ax = axes[0, 0]
    th = np.asarray(res["theory_acc"])
    ax.plot(res["theory_p"], th[:, 0], color=style.STRONG, label="strong task", **style.THEORY)
    ax.plot(res["theory_p"], th[:, 1], color=style.WEAK, label="weak task", **style.THEORY)
    ax.axhline(0.5, label="chance (sign task)", **style.CHANCE)
    ax.set_ylim(0.0, 1.02)
    ax.set_title("linear theory: optimal encoder")
    ax.set_ylabel("linear probe accuracy (clean inputs)")
    _legend(ax, baselines_too=False)
    g = oracle_gate(res)
    alpha = 1.0 if g.open else style.FADED
    ax = axes[0, 1]
    names = {cfg["tasks"][0]: f"{cfg['tasks'][0]} (overlay, strong)"}
    if len(cfg["tasks"]) > 1:
        names[cfg["tasks"][1]] = f"{cfg['tasks'][1]} (weak)"
    colors = dict(zip(cfg["tasks"], (style.STRONG, style.WEAK), strict=False))
    for task in cfg["tasks"]:
        c = colors.get(task, style.NEUTRAL)
        _markers(ax, res["ps"], res["accuracy"][task], c, names[task], alpha)
        _reference_lines(ax, res["ps"], res["untrained"][task], res["pixels"][task], c, task)
    ax.axhline(res["chance"], label="chance (10 classes)", **style.CHANCE)
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("linear probe accuracy")
    ax.set_title(f"small ResNet, {res.get('suite') or 'overlay suite'}")
    _legend(ax)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "values of p"))
    ax = axes[0, 2]
    for task, per_p in oracle_gains(res).items():
        _draw_gains(ax, res["ps"], per_p, colors.get(task, style.NEUTRAL), task, f"gain:{task}")
    _gain_axes(ax)
    ax.set_title("trained minus untrained, same seed")
    _legend(ax, baselines_too=False)
    for a in axes[0]:
        a.set_xlabel("oracle dropout $p$ of the overlay")
    _gate_footnote(fig)
    t = cfg["theory"]
    fig.suptitle(
        "Oracle feature dropout: the easy overlay dropped in a fraction p of views\n"
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps; "
        f"theory: s = ({t['s_strong']:g}, {t['s_weak']:g}), "
        f"$\\sigma$ = {t['sigma']:g}, m = {t['m']})",
        fontsize=9,
    )
    return fig


def _theory_at(res: Results, p: float, k: int) -> float:
    th = np.asarray(res["theory_acc"], dtype=float)
    return float(np.interp(p, res["theory_p"], th[:, k]))


def claims_oracle(res: Results, cfg: Config) -> list[Claim]:
    """Tamkin et al.: dropping the overlay in more views raises the background and lowers the
    overlay (largest p against smallest p, seeds paired)."""
    g = oracle_gate(res)
    ps = list(res["ps"])
    lo, hi = int(np.argmin(ps)), int(np.argmax(ps))
    overlay, background = cfg["tasks"][0], cfg["tasks"][-1]
    p0, p1 = ps[lo], ps[hi]
    theory = "linear model's optimal encoder, probe accuracy of the {} group (sign task)"
    out = []
    for task, k, sign, what in (
        (
            background,
            1,
            1,
            "raises the probe accuracy of the background, the feature it suppresses",
        ),
        (overlay, 0, -1, "lowers the probe accuracy of the overlay itself"),
    ):
        acc = res["accuracy"][task]
        out.append(
            Claim(
                id=f"tamkin2023.oracle.{_slug(task)}-{'rises' if sign > 0 else 'falls'}-with-p",
                figure="exp_oracle_dropout",
                paper=TAMKIN,
                claim=f"Dropping the easy overlay in more views (oracle feature dropout) {what}.",
                effect=f"{task} accuracy at p = {p1:g} minus at p = {p0:g}",
                measured=paired_interval(acc[hi], acc[lo]),
                predicted_sign=sign,
                theory={
                    "value": _theory_at(res, p1, k) - _theory_at(res, p0, k),
                    "text": theory.format("weak" if k else "strong"),
                },
                gated=not g.open,
                gate_reason="" if g.open else g.reason,
            )
        )
    return out


EXP_ORACLE_DROPOUT = FigureSpec(
    "exp_oracle_dropout",
    "deep: oracle feature dropout, probe accuracy of both tasks vs p, beside the theory",
    compute_oracle,
    plot_oracle,
    oracle_config,
    claims_oracle,
)
