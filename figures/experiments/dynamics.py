"""``exp_dynamics`` (issue 12, figure 6; Tamkin et al. 2023's linear model, science.md
"Dynamics"): the calibrated linear theory's per-group learning curves beside the measured
per-task kNN accuracy over pretraining, for expert and oracle feature-dropout views.

Theory: :func:`figures.calibration.oracle_theory` on each suite (the linear model estimated from
the suite's data, never from a deep result), gradient descent at the deep runs' step budget; its
per-group value is the normalised group strength (see that module for the mapping of optimiser
steps to the theory's time). Expert views are the theory at p = 0 (no overlay dropout: the
views only add noise); oracle views at their p.

Measured: the kNN accuracy of each task that the training loop records after every epoch
(``metrics.jsonl``, ``empirical.recorder``; 16 steps an epoch at the CPU scale), mean and sd over
seeds. Nothing is trained here: the expert runs are ``figures.experiments.multitask``'s (which
are the oracle figure's p = 0 runs with the expert base views) and the oracle runs are
``figures.experiments.oracle.oracle_specs``'s at the p of :func:`dynamics_config`; an oracle
condition whose runs are the expert runs (p = 0) is shown once, as ``expert``.

Gate (issue 10): a condition's task *learns* when its run at the budget beats the same encoder
untrained, its seeded initialisations (``figures.baselines``: the untrained population the
oracle figure's sweep writes and evaluates for these runs), by the rule of
``figures.stats.gate`` (Welch): the linear probe accuracy of the oracle figure's probe evaluation
(``fig-probe``) of the trained runs at the budget against that of the initialisations (they
are never trained, so they record no kNN curve to compare with). A kNN curve that rises
from its first record but does not beat the untrained encoder does not open the gate.

Claim: dropping the overlay from every view (oracle p = 1) raises the background's kNN accuracy
over pretraining against the expert views, as the mean over the recorded steps of the per-seed
difference; the theory's value is the same mean of the background's normalised strength.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments.common import (
    TAMKIN,
    _gate_text,
    _legend,
    _mean_sd,
    _probe,
    _slug,
    gated_claim,
    read_run_curve,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval, welch_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

FIGURE = "exp_dynamics"
EXPERT = "expert"
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def dynamics_config() -> Config:
    """The two Fashion-MNIST overlay suites of the oracle figure, expert views and oracle p of
    its sweep (p = 0 is the expert runs, shown once), its seeds, and the theory's seed."""
    return {
        "suites": ["shapes", "digits"],  # keys of oracle_config()["suites"]
        "oracle_ps": [0.0, 0.4, 1.0],
        "seeds": [0, 1, 2],
        "theory": {"seed": 0},
        "runs_root": str(RUNS_DIR),
    }


def _oracle_label(p: float) -> str:
    return f"oracle p={p:g}"


def dynamics_runs(cfg: Config) -> dict[str, dict[str, tuple[float, list[RunSpec]]]]:
    """Suite -> condition label -> (the theory's p, its runs one per seed): ``expert`` from
    ``multitask_reused_specs``, then ``oracle p=P`` from ``oracle_specs`` (left out where its
    runs are the expert runs).

    Raises:
        ValueError: a suite, p or seed that the source figures do not run.
    """
    from figures.experiments.multitask import multitask_config, multitask_reused_specs
    from figures.experiments.oracle import oracle_config, oracle_specs

    ocfg = oracle_config()
    mcfg = multitask_config()
    expert = multitask_reused_specs(mcfg)[EXPERT]
    oracle = {s.name: s for s in oracle_specs(ocfg)}
    out: dict[str, dict[str, tuple[float, list[RunSpec]]]] = {}
    for suite in cfg["suites"]:
        if suite not in ocfg["suites"] or suite not in mcfg["suites"]:
            raise ValueError(f"suites must be among {sorted(ocfg['suites'])}; got {suite!r}")
        conds: dict[str, tuple[float, list[RunSpec]]] = {}
        for seed in cfg["seeds"]:
            if f"{suite}-s{seed}" not in expert:
                raise ValueError(f"seeds must be in the multitask figure's {mcfg['seeds']}")
        conds[EXPERT] = (
            float(mcfg["reuse"][EXPERT]),
            [expert[f"{suite}-s{seed}"] for seed in cfg["seeds"]],
        )
        for p in cfg["oracle_ps"]:
            names = [f"{suite}-p{float(p):g}-s{seed}" for seed in cfg["seeds"]]
            missing = [n for n in names if n not in oracle]
            if missing:
                raise ValueError(f"oracle_ps must be in the oracle sweep's {ocfg['ps']}; got {p}")
            runs = [oracle[n] for n in names]
            if [r.run_id for r in runs] != [r.run_id for r in conds[EXPERT][1]]:
                conds[_oracle_label(float(p))] = (float(p), runs)
        out[suite] = conds
    return out


