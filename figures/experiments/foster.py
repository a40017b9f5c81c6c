"""``exp_foster`` (Foster et al. 2021): Spirograph with and without the gradient penalty; probe
R^2 against the number of averaged copies M and the conditional variance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from figures import style
from figures.claims import Claim
from figures.experiments.common import (
    FOSTER,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _mean_sd,
    _reference_lines,
    _short,
    _slug,
    _steps,
    _sweep,
    _train_time,
    gains,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

# ---------------------------------------------------------------------------------------------
# (4) Foster et al.: gradient penalty, feature averaging, conditional variance


def foster_config() -> Config:
    return {
        "presets": {"no penalty": "spirograph-cpu", "gradient penalty": "spirograph-gp-cpu"},
        "seeds": [0, 1],
        "overrides": _short(80),
        "averaging": {
            "n_train": 2048,
            "n_test": 1000,
            "layer": "pooled",
            "copies": [1, 2, 5, 10],
        },
        "invariance": {"num_inputs": 256, "num_copies": 8, "num_train": 1024},
        "runs_root": str(RUNS_DIR),
    }


def _foster_evals(cfg: Config) -> tuple[Evaluation, Evaluation]:
    return (
        Evaluation("fig-averaging", "averaging", dict(cfg["averaging"])),
        Evaluation("fig-invariance", "invariance", dict(cfg["invariance"])),
    )


def _foster_pixel_eval(cfg: Config) -> Evaluation:
    """The raw-pixel probe: the averaging evaluation's probe options on clean inputs (M = 1)."""
    opts = {k: v for k, v in cfg["averaging"].items() if k not in ("copies", "views")}
    return Evaluation("fig-pixel-probe", "probe", opts)


def foster_specs(cfg: Config) -> list[RunSpec]:
    return [
        RunSpec(
            "exp_foster",
            f"{preset}-s{seed}",
            preset,
            tuple(cfg["overrides"]),
            seed,
            _foster_evals(cfg),
        )
        for preset in cfg["presets"].values()
        for seed in cfg["seeds"]
    ]


def compute_foster(cfg: Config) -> Results:
    specs = foster_specs(cfg)
    avg_e, inv_e = _foster_evals(cfg)
    base = _sweep(cfg, specs, (avg_e,), _foster_pixel_eval(cfg))
    copies = sorted(cfg["averaging"]["copies"])
    out: dict[str, dict[str, Any]] = {}
    times: dict[str, float] = {}
    it = iter(specs)
    for label in cfg["presets"]:
        r2, r2_u, cv, cv_alpha, alpha_r2 = [], [], [], [], []
        for _ in cfg["seeds"]:
            spec = next(it)
            rd = spec.run_dir(base.root)
            avg, inv = load_eval(rd, avg_e), load_eval(rd, inv_e)
            unt = base.untrained(spec.name, avg_e)["metrics"]
            r2.append([avg["metrics"][f"M={m}"]["targets"]["r2"] for m in copies])
            r2_u.append([unt[f"M={m}"]["targets"]["r2"] for m in copies])
            cv.append(inv["metrics"]["conditional_variance"]["ratio"])
            cv_alpha.append(
                inv["metrics"].get("conditional_variance_alpha_only", {}).get("ratio", float("nan"))
            )
            ar = inv["metrics"].get("alpha_r2", {})
            alpha_r2.append(float(ar["r2"]) if "r2" in ar else float("nan"))
            times[spec.name] = _train_time(rd) + avg["elapsed_s"] + inv["elapsed_s"]
        out[label] = {
            "r2": np.asarray(r2).T.tolist(),  # (len(copies), seeds)
            "untrained_r2": np.asarray(r2_u).T.tolist(),  # (len(copies), seeds), same seeds
            "pixels_r2": base.pixel(spec.name)["metrics"]["targets"]["r2"],  # clean, M = 1
            "cv_ratio": cv,
            "cv_ratio_alpha_only": cv_alpha,
            "alpha_r2": alpha_r2,
        }
    return {"copies": copies, "seeds": cfg["seeds"], "runs": out, "run_s": times}


def _foster_labels(res: Results, cfg: Config) -> list[str]:
    return [lab for lab in cfg["presets"] if lab in res["runs"]]  # the config's order


def foster_gains(res: Results, label: str) -> list[Interval]:
    """The R^2 gain interval of run ``label`` at each M."""
    run = res["runs"][label]
    return gains(run["r2"], run["untrained_r2"])


def foster_gate(res: Results, cfg: Config) -> Gate:
    return gate(
        {
            f"{label} M={m}": g
            for label in _foster_labels(res, cfg)
            for m, g in zip(res["copies"], foster_gains(res, label), strict=True)
        }
    )


def _foster_colors(labels: Sequence[str]) -> dict[str, str]:
    palette = (style.STRONG, style.WEAK, *style.SEQUENCE[2:])
    return {lab: palette[i % len(palette)] for i, lab in enumerate(labels)}


