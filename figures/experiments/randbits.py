"""``exp_randbits`` (Chen et al. 2021): digit probe accuracy against the number of random bits k
per temperature, beside linear InfoNCE with shared bits (``linear_theory.infonce``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures import style
from figures.claims import Claim
from figures.experiments.common import (
    CHEN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _mean_sd,
    _probe,
    _reference_lines,
    _short,
    _steps,
    _sweep,
    _train_time,
    gains,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, mean_interval, paired_interval
from figures.sweep import RUNS_DIR, RunSpec, load_eval

# ---------------------------------------------------------------------------------------------
# (3) RandBits: digit accuracy against the number of bits, per temperature


def randbits_config() -> Config:
    return {
        "bits": [0, 5, 10, 15, 20],
        "taus": [0.05, 0.1, 0.2],
        "seeds": [0, 1],
        "overrides": _short(60),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "prepool"},
        "theory": {"steps": 1000, "batch_size": 32, "lr": 0.01, "seeds": [0, 1]},
        "runs_root": str(RUNS_DIR),
    }


def randbits_specs(cfg: Config) -> list[RunSpec]:
    return [
        RunSpec(
            "exp_randbits",
            f"k{k}-t{tau:g}-s{seed}",
            f"randbits-k{k}-t{tau:g}-cpu",
            tuple(cfg["overrides"]),
            seed,
            (_probe(cfg),),
        )
        for k in cfg["bits"]
        for tau in cfg["taus"]
        for seed in cfg["seeds"]
    ]


def temperature_trend(acc: Any) -> float:
    """Mean over bits k > 0 of (value at the lowest temperature - value at the highest);
    ``acc`` has shape ``(bits, taus, ...)`` (extra axes averaged). Positive: lower temperature
    suppresses less (Chen et al.'s finding)."""
    a = np.asarray(acc, dtype=float)
    a = a.reshape(a.shape[0], a.shape[1], -1).mean(-1)  # (bits, taus)
    return float((a[1:, 0] - a[1:, -1]).mean())


def compute_randbits(cfg: Config) -> Results:
    from linear_theory.infonce import infonce_sweep

    specs = randbits_specs(cfg)
    probe = _probe(cfg)
    base = _sweep(cfg, specs, (probe,))
    it = iter(specs)
    acc, untrained, pixels = [], [], []
    times = []
    for _ in cfg["bits"]:
        row, row_u, row_px = [], [], []
        for _ in cfg["taus"]:
            seeds, seeds_u = [], []
            for _ in cfg["seeds"]:
                spec = next(it)
                rec = load_eval(spec.run_dir(base.root), probe)
                seeds.append(rec["metrics"]["digit"]["accuracy"])
                seeds_u.append(base.untrained(spec.name, probe)["metrics"]["digit"]["accuracy"])
                times.append(_train_time(spec.run_dir(base.root)) + rec["elapsed_s"])
            row.append(seeds)
            row_u.append(seeds_u)
            row_px.append(base.pixel(spec.name)["metrics"]["digit"]["accuracy"])
        acc.append(row)
        untrained.append(row_u)
        pixels.append(row_px)
    th = cfg["theory"]
    lin = infonce_sweep(
        bits=cfg["bits"],
        dropouts=(0.0,),
        taus=cfg["taus"],
        seeds=th["seeds"],
        steps=th["steps"],
        batch_size=th["batch_size"],
        lr=th["lr"],
    )
    probe_r2 = np.asarray(lin["probe_resolved"])[:, 0]  # (bits, taus, seeds)
    deep_trend, lin_trend = temperature_trend(acc), temperature_trend(probe_r2)
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": cfg["seeds"],
        "accuracy": acc,  # (bits, taus, seeds)
        "untrained": untrained,  # (bits, taus, seeds): the same seeds untrained
        "pixels": pixels,  # (bits, taus): raw-pixel probe (bits appended as in training)
        "chance": 0.1,
        "run_s": times,
        "theory_probe": probe_r2.tolist(),  # (bits, taus, theory seeds): resolved weak R^2
        "theory_share": np.asarray(lin["shares"])[:, 0, :, :, 1].tolist(),
        "deep_trend": deep_trend,
        "linear_trend": lin_trend,
        "agree": bool(np.sign(deep_trend) == np.sign(lin_trend)),
    }


def randbits_gains(res: Results) -> list[list[Interval]]:
    """``(taus, bits)``: the gain interval of each temperature at each k."""
    acc, unt = np.asarray(res["accuracy"], dtype=float), np.asarray(res["untrained"], dtype=float)
    return [gains(acc[:, j], unt[:, j]) for j in range(acc.shape[1])]


def randbits_gate(res: Results) -> Gate:
    return gate(
        {
            f"k={k} tau={tau:g}": g
            for tau, per_k in zip(res["taus"], randbits_gains(res), strict=True)
            for k, g in zip(res["bits"], per_k, strict=True)
        }
    )


def _trend_text(v: float) -> str:
    if v == 0:
        return "no temperature effect"
    return "lower $\\tau$ suppresses less" if v > 0 else "lower $\\tau$ suppresses more"