def dynamics_specs(cfg: Config) -> list[RunSpec]:
    """Every run the figure reads (all trained by other figures)."""
    return [s for conds in dynamics_runs(cfg).values() for _, runs in conds.values() for s in runs]


def dynamics_populations() -> tuple[dict[str, tuple[RunSpec, ...]], Evaluation]:
    """Trained run name -> its untrained population, as the oracle figure's sweep writes it
    (:func:`figures.baselines.population` over every oracle run, evaluated with its probe),
    and that probe. Every run the figure reads is an oracle run (the expert runs are its p = 0
    runs), so each has a population there."""
    from figures.experiments.oracle import oracle_config, oracle_specs

    ocfg = oracle_config()
    probe = _probe(ocfg)
    specs = oracle_specs(ocfg)
    return baselines.population(specs, baselines.untrained_twins(specs, (probe,))), probe


def _baseline(
    runs: list[RunSpec],
    root: Path,
    tasks: list[str],
    pops: Mapping[str, Sequence[RunSpec]],
    probe: Evaluation,
) -> dict[str, Any]:
    """What the gate compares, per task: ``{"measure": "probe", "accuracy": {task: [per seed]},
    "untrained": {task: [per initialisation]}}``: each run's linear probe at the budget against
    the probe records of the condition's untrained population (``pops``; its initialisations
    are never trained, so they record no kNN to compare with).

    Raises:
        FileNotFoundError: a missing probe record (naming the file).
    """
    try:
        recs = [load_eval(spec.run_dir(root), probe)["metrics"] for spec in runs]
        pop = [load_eval(u.run_dir(root), probe)["metrics"] for u in pops[runs[0].name]]
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"{FIGURE} gates on the probe records of {runs[0].figure}'s runs and their "
            f"untrained populations: {e} (run python -m figures {runs[0].figure} first)"
        ) from e
    return {
        "measure": "probe",
        "accuracy": {t: [float(r[t]["accuracy"]) for r in recs] for t in tasks},
        "untrained": {t: [float(u[t]["accuracy"]) for u in pop] for t in tasks},
    }


def _theory_call(suite: str, ps: list[float], steps: int, batch_size: int, seed: int) -> Any:
    from figures.calibration import oracle_theory

    return oracle_theory(suite, ps, steps, batch_size, seed)


def _curves(runs: list[RunSpec], root: Path, tasks: list[str]) -> dict[str, Any]:
    """The runs' kNN curves: ``{"steps": [...], "knn": {task: (seeds, S)}}``; each run's
    directory must exist and all runs must record the same steps."""
    steps: list[int] | None = None
    knn: dict[str, list[list[float]]] = {t: [] for t in tasks}
    for spec in runs:
        run_dir = spec.run_dir(root)
        if not run_dir.is_dir():
            raise FileNotFoundError(
                f"{FIGURE} reads runs other figures train; missing run dir {run_dir} "
                f"(run python -m figures {spec.figure} first)"
            )
        steps, k = read_run_curve(run_dir, tasks, steps)  # the first seed's steps for all
        for t in tasks:
            knn[t].append(k[t])
    return {"steps": steps or [], "knn": knn}


def compute_dynamics(cfg: Config) -> Results:
    from figures.experiments.oracle import _override, oracle_config

    ocfg = oracle_config()
    root = Path(cfg["runs_root"])
    runs = dynamics_runs(cfg)
    steps = _override(ocfg, "optim.max_steps")
    batch = _override(ocfg, "optim.batch_size")
    pops, probe = dynamics_populations()
    suites: dict[str, Any] = {}
    for suite, conds in runs.items():  # read every run before the (slower) theory
        sc = ocfg["suites"][suite]
        tasks = list(sc["tasks"])
        conditions: dict[str, Any] = {}
        for label, (p, specs) in conds.items():
            curves = _curves(specs, root, tasks)
            conditions[label] = {
                "p": p,
                "runs": [s.name for s in specs],
                **curves,
                "baseline": _baseline(specs, root, tasks, pops, probe),
            }
        suites[suite] = {"suite": sc["suite"], "tasks": tasks, "conditions": conditions}
    for r in suites.values():
        ps = sorted({c["p"] for c in r["conditions"].values()})
        r["theory"] = _theory_call(r["suite"], ps, steps, batch, int(cfg["theory"]["seed"]))
    first = next(s for conds in runs.values() for _, specs in conds.values() for s in specs)
    inits = [t.seed for t in pops[first.name]]
    return {"seeds": list(cfg["seeds"]), "inits": inits, "steps": steps, "suites": suites}