def plot_foster(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 3, width=3.4, height=3.3)
    labels = _foster_labels(res, cfg)
    colors = _foster_colors(labels)
    g = foster_gate(res, cfg)
    alpha = 1.0 if g.open else style.FADED
    ax = axes[0, 0]
    for label in labels:
        run = res["runs"][label]
        c = colors[label]
        _markers(ax, res["copies"], run["r2"], c, label, alpha)
        ax.plot(res["copies"], _mean_sd(run["r2"])[0], color=c, lw=0.6, alpha=0.5 * alpha)
        _reference_lines(ax, res["copies"], run["untrained_r2"], run["pixels_r2"], c, label)
    ax.set_xscale("log")
    ax.set_xticks(res["copies"], [str(m) for m in res["copies"]])
    ax.set_xlabel("copies M averaged (train and test features)")
    ax.set_ylabel("probe $R^2$ of the Spirograph targets")
    ax.set_title("feature averaging")
    _legend(ax)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "penalties"))
    ax = axes[0, 1]
    x = np.arange(len(labels))
    for k, (key, name) in enumerate(
        (("cv_ratio", "all view parameters"), ("cv_ratio_alpha_only", "alpha only"))
    ):
        vals = [res["runs"][lab][key] for lab in labels]
        mean, sd = _mean_sd(vals)
        xs = x + (k - 0.5) * 0.36
        ax.bar(xs, mean, 0.36, color=(style.NEUTRAL, "#bbbbbb")[k], alpha=0.6 * alpha, label=name)
        ax.errorbar(xs, mean, yerr=sd, color="k", capsize=2, ls="none", alpha=alpha)
    ax.set_xticks(x, labels)
    ax.set_ylabel("conditional variance / total variance")
    ax.set_ylim(0.0, 1.25)
    ax.set_title("conditional variance of pooled features")
    _legend(ax, baselines_too=False)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "penalties"))
    ax = axes[0, 2]
    for k, label in enumerate(labels):
        xs = np.asarray(res["copies"], dtype=float) * (1.0 + 0.06 * (k - (len(labels) - 1) / 2))
        _draw_gains(ax, xs, foster_gains(res, label), colors[label], label, f"gain:{label}")
    ax.set_xscale("log")
    ax.set_xticks(res["copies"], [str(m) for m in res["copies"]])
    ax.set_xlabel("copies M averaged")
    _gain_axes(ax)
    ax.set_title("$R^2$: trained minus untrained, same seed")
    _legend(ax, baselines_too=False)
    _gate_footnote(fig)
    fig.suptitle(
        "Foster et al.: Spirograph with and without the gradient penalty\n"
        f"(mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps; "
        "the linear theory has no counterpart)",
        fontsize=9,
    )
    return fig


def claims_foster(res: Results, cfg: Config) -> list[Claim]:
    """Foster et al.: each run other than the config's first (the reference, no penalty) against
    it: the penalty lowers the conditional variance and raises R^2 (M = smallest); and within
    each run, averaging more copies raises R^2 (largest M against smallest)."""
    g = foster_gate(res, cfg)
    gated, reason = not g.open, "" if g.open else g.reason
    labels = _foster_labels(res, cfg)
    copies = list(res["copies"])
    m0, m1 = int(np.argmin(copies)), int(np.argmax(copies))
    out: list[Claim] = []
    if not labels:
        return out
    ref = res["runs"][labels[0]]
    for label in labels[1:]:
        run = res["runs"][label]
        out.append(
            Claim(
                id=f"foster2021.{_slug(label)}.lowers-conditional-variance",
                figure="exp_foster",
                paper=FOSTER,
                claim=f"The {label} lowers the conditional variance of the representation "
                "over the transformation parameters.",
                effect=f"conditional variance / total variance, {label} minus {labels[0]}",
                measured=paired_interval(run["cv_ratio"], ref["cv_ratio"]),
                predicted_sign=-1,
                gated=gated,
                gate_reason=reason,
            )
        )
        out.append(
            Claim(
                id=f"foster2021.{_slug(label)}.raises-r2",
                figure="exp_foster",
                paper=FOSTER,
                claim=f"The {label} raises the linear-probe R^2 of the Spirograph targets.",
                effect=f"probe R^2 at M = {copies[m0]}, {label} minus {labels[0]}",
                measured=paired_interval(run["r2"][m0], ref["r2"][m0]),
                predicted_sign=1,
                gated=gated,
                gate_reason=reason,
            )
        )
    if len(copies) > 1:
        for label in labels:
            run = res["runs"][label]
            out.append(
                Claim(
                    id=f"foster2021.{_slug(label)}.averaging-raises-r2",
                    figure="exp_foster",
                    paper=FOSTER,
                    claim="Averaging the features of M transformed copies raises the probe R^2 "
                    f"of the Spirograph targets ({label}).",
                    effect=f"probe R^2 at M = {copies[m1]} minus at M = {copies[m0]}",
                    measured=paired_interval(run["r2"][m1], run["r2"][m0]),
                    predicted_sign=1,
                    gated=gated,
                    gate_reason=reason,
                )
            )
    return out


EXP_FOSTER = FigureSpec(
    "exp_foster",
    "deep: Spirograph with/without gradient penalty: R^2 vs averaged copies, cond. variance",
    compute_foster,
    plot_foster,
    foster_config,
    claims_foster,
)
