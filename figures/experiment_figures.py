"""Experiment figures: deep contrastive runs beside the linear theory (issue 2, section 4).

* ``exp_oracle_dropout`` (Tamkin et al. 2023; the empirical twin of ``theory_vs_p``): oracle
  feature-dropout views on overlay-digits-on-natural for a range of p; probe accuracy of the
  digit (overlay = the easy / strong feature) and the background (the weak one) against p,
  beside the linear model's optimum.
* ``exp_views_multitask`` (Tamkin et al. 2023): expert vs viewmaker vs oracle (p = 0.5) views on
  the three overlay suites; probe accuracy of both tasks and the views' feature-dropout rate.
* ``exp_randbits`` (Chen et al. 2021): digit probe accuracy against the number of random bits k
  per temperature, beside linear InfoNCE with shared bits (``linear_theory.infonce``).
* ``exp_foster`` (Foster et al. 2021): Spirograph with and without the gradient penalty; probe
  R^2 against the number of averaged copies M and the conditional variance.

``compute_*`` run the sweep (``figures.sweep``: train, resume, evaluate through
``empirical.evaluate``; runs in ``results/runs/<figure>/``) and return JSON-ready results with
per-seed values; ``plot_*`` only draw them. Run lengths are overrides in each figure's config
(saved beside the figure): CPU presets, ``data.train_size=0`` (every training example, read in
a seeded random order) and ``optim.max_steps`` to bound the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from figures import style
from figures.registry import Config, FigureSpec, Results, register
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval, run_sweep

OVERLAY_TASK = {"digits": "digit", "shapes": "shape", "letters": "letter"}
VIEW_COLORS = {"expert": "#7f8c8d", "viewmaker": "#8e44ad", "oracle": "#16a085"}


def _short(steps: int) -> list[str]:
    """Overrides of a short CPU run: all training examples, ``steps`` optimiser steps."""
    return [
        "data.train_size=0",
        "optim.epochs=1",
        f"optim.max_steps={steps}",
        "run.knn_every=0",
        "run.threads=1",
    ]


def _probe(cfg: Config) -> Evaluation:
    return Evaluation("fig-probe", "probe", dict(cfg["probe"]))


def _train_time(run_dir: Path) -> float:
    return float(json.loads((run_dir / "summary.json").read_text())["train_time_s"])


def _sweep(cfg: Config, specs: Sequence[RunSpec]) -> Path:
    root = Path(cfg["runs_root"])
    run_sweep(specs, root)
    return root


def _mean_sd(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample sd over the last axis (sd 0 for one seed)."""
    v = np.asarray(values, dtype=float)
    sd = v.std(-1, ddof=1) if v.shape[-1] > 1 else np.zeros(v.shape[:-1])
    return v.mean(-1), sd


def _markers(ax: Any, x: Any, values: Any, color: str, label: str) -> None:
    """Experiment in the project's style: mean +- sd over seeds as markers with error bars."""
    mean, sd = _mean_sd(values)
    ax.errorbar(x, mean, yerr=sd, color=color, label=label, capsize=2, **style.SIMULATION)


# ---------------------------------------------------------------------------------------------
# theory pieces (computed directly from linear_theory)


def linear_probe_vs_p(theory: Config, ps: Sequence[float]) -> list[list[float]]:
    """Probe accuracy ``(len(ps), 2)`` (strong task, weak task) of the optimal linear encoder
    when the strong group is dropped with probability p (``linear_theory.spectral``)."""
    from linear_theory.model import FeatureGroup, LinearModel
    from linear_theory.probes import probe_accuracy
    from linear_theory.spectral import optimal_encoder

    out = []
    for p in ps:
        model = LinearModel(
            groups=(
                FeatureGroup(theory["dims"][0], theory["s_strong"], float(p), name="strong"),
                FeatureGroup(theory["dims"][1], theory["s_weak"], 0.0, name="weak"),
            ),
            noise=theory["sigma"],
            embed_dim=theory["m"],
        )
        w = optimal_encoder(model)
        out.append([probe_accuracy(w, model, k) for k in (0, 1)])
    return out


