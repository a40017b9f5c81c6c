"""Pieces shared by the experiment figures: short-run overrides, the sweep with baselines, reading
a run's probe record and kNN learning curve, gains over the untrained encoder, the gate's look
and its claims, markers and legends, and the theory defaults."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.spec import Config
from figures.stats import (
    GAIN_MARGIN,
    GATE_RULE,
    NO_TASK_BEATS,
    Gate,
    Interval,
    welch_interval,
)
from figures.sweep import Evaluation, RunSpec, load_eval, run_sweep

FLAT_MOVE = 0.02  # issue 10 section 2: the last quarter of training moves each task by less
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


# kNN test examples of the oracle figure's runs (and the multitask figure's, which reuses them):
# enough that the flatness rule can tell a flat curve from noise (docs/cpu_scale_search.md,
# "The flatness rule against the kNN monitor's noise"); the short figures keep 512
FLATNESS_KNN_TEST = 2048


def cpu_scale(
    steps: int, train_size: int = 4096, batch: int = 256, knn_test: int = 512
) -> list[str]:
    """Overrides of the overlay suites' CPU scale (docs/cpu_scale_search.md): small_resnet width
    16, batch ``batch`` (256), crops of area 0.5-1, a seeded training subset of ``train_size``
    examples (16 steps an epoch at 4,096 and batch 256, so the per-epoch kNN monitor gives the
    learning curve at one point every 16 steps, on ``knn_test`` held-out examples against a bank
    of 1,024), ``steps`` optimiser steps, one thread per run."""
    return [
        f"data.train_size={train_size}",
        f"optim.batch_size={batch}",
        "model.width=16",
        "optim.epochs=1000",
        f"optim.max_steps={steps}",
        "views.crop_min=0.5",
        "run.knn_every=1",
        "data.knn_bank=1024",
        f"data.knn_test={knn_test}",
        "run.threads=1",
    ]


def _probe(cfg: Config) -> Evaluation:
    return Evaluation("fig-probe", "probe", dict(cfg["probe"]))


def _train_time(run_dir: Path) -> float:
    return float(json.loads((run_dir / "summary.json").read_text())["train_time_s"])


def _sweep(cfg: Config, request: baselines.Request) -> baselines.Baselines:
    """Run the trained runs of ``request`` (the figure's ``FigureSpec.baselines``) and their
    untrained runs (evaluated only) in one sweep."""
    root = Path(cfg["runs_root"])
    base, twins = request.prepare(root)
    run_sweep([*request.specs, *twins], root)
    return base


@dataclass(frozen=True)
class ProbeRecord:
    """One trained run's probe beside its untrained population's.

    Attributes:
        accuracy: task -> the trained run's probe accuracy.
        untrained: task -> the probe accuracy of each initialisation in the run's untrained
            population (:func:`untrained_values`; the same for every seed of a condition).
        chance: task -> the chance accuracy.
        seconds: the run's training time plus its probe's evaluation time.
    """

    accuracy: dict[str, float]
    untrained: dict[str, list[float]]
    chance: dict[str, float]
    seconds: float


def read_probe(
    base: baselines.Baselines, spec: RunSpec, probe: Evaluation, tasks: Sequence[str]
) -> ProbeRecord:
    """The probe record of run ``spec`` and of its untrained population, for ``tasks``.

    Raises:
        FileNotFoundError: the run's or an untrained initialisation's probe record is missing
            (names the file).
    """
    run_dir = spec.run_dir(base.root)
    rec = load_eval(run_dir, probe)
    pop = base.untrained_population(spec.name, probe)
    return ProbeRecord(
        accuracy={t: rec["metrics"][t]["accuracy"] for t in tasks},
        untrained={t: [u["metrics"][t]["accuracy"] for u in pop] for t in tasks},
        chance={t: rec["metrics"][t]["chance"] for t in tasks},
        seconds=_train_time(run_dir) + rec["elapsed_s"],
    )


def read_knn_curve(run_dir: Path) -> tuple[list[int], dict[str, list[float]]]:
    """A run's kNN learning curve from its ``metrics.jsonl``: the global step of each monitor
    point (epoch records with a ``knn`` entry, ``run.knn_every``, and ``knn`` records,
    ``run.knn_every_steps``; one point per step, in step order), and task -> the kNN accuracy
    at those steps.

    Raises:
        FileNotFoundError: naming the missing ``metrics.jsonl``.
        ValueError: naming the file when it has no kNN records.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no learning curve: {path} is missing")
    points: dict[int, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line) if line.strip() else {}
        if rec.get("type") in ("epoch", "knn") and rec.get("knn"):
            points[int(rec["global_step"])] = rec["knn"]
    if not points:
        raise ValueError(
            f"{path} holds no kNN monitor records (run.knn_every=0 and run.knn_every_steps=0?)"
        )
    steps = sorted(points)
    knn = {task: [float(points[s][task]) for s in steps] for task in points[steps[-1]]}
    return steps, knn


def last_quarter_move(steps: Sequence[float], values: Sequence[float]) -> float:
    """How much a learning curve moves over the last quarter of training: its value at the last
    step minus its value at 3/4 of the last step (linear interpolation); a curve is flat when
    every task moves by less than :data:`FLAT_MOVE`."""
    s, v = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if s.shape != v.shape or s.size < 2:
        raise ValueError(f"steps and values must have equal length >= 2; got {s.size}, {v.size}")
    return float(v[-1] - np.interp(0.75 * s[-1], s, v))


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
    """Per-condition gain intervals over the untrained encoder: ``trained`` of shape
    ``(..., seeds)`` against ``untrained`` of shape ``(..., inits)`` (the condition's untrained
    population, :func:`untrained_values`), the same leading axes; Welch intervals
    (``figures.stats.welch_interval``), flattened over the leading axes."""
    t, u = np.asarray(trained, dtype=float), np.asarray(untrained, dtype=float)
    if t.shape[:-1] != u.shape[:-1]:
        raise ValueError(
            f"trained and untrained values differ in their leading axes: {t.shape} vs {u.shape}"
        )
    t2, u2 = t.reshape(-1, t.shape[-1]), u.reshape(-1, u.shape[-1])
    return [welch_interval(a, b) for a, b in zip(t2, u2, strict=True)]


def untrained_values(
    base: baselines.Baselines,
    spec: RunSpec,
    evaluation: Evaluation,
    read: Callable[[Mapping[str, Any]], float],
) -> list[float]:
    """``read(metrics)`` of each initialisation in the untrained population of trained run
    ``spec`` (``figures.baselines.population``), in seed order: the condition's untrained
    baseline, whatever the trained seed."""
    return [float(read(r["metrics"])) for r in base.untrained_population(spec.name, evaluation)]


def init_seeds(base: baselines.Baselines, specs: Sequence[RunSpec]) -> list[int]:
    """The seeds of the untrained populations of trained runs ``specs`` (results' ``inits``: the
    last axis of their ``untrained`` values), which every run of a figure shares.

    Raises:
        ValueError: no runs, or two runs whose populations have different seeds (the results'
            one ``inits`` list would misname one of them).
    """
    if not specs:
        raise ValueError("init_seeds needs at least one trained run")
    first = base.init_seeds(specs[0].name)
    for spec in specs[1:]:
        seeds = base.init_seeds(spec.name)
        if seeds != first:
            raise ValueError(
                f"the untrained populations of {specs[0].name} and {spec.name} differ in their "
                f"seeds ({first} vs {seeds}); a figure's results hold one 'inits' list"
            )
    return first


def _gate_text(g: Gate, what: str) -> str:
    if g.reason == NO_TASK_BEATS:
        return f"{NO_TASK_BEATS}:\n{what} not compared"
    return f"not a result ({g.reason}):\n{what} not compared"


def _gate_notes(ax: Any, g: Gate, notes: Sequence[str], what: str, across: str) -> None:
    """The gate's note over ``ax`` when ``g`` is closed (``what`` not compared); when it is open,
    ``notes`` (the tasks that do not beat the untrained encoder), if any, in a box at the top
    (gid ``task-gate``), saying they are not compared across ``across``."""
    if not g.open:
        style.gate_note(ax, _gate_text(g, what))
    elif notes:
        ax.text(
            0.5,
            0.97,
            "\n".join(notes) + f"\n(not compared across {across})",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=7,
            gid="task-gate",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": style.NEUTRAL},
        )


def gated_claim(
    g: Gate,
    *,
    id: str,
    figure: str,
    paper: str,
    claim: str,
    effect: str,
    measured: Interval,
    predicted_sign: int,
    theory: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Claim:
    """A :class:`~figures.claims.Claim` whose runs pass the gate ``g`` or not: gated (verdict
    "not a result", with the gate's reason) when ``g`` is closed."""
    return Claim(
        id=id,
        figure=figure,
        paper=paper,
        claim=claim,
        effect=effect,
        measured=measured,
        predicted_sign=predicted_sign,
        theory=theory,
        gated=not g.open,
        gate_reason="" if g.open else g.reason,
        notes=notes,
    )


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
    """The untrained encoder (mean over its population of initialisations, dashed; gid
    ``untrained:NAME``) and the raw-pixel
    probe (dotted; gid ``pixels:NAME``) over the conditions ``x``."""
    u = np.asarray(untrained, dtype=float)
    ax.plot(x, u.mean(-1), color=color, gid=f"untrained:{name}", alpha=alpha, **style.UNTRAINED)
    if pixels is not None:
        px = np.broadcast_to(np.asarray(pixels, dtype=float), np.shape(x))
        ax.plot(x, px, color=color, gid=f"pixels:{name}", alpha=alpha, **style.PIXELS)


# the dotted baseline of most figures: a linear probe on the raw pixels
DEFAULT_PIXELS_LABEL = "raw-pixel probe"


def _baseline_handles(pixels_label: str = DEFAULT_PIXELS_LABEL) -> list[Any]:
    """Legend handles of the two baselines: the untrained encoder (dashed) and the raw-pixel
    baseline (dotted), labelled ``pixels_label`` (a probe unless a figure says otherwise)."""
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color=style.NEUTRAL, label="untrained encoder", **style.UNTRAINED),
        Line2D([], [], color=style.NEUTRAL, label=pixels_label, **style.PIXELS),
    ]


