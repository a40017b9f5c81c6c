"""Experiment figures: deep contrastive runs beside the linear theory (issue 2, section 4), each
beside its baselines (issue 10, section 1).

* ``exp_oracle_dropout`` (Tamkin et al. 2023; the empirical twin of ``theory_vs_p``): oracle
  feature-dropout views on an overlay suite for a range of p; probe accuracy of the overlay (the
  easy / strong feature) and the background (the weak one) against p, beside the linear model's
  optimum.
* ``exp_views_multitask`` (Tamkin et al. 2023): expert vs viewmaker vs oracle (p = 0.5) views on
  the overlay suites; probe accuracy of both tasks and the views' feature-dropout rate.
* ``exp_randbits`` (Chen et al. 2021): digit probe accuracy against the number of random bits k
  per temperature, beside linear InfoNCE with shared bits (``linear_theory.infonce``).
* ``exp_foster`` (Foster et al. 2021): Spirograph with and without the gradient penalty; probe
  R^2 against the number of averaged copies M and the conditional variance.

Baselines (``figures.baselines``): every trained run has an untrained twin (the same
architecture at the same seeded initialisation, probed with the same probe and layer) and a
linear probe on the raw pixels of its suite. Every experiment panel draws their levels
(untrained dashed, pixels dotted), every trained number is also shown as its gain over the
untrained encoder with a 95% t-interval over seeds (``figures.stats``), and a run set none of
whose tasks beats the untrained encoder (``figures.stats.gate``) is not a result: the panel says
so in words instead of comparing its conditions, and its claims (``figures.claims``; each
figure's ``claims_*``) get the verdict "not a result".

``compute_*`` run the sweep (``figures.sweep``: train, resume, evaluate through
``empirical.evaluate``; runs in ``results/runs/<figure>/``) and return JSON-ready results with
per-seed values; ``plot_*`` only draw them. Run lengths are overrides in each figure's config
(saved beside the figure): CPU presets, ``data.train_size=0`` (every training example, read in
a seeded random order) and ``optim.max_steps`` to bound the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.spec import Config, FigureSpec, Results
from figures.stats import (
    GAIN_MARGIN,
    GATE_RULE,
    NO_TASK_BEATS,
    Gate,
    Interval,
    gate,
    mean_interval,
    paired_interval,
)
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval, run_sweep

OVERLAY_TASK = {"digits": "digit", "shapes": "shape", "letters": "letter"}
TAMKIN = "Tamkin et al. 2023"
CHEN = "Chen et al. 2021"
FOSTER = "Foster et al. 2021"


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


def _sweep(
    cfg: Config,
    specs: Sequence[RunSpec],
    twin_evaluations: Sequence[Evaluation],
    pixel_evaluation: Evaluation | None = None,
) -> baselines.Baselines:
    """Run the trained runs and their untrained twins (evaluated only) in one sweep."""
    root = Path(cfg["runs_root"])
    base, twins = baselines.prepare(specs, root, twin_evaluations, pixel_evaluation)
    run_sweep([*specs, *twins], root)
    return base


def _mean_sd(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample sd over the last axis (sd 0 for one seed)."""
    v = np.asarray(values, dtype=float)
    sd = v.std(-1, ddof=1) if v.shape[-1] > 1 else np.zeros(v.shape[:-1])
    return v.mean(-1), sd


def _markers(ax: Any, x: Any, values: Any, color: str, label: str, alpha: float = 1.0) -> None:
    """Experiment in the project's style: mean +- sd over seeds as markers with error bars."""
    mean, sd = _mean_sd(values)
    ax.errorbar(
        x, mean, yerr=sd, color=color, label=label, capsize=2, alpha=alpha, **style.SIMULATION
    )


# ---------------------------------------------------------------------------------------------
# gains over the untrained encoder, the gate and the baselines' look