def _theory_defaults() -> Config:
    return {"s_strong": 2.0, "s_weak": 1.0, "sigma": 0.5, "dims": [2, 2], "m": 2}


# ---------------------------------------------------------------------------------------------
# (1) oracle feature dropout against p


def oracle_config() -> Config:
    return {
        "preset": "oracle-digits-cpu",
        "ps": [0.0, 0.25, 0.5, 0.75, 1.0],
        "seeds": [0, 1],
        "overrides": _short(60),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "prepool"},
        "tasks": ["digit", "background"],
        "theory": {**_theory_defaults(), "grid": 101},
        "runs_root": str(RUNS_DIR),
    }


def oracle_specs(cfg: Config) -> list[RunSpec]:
    return [
        RunSpec(
            "exp_oracle_dropout",
            f"p{p:g}-s{seed}",
            cfg["preset"],
            (*cfg["overrides"], "views.name=oracle", f"views.p={p}"),
            seed,
            (_probe(cfg),),
        )
        for p in cfg["ps"]
        for seed in cfg["seeds"]
    ]


def compute_oracle(cfg: Config) -> Results:
    specs = oracle_specs(cfg)
    root = _sweep(cfg, specs)
    acc: dict[str, list[list[float]]] = {t: [] for t in cfg["tasks"]}
    times = []
    it = iter(specs)
    for _ in cfg["ps"]:
        per_seed: dict[str, list[float]] = {t: [] for t in cfg["tasks"]}
        for _ in cfg["seeds"]:
            spec = next(it)
            rec = load_eval(spec.run_dir(root), _probe(cfg))
            for t in cfg["tasks"]:
                per_seed[t].append(rec["metrics"][t]["accuracy"])
            times.append(_train_time(spec.run_dir(root)) + rec["elapsed_s"])
        for t in cfg["tasks"]:
            acc[t].append(per_seed[t])
    p_grid = np.linspace(0.0, 1.0, cfg["theory"]["grid"])
    return {
        "ps": cfg["ps"],
        "seeds": cfg["seeds"],
        "accuracy": acc,  # task -> (len(ps), len(seeds))
        "chance": 0.1,
        "run_s": times,
        "theory_p": p_grid.tolist(),
        "theory_acc": linear_probe_vs_p(cfg["theory"], p_grid.tolist()),
    }


def plot_oracle(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 2, width=3.9, height=3.0)
    ax = axes[0, 0]
    th = np.asarray(res["theory_acc"])
    ax.plot(res["theory_p"], th[:, 0], color=style.STRONG, label="strong task", **style.THEORY)
    ax.plot(res["theory_p"], th[:, 1], color=style.WEAK, label="weak task", **style.THEORY)
    ax.axhline(0.5, color=style.NEUTRAL, lw=0.8, ls=":", label="chance (sign task)")
    ax.set_ylim(0.0, 1.02)
    ax.set_title("linear theory: optimal encoder")
    ax.set_ylabel("linear probe accuracy (clean inputs)")
    ax = axes[0, 1]
    names = {"digit": "digit (overlay, strong)", "background": "background (weak)"}
    for task, color in zip(cfg["tasks"], (style.STRONG, style.WEAK), strict=True):
        _markers(ax, res["ps"], res["accuracy"][task], color, names.get(task, task))
    ax.axhline(res["chance"], color=style.NEUTRAL, lw=0.8, ls=":", label="chance (10 classes)")
    ax.set_ylim(0.0, 1.02)
    ax.set_title("small ResNet, overlay-digits-on-natural")
    for a in axes[0]:
        a.set_xlabel("oracle dropout $p$ of the overlay")
    axes[0, 0].legend(frameon=False, loc="lower left")
    axes[0, 1].legend(frameon=False, loc="center left")
    steps = [o.split("=")[1] for o in cfg["overrides"] if o.startswith("optim.max_steps")]
    t = cfg["theory"]
    fig.suptitle(
        "Oracle feature dropout: the easy overlay dropped in a fraction p of views\n"
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, {', '.join(steps)} steps of "
        f"batch 128; theory: s = ({t['s_strong']:g}, {t['s_weak']:g}), "
        f"$\\sigma$ = {t['sigma']:g}, m = {t['m']})",
        fontsize=9,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# (2) expert vs viewmaker vs oracle views on three overlay suites


def multitask_config() -> Config:
    return {
        "suites": ["digits", "shapes", "letters"],
        "views": ["expert", "viewmaker", "oracle"],
        "seeds": [0, 1],
        "overrides": _short(48),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "prepool"},
        "dropout_rate": {
            "num_inputs": 256,
            "num_copies": 2,
            "judge_steps": 200,
            "eps": [0.05],
        },
        "theory": _theory_defaults(),
        "runs_root": str(RUNS_DIR),
    }


