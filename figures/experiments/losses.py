"""``exp_losses`` (Chen et al. 2021, generalized contrastive losses): linear-probe accuracy of
NT-Xent, alignment + LogSumExp and alignment + sliced Wasserstein distance (SWD) to a normal, a
hypersphere and a hypercube prior (``empirical.losses``), against the depth of the projection
head (``model.head_depth``: 0 = no head, to 3 linear layers), beside the untrained encoder and raw
pixels, with the gains over the untrained encoder (95% intervals over seeds) and the gate.

Suite: overlay-shapes-on-fashion, where an encoder learns at the CPU scale of
``figures.experiments.common.cpu_scale`` (docs/cpu_scale_search.md: the shape +0.06 to +0.12 and
the Fashion-MNIST background +0.06 to +0.10 over the untrained encoder after 300 steps). The
``lse-cpu`` / ``swd-*-cpu`` presets' natural-photo suite does not beat the untrained encoder
(issue 10), so ``data.suite`` moves every preset there; NT-Xent is ``expert-shapes-cpu``. Every
loss uses the same expert views, encoder, optimiser and schedule; only ``loss`` and
``model.head_depth`` differ. The probe reads the pooled encoder features (before the head); the
encoder is built before the head from the run seed, so the untrained encoder of one
initialisation is the same at every depth and for every loss (one population of 8 serves them
all).

Claims (Chen et al.: with a deep non-linear head the variants perform alike), one per task and
depth >= ``alike.min_depth`` that two or more losses ran: the pair of losses with the largest
mean accuracy difference, seeds paired; the effect is that difference minus
``alike.tolerance``, predicted < 0. It holds when the upper bound of the pair's 95% interval
lies below the tolerance (even the most different pair is within it), is contradicted when its
lower bound lies above it, and is not seen otherwise. Picking the most different pair after
seeing the data can only make "holds" harder. A claim is not a result unless one of the losses
it compares beats the untrained encoder on its task at its depth (:func:`claim_gate`): losses
that learn nothing are trivially alike.

Budget (issue 12: every figure within the 60-minute ``make figures`` on 2 cores; this one about
6 minutes). Measured single-threaded on the 2-core machine while it ran other work (load 5-16,
so CPU seconds, not wall seconds): a training run costs about 6.4 CPU s before its first step
(start-up, data, model), about 0.5 s a step at batch 256 and 0.29 s at batch 128 (NT-Xent, LSE
and the SWD priors within about 25% of each other), one pooled probe evaluation 1.2-4.7 s in a
sweep worker (8.5 s through the CLI). The full design, 5 losses x 4 depths x 3 seeds = 60 runs
(+ 12 twins), costs about 650 CPU s (5.5 minutes on 2 cores) before a single step. The default
config therefore keeps the depth sweep for NT-Xent only and runs the four generalized variants
at depths 0 and 2 (12 conditions x 3 seeds = 36 runs, 12 untrained twins, one raw-pixel probe)
for :data:`STEPS` steps at batch :data:`BATCH`: about 750 CPU s, 6.3 minutes on 2 cores. The
training subset is :data:`TRAIN_SIZE` = 512 images (4 steps an epoch), not 4,096 (one epoch of 32
steps), so that the per-epoch kNN monitor gives each run a learning curve of 8 points (issue 10:
8 or more) without adding a step; each run sees 512 distinct images 8 times instead of 4,096
once, and the kNN bank is those 512 (``data.knn_bank`` is capped at the subset). The 8 kNN
evaluations (512 bank + 512 queries each) are not in the 750 CPU s above: not measured here.
Fewer steps were preferred to fewer conditions because the short runs still beat the
untrained encoder (measured on the 4,096-image subset, before the 512 one): one seed, pooled
probe, 32 steps at batch 128, NT-Xent
shape 0.421 -> 0.476 (background 0.649 -> 0.661); at 60 steps 0.480 (0.653). They are far from
converged (the curves flatten after 150-300 steps): at 32 steps SWD (normal) is at the untrained
level (shape 0.436, background 0.647) and LSE below it (0.391, 0.553), so this figure compares
how fast the losses learn, not where they end. For the full design set every
``losses.NAME.depths`` to ``[0, 1, 2, 3]`` (about 10 minutes at 32 steps); 300 steps at batch
256 cost about 36 x 160 CPU s, 48 minutes on 2 cores.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from figures import baselines, style
from figures.baselines import Baselines
from figures.claims import Claim
from figures.experiments.common import (
    CHEN,
    _baseline_handles,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _mean_sd,
    _probe,
    _slug,
    _steps,
    _sweep,
    cpu_scale,
    curves_flatness,
    flatness_text,
    gains,
    gated_claim,
    init_seeds,
    read_probe,
    read_run_curve,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval
from figures.sweep import RUNS_DIR, RunSpec

FIGURE = "exp_losses"
STEPS = 32  # optimiser steps per run (module docstring: the budget)
BATCH = 128
TRAIN_SIZE = 512  # 4 steps an epoch at BATCH: a kNN point every 4 steps, 8 a run
DEPTHS = (0, 1, 2, 3)  # the projection head depths model.head_depth allows


def losses_config() -> Config:
    """The suite, its probe tasks, the losses (preset, label and the head depths
    each runs at), seeds, the CPU scale and the claim's rule."""
    return {
        "suite": "overlay-shapes-on-fashion",
        "tasks": ["background", "shape"],
        "losses": {
            "ntxent": {"preset": "expert-shapes-cpu", "label": "NT-Xent", "depths": [0, 1, 2, 3]},
            "lse": {"preset": "lse-cpu", "label": "align + LogSumExp", "depths": [0, 2]},
            "swd-normal": {
                "preset": "swd-normal-cpu",
                "label": "align + SWD, normal",
                "depths": [0, 2],
            },
            "swd-hypersphere": {
                "preset": "swd-hypersphere-cpu",
                "label": "align + SWD, hypersphere",
                "depths": [0, 2],
            },
            "swd-hypercube": {
                "preset": "swd-hypercube-cpu",
                "label": "align + SWD, hypercube",
                "depths": [0, 2],
            },
        },
        "seeds": [0, 1, 2],
        "overrides": cpu_scale(STEPS, TRAIN_SIZE, BATCH),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "pooled"},
        # the claim: losses alike at head depth >= min_depth, within tolerance (accuracy points;
        # 0.03 is about two binomial standard errors of the 1,000-example test probe at 0.7)
        "alike": {"min_depth": 2, "tolerance": 0.03},
        "runs_root": str(RUNS_DIR),
    }


