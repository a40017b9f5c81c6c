"""``exp_randbits`` (Chen et al. 2021; Tamkin et al. 2023): digit probe accuracy against the
number of random bits k per temperature, and against bit dropout p at the largest k, beside
linear InfoNCE with shared bits (``linear_theory.infonce``) on the same k and p.

Deep runs: the ``randbits-cpu`` preset (MNIST plus k random bits appended after the views,
crop-only views, Chen et al.'s small ConvNet) with :func:`randbits_scale` overrides. The k sweep
uses the preset's views; the dropout sweep uses the ``bitdrop`` views
(``empirical.views.bitdrop``: each view zeroes its whole group of bits with probability p,
after the same crop-only views) at the largest k and one temperature; its p = 0 point is the k
sweep's run (bit dropout at p = 0 is the identity on the bits). Every run keeps its per-epoch
kNN learning curve (``run.knn_every=1``); the figure shows them with the flatness criterion of
issue 10 (the last quarter of training moves the curve by less than ``FLAT_MOVE``). The kNN
monitor reads cosine neighbours of pooled features of inputs WITH their bits, so at k > 0 the
bits can dominate it: it may sit near chance while the linear probe reads the digit (seen at
k = 20 with bit dropout p = 0.75, 32 steps: kNN 0.12, probe 0.74).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments.common import (
    CHEN,
    FLAT_MOVE,
    TAMKIN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _mean_sd,
    _probe,
    _reference_lines,
    _steps,
    _sweep,
    _train_time,
    curves_flatness,
    gains,
    gated_claim,
    init_seeds,
    read_run_curve,
    untrained_values,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, mean_interval, paired_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

PRESET = "randbits-cpu"
BIT_DROPOUT_VIEWS = ("views.name=bitdrop", "views.base=expert")  # crop-only views, then dropout


def randbits_scale(steps: int, train_size: int = 512) -> list[str]:
    """Overrides of the RandBits CPU runs on top of ``randbits-cpu`` (batch 128, Adam 1e-3): a
    seeded training subset of ``train_size`` examples (an epoch of ``train_size // 128`` steps,
    so the per-epoch kNN monitor, bank and queries of 512, gives the learning curve at one point
    every epoch), ``steps`` optimiser steps, one thread per run.
    ``figures.experiments.common.cpu_scale`` is not used: it sets the overlay suites' small
    ResNet and batch 256.

    The default length (:func:`randbits_config`, 32 steps) was chosen by measurement: CPU
    seconds of single-threaded runs (on an unloaded core, their wall time), measured on the
    2-core machine while it was shared (load average about 15). A 32-step run costs 12 s of
    CPU at k = 0 and 18 s at k = 20, of which about 7.5 s is outside the steps (process start,
    data, model, kNN sets, checkpoints); the probe evaluation 3.3 s, an untrained twin 2.7 s,
    the raw-pixel probe 1.2 s (k = 0) to 23 s (k = 20), the linear theory 12 s. The figure's
    54 trained runs, 15 twins and 5 pixel probes: about 1,130 CPU seconds, 9.5 minutes on 2
    cores; the steps are about 330 s of it, so a shorter run saves little. Digit probe at 32
    steps (tau 0.2, seed 0): 0.944 at k = 0 (untrained 0.919, raw pixels 0.888), 0.235 at
    k = 20 (untrained 0.556), 0.741 at k = 20 with bit dropout p = 0.75.
    """
    return [
        f"data.train_size={train_size}",
        "optim.epochs=1000",
        f"optim.max_steps={steps}",
        "run.knn_every=1",
        "data.knn_bank=512",
        "data.knn_test=512",
        "run.threads=1",
    ]


def randbits_config() -> Config:
    return {
        "bits": [0, 5, 10, 15, 20],
        "taus": [0.05, 0.1, 0.2],
        "seeds": [0, 1, 2],
        # bit dropout at the largest k and at the temperature that Chen et al. find suppresses
        # most (the highest); p = 0 is the k sweep's run
        "dropouts": [0.0, 0.25, 0.5, 0.75],
        "dropout_tau": 0.2,
        "overrides": randbits_scale(32),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "prepool"},
        "theory": {"steps": 1000, "batch_size": 32, "lr": 0.01, "seeds": [0, 1]},
        "runs_root": str(RUNS_DIR),
    }


def _check_config(cfg: Config) -> None:
    if cfg["dropout_tau"] not in cfg["taus"]:
        raise ValueError(f"dropout_tau must be one of taus {cfg['taus']}; got {cfg['dropout_tau']}")
    if 0.0 not in cfg["dropouts"] or any(not 0.0 <= p <= 1.0 for p in cfg["dropouts"]):
        raise ValueError(f"dropouts must lie in [0, 1] and include 0; got {cfg['dropouts']}")


def _k_spec(cfg: Config, k: int, tau: float, seed: int) -> RunSpec:
    return RunSpec(
        "exp_randbits",
        f"k{k}-t{tau:g}-s{seed}",
        PRESET,
        (f"data.options.k={k}", f"loss.temperature={tau:g}", *cfg["overrides"]),
        seed,
        (_probe(cfg),),
    )


def _p_spec(cfg: Config, p: float, seed: int) -> RunSpec:
    """The bit-dropout run at p (the k sweep's run at p = 0)."""
    k, tau = max(cfg["bits"]), cfg["dropout_tau"]
    if p == 0.0:
        return _k_spec(cfg, k, tau, seed)
    return RunSpec(
        "exp_randbits",
        f"k{k}-t{tau:g}-p{p:g}-s{seed}",
        PRESET,
        (
            f"data.options.k={k}",
            f"loss.temperature={tau:g}",
            *BIT_DROPOUT_VIEWS,
            f"views.bit_p={p:g}",
            *cfg["overrides"],
        ),
        seed,
        (_probe(cfg),),
    )


def randbits_specs(cfg: Config) -> list[RunSpec]:
    """The k sweep (bits x taus x seeds), then the bit-dropout runs with p > 0 (p x seeds)."""
    _check_config(cfg)
    ks = [_k_spec(cfg, k, tau, s) for k in cfg["bits"] for tau in cfg["taus"] for s in cfg["seeds"]]
    ps = [_p_spec(cfg, p, s) for p in cfg["dropouts"] if p > 0 for s in cfg["seeds"]]
    return ks + ps


def temperature_trend(acc: Any) -> float:
    """Mean over bits k > 0 of (value at the lowest temperature - value at the highest);
    ``acc`` has shape ``(bits, taus, ...)`` (extra axes averaged). Positive: lower temperature
    suppresses less (Chen et al.'s finding)."""
    a = np.asarray(acc, dtype=float)
    a = a.reshape(a.shape[0], a.shape[1], -1).mean(-1)  # (bits, taus)
    return float((a[1:, 0] - a[1:, -1]).mean())


def _theory(cfg: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear InfoNCE on the same grid: resolved weak-group probe R^2 ``(bits, taus, seeds)``
    without dropout, its weak weight share (same shape), and the probe ``(dropouts, seeds)``
    at the largest k and ``dropout_tau`` with the bits group dropped per view (zeroed, as the
    deep views do)."""
    from linear_theory.infonce import infonce_sweep

    th = cfg["theory"]
    kw = {k: th[k] for k in ("steps", "batch_size", "lr", "seeds")}
    by_k = infonce_sweep(bits=cfg["bits"], dropouts=(0.0,), taus=cfg["taus"], **kw)
    by_p = infonce_sweep(
        bits=(max(cfg["bits"]),), dropouts=cfg["dropouts"], taus=(cfg["dropout_tau"],), **kw
    )
    probe_k = np.asarray(by_k["probe_resolved"])[:, 0]  # (bits, taus, seeds)
    share_k = np.asarray(by_k["shares"])[:, 0, :, :, 1]
    probe_p = np.asarray(by_p["probe_resolved"])[0, :, 0]  # (dropouts, seeds)
    return probe_k, share_k, probe_p


def _run_s(run_dir: Path, probe: Evaluation) -> float:
    """Training plus probe time of one run."""
    return _train_time(run_dir) + float(load_eval(run_dir, probe)["elapsed_s"])


def _digit(metrics: Mapping[str, Any]) -> float:
    return float(metrics["digit"]["accuracy"])


def randbits_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_randbits` sweeps (``FigureSpec.baselines``)."""
    return baselines.Request(tuple(randbits_specs(cfg)), (_probe(cfg),))


def compute_randbits(cfg: Config) -> Results:
    request = randbits_baselines(cfg)
    specs, (probe,) = list(request.specs), request.evaluations
    base = _sweep(cfg, request)
    knn_steps: list[int] | None = None

    def measure(spec: RunSpec) -> tuple[float, list[float]]:
        """The trained digit accuracy and the kNN curve of one run."""
        nonlocal knn_steps
        run_dir = spec.run_dir(base.root)
        rec = load_eval(run_dir, probe)
        knn_steps, curve = read_run_curve(run_dir, ["digit"], knn_steps)  # the first run's
        return rec["metrics"]["digit"]["accuracy"], curve["digit"]

    def grid(rows: list[list[RunSpec]]) -> dict[str, list[Any]]:
        """Per row (one condition, its seeds): trained accuracies, the condition's untrained
        population, kNN curves and the raw-pixel probe."""
        got = [[measure(s) for s in row] for row in rows]
        return {
            "accuracy": [[g[0] for g in row] for row in got],
            "untrained": [untrained_values(base, row[0], probe, _digit) for row in rows],
            "knn": [[g[1] for g in row] for row in got],
            "pixels": [base.pixel(row[0].name)["metrics"]["digit"]["accuracy"] for row in rows],
        }

    seeds = cfg["seeds"]
    by_k = [
        grid([[_k_spec(cfg, k, tau, s) for s in seeds] for tau in cfg["taus"]]) for k in cfg["bits"]
    ]
    by_p = grid([[_p_spec(cfg, p, s) for s in seeds] for p in cfg["dropouts"]])
    probe_k, share_k, probe_p = _theory(cfg)
    acc = [g["accuracy"] for g in by_k]
    deep_trend, lin_trend = temperature_trend(acc), temperature_trend(probe_k)
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": seeds,
        "inits": init_seeds(base, specs),
        "accuracy": acc,  # (bits, taus, seeds)
        "untrained": [g["untrained"] for g in by_k],  # (bits, taus, inits): the population
        "pixels": [g["pixels"] for g in by_k],  # (bits, taus): raw-pixel probe (bits appended)
        "knn": [g["knn"] for g in by_k],  # (bits, taus, seeds, len(knn_steps)): kNN digit
        "dropouts": cfg["dropouts"],
        "dropout_bits": max(cfg["bits"]),
        "dropout_tau": cfg["dropout_tau"],
        "dropout_accuracy": by_p["accuracy"],  # (dropouts, seeds)
        "dropout_untrained": by_p["untrained"],  # (dropouts, inits): the population
        "dropout_pixels": by_p["pixels"],  # (dropouts,): the same input at every p
        "dropout_knn": by_p["knn"],  # (dropouts, seeds, len(knn_steps))
        "knn_steps": knn_steps or [],
        "chance": 0.1,
        "run_s": [_run_s(s.run_dir(base.root), probe) for s in specs],  # one per trained run
        "theory_probe": probe_k.tolist(),  # (bits, taus, theory seeds): resolved weak R^2
        "theory_share": share_k.tolist(),
        "theory_dropout_probe": probe_p.tolist(),  # (dropouts, theory seeds)
        "deep_trend": deep_trend,
        "linear_trend": lin_trend,
        "agree": bool(np.sign(deep_trend) == np.sign(lin_trend)),
    }


# ---------------------------------------------------------------------------------------------
# gains, gate, flatness


def randbits_gains(res: Results) -> list[list[Interval]]:
    """``(taus, bits)``: the gain interval of each temperature at each k."""
    acc, unt = np.asarray(res["accuracy"], dtype=float), np.asarray(res["untrained"], dtype=float)
    return [gains(acc[:, j], unt[:, j]) for j in range(acc.shape[1])]


def dropout_gains(res: Results) -> list[Interval]:
    """The gain interval at each bit-dropout p (largest k, ``dropout_tau``)."""
    return gains(res["dropout_accuracy"], res["dropout_untrained"])


def randbits_gate(res: Results) -> Gate:
    """One gate over every condition of the figure (k x tau and the bit-dropout p)."""
    per_k = {
        f"k={k} tau={tau:g}": g
        for tau, row in zip(res["taus"], randbits_gains(res), strict=True)
        for k, g in zip(res["bits"], row, strict=True)
    }
    per_p = {
        f"k={res['dropout_bits']} tau={res['dropout_tau']:g} p={p:g}": g
        for p, g in zip(res["dropouts"], dropout_gains(res), strict=True)
    }
    return gate({**per_k, **per_p})


def flatness(res: Results) -> dict[str, Any]:
    """The largest |last-quarter move| over the figure's conditions and whether it is below
    :data:`FLAT_MOVE` (issue 10, section 2)."""
    steps = res["knn_steps"]
    if len(steps) < 2:
        return {"max_abs": float("nan"), "flat": False}
    return curves_flatness(steps, [res["knn"], res["dropout_knn"]])


# ---------------------------------------------------------------------------------------------
# plot


def _trend_text(v: float) -> str:
    if v == 0:
        return "no temperature effect"
    return "lower $\\tau$ suppresses less" if v > 0 else "lower $\\tau$ suppresses more"


def _plot_curves(ax: Any, steps: Any, curves: Any, labels: list[str], alpha: float) -> None:
    """Seed-mean kNN learning curve per condition: ``curves`` ``(conditions, seeds, steps)``."""
    colors = list(style.SEQUENCE)
    for i, (label, c) in enumerate(zip(labels, np.asarray(curves, dtype=float), strict=True)):
        ax.plot(steps, c.mean(0), color=colors[i % len(colors)], label=label, alpha=alpha, lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel("kNN digit accuracy (monitor)")
    ax.set_ylim(0.0, 1.02)
    _legend(ax, ncol=3, baselines_too=False)


def _deep_panel(
    ax: Any, x: Any, acc: Any, unt: Any, pixels: Any, labels: list[str], alpha: float
) -> None:
    """Markers per series (``acc`` ``(x, series, seeds)``), untrained and raw-pixel lines."""
    colors = list(style.SEQUENCE)
    a = np.asarray(acc, dtype=float)
    for j, label in enumerate(labels):
        c = colors[j % len(colors)]
        _markers(ax, x, a[:, j], c, label, alpha)
        ax.plot(x, _mean_sd(a[:, j])[0], color=c, lw=0.6, alpha=0.5 * alpha)
    u = np.asarray(unt, dtype=float)
    _reference_lines(ax, x, u.reshape(u.shape[0], -1), pixels, style.NEUTRAL, "digit")
    ax.set_ylabel("digit probe accuracy")
    ax.set_ylim(0.0, 1.02)


def _deep_finish(ax: Any, chance: float, title: str, ncol: int, g: Gate, what: str) -> None:
    """A deep panel's chance line, title and legend (with the baselines), and the gate's note
    (``what`` not compared) when ``g`` is closed."""
    ax.axhline(chance, label="chance", **style.CHANCE)
    ax.set_title(title)
    _legend(ax, ncol=ncol)
    if not g.open:
        style.gate_note(ax, _gate_text(g, what))


def _gain_titles(ax: Any, ncol: int) -> None:
    """A gain panel's axes, title and legend (without the baselines)."""
    _gain_axes(ax)
    ax.set_title("digit: trained minus untrained (Welch, 95%)")
    _legend(ax, ncol=ncol, baselines_too=False)


def plot_randbits(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(2, 4, width=3.3, height=3.3)
    colors = list(style.SEQUENCE)
    taus, bits, ps = res["taus"], res["bits"], res["dropouts"]
    tau_labels = [f"$\\tau$ = {t:g}" for t in taus]
    g = randbits_gate(res)
    alpha = 1.0 if g.open else style.FADED
    kd, td = res["dropout_bits"], res["dropout_tau"]
    where = f"k = {kd}, $\\tau$ = {td:g}"
    # row 0: the k sweep
    th = np.asarray(res["theory_probe"])
    ax = axes[0, 0]
    for j, label in enumerate(tau_labels):
        ax.plot(
            bits, _mean_sd(th[:, j])[0], color=colors[j % len(colors)], label=label, **style.THEORY
        )
    ax.set_ylabel("weak-group probe $R^2$ (resolved)")
    ax.set_title("linear InfoNCE, no bit dropout")
    ax.set_ylim(0.0, 1.02)
    _legend(ax, ncol=3, baselines_too=False)
    ax = axes[0, 1]
    _deep_panel(
        ax,
        bits,
        res["accuracy"],
        res["untrained"],
        np.asarray(res["pixels"], dtype=float).mean(1),
        tau_labels,
        alpha,
    )
    title = "ConvNet, RandBits-MNIST, crop-only views"
    _deep_finish(ax, res["chance"], title, 3, g, "bit counts, temperatures and p")
    ax = axes[0, 2]
    for j, (label, per_k) in enumerate(zip(tau_labels, randbits_gains(res), strict=True)):
        offset = (j - (len(taus) - 1) / 2) * 0.25
        _draw_gains(
            ax,
            np.asarray(bits) + offset,
            per_k,
            colors[j % len(colors)],
            label,
            f"gain:tau={taus[j]:g}",
        )
    _gain_titles(ax, ncol=3)
    for a in axes[0, :3]:
        a.set_xlabel("random bits k shared by both views")
        a.set_xticks(bits)
    j = list(taus).index(td)
    _plot_curves(
        axes[0, 3],
        res["knn_steps"],
        np.asarray(res["knn"])[:, j],
        [f"k = {k}" for k in bits],
        alpha,
    )
    f = flatness(res)
    axes[0, 3].set_title(
        f"learning curves at $\\tau$ = {td:g}: {'flat' if f['flat'] else 'not flat'}\n"
        f"(largest last-quarter move {f['max_abs']:.3f}; flat: < {FLAT_MOVE:g})",
        fontsize=8,
    )
    # row 1: bit dropout at the largest k
    ax = axes[1, 0]
    thp = np.asarray(res["theory_dropout_probe"])
    ax.plot(ps, _mean_sd(thp)[0], color=style.WEAK, label=f"weak group, {where}", **style.THEORY)
    ax.set_ylabel("weak-group probe $R^2$ (resolved)")
    ax.set_title("linear InfoNCE, bits zeroed per view")
    ax.set_ylim(0.0, 1.02)
    _legend(ax, ncol=1, baselines_too=False)
    ax = axes[1, 1]
    acc_p = np.asarray(res["dropout_accuracy"], dtype=float)[:, None]  # (p, 1 series, seeds)
    unt_p = np.asarray(res["dropout_untrained"], dtype=float)
    _deep_panel(ax, ps, acc_p, unt_p, res["dropout_pixels"], [f"digit, {where}"], alpha)
    _deep_finish(ax, res["chance"], "ConvNet, bit-dropout views", 2, g, "values of p")
    ax = axes[1, 2]
    _draw_gains(ax, ps, dropout_gains(res), style.WEAK, f"digit, {where}", "gain:dropout")
    _gain_titles(ax, ncol=1)
    for a in axes[1, :3]:
        a.set_xlabel("bit dropout $p$ (each view zeroes its bits)")
        a.set_xticks(ps)
    _plot_curves(
        axes[1, 3], res["knn_steps"], res["dropout_knn"], [f"p = {p:g}" for p in ps], alpha
    )
    axes[1, 3].set_title(f"learning curves, {where}", fontsize=8)
    _gate_footnote(fig)
    lo, hi = taus[0], taus[-1]
    head = (
        f"Digit against random bits k shared by both views, and against bit dropout p at k = {kd} "
        f"(deep: mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps)\n"
    )
    if g.open:
        verdict = "agree" if res["agree"] else "disagree"
        d_deep, d_lin = dropout_effect(res), theory_dropout_effect(res)
        body = (
            f"temperature effect (at $\\tau$ = {lo:g} minus {hi:g}, mean over k > 0): "
            f"deep {res['deep_trend']:+.3f} ({_trend_text(res['deep_trend'])}), "
            f"linear {res['linear_trend']:+.3f}: they {verdict}; "
            f"bit dropout p = {max(ps):g} minus p = 0: deep {d_deep.mean:+.3f}, "
            f"linear {d_lin:+.3f}"
        )
    else:
        body = "the deep runs do not beat the untrained encoder: k, temperatures and p not compared"
    fig.suptitle(head + body, fontsize=9)
    return fig


# ---------------------------------------------------------------------------------------------
# claims


def dropout_effect(res: Results) -> Interval:
    """Digit accuracy at the largest p minus at p = 0 (largest k, ``dropout_tau``), seeds
    paired."""
    acc = np.asarray(res["dropout_accuracy"], dtype=float)
    ps = list(res["dropouts"])
    return paired_interval(acc[int(np.argmax(ps))], acc[ps.index(0.0)])


def theory_dropout_effect(res: Results) -> float:
    """The linear model's resolved weak-group R^2 at the largest p minus at p = 0."""
    th = np.asarray(res["theory_dropout_probe"], dtype=float).mean(-1)
    ps = list(res["dropouts"])
    return float(th[int(np.argmax(ps))] - th[ps.index(0.0)])


def claims_randbits(res: Results, cfg: Config) -> list[Claim]:
    """Chen et al.: shared random bits suppress the digit (largest k against k = smallest,
    mean over temperatures); a lower temperature suppresses less (``temperature_trend`` per
    seed). Tamkin et al.: dropping the bits in views restores the digit at the largest k
    (largest p against p = 0, seeds paired)."""
    g = randbits_gate(res)
    acc = np.asarray(res["accuracy"], dtype=float)  # (bits, taus, seeds)
    th = np.asarray(res["theory_probe"], dtype=float)  # (bits, taus, theory seeds)
    bits = list(res["bits"])
    lo, hi = int(np.argmin(bits)), int(np.argmax(bits))
    out = [
        gated_claim(
            g,
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
        )
    ]
    if len(res["taus"]) > 1 and len(bits) > 1:
        per_seed = [temperature_trend(acc[:, :, s]) for s in range(acc.shape[2])]
        out.append(
            gated_claim(
                g,
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
            )
        )
    if len(res["dropouts"]) > 1:
        kd, td, pmax = res["dropout_bits"], res["dropout_tau"], max(res["dropouts"])
        out.append(
            gated_claim(
                g,
                id="tamkin2023.randbits.bit-dropout-restores-digit",
                figure="exp_randbits",
                paper=TAMKIN,
                claim="Dropping the shared random bits in views (feature dropout) restores the "
                "learning of the digit they suppress.",
                effect=f"digit accuracy at bit dropout p = {pmax:g} minus at p = 0 (k = {kd}, "
                f"tau = {td:g})",
                measured=dropout_effect(res),
                predicted_sign=1,
                theory={
                    "value": theory_dropout_effect(res),
                    "text": "linear InfoNCE, weak-group probe R^2 (resolved), bits zeroed per "
                    "view, same k, tau and p",
                },
            )
        )
    return out


EXP_RANDBITS = FigureSpec(
    "exp_randbits",
    "deep: digit accuracy vs random bits per temperature and vs bit dropout, beside linear InfoNCE",
    compute_randbits,
    plot_randbits,
    randbits_config,
    claims_randbits,
    specs=randbits_specs,
    baselines=randbits_baselines,
)