def gains(trained: Any, untrained: Any) -> list[Interval]:
    """Per-condition gain intervals: ``trained`` and ``untrained`` of one shape ``(..., seeds)``
    (the same seed at the same position), flattened over the leading axes."""
    t, u = np.asarray(trained, dtype=float), np.asarray(untrained, dtype=float)
    if t.shape != u.shape:
        raise ValueError(f"trained and untrained values differ in shape: {t.shape} vs {u.shape}")
    t2, u2 = t.reshape(-1, t.shape[-1]), u.reshape(-1, u.shape[-1])
    return [paired_interval(a, b) for a, b in zip(t2, u2, strict=True)]


def _gate_text(g: Gate, what: str) -> str:
    if g.reason == NO_TASK_BEATS:
        return f"{NO_TASK_BEATS}:\n{what} not compared"
    return f"not a result ({g.reason}):\n{what} not compared"


def _draw_gains(
    ax: Any, x: Any, intervals: Sequence[Interval], color: str, label: str, gid: str
) -> None:
    """Gain means with their 95% intervals (no bar where there is no interval); the data
    line's gid is ``gid``."""
    mean = np.array([g.mean for g in intervals])
    below = np.array([g.mean - g.lo if g.defined else 0.0 for g in intervals])
    above = np.array([g.hi - g.mean if g.defined else 0.0 for g in intervals])
    c = ax.errorbar(
        x, mean, yerr=[below, above], color=color, label=label, capsize=2, **style.SIMULATION
    )
    c.lines[0].set_gid(gid)


def _gain_axes(ax: Any) -> None:
    ax.axhline(0.0, color=style.NEUTRAL, lw=0.8)
    ax.axhline(GAIN_MARGIN, color=style.NEUTRAL, lw=0.6, ls=":")
    ax.set_ylabel("gain over untrained encoder\n(mean, 95% interval)")


def _reference_lines(
    ax: Any, x: Any, untrained: Any, pixels: Any, color: str, name: str, alpha: float = 1.0
) -> None:
    """The untrained encoder (mean over seeds, dashed; gid ``untrained:NAME``) and the raw-pixel
    probe (dotted; gid ``pixels:NAME``) over the conditions ``x``."""
    u = np.asarray(untrained, dtype=float)
    ax.plot(x, u.mean(-1), color=color, gid=f"untrained:{name}", alpha=alpha, **style.UNTRAINED)
    if pixels is not None:
        px = np.broadcast_to(np.asarray(pixels, dtype=float), np.shape(x))
        ax.plot(x, px, color=color, gid=f"pixels:{name}", alpha=alpha, **style.PIXELS)


def _baseline_handles() -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color=style.NEUTRAL, label="untrained encoder", **style.UNTRAINED),
        Line2D([], [], color=style.NEUTRAL, label="raw-pixel probe", **style.PIXELS),
    ]


def _legend(ax: Any, ncol: int = 2, baselines_too: bool = True) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if baselines_too:
        extra = _baseline_handles()
        handles, labels = handles + extra, labels + [h.get_label() for h in extra]
    style.legend_below(ax, ncol, handles=handles, labels=labels)


def _gate_footnote(fig: Any) -> None:
    """The gate's rule under the figure."""
    import textwrap

    fig.supxlabel(textwrap.fill(f"Gate: {GATE_RULE}.", 160), fontsize=7, color=style.NEUTRAL)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _steps(cfg: Config) -> str:
    steps = [o.split("=")[1] for o in cfg["overrides"] if o.startswith("optim.max_steps")]
    return ", ".join(steps) or "?"


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
        "tasks": ["digit", "background"],  # the overlay's task first, then the background's
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