def plot_randbits(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 3, width=3.4, height=3.3)
    colors = list(style.SEQUENCE)
    th = np.asarray(res["theory_probe"])
    ax = axes[0, 0]
    for j, tau in enumerate(res["taus"]):
        mean, _ = _mean_sd(th[:, j])
        ax.plot(
            res["bits"],
            mean,
            color=colors[j % len(colors)],
            label=f"$\\tau$ = {tau:g}",
            **style.THEORY,
        )
    ax.set_ylabel("weak-group probe $R^2$ (resolved)")
    ax.set_title("linear InfoNCE, no bit dropout")
    ax.set_ylim(0.0, 1.02)
    _legend(ax, ncol=3, baselines_too=False)
    g = randbits_gate(res)
    alpha = 1.0 if g.open else style.FADED
    ax = axes[0, 1]
    acc = np.asarray(res["accuracy"])
    for j, tau in enumerate(res["taus"]):
        c = colors[j % len(colors)]
        _markers(ax, res["bits"], acc[:, j], c, f"$\\tau$ = {tau:g}", alpha)
        ax.plot(res["bits"], _mean_sd(acc[:, j])[0], color=c, lw=0.6, alpha=0.5 * alpha)
    unt = np.asarray(res["untrained"], dtype=float)  # (bits, taus, seeds)
    _reference_lines(
        ax,
        res["bits"],
        unt.reshape(unt.shape[0], -1),
        np.asarray(res["pixels"], dtype=float).mean(1),
        style.NEUTRAL,
        "digit",
    )
    ax.axhline(res["chance"], label="chance", **style.CHANCE)
    ax.set_ylabel("digit probe accuracy")
    ax.set_title("ConvNet, RandBits-MNIST, crop-only views")
    ax.set_ylim(0.0, 1.02)
    _legend(ax, ncol=3)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "bit counts and temperatures"))
    ax = axes[0, 2]
    for j, (tau, per_k) in enumerate(zip(res["taus"], randbits_gains(res), strict=True)):
        offset = (j - (len(res["taus"]) - 1) / 2) * 0.25
        _draw_gains(
            ax,
            np.asarray(res["bits"]) + offset,
            per_k,
            colors[j % len(colors)],
            f"$\\tau$ = {tau:g}",
            f"gain:tau={tau:g}",
        )
    _gain_axes(ax)
    ax.set_title("digit: trained minus untrained, same seed")
    _legend(ax, ncol=3, baselines_too=False)
    for a in axes[0]:
        a.set_xlabel("random bits k shared by both views")
        a.set_xticks(res["bits"])
    _gate_footnote(fig)
    lo, hi = res["taus"][0], res["taus"][-1]
    head = (
        "Random bits shared by both views suppress the digit "
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps)\n"
    )
    if g.open:
        verdict = "agree" if res["agree"] else "disagree"
        body = (
            f"temperature effect = value at $\\tau$ = {lo:g} minus at {hi:g}, mean over k > 0: "
            f"deep {res['deep_trend']:+.3f} ({_trend_text(res['deep_trend'])}), "
            f"linear {res['linear_trend']:+.3f} ({_trend_text(res['linear_trend'])}): "
            f"they {verdict}"
        )
    else:
        body = "the deep runs do not beat the untrained encoder: temperatures not compared"
    fig.suptitle(head + body, fontsize=9)
    return fig


def claims_randbits(res: Results, cfg: Config) -> list[Claim]:
    """Chen et al.: shared random bits suppress the digit (largest k against k = smallest,
    mean over temperatures); a lower temperature suppresses less (``temperature_trend`` per
    seed)."""
    g = randbits_gate(res)
    acc = np.asarray(res["accuracy"], dtype=float)  # (bits, taus, seeds)
    th = np.asarray(res["theory_probe"], dtype=float)  # (bits, taus, theory seeds)
    bits = list(res["bits"])
    lo, hi = int(np.argmin(bits)), int(np.argmax(bits))
    gated, reason = not g.open, "" if g.open else g.reason
    out = [
        Claim(
            id="chen2021.randbits.bits-suppress-digit",
            figure="exp_randbits",
            paper=CHEN,
            claim="A few random bits shared by both views suppress the learning of the digit "
            "(feature suppression).",
            effect=f"digit accuracy at k = {bits[hi]} minus at k = {bits[lo]}, mean over "
            "temperatures",
            measured=paired_interval(acc[hi].mean(0), acc[lo].mean(0)),
            predicted_sign=-1,
            theory={
                "value": float(th[hi].mean() - th[lo].mean()),
                "text": "linear InfoNCE, weak-group probe R^2 (resolved), mean over temperatures",
            },
            gated=gated,
            gate_reason=reason,
        )
    ]
    if len(res["taus"]) > 1 and len(bits) > 1:
        per_seed = [temperature_trend(acc[:, :, s]) for s in range(acc.shape[2])]
        out.append(
            Claim(
                id="chen2021.randbits.low-temperature-suppresses-less",
                figure="exp_randbits",
                paper=CHEN,
                claim="With shared random bits, a lower temperature suppresses the digit less.",
                effect=f"digit accuracy at tau = {res['taus'][0]:g} minus at tau = "
                f"{res['taus'][-1]:g}, mean over k > 0",
                measured=mean_interval(per_seed),
                predicted_sign=1,
                theory={
                    "value": float(res["linear_trend"]),
                    "text": "linear InfoNCE, the same difference of weak-group probe R^2",
                },
                gated=gated,
                gate_reason=reason,
            )
        )
    return out


EXP_RANDBITS = FigureSpec(
    "exp_randbits",
    "deep: digit accuracy vs random bits per temperature, beside linear InfoNCE",
    compute_randbits,
    plot_randbits,
    randbits_config,
    claims_randbits,
)