def check_config(cfg: Config) -> None:
    """Reject a config the figure cannot draw, naming the field and the allowed values.

    Raises:
        ValueError: no tasks or losses, a depth outside 0-3 or repeated, or a bad tolerance.
    """
    if not cfg["tasks"]:
        raise ValueError("exp_losses: tasks must name at least one probe task")
    if not cfg["losses"]:
        raise ValueError("exp_losses: losses must hold at least one loss")
    for name, loss in cfg["losses"].items():
        depths = list(loss["depths"])
        if not depths or len(set(depths)) != len(depths) or not set(depths) <= set(DEPTHS):
            raise ValueError(
                f"exp_losses: losses.{name}.depths must be distinct values in {list(DEPTHS)}; "
                f"got {depths}"
            )
    tol = cfg["alike"]["tolerance"]
    if not 0.0 < float(tol) < 1.0:
        raise ValueError(f"exp_losses: alike.tolerance must lie in (0, 1); got {tol}")


def losses_specs(cfg: Config) -> list[RunSpec]:
    """One run per loss, head depth and seed (the loss's preset moved to the figure's suite)."""
    check_config(cfg)
    return [
        RunSpec(
            FIGURE,
            f"{name}-d{depth}-s{seed}",
            loss["preset"],
            (*cfg["overrides"], f"data.suite={cfg['suite']}", f"model.head_depth={depth}"),
            seed,
            (_probe(cfg),),
        )
        for name, loss in cfg["losses"].items()
        for depth in loss["depths"]
        for seed in cfg["seeds"]
    ]


def compute_losses(cfg: Config) -> Results:
    """Run the sweep with its baselines and collect its results (:func:`read_losses`)."""
    return read_losses(cfg, _sweep(cfg, losses_baselines(cfg)))


