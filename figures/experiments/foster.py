"""``exp_foster`` (Foster et al. 2021): Spirograph with Foster's gradient penalty, faithful and
with ``h`` not differentiated (a deviation from the paper, ``regulariser.nuisance=no-h``;
docs/foster_penalty.md), over a lambda sweep; probe R^2 and per-target MSE, feature averaging
over M copies, the conditional variance (absolute and relative), robustness to shifted ``h`` and
background ranges, the contrastive loss and the penalty apart, and where the penalty comes from
(its split among the nuisance parameters, ``empirical.diagnostics.penalty``).

Conditions: lambda = 0 (one run: no penalty, so the variant does not matter) and each variant at
every lambda > 0. Every run has its untrained population (seeded initialisations) and the raw-pixel
probe beside it. The averaging, robustness and per-target panels and the claims compare the variants
at one lambda, ``compare_lambda`` of the config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments.common import (
    FLAT_MOVE,
    FOSTER,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _mean_sd,
    _reference_lines,
    _slug,
    _steps,
    _sweep,
    _train_time,
    curve_moves,
    curves_flatness,
    flatness_text,
    gains,
    gated_claim,
    init_seeds,
    read_run_curve,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

NO_PENALTY = "no penalty"
TARGETS = ("m", "b", "sigma", "f_r")  # empirical.data.spirograph.TARGET_NAMES, as printed
STEPS = 200  # docs/foster_penalty.md, "Run length": flat under the cosine schedule at width 16
KNN_EVERY_STEPS = 20  # the learning curve: 10 points a run


def spirograph_scale(steps: int, knn_every_steps: int = KNN_EVERY_STEPS) -> list[str]:
    """Overrides of a Spirograph CPU run: every training parameter set (10,000, so a run of 200
    steps of the preset's batch, 128, is 2.6 epochs), encoder width 16, Adam at 3e-3 with a
    cosine schedule over ``steps`` optimiser steps (Foster et al.'s schedule), the kNN monitor
    (R^2) every ``knn_every_steps`` steps on 2,048 held-out parameter sets, one thread."""
    return [
        "data.train_size=0",
        "model.width=16",
        "optim.lr=0.003",
        "optim.schedule=cosine",
        "optim.epochs=1000",
        f"optim.max_steps={steps}",
        "run.knn_every=0",
        f"run.knn_every_steps={knn_every_steps}",
        "data.knn_test=2048",
        "run.threads=1",
    ]


def foster_config() -> Config:
    return {
        "preset": "spirograph-gp-cpu",
        # label -> regulariser.nuisance; the first is the paper's penalty
        "variants": {"faithful": "all", "h not differentiated": "no-h"},
        "lambdas": [0.0, 0.01, 0.1, 1.0],
        "compare_lambda": 0.1,
        "seeds": [0, 1, 2],
        "overrides": spirograph_scale(STEPS),
        # evaluation sizes: fitted to the figure's budget with the steps (docs/foster_penalty.md)
        "averaging": {"n_train": 384, "n_test": 256, "layer": "pooled", "copies": [1, 5, 10, 30]},
        "robustness": {"n_train": 384, "n_test": 256, "layer": "pooled"},
        "invariance": {"num_inputs": 128, "num_copies": 8, "num_train": 256},
        "runs_root": str(RUNS_DIR),
    }


def conditions(cfg: Config) -> list[dict[str, Any]]:
    """``{"label", "variant", "nuisance", "lambda"}`` per condition: no penalty first, then each
    variant at each lambda > 0."""
    out: list[dict[str, Any]] = [
        {"label": NO_PENALTY, "variant": None, "nuisance": "all", "lambda": 0.0}
    ]
    for variant, nuisance in cfg["variants"].items():
        for lam in cfg["lambdas"]:
            if lam > 0:
                out.append(
                    {
                        "label": f"{variant}, lambda={lam:g}",
                        "variant": variant,
                        "nuisance": nuisance,
                        "lambda": float(lam),
                    }
                )
    return out


def _evals(cfg: Config) -> tuple[Evaluation, Evaluation, Evaluation]:
    return (
        Evaluation("fig-averaging", "averaging", dict(cfg["averaging"])),
        Evaluation("fig-robustness", "robustness", dict(cfg["robustness"])),
        Evaluation("fig-invariance", "invariance", dict(cfg["invariance"])),
    )


def _pixel_eval(cfg: Config) -> Evaluation:
    """The raw-pixel probe: the averaging evaluation's probe options on clean inputs (M = 1)."""
    opts = {k: v for k, v in cfg["averaging"].items() if k not in ("copies", "views")}
    return Evaluation("fig-pixel-probe", "probe", opts)


def foster_specs(cfg: Config) -> list[RunSpec]:
    """One run per condition and seed."""
    return [
        RunSpec(
            "exp_foster",
            f"{_slug(c['label'])}-s{seed}",
            cfg["preset"],
            (
                *cfg["overrides"],
                f"regulariser.weight={c['lambda']:g}",
                f"regulariser.nuisance={c['nuisance']}",
            ),
            seed,
            _evals(cfg),
        )
        for c in conditions(cfg)
        for seed in cfg["seeds"]
    ]


def _summary(rd: Any) -> dict[str, Any]:
    import json

    return dict(json.loads((rd / "summary.json").read_text()))


def run_values(avg: dict[str, Any], rob: dict[str, Any], inv: dict[str, Any]) -> dict[str, Any]:
    """One run's numbers from its averaging, robustness and invariance metrics."""
    cv = inv["conditional_variance"]
    pen = inv.get("penalty", {})
    return {
        "r2": {m: avg[m]["targets"]["r2"] for m in avg},
        "mse_per_target": avg["M=1"]["targets"]["mse_per_dim"],
        "robust_r2": {s: rob[s]["targets"]["r2"] for s in rob},
        "cv": cv["projected"],
        "cv_ratio": cv["ratio"],
        "penalty_share": dict(pen.get("share", {})),
        "penalty_total": float(pen.get("total", float("nan"))),
    }


def _stack(per_seed: Sequence[dict[str, Any]], copies: Sequence[int]) -> dict[str, Any]:
    """Per-seed run values -> arrays with seeds on the last axis."""
    shifts = list(per_seed[0]["robust_r2"])
    names = list(per_seed[0]["penalty_share"])
    return {
        "r2": [[v["r2"][f"M={m}"] for v in per_seed] for m in copies],  # (len(copies), seeds)
        "mse_per_target": np.asarray([v["mse_per_target"] for v in per_seed]).T.tolist(),
        "robust_r2": {s: [v["robust_r2"][s] for v in per_seed] for s in shifts},
        "cv": [v["cv"] for v in per_seed],
        "cv_ratio": [v["cv_ratio"] for v in per_seed],
        "penalty_share": {n: [v["penalty_share"].get(n, np.nan) for v in per_seed] for n in names},
        "penalty_total": [v["penalty_total"] for v in per_seed],
    }


def foster_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_foster` sweeps (``FigureSpec.baselines``)."""
    return baselines.Request(tuple(foster_specs(cfg)), _evals(cfg), _pixel_eval(cfg))


def compute_foster(cfg: Config) -> Results:
    request = foster_baselines(cfg)
    specs, evals = list(request.specs), request.evaluations
    base = _sweep(cfg, request)
    copies = sorted(cfg["averaging"]["copies"])
    runs: dict[str, dict[str, Any]] = {}
    untrained: list[dict[str, Any]] = []
    times: dict[str, float] = {}
    knn_steps: list[int] | None = None
    it = iter(specs)
    for c in conditions(cfg):
        trained, twins, losses, penalties, curves = [], [], [], [], []
        for _ in cfg["seeds"]:
            spec = next(it)
            rd = spec.run_dir(base.root)
            recs = [load_eval(rd, e) for e in evals]
            knn_steps, curve = read_run_curve(rd, ["targets"], knn_steps)
            curves.append(curve["targets"])
            trained.append(run_values(*(r["metrics"] for r in recs)))
            summary = _summary(rd)
            losses.append(float(summary["final_contrastive_loss"]))
            penalties.append(float(summary["final_penalty"]))
            times[spec.name] = _train_time(rd) + sum(r["elapsed_s"] for r in recs)
        # the condition's untrained population: one record per evaluation and initialisation
        pops = [base.untrained_population(spec.name, e) for e in evals]
        twins = [
            run_values(*(p["metrics"] for p in per_init)) for per_init in zip(*pops, strict=True)
        ]
        runs[c["label"]] = {
            **_stack(trained, copies),
            "untrained_r2": _stack(twins, copies)["r2"],  # (copies, inits): the population
            "untrained_mse_per_target": _stack(twins, copies)["mse_per_target"],
            "contrastive_loss": losses,
            "penalty": penalties,
            "knn": curves,  # (seeds, len(knn_steps)): the kNN monitor's R^2 of the 4 targets
            "lambda": c["lambda"],
            "variant": c["variant"],
        }
        untrained = twins
    px = base.pixel(specs[0].name)["metrics"]["targets"]  # one record per suite and probe
    return {
        "copies": copies,
        "seeds": cfg["seeds"],
        "inits": init_seeds(base, specs),
        "targets": list(TARGETS),
        "runs": runs,
        "untrained": _stack(untrained, copies),  # one record per initialisation, shared by all
        "pixels": {"r2": px["r2"], "mse_per_target": px["mse_per_dim"]},
        "knn_steps": knn_steps or [],
        "run_s": times,
    }


# ---------------------------------------------------------------------------------------------
# pieces of the results


def _labels(res: Results, cfg: Config) -> list[str]:
    return [c["label"] for c in conditions(cfg) if c["label"] in res["runs"]]


def _variant_labels(res: Results, cfg: Config, variant: str) -> list[str]:
    """The variant's conditions in lambda order, beginning with no penalty (lambda = 0)."""
    out = [NO_PENALTY] if NO_PENALTY in res["runs"] else []
    return out + [
        c["label"] for c in conditions(cfg) if c["variant"] == variant and c["label"] in res["runs"]
    ]


def compared(res: Results, cfg: Config) -> list[str]:
    """No penalty and each variant at ``compare_lambda`` (the conditions the averaging,
    robustness and per-target panels and the claims compare)."""
    lam = float(cfg["compare_lambda"])
    out = [NO_PENALTY] if NO_PENALTY in res["runs"] else []
    for c in conditions(cfg):
        if c["variant"] is not None and c["lambda"] == lam and c["label"] in res["runs"]:
            out.append(c["label"])
    return out


def foster_gains(res: Results, label: str) -> list[Interval]:
    """The R^2 gain interval of condition ``label`` at each M."""
    run = res["runs"][label]
    return gains(run["r2"], run["untrained_r2"])


def foster_gate(res: Results, cfg: Config) -> Gate:
    return gate(
        {
            f"{label} M={m}": g
            for label in _labels(res, cfg)
            for m, g in zip(res["copies"], foster_gains(res, label), strict=True)
        }
    )


def foster_flatness(res: Results) -> dict[str, Any]:
    """The flatness criterion over every condition's seed-mean kNN R^2 curve
    (:func:`~figures.experiments.common.curves_flatness`); ``moves``: label -> last-quarter move.
    """
    steps = res["knn_steps"]
    labels = list(res["runs"])
    f = curves_flatness(steps, [res["runs"][lab]["knn"] for lab in labels])
    moves = {
        lab: float(v)
        for lab, v in zip(
            labels, curve_moves(steps, [res["runs"][lab]["knn"] for lab in labels]), strict=True
        )
    }
    return {**f, "moves": moves}


def _colors(cfg: Config) -> dict[str | None, str]:
    palette = (style.STRONG, style.WEAK, *style.SEQUENCE[2:])
    out: dict[str | None, str] = {None: style.NEUTRAL}
    for i, variant in enumerate(cfg["variants"]):
        out[variant] = palette[i % len(palette)]
    return out


def _lambda_x(lams: Sequence[float]) -> np.ndarray:
    """Positions on the symlog lambda axis (0 included)."""
    return np.asarray(lams, dtype=float)


def _lambda_axis(ax: Any, cfg: Config) -> None:
    lams = [float(v) for v in cfg["lambdas"]]
    positive = [v for v in lams if v > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1.0)
    ax.set_xticks(lams, [f"{v:g}" for v in lams])
    ax.set_xlabel("penalty weight $\\lambda$")


# ---------------------------------------------------------------------------------------------
# the figure


def _against_lambda(
    ax: Any,
    res: Results,
    cfg: Config,
    key: str,
    alpha: float,
    untrained: Any = None,
    positive_only: bool = False,
) -> None:
    """``runs[label][key]`` (per seed) against lambda, one series per variant (gid
    ``KEY:VARIANT`` on the mean line), and the untrained encoder's level (dashed);
    ``positive_only``: lambda > 0 only (the penalty itself, 0 without one, on a log axis)."""
    colors = _colors(cfg)
    for variant in cfg["variants"]:
        labels = _variant_labels(res, cfg, variant)
        if positive_only:
            labels = [lab for lab in labels if res["runs"][lab]["lambda"] > 0]
        if not labels:
            continue
        x = _lambda_x([res["runs"][lab]["lambda"] for lab in labels])
        vals = [res["runs"][lab][key] for lab in labels]
        _markers(ax, x, vals, colors[variant], variant, alpha)
        ax.plot(x, _mean_sd(vals)[0], color=colors[variant], lw=0.6, gid=f"{key}:{variant}")
    if untrained is not None:
        ax.axhline(
            float(np.mean(untrained)),
            color=style.NEUTRAL,
            gid=f"untrained:{key}",
            **style.UNTRAINED,
        )
    _lambda_axis(ax, cfg)


def plot_foster(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(4, 3, width=3.4, height=3.6)
    g = foster_gate(res, cfg)
    alpha = 1.0 if g.open else style.FADED
    colors = _colors(cfg)
    m0 = 0  # the smallest M: no averaging
    unt = res["untrained"]
    for_r2 = {lab: {**res["runs"][lab], "r2_m1": res["runs"][lab]["r2"][m0]} for lab in res["runs"]}
    view = {**res, "runs": for_r2}

    ax = axes[0, 0]
    _against_lambda(ax, view, cfg, "r2_m1", alpha, unt["r2"][m0])
    ax.axhline(res["pixels"]["r2"], color=style.NEUTRAL, gid="pixels:r2_m1", **style.PIXELS)
    ax.set_ylabel("probe $R^2$ of the 4 targets (M = 1)")
    ax.set_title("probe $R^2$")
    _legend(ax)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "penalties"))

    ax = axes[0, 1]
    for k, variant in enumerate(cfg["variants"]):
        labels = _variant_labels(res, cfg, variant)
        if not labels:
            continue
        lams = np.asarray([res["runs"][lab]["lambda"] for lab in labels], dtype=float)
        xs = lams * (1.0 + 0.08 * (k - 0.5))
        ints = [foster_gains(res, lab)[m0] for lab in labels]
        _draw_gains(ax, xs, ints, colors[variant], variant, f"gain:{variant}")
    _lambda_axis(ax, cfg)
    _gain_axes(ax)
    ax.set_title("$R^2$ (M = 1): trained minus untrained")
    _legend(ax, baselines_too=False)

    ax = axes[0, 2]
    _against_lambda(ax, res, cfg, "cv_ratio", alpha, unt["cv_ratio"])
    ax.set_ylabel("conditional / total variance")
    ax.set_title("conditional variance, relative")
    _legend(ax, baselines_too=False)

    ax = axes[1, 0]
    _against_lambda(ax, res, cfg, "cv", alpha, unt["cv"])
    ax.set_ylabel("conditional variance (projected)")
    ax.set_title("conditional variance, absolute")
    _legend(ax, baselines_too=False)

    chosen = compared(res, cfg)
    ax = axes[1, 1]
    for label in chosen:
        run = res["runs"][label]
        c = colors[run["variant"]]
        _markers(ax, res["copies"], run["r2"], c, label, alpha)
        ax.plot(res["copies"], _mean_sd(run["r2"])[0], color=c, lw=0.6, gid=f"averaging:{label}")
    _reference_lines(ax, res["copies"], unt["r2"], res["pixels"]["r2"], style.NEUTRAL, "averaging")
    ax.set_xscale("log")
    ax.set_xticks(res["copies"], [str(m) for m in res["copies"]])
    ax.set_xlabel("copies M averaged (train and test)")
    ax.set_ylabel("probe $R^2$")
    ax.set_title(f"feature averaging ($\\lambda$ = {cfg['compare_lambda']:g})")
    _legend(ax)

    ax = axes[1, 2]
    names = list(res["targets"])
    x = np.arange(len(names))
    bars = [(lab, res["runs"][lab]["mse_per_target"], colors[res["runs"][lab]["variant"]])
            for lab in chosen]  # fmt: skip
    bars.append(("untrained encoder", unt["mse_per_target"], "#bbbbbb"))
    width = 0.8 / (len(bars) + 1)
    for k, (label, vals, c) in enumerate(bars):
        mean, sd = _mean_sd(vals)
        xb = x + (k - len(bars) / 2) * width
        ax.bar(xb, mean, width, color=c, alpha=0.7 * alpha, label=label, gid=f"mse:{label}")
        ax.errorbar(xb, mean, yerr=sd, color="k", capsize=1.5, ls="none", alpha=alpha)
    px = np.asarray(res["pixels"]["mse_per_target"], dtype=float)
    xp = x + (len(bars) - len(bars) / 2) * width
    ax.bar(xp, px, width, color="white", edgecolor=style.NEUTRAL, label="raw pixels", gid="mse:px")
    ax.set_xticks(x, names)
    ax.set_ylabel("probe MSE (standardised targets, M = 1)")
    ax.set_title("per-target error")
    style.legend_below(ax, 2)

    ax = axes[2, 0]
    shifts = sorted(unt["robust_r2"], key=lambda k: (k != "reference", k))  # unshifted first
    xi = np.arange(len(shifts))
    for label in chosen:
        run = res["runs"][label]
        vals = [run["robust_r2"][s] for s in shifts]
        _markers(ax, xi, vals, colors[run["variant"]], label, alpha)
        ax.plot(xi, _mean_sd(vals)[0], color=colors[run["variant"]], lw=0.6, gid=f"robust:{label}")
    u = [unt["robust_r2"][s] for s in shifts]
    ax.plot(
        xi,
        _mean_sd(u)[0],
        color=style.NEUTRAL,
        gid="untrained:robust",
        label="untrained encoder",
        **style.UNTRAINED,
    )
    ax.set_xticks(xi, ["none" if s == "reference" else s for s in shifts], rotation=30)
    ax.set_ylabel("probe $R^2$ (probe fitted unshifted)")
    ax.set_title(f"test nuisance range shifted up ($\\lambda$ = {cfg['compare_lambda']:g})")
    _legend(ax, baselines_too=False)

    ax = axes[2, 1]
    _against_lambda(ax, res, cfg, "contrastive_loss", alpha)
    ax.set_ylabel("final InfoNCE loss (no penalty term)")
    ax.set_title("contrastive loss")
    _legend(ax, baselines_too=False)

    ax = axes[2, 2]
    param_names = sorted(unt["penalty_share"], key=lambda n: (n != "h", n))  # h first
    bar_rows = [("untrained", unt["penalty_share"])]
    bar_rows += [(lab, res["runs"][lab]["penalty_share"]) for lab in chosen]
    bottom = np.zeros(len(bar_rows))
    for j, name in enumerate(param_names):
        share = np.asarray([float(np.mean(s[name])) for _, s in bar_rows])
        c = style.SEQUENCE[j % len(style.SEQUENCE)] if name != "h" else style.STRONG
        ax.bar(np.arange(len(bar_rows)), share, 0.6, bottom=bottom, color=c, label=name,
               gid=f"share:{name}")  # fmt: skip
        bottom += share
    ax.set_xticks(np.arange(len(bar_rows)), [_short_label(r[0]) for r in bar_rows], rotation=20)
    ax.set_ylabel("share of the faithful penalty")
    ax.set_title("where the penalty comes from (trained encoder)")
    style.legend_below(ax, 6)

    ax = axes[3, 0]
    steps = res["knn_steps"]
    for label in chosen:
        run = res["runs"][label]
        c = colors[run["variant"]]
        mean, sd = _mean_sd(np.asarray(run["knn"], dtype=float).T)
        ax.plot(steps, mean, color=c, lw=1, label=label, alpha=alpha, gid=f"curve:{label}")
        ax.fill_between(steps, mean - sd, mean + sd, color=c, alpha=0.2 * alpha, lw=0)
    ax.set_xlabel("training step")
    ax.set_ylabel("kNN $R^2$ of the 4 targets (monitor)")
    f = foster_flatness(res)
    ax.set_title(f"learning curves ($\\lambda$ = {cfg['compare_lambda']:g})")
    ax.text(0.97, 0.05, ("flat" if f["flat"] else "not flat") + f": largest last-quarter\nmove "
            f"{f['max_abs']:.3f} (flat: < {FLAT_MOVE:g})", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=7, gid="flatness")  # fmt: skip
    _legend(ax, baselines_too=False)

    ax = axes[3, 1]
    _against_lambda(ax, res, cfg, "penalty", alpha, positive_only=True)
    ax.set_yscale("log")
    ax.set_ylabel("final penalty (unweighted, its variant's nuisances)")
    ax.set_title("gradient penalty")
    _legend(ax, baselines_too=False)

    ax = axes[3, 2]
    moves = {lab: [f["moves"][lab]] for lab in res["runs"]}
    _against_lambda(ax, {**res, "runs": {lab: {**res["runs"][lab], "move": moves[lab]}
                                         for lab in res["runs"]}}, cfg, "move", alpha)  # fmt: skip
    ax.axhspan(-FLAT_MOVE, FLAT_MOVE, color=style.NEUTRAL, alpha=0.15, lw=0)
    ax.set_ylabel("last-quarter move of the kNN $R^2$")
    ax.set_title("flatness: the seed-mean curve's last quarter")
    _legend(ax, baselines_too=False)

    _gate_footnote(fig)
    fig.suptitle(
        "Foster et al.: Spirograph, gradient penalty faithful and with h not differentiated "
        "(a deviation from the paper)\n"
        f"(mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps; "
        "the linear theory has no counterpart)\n" + flatness_text(f),
        fontsize=9,
    )
    return fig


def _short_label(label: str) -> str:
    return label.replace("h not differentiated", "no-h").replace("lambda=", "$\\lambda$=")


# ---------------------------------------------------------------------------------------------
# claims


def claims_foster(res: Results, cfg: Config) -> list[Claim]:
    """Foster et al., each variant at ``compare_lambda`` against no penalty (seeds paired): the
    penalty lowers the conditional variance (relative), raises R^2 (M = smallest), and raises R^2
    under the largest ``h`` and background shifts; and for no penalty and each variant, averaging
    more copies raises R^2 (largest M against smallest)."""
    g = foster_gate(res, cfg)
    chosen = compared(res, cfg)
    copies = list(res["copies"])
    m0, m1 = int(np.argmin(copies)), int(np.argmax(copies))
    out: list[Claim] = []
    if NO_PENALTY not in chosen:
        return out
    ref = res["runs"][NO_PENALTY]
    shifts = list(ref["robust_r2"])
    worst = [max((s for s in shifts if s.startswith(p)), key=_shift_size, default=None)
             for p in ("h+", "bg+")]  # fmt: skip

    def claim(cid: str, text: str, effect: str, measured: Interval, sign: int) -> Claim:
        return gated_claim(
            g,
            id=cid,
            figure="exp_foster",
            paper=FOSTER,
            claim=text,
            effect=effect,
            measured=measured,
            predicted_sign=sign,
        )

    for label in chosen[1:]:
        run = res["runs"][label]
        slug = _slug(run["variant"])
        what = f"The gradient penalty ({run['variant']}, lambda = {run['lambda']:g})"
        out.append(
            claim(
                f"foster2021.{slug}.lowers-conditional-variance",
                f"{what} lowers the conditional variance of the representation over the "
                "transformation parameters.",
                f"conditional variance / total variance, {label} minus {NO_PENALTY}",
                paired_interval(run["cv_ratio"], ref["cv_ratio"]),
                -1,
            )
        )
        out.append(
            claim(
                f"foster2021.{slug}.raises-r2",
                f"{what} raises the linear-probe R^2 of the Spirograph targets.",
                f"probe R^2 at M = {copies[m0]}, {label} minus {NO_PENALTY}",
                paired_interval(run["r2"][m0], ref["r2"][m0]),
                1,
            )
        )
        for shift in worst:
            if shift is None:
                continue
            out.append(
                claim(
                    f"foster2021.{slug}.robust-{_slug(shift)}",
                    f"{what} raises the probe R^2 on test data with the {shift.split('+')[0]} "
                    "range shifted up.",
                    f"probe R^2 on the {shift} test set, {label} minus {NO_PENALTY}",
                    paired_interval(run["robust_r2"][shift], ref["robust_r2"][shift]),
                    1,
                )
            )
    if len(copies) > 1:
        for label in chosen:
            run = res["runs"][label]
            slug = _slug(run["variant"] or NO_PENALTY)
            out.append(
                claim(
                    f"foster2021.{slug}.averaging-raises-r2",
                    "Averaging the features of M transformed copies raises the probe R^2 "
                    f"of the Spirograph targets ({label}).",
                    f"probe R^2 at M = {copies[m1]} minus at M = {copies[m0]}",
                    paired_interval(run["r2"][m1], run["r2"][m0]),
                    1,
                )
            )
    return out


def _shift_size(shift: str) -> float:
    return float(shift.split("+", 1)[1])


EXP_FOSTER = FigureSpec(
    "exp_foster",
    "deep: Spirograph, gradient penalty faithful and with h not differentiated, lambda sweep: "
    "R^2, per-target MSE, averaging, cond. variance, robustness, penalty split",
    compute_foster,
    plot_foster,
    foster_config,
    claims_foster,
    specs=foster_specs,
    baselines=foster_baselines,
)