def _legend(
    ax: Any, ncol: int = 2, baselines_too: bool = True, pixels_label: str = DEFAULT_PIXELS_LABEL
) -> None:
    """The axes' legend under it, with the baselines' handles when ``baselines_too``."""
    handles, labels = ax.get_legend_handles_labels()
    if baselines_too:
        extra = _baseline_handles(pixels_label)
        handles, labels = handles + extra, labels + [h.get_label() for h in extra]
    style.legend_below(ax, ncol, handles=handles, labels=labels)


def _gate_footnote(fig: Any) -> None:
    """The gate's rule under the figure."""
    import textwrap

    width = max(60, int(fig.get_figwidth() * 15))  # characters of 7 pt text that fit the figure
    fig.supxlabel(textwrap.fill(f"Gate: {GATE_RULE}.", width), fontsize=7, color=style.NEUTRAL)


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
# learning curves kept beside a figure (issue 10: a per-task curve at 8 or more points a run)

MIN_CURVE_POINTS = 8  # issue 10: kNN (or a cheap probe) at this many points of every run


def override_value(overrides: Sequence[str], key: str) -> int:
    """The integer value of ``key`` (e.g. ``optim.max_steps``) in ``overrides``, the last one
    where it is set more than once.

    Raises:
        ValueError: naming ``key`` when ``overrides`` do not set it.
    """
    found = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == key]
    if not found:
        raise ValueError(f"overrides must set {key}; got {list(overrides)}")
    return int(found[-1])


