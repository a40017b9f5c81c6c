"""``exp_views_multitask`` (Tamkin et al. 2023): expert vs viewmaker vs oracle feature-dropout
views on two overlay suites (a shape and a digit over Fashion-MNIST); per suite the probe
accuracy of the overlay and the background under each view type beside the untrained encoder
and raw pixels, the gains with 95% intervals over seeds, the gate, the views' measured
feature-dropout rate (the ``dropout-rate`` diagnostic's judges) and the linear theory calibrated
to the suite's data (:func:`figures.calibration.oracle_theory`) read at each view type's p.

Runs: the viewmaker runs are this figure's (:func:`multitask_specs`); the expert and oracle
conditions are the oracle figure's runs of the same suite and seed (:func:`multitask_reused_specs`):
expert = oracle p = 0 with the expert base views (the overlay kept in both views, then expert
views: exactly the expert views' distribution), oracle = oracle p = ``reuse["oracle"]``
(0.4: the sweep's p nearest Tamkin et al.'s 0.5 that keeps the overlay in most views). All
runs share the CPU scale of ``figures.experiments.common.cpu_scale(192)``.

The letters overlay is dropped: at this CPU scale a letter at a random position is at chance for
every encoder, untrained or trained, and one at a fixed position is read almost perfectly by the
untrained encoder (docs/cpu_scale_search.md, item 8), so no view type can be compared on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments.common import (
    FLAT_MOVE,
    FLATNESS_KNN_TEST,
    TAMKIN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_notes,
    _legend,
    _mean_sd,
    _probe,
    _slug,
    _sweep,
    _train_time,
    cpu_scale,
    gated_claim,
    init_seeds,
    last_quarter_move,
    read_run_curve,
)
from figures.judges import JudgeShare, rated, train_shares
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval, welch_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval, run_sweep

MULTI_TASKS = ("overlay", "background")

# ---------------------------------------------------------------------------------------------
# expert vs viewmaker vs oracle views on the overlay suites


def multitask_config() -> Config:
    """Two suites (the shape and digit overlays on Fashion-MNIST; letters are dropped, see the
    module docstring), three view types, three seeds, the CPU scale of the oracle figure (192
    steps, pooled probe). The expert and oracle conditions are runs of the oracle figure
    (``reuse``: the oracle dropout p of each; p = 0 with the expert base *is* the expert
    views), so this figure trains only the viewmaker runs."""
    return {
        # per suite: its data suite and its overlay task
        "suites": {
            "shapes": {"suite": "overlay-shapes-on-fashion", "overlay": "shape"},
            "digits": {"suite": "overlay-digits-on-fashion", "overlay": "digit"},
        },
        "views": ["expert", "viewmaker", "oracle"],
        # view type -> the p of the exp_oracle_dropout run it is (the same run directory)
        "reuse": {"expert": 0.0, "oracle": 0.4},
        "seeds": [0, 1, 2],
        "overrides": cpu_scale(192, knn_test=FLATNESS_KNN_TEST),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "pooled"},
        "dropout_rate": {
            "num_inputs": 256,
            "num_copies": 2,
            "judge_steps": 200,
            "eps": [0.05],
        },
        # the linear theory calibrated to each suite (figures.calibration.oracle_theory)
        "theory": {"seed": 0},
        "runs_root": str(RUNS_DIR),
    }


def _rate_eval(cfg: Config) -> Evaluation:
    return Evaluation("fig-dropout-rate", "dropout-rate", dict(cfg["dropout_rate"]))


def multitask_specs(cfg: Config) -> list[RunSpec]:
    """The runs this figure trains: viewmaker views per suite and seed (preset
    ``viewmaker-{suite}-cpu`` moved to the suite's Fashion-MNIST data by ``data.suite``, the
    oracle figure's CPU-scale overrides); the dropout rate on each suite's run of the first seed
    (its record also holds the identity and expert views' rates). The expert and oracle
    conditions are the oracle figure's runs (:func:`multitask_reused_specs`)."""
    specs = []
    for suite, sc in cfg["suites"].items():
        for views in cfg["views"]:
            if views in cfg["reuse"]:
                continue
            for seed in cfg["seeds"]:
                evals = [_probe(cfg)]
                if views == "viewmaker" and seed == cfg["seeds"][0] and cfg["dropout_rate"]:
                    evals.append(_rate_eval(cfg))
                specs.append(
                    RunSpec(
                        "exp_views_multitask",
                        f"{views}-{suite}-s{seed}",
                        f"{views}-{suite}-cpu",
                        (*cfg["overrides"], f"data.suite={sc['suite']}"),
                        seed,
                        tuple(evals),
                    )
                )
    return specs


def multitask_reused_specs(cfg: Config) -> dict[str, dict[str, RunSpec]]:
    """View type -> ``{suite}-s{seed}`` -> its run in the oracle figure: the ``exp_oracle_dropout``
    run of that suite and seed at the p ``cfg["reuse"]`` gives the view type (the identical
    RunSpec, so the same run directory and probe record; nothing new is trained).

    Raises:
        ValueError: a reused p, suite or seed is not in the oracle figure's sweep, a suite's data
            differs from the oracle figure's, or the probe differs from the oracle figure's
            (its records would not be reused).
    """
    from figures.experiments.oracle import oracle_config, oracle_specs

    ocfg = oracle_config()
    if dict(ocfg["probe"]) != dict(cfg["probe"]):
        raise ValueError(
            f"probe must equal the oracle figure's probe {ocfg['probe']}; got {cfg['probe']}"
        )
    by_name = {s.name: s for s in oracle_specs(ocfg)}
    out: dict[str, dict[str, RunSpec]] = {}
    for views, p in cfg["reuse"].items():
        if float(p) not in [float(x) for x in ocfg["ps"]]:
            raise ValueError(f"reuse.{views} must be one of the oracle sweep's p {ocfg['ps']}")
        out[views] = {}
        for suite, sc in cfg["suites"].items():
            theirs = ocfg["suites"].get(suite, {}).get("suite")
            if theirs != sc["suite"]:
                raise ValueError(
                    f"suites.{suite}.suite must be the oracle figure's ({theirs}); "
                    f"got {sc['suite']}"
                )
            for seed in cfg["seeds"]:
                name = f"{suite}-p{float(p):g}-s{seed}"
                if name not in by_name:
                    raise ValueError(
                        f"seeds must be in the oracle sweep's {ocfg['seeds']}; no run {name}"
                    )
                out[views][f"{suite}-s{seed}"] = by_name[name]
    return out


def _theory_call(suite: str, ps: Sequence[float], steps: int, batch_size: int, seed: int) -> Any:
    from figures.calibration import oracle_theory

    return oracle_theory(suite, ps, steps, batch_size, seed)


def _override(cfg: Config, key: str) -> int:
    from figures.experiments.oracle import _override as find

    return find(cfg, key)


def _rate_label(name: str) -> str:
    return "viewmaker (trained)" if name.startswith("viewmaker-trained") else name


def multitask_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_multitask` sweeps first (``FigureSpec.baselines``):
    the reused expert runs, the figure's viewmaker runs (probed only: the rates come after the
    judges, :func:`multitask_judges`), then the other reused runs."""
    probe = _probe(cfg)
    reused = multitask_reused_specs(cfg)
    own = [replace(s, evaluations=(probe,)) for s in multitask_specs(cfg)]
    order = [*reused.get("expert", {}).values(), *own]
    order += [s for v, d in reused.items() if v != "expert" for s in d.values()]
    return baselines.Request(tuple(order), (probe,))


def multitask_judges(cfg: Config) -> list[JudgeShare]:
    """Per suite, the judges of its rated run (the viewmaker run of the first seed), with its
    rate (``FigureSpec.judges``); the suites' judges differ (their data do)."""
    return [JudgeShare(_rate_eval(cfg), (s,)) for s in rated(multitask_specs(cfg))]


def compute_multitask(cfg: Config) -> Results:
    """Sweep the viewmaker runs and the reused oracle-figure runs (with untrained populations and
    raw pixels) and collect, per suite and view type, the probe accuracies (trained and untrained,
    per seed), the raw-pixel probe, the kNN learning curves, the dropout-rate record of the
    viewmaker run of the first seed, and the calibrated theory at the view types' p
    (:func:`view_ps`); ``summary`` holds the gate, gains and flatness per suite."""
    trained = {s.name: s for s in multitask_specs(cfg)}
    reused = multitask_reused_specs(cfg)
    request = multitask_baselines(cfg)
    order, (probe,) = list(request.specs), request.evaluations
    base = _sweep(cfg, request)
    root = base.root
    shares = multitask_judges(cfg)
    train_shares(shares, root)  # the suites' judges side by side, then their runs' rates
    run_sweep([s for share in shares for s in share.specs], root)
    views, seeds = list(cfg["views"]), list(cfg["seeds"])

    def spec_of(v: str, suite: str, seed: int) -> RunSpec:
        return reused[v][f"{suite}-s{seed}"] if v in reused else trained[f"{v}-{suite}-s{seed}"]

    acc: dict[str, Any] = {}
    untrained: dict[str, Any] = {}
    pixels: dict[str, Any] = {}
    knn: dict[str, Any] = {}
    rates: dict[str, dict[str, dict[str, float]]] = {}
    chance: dict[str, dict[str, float]] = {}
    times: dict[str, float] = {}
    runs: dict[str, dict[str, list[str]]] = {}
    for suite, sc in cfg["suites"].items():
        keys = {"overlay": sc["overlay"], "background": "background"}
        acc[suite], untrained[suite], pixels[suite], knn[suite], runs[suite] = {}, {}, {}, {}, {}
        for v in views:
            acc[suite][v] = {t: [] for t in MULTI_TASKS}
            untrained[suite][v] = {t: [] for t in MULTI_TASKS}
            knn[suite][v] = {t: [] for t in MULTI_TASKS}
            runs[suite][v] = []
            for seed in seeds:
                spec = spec_of(v, suite, seed)
                rd = spec.run_dir(root)
                runs[suite][v].append(f"{spec.figure}/{spec.run_id}")
                rec = load_eval(rd, probe)
                pop = base.untrained_population(spec.name, probe)
                seen = knn[suite][v].get("steps")  # the view's first seed fixes the kNN steps
                steps, curve = read_run_curve(rd, list(keys.values()), seen)
                knn[suite][v]["steps"] = steps
                chance[suite] = {t: rec["metrics"][k]["chance"] for t, k in keys.items()}
                for t, k in keys.items():
                    acc[suite][v][t].append(rec["metrics"][k]["accuracy"])
                    # the view type's untrained population (the same for each of its seeds)
                    untrained[suite][v][t] = [u["metrics"][k]["accuracy"] for u in pop]
                    knn[suite][v][t].append(curve[k])
                times[f"{spec.figure}/{spec.name}"] = _train_time(rd) + rec["elapsed_s"]
                if any(e.kind == "dropout-rate" for e in spec.evaluations):
                    m = load_eval(rd, _rate_eval(cfg))["metrics"]["views"]
                    rates[suite] = {
                        _rate_label(name): {t: r[k]["rate"] for t, k in keys.items()}
                        for name, r in m.items()
                    }
                    if "oracle" in cfg["reuse"]:
                        po = float(cfg["reuse"]["oracle"])
                        rates[suite][f"oracle (p = {po:g}, by construction)"] = {
                            "overlay": po,
                            "background": 0.0,
                        }
            px = base.pixel(spec.name)["metrics"]
            pixels[suite][v] = {t: px[k]["accuracy"] for t, k in keys.items()}
    steps_n = _override(cfg, "optim.max_steps")
    batch = _override(cfg, "optim.batch_size")
    theory: dict[str, Any] = {}
    for suite, sc in cfg["suites"].items():
        ps = view_ps(rates.get(suite, {}), cfg["reuse"])
        at = [ps[v] for v in views]
        grid = sorted({0.0, 1.0, *at})  # oracle_theory takes strictly increasing p
        th = _theory_call(sc["suite"], grid, steps_n, batch, int(cfg["theory"]["seed"]))
        theory[suite] = {
            **th,
            "views": views,
            "view_ps": at,
            "view_overlay": np.interp(at, th["ps"], th["overlay"]).tolist(),
            "view_background": np.interp(at, th["ps"], th["background"]).tolist(),
        }
    res: Results = {
        "seeds": seeds,
        "inits": init_seeds(base, order),
        "suite_names": {s: sc["suite"] for s, sc in cfg["suites"].items()},
        "overlay_names": {s: sc["overlay"] for s, sc in cfg["suites"].items()},
        "runs": runs,  # suite -> views -> the run directories (figure/run-id), one per seed
        "accuracy": acc,  # suite -> views -> task -> per-seed accuracies
        "untrained": untrained,  # suite -> views -> task -> per init: the untrained population
        "pixels": pixels,  # suite -> views -> task -> raw-pixel probe accuracy
        "knn": knn,  # suite -> views -> {"steps", task -> per-seed kNN curve}
        "dropout_rate": rates,  # suite -> view generator -> task -> rate (judges)
        "chance": chance,  # suite -> task -> 1 / classes
        "run_s": times,
        "theory": theory,  # suite -> calibrated theory at the views' p ("views", "view_ps")
    }
    res["summary"] = {
        suite: {
            "gate": multitask_gate(res, suite, views).to_dict(),
            "gains": {
                t: [g.to_dict() for g in per]
                for t, per in multitask_gains(res, suite, views).items()
            },
            "flatness": multitask_flatness(res, suite),
        }
        for suite in cfg["suites"]
    }
    return res


def view_ps(
    rates: Mapping[str, Mapping[str, float]], reuse: Mapping[str, float]
) -> dict[str, float]:
    """The p at which a suite's theory is read for each view type: the oracle figure's p of a
    reused view type (expert 0, oracle its p), the viewmaker its measured overlay dropout rate on
    the suite (clipped to [0, 1]; 0 when it was not measured or is not finite)."""
    out = {v: float(p) for v, p in reuse.items()}
    vm = rates.get("viewmaker (trained)", {}).get("overlay", math.nan)
    out["viewmaker"] = float(np.clip(vm, 0.0, 1.0)) if math.isfinite(vm) else 0.0
    return out


def multitask_flatness(res: Results, suite: str) -> dict[str, Any]:
    """The flatness criterion of each view type's runs on ``suite``: the last-quarter move of the
    seed-mean kNN curve per task (``figures.experiments.common.last_quarter_move``); ``flat``
    when every |move| is below ``FLAT_MOVE``. Empty when the results hold no curves."""
    curves = res.get("knn", {}).get(suite)
    if not curves:
        return {}
    moves = {
        v: {t: last_quarter_move(c["steps"], np.mean(c[t], axis=0)) for t in MULTI_TASKS}
        for v, c in curves.items()
    }
    worst = max(abs(m) for per in moves.values() for m in per.values())
    return {"moves": moves, "max_abs": worst, "flat": bool(worst < FLAT_MOVE)}


def multitask_gains(res: Results, suite: str, views: Sequence[str]) -> dict[str, list[Interval]]:
    """Task -> the gain interval of each view type on ``suite``."""
    return {
        t: [
            welch_interval(res["accuracy"][suite][v][t], res["untrained"][suite][v][t])
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


def task_gate(res: Results, suite: str, views: Sequence[str], task: str) -> Gate:
    """The gate of one task over the view types; closed with "the TASK never beats the
    untrained encoder" (TASK: the suite's name for it)."""
    g = gate(
        {
            f"{v} {task}": x
            for v, x in zip(views, multitask_gains(res, suite, views)[task], strict=True)
        }
    )
    if g.open or not any(x.defined for x in multitask_gains(res, suite, views)[task]):
        return g
    return Gate(
        False,
        (),
        g.checked,
        f"the {_task_name(res, suite, task)} never beats the untrained encoder",
    )


def _task_name(res: Results, suite: str, task: str) -> str:
    if task != "overlay":
        return task
    return str(res.get("overlay_names", {}).get(suite, f"{suite} overlay"))


def _segments(xs: Any, width: float, values: Sequence[float]) -> tuple[Any, Any]:
    """One horizontal segment per bar (centre ``xs``, ``width``) at ``values``, joined into one
    line with NaN breaks: x and y arrays of length ``3 * len(xs)``."""
    x, y = [], []
    for xi, v in zip(xs, values, strict=True):
        x += [xi - width / 2, xi + width / 2, np.nan]
        y += [v, v, np.nan]
    return np.asarray(x), np.asarray(y)


COLORS = {"overlay": style.STRONG, "background": style.WEAK}
WIDTH = 0.36


def theory_measure(theory: Mapping[str, Any]) -> str:
    from figures.experiments.oracle import theory_measure as measure

    return measure(theory)


def _plot_theory(ax: Any, res: Results, suite: str, views: Sequence[str]) -> None:
    th = res["theory"][suite]
    x = np.arange(len(views))
    for k, task in enumerate(MULTI_TASKS):
        ax.bar(
            x + (k - 0.5) * WIDTH,
            th[f"view_{task}"],
            WIDTH,
            color=COLORS[task],
            alpha=0.35,
            label=f"{_task_name(res, suite, task)}" + (" (overlay)" if k == 0 else ""),
            gid=f"theory:{task}",
        )
    ax.set_xticks(x, [f"{v}\np = {p:.2f}" for v, p in zip(views, th["view_ps"], strict=True)])
    ax.set_ylabel(f"{theory_measure(th)} (theory)")
    ax.set_title(
        f"{res['suite_names'][suite]}\ncalibrated linear theory at the views' p\n"
        "(viewmaker: its measured overlay dropout rate)",
        fontsize=8,
    )
    _legend(ax, baselines_too=False)


def _plot_bars(ax: Any, res: Results, suite: str, views: Sequence[str], g: Gate) -> None:
    x = np.arange(len(views))
    notes = []
    for k, task in enumerate(MULTI_TASKS):
        tg = task_gate(res, suite, views, task)
        faded = 1.0 if (g.open and tg.open) else style.FADED
        if g.open and not tg.open:
            notes.append(tg.reason)
        color = COLORS[task]
        vals = [res["accuracy"][suite][v][task] for v in views]
        mean, sd = _mean_sd(vals)
        xs = x + (k - 0.5) * WIDTH
        name = _task_name(res, suite, task) + (" (overlay)" if task == "overlay" else "")
        ax.bar(xs, mean, WIDTH, color=color, alpha=0.35 * faded, label=name)
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
        ax.plot(*_segments(xs, WIDTH, unt), color="k", gid=f"untrained:{task}", **style.UNTRAINED)
        px = [res["pixels"][suite][v][task] for v in views]
        ax.plot(*_segments(xs, WIDTH, px), color="k", gid=f"pixels:{task}", **style.PIXELS)
        c = res["chance"].get(suite, {}).get(task)
        if c is not None:
            ax.axhline(c, **{**style.CHANCE, "color": color})
    ax.set_xticks(x, views)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("linear probe accuracy (pooled)")
    f = multitask_flatness(res, suite)
    flat = (
        f"\nkNN last quarter: max |move| {f['max_abs']:.3f} ({'flat' if f['flat'] else 'not flat'})"
        if f
        else ""
    )
    ax.set_title(f"deep runs, {len(res['seeds'])} seeds{flat}", fontsize=8)
    _legend(ax)
    _gate_notes(ax, g, notes, "view types", "view types")


def _plot_gains(ax: Any, res: Results, suite: str, views: Sequence[str]) -> None:
    x = np.arange(len(views))
    for k, (task, per_view) in enumerate(multitask_gains(res, suite, views).items()):
        _draw_gains(
            ax,
            x + (k - 0.5) * 0.2,
            per_view,
            COLORS[task],
            _task_name(res, suite, task),
            f"gain:{task}",
        )
    _gain_axes(ax)
    ax.set_xticks(x, views)
    ax.set_title("trained minus untrained (Welch, 95%)", fontsize=8)
    _legend(ax, baselines_too=False)


def _rate_tick(name: str) -> str:
    """A short two-line tick label of a view generator of the dropout-rate record."""
    if name.startswith("viewmaker-untrained-"):
        return "viewmaker\nuntrained\n" + name.removeprefix("viewmaker-untrained-")
    if name == "viewmaker (trained)":
        return "viewmaker\ntrained"
    if name.startswith("oracle ("):
        return "oracle\n(by\nconstruction)"
    return name


def _plot_rates(ax: Any, res: Results, suite: str) -> None:
    rates = res["dropout_rate"].get(suite)
    if not rates:
        ax.text(
            0.5,
            0.5,
            "dropout rate not measured",
            transform=ax.transAxes,
            ha="center",
            gid="no-rates",
        )
        ax.set_axis_off()
        return
    names = list(rates)
    xr = np.arange(len(names))
    for k, (task, marker) in enumerate((("overlay", "o"), ("background", "s"))):
        ax.plot(
            xr + (k - 0.5) * 0.3,
            [rates[n][task] for n in names],
            color=COLORS[task],
            marker=marker,
            ls="none",
            ms=4,
            markerfacecolor="white",
            label=_task_name(res, suite, task),
            gid=f"rate:{task}",
        )
    ax.set_xticks(xr, [_rate_tick(n) for n in names], fontsize=6.5)
    ax.set_ylabel("feature-dropout rate (judges)")
    ax.set_title("dropout rate of the views\n(viewmaker run of the first seed)", fontsize=8)
    # below the three-line tick labels (style.legend_below's place would cover them)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7)


def plot_multitask(res: Results, cfg: Config) -> Any:
    suites, views = list(cfg["suites"]), list(cfg["views"])
    fig, axes = style.subplots(len(suites), 4, width=3.3, height=3.8)
    for row, suite in enumerate(suites):
        g = multitask_gate(res, suite, views)
        _plot_theory(axes[row, 0], res, suite, views)
        _plot_bars(axes[row, 1], res, suite, views, g)
        _plot_gains(axes[row, 2], res, suite, views)
        _plot_rates(axes[row, 3], res, suite)
    _gate_footnote(fig)
    reuse = ", ".join(f"{v} = oracle p = {p:g}" for v, p in cfg["reuse"].items())
    fig.suptitle(
        "Expert, viewmaker and oracle feature-dropout views: probe accuracy of both tasks "
        f"(bars: mean $\\pm$ sd, dots: {len(res['seeds'])} seeds; dash-dotted: chance)\n"
        f"{reuse} (the oracle figure's runs); letters dropped: a letter is at chance for every "
        "encoder at random positions, read by the untrained encoder at fixed ones",
        fontsize=8.5,
    )
    return fig


def claims_multitask(res: Results, cfg: Config) -> list[Claim]:
    """Tamkin et al.: on each suite, viewmaker views and oracle feature-dropout views each give
    a better representation for both tasks together (the mean of the two probe accuracies)
    than expert views; seeds paired (the same seed under each view type)."""
    views = list(cfg["views"])
    if "expert" not in views:
        return []
    out = []
    for suite in cfg["suites"]:
        g = multitask_gate(res, suite, views)
        acc = res["accuracy"][suite]
        th = res["theory"][suite]
        both_th = {
            v: (th["view_overlay"][i] + th["view_background"][i]) / 2 for i, v in enumerate(views)
        }

        def both(v: str, acc: Mapping[str, Any] = acc) -> np.ndarray:
            return np.mean([acc[v][t] for t in MULTI_TASKS], axis=0)  # (seeds,)

        name = res.get("suite_names", {}).get(suite, suite)
        p_oracle = cfg["reuse"].get("oracle", math.nan)
        for other, what in (
            ("viewmaker", "Viewmaker views"),
            ("oracle", f"Label-destroying views (oracle feature dropout, p = {p_oracle:g})"),
        ):
            if other not in views:
                continue
            out.append(
                gated_claim(
                    g,
                    id=f"tamkin2023.views.{_slug(suite)}.{other}-beats-expert",
                    figure="exp_views_multitask",
                    paper=TAMKIN,
                    claim=f"{what} give a better representation for both tasks together than "
                    f"expert views on {name}.",
                    effect=f"mean accuracy over the two tasks, {other} minus expert views",
                    measured=paired_interval(both(other), both("expert")),
                    predicted_sign=1,
                    theory={
                        "value": float(both_th[other] - both_th["expert"]),
                        "text": "linear theory calibrated to the suite at the views' p: "
                        + theory_measure(th)
                        + ", mean over the two groups",
                    },
                )
            )
    return out


EXP_VIEWS_MULTITASK = FigureSpec(
    "exp_views_multitask",
    "deep: expert vs viewmaker vs oracle views on two overlay suites (+ dropout rate, calibrated "
    "theory)",
    compute_multitask,
    plot_multitask,
    multitask_config,
    claims_multitask,
    multitask_specs,
    baselines=multitask_baselines,
    judges=multitask_judges,
)