# ---------------------------------------------------------------------------------------------
# (2) expert vs viewmaker vs oracle views on the overlay suites


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
    probe = _probe(cfg)
    base = _sweep(cfg, specs, (probe,))
    root = base.root
    by_name = {s.name: s for s in specs}
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    untrained: dict[str, dict[str, dict[str, list[float]]]] = {}
    pixels: dict[str, dict[str, dict[str, float]]] = {}
    rates: dict[str, dict[str, dict[str, float]]] = {}
    chance: dict[str, dict[str, float]] = {}
    suite_names: dict[str, str] = {}
    times: dict[str, float] = {}
    for suite in cfg["suites"]:
        overlay = OVERLAY_TASK[suite]
        acc[suite], untrained[suite], pixels[suite] = {}, {}, {}
        for views in cfg["views"]:
            acc[suite][views] = {"overlay": [], "background": []}
            untrained[suite][views] = {"overlay": [], "background": []}
            for seed in cfg["seeds"]:
                spec = by_name[f"{views}-{suite}-s{seed}"]
                rd = spec.run_dir(root)
                rec = load_eval(rd, probe)
                unt = base.untrained(spec.name, probe)["metrics"]
                suite_names[suite] = rec["config"]["data"]["suite"]
                chance[suite] = {
                    "overlay": rec["metrics"][overlay]["chance"],
                    "background": rec["metrics"]["background"]["chance"],
                }
                for task, key in (("overlay", overlay), ("background", "background")):
                    acc[suite][views][task].append(rec["metrics"][key]["accuracy"])
                    untrained[suite][views][task].append(unt[key]["accuracy"])
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
            px = base.pixel(spec.name)["metrics"]
            pixels[suite][views] = {
                "overlay": px[overlay]["accuracy"],
                "background": px["background"]["accuracy"],
            }
    ps = view_ps(rates)
    theory = linear_probe_vs_p(cfg["theory"], [ps[v] for v in cfg["views"]])
    return {
        "seeds": cfg["seeds"],
        "suite_names": suite_names,  # suite -> data.suite of its runs
        "accuracy": acc,  # suite -> views -> task -> per-seed accuracies
        "untrained": untrained,  # suite -> views -> task -> per-seed, the same seeds untrained
        "pixels": pixels,  # suite -> views -> task -> raw-pixel probe accuracy
        "dropout_rate": rates,  # suite -> views -> task -> rate
        "chance": chance,  # suite -> task -> 1 / classes
        "run_s": times,
        "theory_p": [ps[v] for v in cfg["views"]],
        "theory_acc": theory,  # views -> (strong, weak)
    }


def view_ps(rates: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, float]:
    """The p at which the theory is read for each view type: expert 0, oracle 0.5, viewmaker its
    measured overlay dropout rate (mean over the suites where the judges measured a finite
    rate, clipped to [0, 1]; 0 when none did)."""
    vm = [r["viewmaker (trained)"]["overlay"] for r in rates.values() if "viewmaker (trained)" in r]
    vm = [v for v in vm if np.isfinite(v)]
    return {
        "expert": 0.0,
        "oracle": 0.5,
        "viewmaker": float(np.clip(np.mean(vm), 0, 1)) if vm else 0.0,
    }


def _rate_label(name: str) -> str:
    if name.startswith("viewmaker-trained"):
        return "viewmaker (trained)"
    return name


MULTI_TASKS = ("overlay", "background")


def multitask_gains(res: Results, suite: str, views: Sequence[str]) -> dict[str, list[Interval]]:
    """Task -> the gain interval of each view type on ``suite``."""
    return {
        t: [
            paired_interval(res["accuracy"][suite][v][t], res["untrained"][suite][v][t])
            for v in views
        ]
        for t in MULTI_TASKS
    }


def multitask_gate(res: Results, suite: str, views: Sequence[str]) -> Gate:
    return gate(
        {
            f"{v} {t}": g
            for t, per_view in multitask_gains(res, suite, views).items()
            for v, g in zip(views, per_view, strict=True)
        }
    )