def _rate_eval(cfg: Config) -> Evaluation:
    return Evaluation("fig-dropout-rate", "dropout-rate", dict(cfg["dropout_rate"]))


def multitask_specs(cfg: Config) -> list[RunSpec]:
    """One run per suite x views x seed; the dropout rate on each suite's viewmaker run of the
    first seed (its record also holds the identity and expert views' rates)."""
    specs = []
    for suite in cfg["suites"]:
        for views in cfg["views"]:
            for seed in cfg["seeds"]:
                evals = [_probe(cfg)]
                if views == "viewmaker" and seed == cfg["seeds"][0] and cfg["dropout_rate"]:
                    evals.append(_rate_eval(cfg))
                specs.append(
                    RunSpec(
                        "exp_views_multitask",
                        f"{views}-{suite}-s{seed}",
                        f"{views}-{suite}-cpu",
                        tuple(cfg["overrides"]),
                        seed,
                        tuple(evals),
                    )
                )
    return specs


def compute_multitask(cfg: Config) -> Results:
    specs = multitask_specs(cfg)
    root = _sweep(cfg, specs)
    by_name = {s.name: s for s in specs}
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    rates: dict[str, dict[str, dict[str, float]]] = {}
    chance: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}
    for suite in cfg["suites"]:
        overlay = OVERLAY_TASK[suite]
        acc[suite] = {}
        for views in cfg["views"]:
            acc[suite][views] = {"overlay": [], "background": []}
            for seed in cfg["seeds"]:
                spec = by_name[f"{views}-{suite}-s{seed}"]
                rd = spec.run_dir(root)
                rec = load_eval(rd, _probe(cfg))
                chance[suite] = {
                    "overlay": rec["metrics"][overlay]["chance"],
                    "background": rec["metrics"]["background"]["chance"],
                }
                acc[suite][views]["overlay"].append(rec["metrics"][overlay]["accuracy"])
                acc[suite][views]["background"].append(rec["metrics"]["background"]["accuracy"])
                times[spec.name] = _train_time(rd) + rec["elapsed_s"]
                if any(e.kind == "dropout-rate" for e in spec.evaluations):
                    m = load_eval(rd, _rate_eval(cfg))["metrics"]["views"]
                    rates[suite] = {
                        _rate_label(name): {
                            "overlay": v[overlay]["rate"],
                            "background": v["background"]["rate"],
                        }
                        for name, v in m.items()
                        if not name.startswith("viewmaker-untrained")
                    }
                    rates[suite]["oracle (p = 0.5, by construction)"] = {
                        "overlay": 0.5,
                        "background": 0.0,
                    }
    # theory at each view's p: expert 0, oracle 0.5, viewmaker its measured overlay dropout
    # rate (mean over suites; 0 when not measured)
    vm = [r["viewmaker (trained)"]["overlay"] for r in rates.values() if "viewmaker (trained)" in r]
    ps = {
        "expert": 0.0,
        "oracle": 0.5,
        "viewmaker": float(np.clip(np.mean(vm), 0, 1)) if vm else 0.0,
    }
    theory = linear_probe_vs_p(cfg["theory"], [ps[v] for v in cfg["views"]])
    return {
        "seeds": cfg["seeds"],
        "accuracy": acc,  # suite -> views -> task -> per-seed accuracies
        "dropout_rate": rates,  # suite -> views -> task -> rate
        "chance": chance,  # suite -> task -> 1 / classes
        "run_s": times,
        "theory_p": [ps[v] for v in cfg["views"]],
        "theory_acc": theory,  # views -> (strong, weak)
    }


