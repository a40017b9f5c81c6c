"""``exp_oracle_dropout`` (Tamkin et al. 2023; the empirical twin of ``theory_vs_p``): oracle
feature-dropout views on two overlay suites (a shape and a digit drawn over Fashion-MNIST) for
p from 0 to 1; per suite the probe accuracy of the overlay (the easy / strong feature) and of the
background (the weak one) against p, beside the untrained encoder and raw pixels, their gains
with 95% intervals over seeds, the suppression test (the background at p = 0 against the
overlay-free control p = 1, seeds paired), the kNN learning curve of every run with the
flatness criterion, and the linear theory calibrated to each suite's data
(:func:`figures.calibration.oracle_theory`) with the p at which the background reaches half its
maximum, predicted and measured (:func:`figures.calibration.half_max_p`). A measured background
curve has a p_half only where its rise (maximum minus its value at the first p) exceeds the noise
of the sweep, :func:`measured_rise_tol` (the 95% half-width over seeds of the background's gain
over the untrained encoder at the curve's maximum); else the figure says "no rise beyond noise".

The letters overlay is not a suite here: at this CPU scale a letter at a random position is at
chance for every encoder, untrained or trained, and one at a fixed position is read almost
perfectly by the untrained encoder (docs/cpu_scale_search.md, item 8), so neither measures what
the views do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments.common import (
    CHEN,
    FLAT_MOVE,
    FLATNESS_KNN_TEST,
    TAMKIN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_notes,
    _legend,
    _markers,
    _probe,
    _reference_lines,
    _steps,
    _sweep,
    _train_time,
    cpu_scale,
    gains,
    gated_claim,
    init_seeds,
    last_quarter_move,
    read_run_curve,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import (
    NO_TASK_BEATS,
    Gate,
    Interval,
    gain_difference,
    gate,
    mean_interval,
    paired_interval,
    welch_interval,
)
from figures.sweep import RUNS_DIR, RunSpec, load_eval

AGREE_P = 0.1  # issue 10 section 4: predicted and measured p_half agree within this
ALONE_X = -0.06  # where the background-free control's gain sits, left of p = 0

# ---------------------------------------------------------------------------------------------
# (1) oracle feature dropout against p


def oracle_config() -> Config:
    return {
        # per suite: its preset, its data suite and its tasks (the overlay's first)
        "suites": {
            "shapes": {
                "preset": "oracle-shapes-cpu",
                "suite": "overlay-shapes-on-fashion",
                "tasks": ["shape", "background"],
            },
            "digits": {
                "preset": "oracle-digits-cpu",
                "suite": "overlay-digits-on-fashion",
                "tasks": ["digit", "background"],
            },
        },
        "ps": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "seeds": [0, 1, 2],
        # the background-free control: the overlay alone on black (data.options.bg_scale=0),
        # oracle p = 0, per suite and seed: does the background suppress the overlay?
        "overlay_alone": True,
        "overrides": cpu_scale(192, knn_test=FLATNESS_KNN_TEST),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "pooled"},
        # the linear theory calibrated to each suite (figures.calibration.oracle_theory): its
        # curve on ``grid`` evenly spaced p, from a data sample drawn with ``seed``
        "theory": {"grid": 21, "seed": 0},
        "runs_root": str(RUNS_DIR),
    }


def oracle_specs(cfg: Config) -> list[RunSpec]:
    """One run per suite, p and seed (p = 1 is the overlay-free control: both views without
    their overlay); with ``overlay_alone``, per suite and seed the background-free control
    :func:`alone_spec`."""
    suites = cfg["suites"].items()
    sweep = [
        _oracle_run(cfg, f"{name}-p{p:g}-s{seed}", suite, p, seed)
        for name, suite in suites
        for p in cfg["ps"]
        for seed in cfg["seeds"]
    ]
    if not cfg.get("overlay_alone"):
        return sweep
    return sweep + [
        alone_spec(cfg, name, suite, seed) for name, suite in suites for seed in cfg["seeds"]
    ]


def alone_spec(cfg: Config, name: str, suite: Mapping[str, Any], seed: int) -> RunSpec:
    """The background-free control of suite ``name``: the same run as p = 0 (overlay in every
    view) with the background blanked (``data.options.bg_scale=0``), so the overlay is the
    only feature; its untrained population sees the same blank inputs."""
    return _oracle_run(cfg, f"{name}-alone-s{seed}", suite, 0.0, seed, "data.options.bg_scale=0.0")


def _oracle_run(
    cfg: Config, run_name: str, suite: Mapping[str, Any], p: float, seed: int, *extra: str
) -> RunSpec:
    """An oracle-view run of ``suite`` at ``p`` with the figure's overrides (then ``extra``)."""
    return RunSpec(
        "exp_oracle_dropout",
        run_name,
        suite["preset"],
        (
            *cfg["overrides"],
            f"data.suite={suite['suite']}",
            "views.name=oracle",
            f"views.p={p}",
            *extra,
        ),
        seed,
        (_probe(cfg),),
    )