def knn_points(overrides: Sequence[str]) -> int:
    """kNN points a run of ``overrides`` records: the monitor runs after every
    ``run.knn_every``-th whole epoch of ``data.train_size // optim.batch_size`` steps (the
    training loop drops the last partial batch and records no kNN after a partial epoch cut by
    ``optim.max_steps``), so ``(max_steps // steps_per_epoch) // knn_every``.

    Raises:
        ValueError: an override is missing, ``data.train_size`` is 0 (all examples: the epoch
            length depends on the suite) or smaller than the batch, or ``run.knn_every`` < 1.
    """
    size = override_value(overrides, "data.train_size")
    batch = override_value(overrides, "optim.batch_size")
    every = override_value(overrides, "run.knn_every")
    if size < batch:
        raise ValueError(
            f"data.train_size must be >= optim.batch_size = {batch} (0, every example, gives "
            f"an epoch length that depends on the suite); got {size}"
        )
    if every < 1:
        raise ValueError(f"run.knn_every must be >= 1 for a learning curve; got {every}")
    return (override_value(overrides, "optim.max_steps") // (size // batch)) // every


def read_run_curve(
    run_dir: Path, tasks: Sequence[str], steps: Sequence[int] | None = None
) -> tuple[list[int], dict[str, list[float]]]:
    """One run's kNN learning curve (:func:`read_knn_curve`) of ``tasks``, checked: at least two
    points (the flatness criterion needs them) and, when ``steps`` is given, at those steps.

    Raises:
        FileNotFoundError: the run's ``metrics.jsonl`` is missing (names it).
        ValueError: naming ``run_dir``: no kNN record, fewer than 2 points, a task without a
            curve, or steps other than ``steps``.
    """
    got, knn = read_knn_curve(run_dir)
    if len(got) < 2:
        raise ValueError(
            f"{run_dir}: the kNN learning curve has {len(got)} point(s) (steps {got}); the "
            f"flatness criterion needs >= 2 (the figure asks for {MIN_CURVE_POINTS}: an epoch of "
            "optim.max_steps / 8 steps or fewer, run.knn_every=1)"
        )
    missing = [t for t in tasks if t not in knn]
    if missing:
        raise ValueError(f"{run_dir}: no kNN curve of task(s) {missing}; it has {sorted(knn)}")
    if steps is not None and list(got) != list(steps):
        raise ValueError(f"{run_dir}: kNN steps {got} differ from the figure's {list(steps)}")
    return got, {t: knn[t] for t in tasks}


def curve_moves(steps: Sequence[float], curves: Any) -> np.ndarray:
    """Last-quarter move (:func:`last_quarter_move`) of the seed-mean kNN curve of each
    condition: ``curves`` has shape ``(..., seeds, len(steps))``; the result ``(...)``."""
    c = np.asarray(curves, dtype=float)
    mean = c.mean(-2)
    rows = mean.reshape(-1, mean.shape[-1])
    return np.array([last_quarter_move(steps, row) for row in rows]).reshape(mean.shape[:-1])


def curves_flatness(steps: Sequence[float], curves: Sequence[Any]) -> dict[str, Any]:
    """The flatness criterion over every condition and task: ``curves`` a list of arrays each
    ``(..., seeds, len(steps))``; ``max_abs`` the largest |last-quarter move| of a seed-mean
    curve, ``flat`` whether it is below :data:`FLAT_MOVE`, ``points`` the curve's length."""
    moves = np.concatenate([np.ravel(curve_moves(steps, c)) for c in curves])
    worst = float(np.abs(moves).max())
    return {"max_abs": worst, "flat": bool(worst < FLAT_MOVE), "points": len(steps)}


def flatness_text(f: Mapping[str, Any]) -> str:
    """The flatness verdict of :func:`curves_flatness` in words (figure note and claim note)."""
    verdict = "flat" if f["flat"] else "not flat"
    return (
        f"kNN learning curves ({f['points']} points a run): {verdict}, largest last-quarter "
        f"move of a seed-mean curve {f['max_abs']:.3f} (flat: < {FLAT_MOVE:g})"
    )