def _segments(xs: Any, width: float, values: Sequence[float]) -> tuple[Any, Any]:
    """One horizontal segment per bar (centre ``xs``, ``width``) at ``values``, joined into one
    line with NaN breaks: x and y arrays of length ``3 * len(xs)``."""
    x, y = [], []
    for xi, v in zip(xs, values, strict=True):
        x += [xi - width / 2, xi + width / 2, np.nan]
        y += [v, v, np.nan]
    return np.asarray(x), np.asarray(y)


def plot_multitask(res: Results, cfg: Config) -> Any:
    suites, views = cfg["suites"], cfg["views"]
    has_rates = bool(res["dropout_rate"])
    ncols = 1 + len(suites) + (1 if has_rates else 0)
    fig, axes = style.subplots(2, ncols, width=2.8, height=2.9)
    x = np.arange(len(views))
    width = 0.36
    ax = axes[0, 0]
    th = np.asarray(res["theory_acc"])
    for k, (color, name) in enumerate(((style.STRONG, "strong"), (style.WEAK, "weak"))):
        ax.bar(x + (k - 0.5) * width, th[:, k], width, color=color, alpha=0.35, label=name)
    labels = [f"{v}\np={p:.2f}" for v, p in zip(views, res["theory_p"], strict=True)]
    ax.set_xticks(x, labels)
    ax.set_ylim(0.4, 1.05)
    ax.axhline(0.5, **style.CHANCE)
    ax.set_title("linear theory at the views' p\n(viewmaker: measured rate)")
    ax.set_ylabel("linear probe accuracy")
    _legend(ax, baselines_too=False)
    colors = {"overlay": style.STRONG, "background": style.WEAK}
    for j, suite in enumerate(suites):
        ax = axes[0, 1 + j]
        g = multitask_gate(res, suite, views)
        faded = 1.0 if g.open else style.FADED
        for k, task in enumerate(MULTI_TASKS):
            color = colors[task]
            vals = [res["accuracy"][suite][v][task] for v in views]
            mean, sd = _mean_sd(vals)
            xs = x + (k - 0.5) * width
            name = f"{OVERLAY_TASK.get(suite, suite)} (overlay)" if task == "overlay" else task
            ax.bar(xs, mean, width, color=color, alpha=0.35 * faded, label=name)
            ax.errorbar(xs, mean, yerr=sd, color=color, capsize=2, ls="none", alpha=faded)
            for xi, v in zip(xs, vals, strict=True):
                ax.plot(
                    [xi] * len(v),
                    v,
                    color=color,
                    alpha=faded,
                    **{**style.SIMULATION, "markersize": 3.0},
                )
            unt = [np.mean(res["untrained"][suite][v][task]) for v in views]
            ax.plot(
                *_segments(xs, width, unt), color="k", gid=f"untrained:{task}", **style.UNTRAINED
            )
            px = [res["pixels"][suite][v][task] for v in views]
            ax.plot(*_segments(xs, width, px), color="k", gid=f"pixels:{task}", **style.PIXELS)
            c = res["chance"].get(suite, {}).get(task)
            if c is not None:
                ax.axhline(c, **{**style.CHANCE, "color": color})
        ax.set_xticks(x, views)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(res.get("suite_names", {}).get(suite, f"overlay-{suite}"))
        _legend(ax)
        if not g.open:
            style.gate_note(ax, _gate_text(g, "view types"))
        ax = axes[1, 1 + j]
        for k, (task, per_view) in enumerate(multitask_gains(res, suite, views).items()):
            _draw_gains(ax, x + (k - 0.5) * 0.2, per_view, colors[task], task, f"gain:{task}")
        _gain_axes(ax)
        ax.set_xticks(x, views)
        ax.set_title(f"gain over untrained ({suite})")
    if has_rates:
        ax = axes[0, -1]
        names = list(next(iter(res["dropout_rate"].values())))
        xr = np.arange(len(names))
        for k, (task, marker) in enumerate((("overlay", "o"), ("background", "s"))):
            for j, suite in enumerate(suites):
                if suite not in res["dropout_rate"]:
                    continue
                r = res["dropout_rate"][suite]
                ax.plot(
                    xr + (k - 0.5) * 0.3 + (j - 1) * 0.08,
                    [r[n][task] for n in names],
                    color=colors[task],
                    marker=marker,
                    ls="none",
                    ms=4,
                    markerfacecolor="white",
                    label=task if j == 0 else None,
                )
        ax.set_xticks(xr, [n.split(" ")[0] for n in names], rotation=20)
        ax.set_ylabel("feature-dropout rate")
        ax.set_title("dropout rate of the views\n(judges; one point per suite)")
        _legend(ax, baselines_too=False)
    axes[1, 0].axis("off")
    _gate_footnote(fig)
    if has_rates:
        axes[1, -1].axis("off")
    n = len(res["seeds"])
    fig.suptitle(
        "Expert, viewmaker and oracle (p = 0.5) views: probe accuracy of both tasks\n"
        f"(bars: mean $\\pm$ sd, dots: {n} seeds; dash-dotted: chance)",
        fontsize=9,
    )
    return fig