def _override(cfg: Config, key: str) -> int:
    """The integer value of override ``key`` (e.g. ``optim.max_steps``) in ``cfg["overrides"]``."""
    found = [o.split("=", 1)[1] for o in cfg["overrides"] if o.split("=", 1)[0] == key]
    if not found:
        raise ValueError(f"overrides must set {key}; got {list(cfg['overrides'])}")
    return int(found[-1])


def _theory_call(suite: str, ps: Sequence[float], steps: int, batch_size: int, seed: int) -> Any:
    from figures.calibration import oracle_theory

    return oracle_theory(suite, ps, steps, batch_size, seed)


def oracle_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_oracle` sweeps (``FigureSpec.baselines``)."""
    return baselines.Request(tuple(oracle_specs(cfg)), (_probe(cfg),))


def compute_oracle(cfg: Config) -> Results:
    """Sweep the runs (with their untrained populations and raw pixels) and collect, per suite,
    the probe accuracies (trained and untrained, per p and seed), the raw-pixel probe, the chance
    levels, every run's kNN learning curve (``metrics.jsonl``), and the calibrated theory on
    ``theory.grid`` p at the runs' steps and batch size; ``summary`` holds the derived numbers
    (:func:`oracle_summary`)."""
    request = oracle_baselines(cfg)
    specs, (probe,) = list(request.specs), request.evaluations
    base = _sweep(cfg, request)
    by_name = {s.name: s for s in specs}
    ps, seeds = list(cfg["ps"]), list(cfg["seeds"])
    grid = np.linspace(0.0, 1.0, int(cfg["theory"]["grid"])).tolist()
    steps = _override(cfg, "optim.max_steps")
    batch = _override(cfg, "optim.batch_size")
    suites: dict[str, Any] = {}
    times: list[float] = []
    for name, sc in cfg["suites"].items():
        tasks = list(sc["tasks"])
        acc = {t: [[0.0] * len(seeds) for _ in ps] for t in tasks}
        unt = {t: [[0.0] * len(seeds) for _ in ps] for t in tasks}
        knn: dict[str, list[list[list[float]]]] = {t: [[] for _ in ps] for t in tasks}
        pixels: dict[str, list[float]] = {t: [] for t in tasks}
        chance: dict[str, float] = {}
        knn_steps: list[int] | None = None
        for i, p in enumerate(ps):
            for j, seed in enumerate(seeds):
                spec = by_name[f"{name}-p{p:g}-s{seed}"]
                rd = spec.run_dir(base.root)
                rec = load_eval(rd, probe)
                # the suite's first run fixes the kNN steps; every other run is checked against
                knn_steps, curve = read_run_curve(rd, tasks, knn_steps)
                for t in tasks:
                    acc[t][i][j] = rec["metrics"][t]["accuracy"]
                    chance[t] = rec["metrics"][t]["chance"]
                    knn[t][i].append(curve[t])
                times.append(_train_time(rd) + rec["elapsed_s"])
            pop = base.untrained_population(spec.name, probe)  # the same at every p
            for t in tasks:
                unt[t][i] = [u["metrics"][t]["accuracy"] for u in pop]
            px = base.pixel(spec.name)["metrics"]
            for t in tasks:
                pixels[t].append(px[t]["accuracy"])
        alone = _read_alone(cfg, base, by_name, name, tasks[0], knn_steps, times)
        suites[name] = {
            "suite": sc["suite"],
            "tasks": tasks,
            "accuracy": acc,  # task -> (len(ps), len(seeds))
            "untrained": unt,  # task -> (len(ps), inits): the untrained population
            "pixels": pixels,  # task -> (len(ps),): raw-pixel probe
            "chance": chance,  # task -> 1 / classes
            "knn": {"steps": knn_steps, **knn},  # task -> (len(ps), len(seeds), len(steps))
            "theory": _theory_call(sc["suite"], grid, steps, batch, int(cfg["theory"]["seed"])),
            **({"alone": alone} if alone is not None else {}),
        }
    res: Results = {
        "ps": ps,
        "seeds": seeds,
        "inits": init_seeds(base, specs),
        "steps": steps,
        "suites": suites,
        "run_s": times,
    }
    res["summary"] = oracle_summary(res)
    return res


def _read_alone(
    cfg: Config,
    base: Any,
    by_name: Mapping[str, RunSpec],
    name: str,
    overlay: str,
    knn_steps: Sequence[int] | None,
    times: list[float],
) -> dict[str, Any] | None:
    """The background-free control's overlay probe (trained, per seed; untrained, per
    initialisation of its population) and kNN curves (per seed), or None without
    ``overlay_alone``."""
    if not cfg.get("overlay_alone"):
        return None
    probe = _probe(cfg)
    out: dict[str, Any] = {"accuracy": [], "untrained": [], "knn": []}
    for seed in cfg["seeds"]:
        spec = by_name[f"{name}-alone-s{seed}"]
        rd = spec.run_dir(base.root)
        rec = load_eval(rd, probe)
        _, curve = read_run_curve(rd, [overlay], knn_steps)
        out["accuracy"].append(rec["metrics"][overlay]["accuracy"])
        out["untrained"] = [
            u["metrics"][overlay]["accuracy"] for u in base.untrained_population(spec.name, probe)
        ]
        out["knn"].append(curve[overlay])
        times.append(_train_time(rd) + rec["elapsed_s"])
    return out


# ---------------------------------------------------------------------------------------------
# what the figure and its claims read from the results (pure functions of the results)


def suite_gains(res: Results, suite: str) -> dict[str, list[Interval]]:
    """Task -> the gain interval at each p on ``suite``."""
    r = res["suites"][suite]
    return {t: gains(r["accuracy"][t], r["untrained"][t]) for t in r["tasks"]}


def suite_gate(res: Results, suite: str, tasks: Sequence[str] | None = None) -> Gate:
    """The gate over the (p, task) gains of ``suite`` (of ``tasks`` only, if given); closed with
    "the TASK never beats the untrained encoder" when one named task is checked."""
    per = suite_gains(res, suite)
    names = list(per) if tasks is None else list(tasks)
    g = gate({f"p={p:g} {t}": x for t in names for p, x in zip(res["ps"], per[t], strict=True)})
    if not g.open and g.reason == NO_TASK_BEATS and len(names) == 1:
        return Gate(False, (), g.checked, f"the {names[0]} never beats the untrained encoder")
    return g


def _index(ps: Sequence[float], p: float) -> int:
    matches = [i for i, x in enumerate(ps) if math.isclose(float(x), p)]
    if not matches:
        raise ValueError(f"ps must contain p = {p:g}; got {list(ps)}")
    return matches[0]


def suppression(res: Results, suite: str) -> Interval:
    """The suppression test: background accuracy of the overlay-free control (p = 1) minus at
    p = 0 (overlay in every view), seeds paired; > 0 means the overlay suppressed it."""
    r = res["suites"][suite]
    bg = r["accuracy"][r["tasks"][-1]]
    return paired_interval(bg[_index(res["ps"], 1.0)], bg[_index(res["ps"], 0.0)])


def alone_gain(res: Results, suite: str) -> Interval | None:
    """The overlay's gain over the untrained encoder in the background-free control (against
    its own untrained population, on the same blank inputs; Welch), or None without it."""
    a = res["suites"][suite].get("alone")
    return None if a is None else welch_interval(a["accuracy"], a["untrained"])


def overlay_suppression(res: Results, suite: str) -> Interval | None:
    """The reverse suppression test: the overlay's gain over the untrained encoder when it is
    alone (background blanked) minus its gain with the background at p = 0, each gain against
    its own untrained population (the inputs differ): ``(alone - untrained alone) - (p = 0 -
    untrained p = 0)``, each seed (init) paired across the two inputs
    (``figures.stats.gain_difference``); > 0 means the background suppressed the overlay. None
    without the control."""
    r = res["suites"][suite]
    a = r.get("alone")
    if a is None:
        return None
    i0 = _index(res["ps"], 0.0)
    overlay = r["tasks"][0]
    return gain_difference(
        a["accuracy"], a["untrained"], r["accuracy"][overlay][i0], r["untrained"][overlay][i0]
    )


def alone_move(res: Results, suite: str) -> float:
    """The last-quarter move of the background-free control's seed-mean kNN curve (reported
    beside the figure's flatness, which is over the sweep's p only)."""
    r = res["suites"][suite]
    return last_quarter_move(r["knn"]["steps"], np.mean(r["alone"]["knn"], axis=0))


def alone_gate(res: Results, suite: str) -> Gate:
    """The gate of the reverse suppression test: whether training learns anything in the two
    runs it compares (the overlay alone, and either task at p = 0)."""
    r = res["suites"][suite]
    i0 = _index(res["ps"], 0.0)
    per = suite_gains(res, suite)
    found = {f"p=0 {t}": per[t][i0] for t in r["tasks"]}
    g = alone_gain(res, suite)
    if g is not None:
        found[f"{r['tasks'][0]} alone"] = g
    return gate(found)


def _theory_value(theory: Mapping[str, Any], group: str, p: float) -> float:
    return float(np.interp(p, theory["ps"], theory[group]))


def _theory_change(theory: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The calibrated theory's prediction (a claim's ``theory``) of ``group``'s (``overlay`` or
    ``background``) accuracy at p = 1 minus at p = 0."""
    return {
        "value": _theory_value(theory, group, 1.0) - _theory_value(theory, group, 0.0),
        "text": "linear theory calibrated to the suite's data: "
        + theory_measure(theory)
        + f" of the {group} group, p = 1 minus p = 0, after {theory.get('steps', '?')} steps",
    }


def predicted_p_half(res: Results, suite: str) -> float:
    """The calibrated theory's p at which the background reaches half its maximum, read with the
    measurement's estimator (:func:`figures.calibration.half_max_p`) on the sweep's p; NaN when
    the theory finds none (its own ``p_half`` is NaN: the background does not rise)."""
    from figures.calibration import half_max_p

    th = res["suites"][suite]["theory"]
    own = th.get("p_half")
    if own is None or not math.isfinite(float(own)):
        return math.nan  # the theory's background does not rise (on its own grid)
    return half_max_p(res["ps"], [_theory_value(th, "background", p) for p in res["ps"]])


NO_RISE = "no rise beyond noise"


def measured_rise_tol(res: Results, suite: str) -> float:
    """The rise a measured background curve must exceed to have a p_half: the half-width of the
    95% t-interval over seeds of the background's gain over the untrained encoder (seeds
    paired, :func:`suite_gains`) at the p where the seed-mean background accuracy is largest,
    i.e. the seed noise of the curve's top; :data:`~figures.experiments.common.FLAT_MOVE`
    (0.02, the project's flatness level) when that interval is undefined (fewer than 2
    seeds). The untrained population is the same at every p, so the accuracy curve and the
    gain curve rise alike."""
    r = res["suites"][suite]
    bg = r["tasks"][-1]
    top = int(np.argmax(np.asarray(r["accuracy"][bg], dtype=float).mean(1)))
    g = suite_gains(res, suite)[bg][top]
    return float(g.hi - g.lo) / 2.0 if g.defined else FLAT_MOVE


def measured_p_half(res: Results, suite: str) -> tuple[float, list[float]]:
    """The measured background p_half: of the seed-mean accuracy curve, and of each seed's; NaN
    for a curve that does not rise beyond :func:`measured_rise_tol` (the same tolerance for
    the seed mean and each seed: the noise over seeds)."""
    from figures.calibration import half_max_p

    r = res["suites"][suite]
    bg = np.asarray(r["accuracy"][r["tasks"][-1]], dtype=float)  # (ps, seeds)
    tol = measured_rise_tol(res, suite)
    per_seed = [half_max_p(res["ps"], bg[:, j].tolist(), tol) for j in range(bg.shape[1])]
    return half_max_p(res["ps"], bg.mean(1).tolist(), tol), per_seed


def flatness(res: Results, suite: str) -> dict[str, Any]:
    """The flatness criterion per task and p: the last-quarter move of the seed-mean kNN curve
    (:func:`last_quarter_move`); ``flat`` when every |move| is below :data:`FLAT_MOVE`."""
    r = res["suites"][suite]
    steps = r["knn"]["steps"]
    moves = {
        t: [last_quarter_move(steps, np.mean(per_p, axis=0)) for per_p in r["knn"][t]]
        for t in r["tasks"]
    }
    worst = max(abs(m) for per in moves.values() for m in per)
    return {"moves": moves, "max_abs": worst, "flat": bool(worst < FLAT_MOVE)}


def oracle_summary(res: Results) -> dict[str, Any]:
    """Per suite, the numbers the figure states: gains, gate, suppression, p_half, flatness."""
    out: dict[str, Any] = {}
    for suite, r in res["suites"].items():
        meas, per_seed = measured_p_half(res, suite)
        th = r["theory"]
        out[suite] = {
            "gains": {t: [g.to_dict() for g in v] for t, v in suite_gains(res, suite).items()},
            "gate": suite_gate(res, suite).to_dict(),
            "task_gates": {t: suite_gate(res, suite, [t]).to_dict() for t in r["tasks"]},
            "suppression": suppression(res, suite).to_dict(),
            "p_half": {
                "measured": meas,
                "measured_per_seed": per_seed,
                "measured_min_rise": measured_rise_tol(res, suite),
                "predicted": predicted_p_half(res, suite),
                "predicted_fine_grid": th.get("p_half"),
            },
            "flatness": flatness(res, suite),
        }
        if (sup := overlay_suppression(res, suite)) is not None:
            out[suite]["alone"] = {
                "gain": alone_gain(res, suite).to_dict(),  # type: ignore[union-attr]
                "overlay_suppression": sup.to_dict(),
                "knn_move": alone_move(res, suite),
            }
    return out


# ---------------------------------------------------------------------------------------------
# the figure


def _fmt_p(p: float) -> str:
    return "none" if not math.isfinite(p) else f"{p:.2f}"


def _fmt_measured(p: float) -> str:
    """A measured p_half, or :data:`NO_RISE` where it is NaN (the curve's rise is within
    :func:`measured_rise_tol`)."""
    return NO_RISE if not math.isfinite(p) else f"{p:.2f}"


def _p_half_text(res: Results, suite: str) -> str:
    pred = predicted_p_half(res, suite)
    meas, _ = measured_p_half(res, suite)
    diff = abs(meas - pred) if math.isfinite(meas) and math.isfinite(pred) else math.nan
    gap = "" if not math.isfinite(diff) else f", |diff| {diff:.2f}"
    tol = f" (noise {measured_rise_tol(res, suite):.3f})" if not math.isfinite(meas) else ""
    return (
        f"background $p_{{1/2}}$:\npredicted {_fmt_p(pred)}, measured {_fmt_measured(meas)}"
        f"{tol}{gap}"
    )


def _vline(ax: Any, p: float, color: str, gid: str, ls: str) -> None:
    if math.isfinite(p):
        ax.axvline(p, color=color, lw=0.9, ls=ls, gid=gid)


def theory_measure(theory: Mapping[str, Any]) -> str:
    """What the calibrated theory's per-group values are (``params.measure`` of
    :func:`figures.calibration.oracle_theory`, e.g. "normalised group strength")."""
    return str(theory.get("params", {}).get("measure", "linear theory value"))


def _plot_theory(ax: Any, res: Results, suite: str) -> None:
    r = res["suites"][suite]
    th = r["theory"]
    overlay, background = r["tasks"][0], r["tasks"][-1]
    ax.plot(
        th["ps"],
        th["overlay"],
        color=style.STRONG,
        label=f"{overlay} (overlay)",
        gid="theory:overlay",
        **style.THEORY,
    )
    ax.plot(
        th["ps"],
        th["background"],
        color=style.WEAK,
        label=background,
        gid="theory:background",
        **style.THEORY,
    )
    _vline(ax, predicted_p_half(res, suite), style.WEAK, "p_half:predicted", "--")
    ax.set_ylabel(f"{theory_measure(th)} (theory)")
    ax.set_title(f"{r['suite']}\ncalibrated linear theory, {th.get('steps', '?')} steps")
    _legend(ax, baselines_too=False)


def _plot_deep(ax: Any, res: Results, suite: str, g: Gate) -> None:
    r = res["suites"][suite]
    colors = dict(zip(r["tasks"], (style.STRONG, style.WEAK), strict=False))
    notes = []
    for k, task in enumerate(r["tasks"]):
        tg = suite_gate(res, suite, [task])
        alpha = 1.0 if (g.open and tg.open) else style.FADED
        name = f"{task} (overlay)" if k == 0 else task
        c = colors.get(task, style.NEUTRAL)
        _markers(ax, res["ps"], r["accuracy"][task], c, name, alpha)
        _reference_lines(ax, res["ps"], r["untrained"][task], r["pixels"][task], c, task)
        if g.open and not tg.open:
            notes.append(f"{task}: {tg.reason.replace(f'the {task} ', '')}")
        ch = r["chance"].get(task)
        if ch is not None:
            ax.axhline(ch, **{**style.CHANCE, "color": c})
    _vline(ax, measured_p_half(res, suite)[0], style.WEAK, "p_half:measured", "-")
    _vline(ax, predicted_p_half(res, suite), style.WEAK, "p_half:predicted", "--")
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("linear probe accuracy (pooled)")
    ax.set_title(_p_half_text(res, suite), fontsize=8)
    _legend(ax)
    _gate_notes(ax, g, notes, "values of p", "p")


def _plot_gains(ax: Any, res: Results, suite: str) -> None:
    r = res["suites"][suite]
    colors = dict(zip(r["tasks"], (style.STRONG, style.WEAK), strict=False))
    for task, per_p in suite_gains(res, suite).items():
        _draw_gains(ax, res["ps"], per_p, colors.get(task, style.NEUTRAL), task, f"gain:{task}")
    title = "gain over untrained (Welch, 95%)\nsuppression, background p = 1 $-$ p = 0:\n"
    title += suppression(res, suite).text(3)
    alone = alone_gain(res, suite)
    if alone is not None:
        overlay = r["tasks"][0]
        c = colors.get(overlay, style.NEUTRAL)
        label, gid = f"{overlay} alone (background blanked)", f"alone:{overlay}"
        _draw_gains(ax, [ALONE_X], [alone], c, label, gid)
        star = next(ln for ln in ax.lines if ln.get_gid() == gid)
        star.set_marker("*")
        star.set_markersize(8)
        sup = overlay_suppression(res, suite)
        title += f"\n{overlay} alone $-$ beside background (p = 0):\n{sup.text(3)}"  # type: ignore[union-attr]
    _gain_axes(ax)
    ax.set_title(title, fontsize=8)
    _legend(ax, baselines_too=False)


def _plot_curves(ax: Any, res: Results, suite: str) -> None:
    r = res["suites"][suite]
    colors = dict(zip(r["tasks"], (style.STRONG, style.WEAK), strict=False))
    steps = r["knn"]["steps"]
    ends = sorted({_index(res["ps"], 0.0), _index(res["ps"], 1.0)})
    for task in r["tasks"]:
        for i, marker in zip(ends, ("o", "s"), strict=False):
            mean = np.mean(r["knn"][task][i], axis=0)
            ax.plot(
                steps,
                mean,
                color=colors.get(task, style.NEUTRAL),
                marker=marker,
                ms=3,
                lw=0.8,
                markerfacecolor="white",
                gid=f"knn:{task}:p{res['ps'][i]:g}",
                label=f"{task}, p = {res['ps'][i]:g}",
            )
    a = r.get("alone")
    if a is not None:
        overlay = r["tasks"][0]
        ax.plot(
            steps,
            np.mean(a["knn"], axis=0),
            color=colors.get(overlay, style.NEUTRAL),
            marker="*",
            ms=4,
            lw=0.8,
            ls=":",
            gid=f"knn:{overlay}:alone",
            label=f"{overlay} alone, p = 0 (last quarter {alone_move(res, suite):+.3f})",
        )
    f = flatness(res, suite)
    verdict = "flat" if f["flat"] else "not flat"
    ax.set_title(
        f"kNN during training (seed mean)\nlast quarter, all p: max |move| {f['max_abs']:.3f}\n"
        f"({verdict}: criterion < {FLAT_MOVE:g})",
        fontsize=8,
    )
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("kNN accuracy")
    _legend(ax, baselines_too=False)


def plot_oracle(res: Results, cfg: Config) -> Any:
    # rows in the config's order (a results file read back may hold its keys sorted)
    suites = [s for s in cfg["suites"] if s in res["suites"]]
    suites += [s for s in res["suites"] if s not in suites]
    fig, axes = style.subplots(len(suites), 4, width=3.4, height=3.9)
    for row, suite in enumerate(suites):
        g = suite_gate(res, suite)
        _plot_theory(axes[row, 0], res, suite)
        _plot_deep(axes[row, 1], res, suite, g)
        _plot_gains(axes[row, 2], res, suite)
        _plot_curves(axes[row, 3], res, suite)
        for a in axes[row, :3]:
            a.set_xlabel("oracle dropout $p$ of the overlay")
    _gate_footnote(fig)
    fig.suptitle(
        "Oracle feature dropout: the overlay dropped in a fraction p of views "
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps; "
        "vertical lines: background $p_{1/2}$ measured (solid) and predicted (dashed))\n"
        "letters are not shown: at this scale a letter is at chance for every encoder at random "
        "positions and read by the untrained encoder at fixed ones (docs/cpu_scale_search.md)",
        fontsize=8.5,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# claims


def claims_oracle(res: Results, cfg: Config) -> list[Claim]:
    """Per suite, Tamkin et al.: the overlay suppresses the background (control p = 1 minus
    p = 0) and dropping it lowers the overlay's own accuracy; and the calibrated theory's
    background p_half agrees with the measured one within :data:`AGREE_P` (per seed:
    ``AGREE_P - |measured - predicted|``, predicted > 0)."""
    out = []
    ps = res["ps"]
    i0, i1 = _index(ps, 0.0), _index(ps, 1.0)
    for suite, r in res["suites"].items():
        overlay, background = r["tasks"][0], r["tasks"][-1]
        th = r["theory"]
        name = r["suite"]
        gb = suite_gate(res, suite, [background])
        go = suite_gate(res, suite, [overlay])
        pred = predicted_p_half(res, suite)
        meas, per_seed = measured_p_half(res, suite)
        agree = [AGREE_P - abs(m - pred) for m in per_seed]
        out += [
            gated_claim(
                gb,
                id=f"tamkin2023.oracle.{suite}.overlay-suppresses-background",
                figure="exp_oracle_dropout",
                paper=TAMKIN,
                claim=f"On {name}, the easy overlay in every view suppresses the background: "
                "the overlay-free control (p = 1) represents the background better than p = 0.",
                effect=f"{background} accuracy at p = 1 minus at p = 0",
                measured=suppression(res, suite),
                predicted_sign=1,
                theory=_theory_change(th, "background"),
            ),
            gated_claim(
                go,
                id=f"tamkin2023.oracle.{suite}.{overlay}-falls-with-p",
                figure="exp_oracle_dropout",
                paper=TAMKIN,
                claim=f"On {name}, dropping the overlay in more views lowers the probe accuracy "
                "of the overlay itself.",
                effect=f"{overlay} accuracy at p = 1 minus at p = 0",
                measured=paired_interval(r["accuracy"][overlay][i1], r["accuracy"][overlay][i0]),
                predicted_sign=-1,
                theory=_theory_change(th, "overlay"),
            ),
            gated_claim(
                gb,
                id=f"tamkin2023.oracle.{suite}.background-half-max-p-matches-theory",
                figure="exp_oracle_dropout",
                paper=TAMKIN,
                claim=f"On {name}, the linear theory calibrated to the data predicts within "
                f"{AGREE_P:g} the p at which the background's gain reaches half its maximum.",
                effect=f"{AGREE_P:g} minus |measured - predicted p_half| per seed (measured "
                f"p_half of the seed mean: {_fmt_measured(meas)}; seeds: "
                f"{', '.join(_fmt_measured(m) for m in per_seed)})",
                measured=mean_interval(agree),
                predicted_sign=1,
                theory={
                    "value": pred,
                    "text": "predicted background p_half (calibrated theory's "
                    + theory_measure(th)
                    + ", read on the sweep's p)",
                },
                notes=(
                    "a measured background whose rise is within noise (not above "
                    f"{measured_rise_tol(res, suite):.3f}, the 95% half-width over seeds of its "
                    f"gain at its maximum) has no p_half ({NO_RISE}): no interval",
                ),
            ),
        ]
        if (sup := overlay_suppression(res, suite)) is not None:
            out.append(
                gated_claim(
                    alone_gate(res, suite),
                    id=f"chen2021.oracle.{suite}.background-suppresses-{overlay}",
                    figure="exp_oracle_dropout",
                    paper=CHEN,
                    claim=f"On {name}, the two features compete, with the background as the "
                    f"suppressor: the {overlay} gains more over its untrained encoder when it is "
                    "alone (background blanked) than beside the background (p = 0).",
                    effect=f"{overlay} gain over the untrained encoder, alone minus with the "
                    "background (p = 0), each against its own untrained population",
                    measured=sup,
                    predicted_sign=1,
                    notes=(
                        "a control of this project: Tamkin et al. expect the overlay to be the "
                        "suppressor; this tests the other direction",
                    ),
                )
            )
    return out


EXP_ORACLE_DROPOUT = FigureSpec(
    "exp_oracle_dropout",
    "deep: oracle feature dropout on two overlay suites, both tasks vs p, suppression test, "
    "learning curves, beside the calibrated theory",
    compute_oracle,
    plot_oracle,
    oracle_config,
    claims_oracle,
    oracle_specs,
    baselines=oracle_baselines,
)
