"""``exp_views_multitask`` (Tamkin et al. 2023): expert vs viewmaker vs oracle (p = 0.5) views on
the overlay suites; probe accuracy of both tasks and the views' feature-dropout rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from figures import style
from figures.claims import Claim
from figures.experiments.common import (
    OVERLAY_TASK,
    TAMKIN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _mean_sd,
    _probe,
    _short,
    _slug,
    _sweep,
    _theory_defaults,
    _train_time,
    linear_probe_vs_p,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

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


EXP_VIEWS_MULTITASK = FigureSpec(
    "exp_views_multitask",
    "deep: expert vs viewmaker vs oracle views on three overlay suites (+ dropout rate)",
    compute_multitask,
    plot_multitask,
    multitask_config,
    claims_multitask,
)