# ---------------------------------------------------------------------------------------------
# reading the results


def theory_curve(res: Results, suite: str, label: str, group: str) -> tuple[list[int], list[float]]:
    """The theory's learning curve of ``group`` ("overlay" | "background") at the p of
    condition ``label``: (steps, normalised group strength)."""
    r = res["suites"][suite]
    th = r["theory"]
    k = [float(p) for p in th["ps"]].index(float(r["conditions"][label]["p"]))
    return list(th["curves"]["steps"]), list(th["curves"][group][k])


def suite_gains(res: Results, suite: str) -> dict[str, Interval]:
    """``"LABEL TASK"`` -> the gain of the condition's task over the untrained encoder: its runs
    at the budget against the untrained encoder (``baseline``: kNN or probe, see
    :func:`_baseline`), Welch."""
    r = res["suites"][suite]
    return {
        f"{label} {task}": welch_interval(
            c["baseline"]["accuracy"][task], c["baseline"]["untrained"][task]
        )
        for label, c in r["conditions"].items()
        for task in r["tasks"]
    }


def suite_gate(res: Results, suite: str) -> Gate:
    """The gate over :func:`suite_gains` (``figures.stats.gate``): open when some condition's
    task beats the untrained encoder."""
    return gate(suite_gains(res, suite))


def gate_measure(res: Results) -> str:
    """What the gate compares with the untrained encoder, in words (from the results)."""
    kinds = {
        c["baseline"]["measure"] for r in res["suites"].values() for c in r["conditions"].values()
    }
    words = {"knn": "kNN accuracy", "probe": "probe accuracy"}
    return " / ".join(words.get(k, k) for k in sorted(kinds)) or "accuracy"


def _without_overlay(res: Results, suite: str) -> str | None:
    """The condition with the overlay dropped from every view (p = 1), if shown."""
    conds = res["suites"][suite]["conditions"]
    return next((label for label, c in conds.items() if float(c["p"]) == 1.0), None)


def release_effect(res: Results, suite: str) -> Interval:
    """Background kNN at p = 1 minus under expert views, averaged over the recorded steps, per
    seed (seeds paired)."""
    r = res["suites"][suite]
    label = _without_overlay(res, suite)
    if label is None:
        raise ValueError(f"suite {suite!r} has no oracle p=1 condition")
    bg = r["tasks"][-1]
    a = np.asarray(r["conditions"][label]["knn"][bg], dtype=float).mean(-1)
    b = np.asarray(r["conditions"][EXPERT]["knn"][bg], dtype=float).mean(-1)
    return paired_interval(a.tolist(), b.tolist())


def predicted_release(res: Results, suite: str) -> float:
    """The theory's counterpart of :func:`release_effect`: the background's normalised strength
    at p = 1 minus at the expert views' p, averaged over the recorded steps."""
    label = _without_overlay(res, suite)
    if label is None:
        raise ValueError(f"suite {suite!r} has no oracle p=1 condition")
    _, hi = theory_curve(res, suite, label, "background")
    _, lo = theory_curve(res, suite, EXPERT, "background")
    return float(np.mean(np.asarray(hi) - np.asarray(lo)))


# ---------------------------------------------------------------------------------------------
# the figure


def _params_text(th: Any) -> str:
    g = {x["name"]: x for x in th["params"]["groups"]}
    o, b = g["overlay"], g["background"]
    return (
        f"theory: overlay d={o['dim']}, s={o['strength']:.2g}; background d={b['dim']}, "
        f"s={b['strength']:.2g}; $\\sigma$={th['params']['noise']:.2g}, "
        f"m={th['params']['embed_dim']}"
    )