def losses_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_losses` sweeps (``FigureSpec.baselines``)."""
    return baselines.Request(tuple(losses_specs(cfg)), (_probe(cfg),))


def read_losses(cfg: Config, base: Baselines) -> Results:
    """Per-seed accuracies per loss and depth from the sweep's probe records and baselines,
    and every run's kNN learning curve (its ``metrics.jsonl``).

    Raises:
        FileNotFoundError: a run's or twin's probe record or a run's ``metrics.jsonl`` is
            missing (names the file).
        ValueError: a run's curve has fewer than 2 points, or other steps than the first run's
            (names the run dir).
    """
    specs = losses_specs(cfg)
    probe = _probe(cfg)
    tasks = cfg["tasks"]
    acc: dict[str, dict[str, dict[str, list[float]]]] = {}
    untrained: dict[str, dict[str, dict[str, list[float]]]] = {}
    knn: dict[str, dict[str, dict[str, list[list[float]]]]] = {}
    knn_steps: list[int] | None = None
    chance: dict[str, float] = {}
    times: list[float] = []
    it = iter(specs)
    for name, loss in cfg["losses"].items():
        acc[name], untrained[name], knn[name] = {}, {}, {}
        for depth in loss["depths"]:
            row: dict[str, list[float]] = {t: [] for t in tasks}
            row_u: dict[str, list[float]] = {t: [] for t in tasks}
            row_k: dict[str, list[list[float]]] = {t: [] for t in tasks}
            for _ in cfg["seeds"]:
                spec = next(it)
                r = read_probe(base, spec, probe, tasks)
                knn_steps, curve = read_run_curve(spec.run_dir(base.root), tasks, knn_steps)
                for t in tasks:
                    row[t].append(r.accuracy[t])
                    row_u[t] = r.untrained[t]  # the condition's untrained population
                    row_k[t].append(curve[t])
                chance.update(r.chance)
                times.append(r.seconds)
            key = depth_key(depth)
            acc[name][key], untrained[name][key], knn[name][key] = row, row_u, row_k
    px = base.pixel(specs[0].name)["metrics"]  # one suite: one raw-pixel probe
    return {
        "suite": cfg["suite"],
        "tasks": tasks,
        "seeds": cfg["seeds"],
        "inits": init_seeds(base, specs),
        "losses": list(cfg["losses"]),
        "labels": {n: loss["label"] for n, loss in cfg["losses"].items()},
        "depths": {n: list(loss["depths"]) for n, loss in cfg["losses"].items()},
        "accuracy": acc,  # loss -> "depth=D" -> task -> (len(seeds),)
        "untrained": untrained,  # the same keys -> (inits,): the untrained population
        "pixels": {t: px[t]["accuracy"] for t in tasks},  # task -> raw-pixel probe accuracy
        "chance": chance,  # task -> chance accuracy
        "knn_steps": knn_steps or [],  # the optimiser step of each kNN point
        "knn": knn,  # loss -> "depth=D" -> task -> (len(seeds), len(knn_steps)): kNN accuracy
        "run_s": times,
    }


def depth_key(depth: int) -> str:
    """The results' key of a head depth (``depth=2``: a row label of results/summary.md)."""
    return f"depth={depth}"


def per_depth(res: Results, key: str, loss: str, task: str) -> list[list[float]]:
    """``(len(depths of loss), len(seeds))``: ``res[key]`` (``accuracy`` or ``untrained``) of
    ``task`` at each of the loss's depths, in order."""
    return [list(res[key][loss][depth_key(d)][task]) for d in res["depths"][loss]]


def losses_flatness(res: Results) -> dict[str, Any]:
    """The flatness criterion over every loss, depth and task (:func:`curves_flatness`)."""
    curves = [
        res["knn"][n][depth_key(d)][t]
        for n in res["losses"]
        for d in res["depths"][n]
        for t in res["tasks"]
    ]
    return curves_flatness(res["knn_steps"], curves)


# ---------------------------------------------------------------------------------------------
# gains, the gate and the claim's rule


def losses_gains(res: Results) -> dict[str, dict[str, list[Interval]]]:
    """Loss -> task -> the gain interval at each of the loss's depths."""
    return {
        n: {
            t: gains(per_depth(res, "accuracy", n, t), per_depth(res, "untrained", n, t))
            for t in res["tasks"]
        }
        for n in res["losses"]
    }


def losses_gate(res: Results) -> Gate:
    return gate(
        {
            f"{n} depth {d} {t}": g
            for n, per_task in losses_gains(res).items()
            for t, per_depth in per_task.items()
            for d, g in zip(res["depths"][n], per_depth, strict=True)
        }
    )


def task_gate(res: Results, task: str) -> Gate:
    """The gate of one task: its gains at every loss and depth."""
    return gate(
        {
            f"{n} depth {d}": g
            for n, per_task in losses_gains(res).items()
            for d, g in zip(res["depths"][n], per_task[task], strict=True)
        }
    )


def at_depth(res: Results, task: str, depth: int) -> dict[str, list[float]]:
    """Loss -> per-seed accuracies of ``task`` at head depth ``depth`` (losses run there)."""
    return {
        n: list(res["accuracy"][n][depth_key(depth)][task])
        for n in res["losses"]
        if depth in res["depths"][n]
    }


def claim_gate(res: Results, task: str, depth: int) -> Gate:
    """The gate of one claim: the gains of ``task`` at head depth ``depth``, one per loss run
    there. Losses that all fail to learn a task are trivially alike, so such a claim is not a
    result even where another task or depth learns."""
    return gate(
        {
            n: per_task[task][res["depths"][n].index(depth)]
            for n, per_task in losses_gains(res).items()
            if depth in res["depths"][n]
        }
    )


def most_different_pair(per_loss: Mapping[str, Sequence[float]]) -> tuple[str, str]:
    """The losses ``(a, b)`` with the largest mean accuracy difference ``a - b`` (>= 0).

    Raises:
        ValueError: fewer than two losses.
    """
    if len(per_loss) < 2:
        raise ValueError(f"need two or more losses to compare; got {sorted(per_loss)}")
    means = {n: float(np.mean(v)) for n, v in per_loss.items()}
    return max(means, key=means.__getitem__), min(means, key=means.__getitem__)


def spread(per_loss: Mapping[str, Sequence[float]]) -> float:
    """Largest minus smallest mean accuracy over the losses."""
    means = [float(np.mean(v)) for v in per_loss.values()]
    return max(means) - min(means)


def claims_losses(res: Results, cfg: Config) -> list[Claim]:
    """Chen et al.: with a deep non-linear projection head the loss variants perform alike (one
    claim per task and depth >= ``alike.min_depth`` that two or more losses ran; the rule is in
    the module docstring)."""
    tol = float(cfg["alike"]["tolerance"])
    depths = sorted({d for n in res["losses"] for d in res["depths"][n]})
    out = []
    for task, depth in ((t, d) for t in res["tasks"] for d in depths):
        per_loss = at_depth(res, task, depth)
        if depth < cfg["alike"]["min_depth"] or len(per_loss) < 2:
            continue
        g = claim_gate(res, task, depth)
        a, b = most_different_pair(per_loss)
        diff = np.subtract(per_loss[a], per_loss[b])
        notes = [
            f"losses compared: {', '.join(res['labels'][n] for n in per_loss)}",
            flatness_text(losses_flatness(res)),
        ]
        shallow = at_depth(res, task, min(depths))
        if min(depths) < depth and len(shallow) >= 2:
            notes.append(
                f"spread of the mean {task} accuracies over losses: {spread(per_loss):.3f} at "
                f"depth {depth}, {spread(shallow):.3f} at depth {min(depths)}"
            )
        out.append(
            gated_claim(
                g,
                id=f"chen2021.losses.alike-at-head-depth-{depth}.{_slug(task)}",
                figure=FIGURE,
                paper=CHEN,
                claim="With a deep non-linear projection head, NT-Xent and the generalized "
                "contrastive losses (alignment + LogSumExp or + SWD to any prior) reach alike "
                "linear-probe accuracy.",
                effect=f"{task} accuracy of the most different pair at head depth {depth} "
                f"({res['labels'][a]} minus {res['labels'][b]}) minus the tolerance {tol:g}",
                measured=paired_interval(diff - tol, np.zeros_like(diff)),
                predicted_sign=-1,
                notes=tuple(notes),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# the figure


def _offsets(n: int, width: float = 0.36) -> np.ndarray:
    """x offsets of ``n`` series side by side around each depth."""
    return np.linspace(-width / 2, width / 2, n) if n > 1 else np.zeros(1)


def _colors(res: Results) -> dict[str, str]:
    palette = list(style.SEQUENCE)
    return {n: palette[i % len(palette)] for i, n in enumerate(res["losses"])}


def plot_losses(res: Results, cfg: Config) -> Any:
    """Per task (a column): accuracy against head depth per loss with the untrained encoder and
    raw pixels (top), and the gains over the untrained encoder (bottom)."""
    tasks = res["tasks"]
    fig, axes = style.subplots(2, len(tasks), width=3.4, height=3.0)
    g = losses_gate(res)
    alpha = 1.0 if g.open else style.FADED
    colors = _colors(res)
    offsets = dict(zip(res["losses"], _offsets(len(res["losses"])), strict=True))
    all_depths = sorted({d for n in res["losses"] for d in res["depths"][n]})
    all_gains = losses_gains(res)
    for col, task in enumerate(tasks):
        ax = axes[0, col]
        for n in res["losses"]:
            x = np.asarray(res["depths"][n], dtype=float) + offsets[n]
            values = np.asarray(per_depth(res, "accuracy", n, task), dtype=float)
            mean, sd = _mean_sd(values)
            c = ax.errorbar(
                x,
                mean,
                yerr=sd,
                color=colors[n],
                label=res["labels"][n],
                capsize=2,
                alpha=alpha,
                **style.SIMULATION,
            )
            c.lines[0].set_gid(f"acc:{n}:{task}")
            ax.plot(x, mean, color=colors[n], lw=0.6, alpha=0.5 * alpha)
        unt = _untrained_by_depth(res, task)
        ax.plot(
            list(unt),
            [np.mean(v) for v in unt.values()],
            color=style.NEUTRAL,
            gid=f"untrained:{task}",
            **style.UNTRAINED,
        )
        ax.axhline(res["pixels"][task], color=style.NEUTRAL, gid=f"pixels:{task}", **style.PIXELS)
        ax.axhline(res["chance"][task], label="chance", **style.CHANCE)
        ax.set_ylim(0.0, 1.02)
        ax.set_ylabel(f"{task} linear probe accuracy")
        ax.set_title(task)
        if not g.open:
            style.gate_note(ax, _gate_text(g, "losses and head depths"))
        elif not task_gate(res, task).open:
            note = f"no loss beats the untrained encoder on {task}: not compared"
            style.gate_note(ax, textwrap.fill(note, 28))  # fits inside one panel
        ax = axes[1, col]
        for n in res["losses"]:
            x = np.asarray(res["depths"][n], dtype=float) + offsets[n]
            _draw_gains(ax, x, all_gains[n][task], colors[n], res["labels"][n], f"gain:{n}:{task}")
        _gain_axes(ax)
        ax.set_title(f"{task}: gain (Welch, 95%)")
    for a in axes.flat:
        a.set_xlabel("projection head depth (linear layers)")
        a.set_xticks(all_depths)
    _figure_legend(fig, axes[0, 0])
    _gate_footnote(fig)
    head = (
        f"Generalized contrastive losses against projection-head depth\n(mean $\\pm$ sd over "
        f"{len(res['seeds'])} seeds, {_steps(cfg)} steps, {res['suite']})"
    )
    body = (
        textwrap.fill(_summary(res, g), 64)
        + "\n"
        + textwrap.fill(flatness_text(losses_flatness(res)), 64, break_on_hyphens=False)
    )
    fig.suptitle(head + "\n" + body, fontsize=9)
    return fig


def _figure_legend(fig: Any, ax: Any) -> Any:
    """One legend for the figure, right of the panels and centred on them (it covers no data
    and clears the suptitle): the series of ``ax`` and the baselines' look."""
    handles, labels = ax.get_legend_handles_labels()
    extra = _baseline_handles()
    return fig.legend(
        handles + extra,
        labels + [h.get_label() for h in extra],
        loc="outside right center",
        frameon=False,
        fontsize=7,
    )


def _untrained_by_depth(res: Results, task: str) -> dict[int, list[float]]:
    """Depth -> the untrained population's accuracies of ``task``, one per initialisation (from
    the first loss run at that depth; the encoder of one depth and seed is the same for every
    loss)."""
    out: dict[int, list[float]] = {}
    for n in res["losses"]:
        for d, v in zip(res["depths"][n], per_depth(res, "untrained", n, task), strict=True):
            out.setdefault(int(d), list(v))
    return dict(sorted(out.items()))


def _summary(res: Results, g: Gate) -> str:
    """One sentence from the numbers: per task, the spread of the mean accuracy over the losses
    at each depth two or more of them ran."""
    if not g.open:
        return "the runs do not beat the untrained encoder: losses not compared"
    depths = sorted({d for n in res["losses"] for d in res["depths"][n]})
    parts = []
    for task in res["tasks"]:
        shared = [d for d in depths if len(at_depth(res, task, d)) >= 2]
        spreads = ", ".join(f"{spread(at_depth(res, task, d)):.3f} at depth {d}" for d in shared)
        parts.append(f"{task} {spreads}" if shared else f"{task}: no depth ran two losses")
    return "spread of the mean accuracy over losses (max - min): " + "; ".join(parts)


EXP_LOSSES = FigureSpec(
    FIGURE,
    "deep: probe accuracy of NT-Xent, align + LSE and align + SWD (3 priors) vs head depth",
    compute_losses,
    plot_losses,
    losses_config,
    claims_losses,
    losses_specs,
    baselines=losses_baselines,
)