def _rate_label(name: str) -> str:
    if name.startswith("viewmaker-trained"):
        return "viewmaker (trained)"
    return name


def plot_multitask(res: Results, cfg: Config) -> Any:
    suites, views = cfg["suites"], cfg["views"]
    has_rates = bool(res["dropout_rate"])
    ncols = 1 + len(suites) + (1 if has_rates else 0)
    fig, axes = style.subplots(1, ncols, width=2.7, height=2.9)
    x = np.arange(len(views))
    width = 0.36
    ax = axes[0, 0]
    th = np.asarray(res["theory_acc"])
    for k, (color, name) in enumerate(((style.STRONG, "strong"), (style.WEAK, "weak"))):
        ax.bar(x + (k - 0.5) * width, th[:, k], width, color=color, alpha=0.35, label=name)
    labels = [f"{v}\np={p:.2f}" for v, p in zip(views, res["theory_p"], strict=True)]
    ax.set_xticks(x, labels)
    ax.set_ylim(0.4, 1.15)
    ax.axhline(0.5, color=style.NEUTRAL, lw=0.8, ls=":")
    ax.set_title("linear theory at the views' p\n(viewmaker: measured rate)")
    ax.set_ylabel("linear probe accuracy")
    ax.legend(frameon=False, loc="upper center", ncol=2, fontsize=7)
    for j, suite in enumerate(suites):
        ax = axes[0, 1 + j]
        for k, (task, color) in enumerate((("overlay", style.STRONG), ("background", style.WEAK))):
            vals = [res["accuracy"][suite][v][task] for v in views]
            mean, sd = _mean_sd(vals)
            xs = x + (k - 0.5) * width
            ax.bar(xs, mean, width, color=color, alpha=0.35)
            ax.errorbar(xs, mean, yerr=sd, color=color, capsize=2, ls="none")
            for xi, v in zip(xs, vals, strict=True):
                ax.plot(
                    [xi] * len(v),
                    v,
                    color=color,
                    **{**style.SIMULATION, "markersize": 3.5},
                    label=(f"{OVERLAY_TASK[suite]} (overlay)" if task == "overlay" else task)
                    if xi == xs[0]
                    else None,
                )
        for task, color in (("overlay", style.STRONG), ("background", style.WEAK)):
            c = res["chance"].get(suite, {}).get(task)
            if c is not None:
                ax.axhline(c, color=color, lw=0.8, ls=":")
        ax.set_xticks(x, views)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"overlay-{suite}-on-natural")
        ax.legend(frameon=False, loc="upper left", fontsize=7)
    if has_rates:
        ax = axes[0, -1]
        names = list(next(iter(res["dropout_rate"].values())))
        xr = np.arange(len(names))
        for k, (task, color, marker) in enumerate(
            (("overlay", style.STRONG, "o"), ("background", style.WEAK, "s"))
        ):
            for j, suite in enumerate(suites):
                if suite not in res["dropout_rate"]:
                    continue
                r = res["dropout_rate"][suite]
                ax.plot(
                    xr + (k - 0.5) * 0.3 + (j - 1) * 0.08,
                    [r[n][task] for n in names],
                    color=color,
                    marker=marker,
                    ls="none",
                    ms=4,
                    markerfacecolor="white",
                    label=task if j == 0 else None,
                )
        ax.set_xticks(xr, [n.split(" ")[0] for n in names], rotation=20)
        ax.set_ylabel("feature-dropout rate")
        ax.set_title("dropout rate of the views\n(judges; one point per suite)")
        ax.legend(frameon=False, fontsize=7)
    n = len(res["seeds"])
    fig.suptitle(
        f"Expert, viewmaker and oracle (p = 0.5) views: probe accuracy of both tasks "
        f"(bars: mean $\\pm$ sd, dots: {n} seeds; dotted: chance per task)"
    )
    return fig


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
    root = _sweep(cfg, specs)
    it = iter(specs)
    acc = []
    times = []
    for _ in cfg["bits"]:
        row = []
        for _ in cfg["taus"]:
            seeds = []
            for _ in cfg["seeds"]:
                spec = next(it)
                rec = load_eval(spec.run_dir(root), _probe(cfg))
                seeds.append(rec["metrics"]["digit"]["accuracy"])
                times.append(_train_time(spec.run_dir(root)) + rec["elapsed_s"])
            row.append(seeds)
        acc.append(row)
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
    probe = np.asarray(lin["probe_resolved"])[:, 0]  # (bits, taus, seeds)
    deep_trend, lin_trend = temperature_trend(acc), temperature_trend(probe)
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": cfg["seeds"],
        "accuracy": acc,  # (bits, taus, seeds)
        "chance": 0.1,
        "run_s": times,
        "theory_probe": probe.tolist(),  # (bits, taus, theory seeds): resolved weak-group R^2
        "theory_share": np.asarray(lin["shares"])[:, 0, :, :, 1].tolist(),
        "deep_trend": deep_trend,
        "linear_trend": lin_trend,
        "agree": bool(np.sign(deep_trend) == np.sign(lin_trend)),
    }