def _plot_theory(ax: Any, res: Results, suite: str) -> None:
    r = res["suites"][suite]
    colors = {"overlay": style.STRONG, "background": style.WEAK}
    names = {"overlay": f"{r['tasks'][0]} (overlay)", "background": "background"}
    for i, label in enumerate(r["conditions"]):
        for group in ("overlay", "background"):
            x, y = theory_curve(res, suite, label, group)
            ax.plot(
                x,
                y,
                color=colors[group],
                label=f"{names[group]}, {label}",
                gid=f"theory:{suite}:{label}:{group}",
                **{**style.THEORY, "linestyle": LINESTYLES[i % len(LINESTYLES)]},
            )
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("normalised group strength (theory)")
    ax.set_title(f"calibrated linear theory, {r['suite']}")
    _legend(ax, baselines_too=False)


def _plot_measured(ax: Any, res: Results, suite: str, g: Gate) -> None:
    r = res["suites"][suite]
    colors = dict(zip(r["tasks"], (style.STRONG, style.WEAK), strict=False))
    alpha = 1.0 if g.open else style.FADED
    for i, (label, c) in enumerate(r["conditions"].items()):
        for task in r["tasks"]:
            mean, sd = _mean_sd(np.asarray(c["knn"][task], dtype=float).T)  # (S, seeds)
            cont = ax.errorbar(
                c["steps"],
                mean,
                yerr=sd,
                color=colors.get(task, style.NEUTRAL),
                label=f"{task}, {label}",
                capsize=2,
                alpha=alpha,
                **{**style.SIMULATION, "marker": MARKERS[i % len(MARKERS)], "linestyle": "-"},
                linewidth=0.6,
            )
            cont.lines[0].set_gid(f"knn:{suite}:{label}:{task}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("kNN accuracy (measured)")
    ax.set_title(f"small ResNet, {r['suite']}")
    _legend(ax, baselines_too=False)
    if not g.open:
        lo, hi = ax.get_ylim()  # headroom above the curves, so that the note covers none
        ax.set_ylim(lo, hi + 0.35 * (hi - lo))
        style.gate_note(ax, _gate_text(g, "view types"))


def plot_dynamics(res: Results, cfg: Config) -> Any:
    names = list(res["suites"])
    fig, axes = style.subplots(len(names), 2, width=3.6, height=3.6)
    for row, suite in enumerate(names):
        _plot_theory(axes[row, 0], res, suite)
        _plot_measured(axes[row, 1], res, suite, suite_gate(res, suite))
        axes[row, 0].text(
            0.0, 1.12, _params_text(res["suites"][suite]["theory"]), fontsize=6.5,
            transform=axes[row, 0].transAxes, color=style.NEUTRAL,
        )  # fmt: skip
    fig.suptitle(
        "Learning dynamics: the calibrated theory's per-group curves beside the measured kNN "
        f"accuracy\n(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, "
        f"{res['steps']} steps; gate: a task's {gate_measure(res)} at the budget beats the "
        "untrained encoder, Welch over seeded initialisations)",
        fontsize=9,
    )
    return fig


def claims_dynamics(res: Results, cfg: Config) -> list[Claim]:
    """Per suite: removing the overlay from every view raises the background's learning curve
    (Tamkin et al.'s suppression, read over pretraining instead of at the end)."""
    out = []
    for suite, r in res["suites"].items():
        if _without_overlay(res, suite) is None:
            continue
        g = suite_gate(res, suite)
        bg = r["tasks"][-1]
        out.append(
            gated_claim(
                g,
                id=f"tamkin2023.dynamics.{_slug(suite)}-background-curve-rises-without-overlay",
                figure=FIGURE,
                paper=TAMKIN,
                claim=(
                    "Without the easy overlay in the views the background is learned faster: "
                    "its learning curve lies above the expert views' curve."
                ),
                effect=(
                    f"{bg} kNN accuracy with the overlay dropped from every view (oracle p = 1) "
                    f"minus with expert views, mean over the recorded steps ({r['suite']})"
                ),
                measured=release_effect(res, suite),
                predicted_sign=1,
                theory={
                    "value": predicted_release(res, suite),
                    "text": "calibrated linear model: background normalised group strength, "
                    "p = 1 minus p = 0, mean over the same budget",
                },
            )
        )
    return out


EXP_DYNAMICS = FigureSpec(
    FIGURE,
    "deep + theory: per-task kNN learning curves over pretraining beside the calibrated "
    "theory's per-group curves (expert and oracle views)",
    compute_dynamics,
    plot_dynamics,
    dynamics_config,
    claims_dynamics,
    reads=("exp_oracle_dropout",),
)