def claims_multitask(res: Results, cfg: Config) -> list[Claim]:
    """Tamkin et al.: on each suite, viewmaker views and label-destroying oracle views each give
    a better representation for both tasks together (the mean of the two probe accuracies)
    than expert views; seeds paired."""
    views = list(cfg["views"])
    if "expert" not in views:
        return []
    th = np.asarray(res["theory_acc"], dtype=float).mean(1)  # views -> mean over the 2 tasks
    out = []
    for suite in cfg["suites"]:
        g = multitask_gate(res, suite, views)
        acc = res["accuracy"][suite]

        def both(v: str, acc: Mapping[str, Any] = acc) -> np.ndarray:
            return np.mean([acc[v][t] for t in MULTI_TASKS], axis=0)  # (seeds,)

        name = res.get("suite_names", {}).get(suite, suite)
        for other, what in (
            ("viewmaker", "Viewmaker views"),
            ("oracle", "Label-destroying views (oracle feature dropout, p = 0.5)"),
        ):
            if other not in views:
                continue
            out.append(
                Claim(
                    id=f"tamkin2023.views.{_slug(suite)}.{other}-beats-expert",
                    figure="exp_views_multitask",
                    paper=TAMKIN,
                    claim=f"{what} give a better representation for both tasks together than "
                    f"expert views on {name}.",
                    effect=f"mean accuracy over the two tasks, {other} minus expert views",
                    measured=paired_interval(both(other), both("expert")),
                    predicted_sign=1,
                    theory={
                        "value": float(th[views.index(other)] - th[views.index("expert")]),
                        "text": "linear model at the views' p, mean over the two groups",
                    },
                    gated=not g.open,
                    gate_reason="" if g.open else g.reason,
                )
            )
    return out


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


EXP_ORACLE_DROPOUT = FigureSpec(
    "exp_oracle_dropout",
    "deep: oracle feature dropout, probe accuracy of both tasks vs p, beside the theory",
    compute_oracle,
    plot_oracle,
    oracle_config,
    claims_oracle,
)
EXP_VIEWS_MULTITASK = FigureSpec(
    "exp_views_multitask",
    "deep: expert vs viewmaker vs oracle views on three overlay suites (+ dropout rate)",
    compute_multitask,
    plot_multitask,
    multitask_config,
    claims_multitask,
)
EXP_RANDBITS = FigureSpec(
    "exp_randbits",
    "deep: digit accuracy vs random bits per temperature, beside linear InfoNCE",
    compute_randbits,
    plot_randbits,
    randbits_config,
    claims_randbits,
)
EXP_FOSTER = FigureSpec(
    "exp_foster",
    "deep: Spirograph with/without gradient penalty: R^2 vs averaged copies, cond. variance",
    compute_foster,
    plot_foster,
    foster_config,
    claims_foster,
)