def _trend_text(v: float) -> str:
    if v == 0:
        return "no temperature effect"
    return "lower $\\tau$ suppresses less" if v > 0 else "lower $\\tau$ suppresses more"


def plot_randbits(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 2, width=4.2, height=3.0)
    colors = ["#1b4f72", "#2e86c1", "#85c1e9", "#aed6f1"]
    th = np.asarray(res["theory_probe"])
    ax = axes[0, 0]
    for j, tau in enumerate(res["taus"]):
        mean, _ = _mean_sd(th[:, j])
        ax.plot(res["bits"], mean, color=colors[j], label=f"$\\tau$ = {tau:g}", **style.THEORY)
    ax.set_ylabel("weak-group probe $R^2$ (resolved)")
    ax.set_title("linear InfoNCE, no bit dropout")
    ax = axes[0, 1]
    acc = np.asarray(res["accuracy"])
    for j, tau in enumerate(res["taus"]):
        _markers(ax, res["bits"], acc[:, j], colors[j], f"$\\tau$ = {tau:g}")
        ax.plot(res["bits"], _mean_sd(acc[:, j])[0], color=colors[j], lw=0.6, alpha=0.5)
    ax.axhline(res["chance"], color=style.NEUTRAL, lw=0.8, ls=":", label="chance")
    ax.set_ylabel("digit probe accuracy")
    ax.set_title("ConvNet, RandBits-MNIST, crop-only views")
    for a in axes[0]:
        a.set_xlabel("random bits k shared by both views")
        a.set_xticks(res["bits"])
        a.set_ylim(0.0, 1.02)
    axes[0, 0].legend(frameon=False, loc="lower left")
    axes[0, 1].legend(frameon=False, loc="upper right")
    verdict = "agree" if res["agree"] else "disagree"
    lo, hi = res["taus"][0], res["taus"][-1]
    fig.suptitle(
        "Random bits shared by both views suppress the digit "
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds)\n"
        f"temperature effect = value at $\\tau$ = {lo:g} minus at {hi:g}, mean over k > 0:\n"
        f"deep {res['deep_trend']:+.3f} ({_trend_text(res['deep_trend'])}), "
        f"linear {res['linear_trend']:+.3f} ({_trend_text(res['linear_trend'])}): they {verdict}",
        fontsize=9,
    )
    return fig


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
    root = _sweep(cfg, specs)
    avg_e, inv_e = _foster_evals(cfg)
    copies = sorted(cfg["averaging"]["copies"])
    out: dict[str, dict[str, Any]] = {}
    times: dict[str, float] = {}
    it = iter(specs)
    for label in cfg["presets"]:
        r2, cv, cv_alpha, alpha_r2 = [], [], [], []
        for _ in cfg["seeds"]:
            spec = next(it)
            rd = spec.run_dir(root)
            avg, inv = load_eval(rd, avg_e), load_eval(rd, inv_e)
            r2.append([avg["metrics"][f"M={m}"]["targets"]["r2"] for m in copies])
            cv.append(inv["metrics"]["conditional_variance"]["ratio"])
            cv_alpha.append(
                inv["metrics"].get("conditional_variance_alpha_only", {}).get("ratio", float("nan"))
            )
            ar = inv["metrics"].get("alpha_r2", {})
            alpha_r2.append(float(ar["r2"]) if "r2" in ar else float("nan"))
            times[spec.name] = _train_time(rd) + avg["elapsed_s"] + inv["elapsed_s"]
        out[label] = {
            "r2": np.asarray(r2).T.tolist(),  # (len(copies), seeds)
            "cv_ratio": cv,
            "cv_ratio_alpha_only": cv_alpha,
            "alpha_r2": alpha_r2,
        }
    return {"copies": copies, "seeds": cfg["seeds"], "runs": out, "run_s": times}


def plot_foster(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, 2, width=3.9, height=3.0)
    colors = {"no penalty": style.STRONG, "gradient penalty": style.WEAK}
    labels = [lab for lab in cfg["presets"] if lab in res["runs"]]  # the config's order
    ax = axes[0, 0]
    for label in labels:
        run = res["runs"][label]
        c = colors.get(label, style.NEUTRAL)
        _markers(ax, res["copies"], run["r2"], c, label)
        ax.plot(res["copies"], _mean_sd(run["r2"])[0], color=c, lw=0.6, alpha=0.5)
    ax.set_xscale("log")
    ax.set_xticks(res["copies"], [str(m) for m in res["copies"]])
    ax.set_xlabel("copies M averaged (train and test features)")
    ax.set_ylabel("probe $R^2$ of the Spirograph targets")
    ax.set_title("feature averaging")
    ax.legend(frameon=False, loc="best")
    ax = axes[0, 1]
    x = np.arange(len(labels))
    for k, (key, name) in enumerate(
        (("cv_ratio", "all view parameters"), ("cv_ratio_alpha_only", "alpha only"))
    ):
        vals = [res["runs"][lab][key] for lab in labels]
        mean, sd = _mean_sd(vals)
        xs = x + (k - 0.5) * 0.36
        ax.bar(xs, mean, 0.36, color=(style.NEUTRAL, "#aab7b8")[k], alpha=0.6, label=name)
        ax.errorbar(xs, mean, yerr=sd, color="k", capsize=2, ls="none")
    ax.set_xticks(x, labels)
    ax.set_ylabel("conditional variance / total variance")
    ax.set_ylim(0.0, 1.25)
    ax.set_title("conditional variance of pooled features")
    ax.legend(frameon=False, loc="upper center", ncol=2, fontsize=7)
    steps = [o.split("=")[1] for o in cfg["overrides"] if o.startswith("optim.max_steps")]
    fig.suptitle(
        "Foster et al.: Spirograph with and without the gradient penalty\n"
        f"(mean $\\pm$ sd over {len(res['seeds'])} seeds, {', '.join(steps)} steps of batch 128; "
        "the linear theory has no counterpart)",
        fontsize=9,
    )
    return fig


register(
    FigureSpec(
        "exp_oracle_dropout",
        "deep: oracle feature dropout, probe accuracy of both tasks vs p, beside the theory",
        compute_oracle,
        plot_oracle,
        oracle_config,
    )
)
register(
    FigureSpec(
        "exp_views_multitask",
        "deep: expert vs viewmaker vs oracle views on three overlay suites (+ dropout rate)",
        compute_multitask,
        plot_multitask,
        multitask_config,
    )
)
register(
    FigureSpec(
        "exp_randbits",
        "deep: digit accuracy vs random bits per temperature, beside linear InfoNCE",
        compute_randbits,
        plot_randbits,
        randbits_config,
    )
)
register(
    FigureSpec(
        "exp_foster",
        "deep: Spirograph with/without gradient penalty: R^2 vs averaged copies, cond. variance",
        compute_foster,
        plot_foster,
        foster_config,
    )
)
