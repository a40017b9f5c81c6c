"""Theory figures (issue 2, section 4): closed forms beside simulations of the linear model.

* ``theory_phase``: which group the optimum learns over (s1/s2, p), with the p* curve.
* ``theory_vs_p``: eigenvalues and probe accuracy of both tasks against the strong group's p.
* ``theory_dynamics``: learning curves per group, closed form against integration and SGD.
* ``theory_infonce``: linear InfoNCE, weak-group probe against the number of shared bits.

``compute_*`` run the simulations and return JSON-ready results; ``plot_*`` only draw them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from figures import style
from figures.spec import Config, FigureSpec, Results
from linear_theory.dynamics import (
    decoupled_init,
    integrate_gradient_flow,
    mode_curves,
    mode_norms,
    sgd_on_views,
)
from linear_theory.model import FeatureGroup, LinearModel
from linear_theory.probes import fit_probe_accuracy, probe_accuracy
from linear_theory.spectral import dropout_eigenvalue, optimal_encoder, p_star, phase_diagram


def _two_group(cfg: Config, p: float) -> LinearModel:
    return LinearModel(
        groups=(
            FeatureGroup(dim=cfg["dims"][0], strength=cfg["s_strong"], dropout=p, name="strong"),
            FeatureGroup(dim=cfg["dims"][1], strength=cfg["s_weak"], dropout=0.0, name="weak"),
        ),
        noise=cfg["sigma"],
        embed_dim=cfg["m"],
    )


# ---------------------------------------------------------------------------------------------
# (i) phase diagram


def phase_config() -> Config:
    return {
        "ratio": [1.0, 4.0],
        "p": [0.0, 1.0],
        "grid": 400,
        "sigmas": [0.25, 0.5, 1.0],
        "dims": [2, 2],
        "m": 2,
    }


def compute_phase(cfg: Config) -> Results:
    ratio = np.linspace(cfg["ratio"][0], cfg["ratio"][1], cfg["grid"])
    p = np.linspace(cfg["p"][0], cfg["p"][1], cfg["grid"])
    rr, pp = np.meshgrid(ratio, p, indexing="xy")  # (grid_p, grid_ratio)
    panels = []
    for sigma in cfg["sigmas"]:
        pd = phase_diagram(rr, pp, cfg["m"], sigma, dims=tuple(cfg["dims"]))
        panels.append(
            {
                "sigma": sigma,
                "weak_fraction": pd.learned_fraction[..., 1].tolist(),
                "strong_fraction": pd.learned_fraction[..., 0].tolist(),
                "p_star": p_star(ratio, 1.0, sigma).tolist(),
            }
        )
    return {"ratio": ratio.tolist(), "p": p.tolist(), "panels": panels}


def plot_phase(res: Results, cfg: Config) -> Any:
    ratio, p = np.asarray(res["ratio"]), np.asarray(res["p"])
    fig, axes = style.subplots(1, len(res["panels"]), width=3.0, height=2.7, sharey=True)
    for ax, panel in zip(axes[0], res["panels"], strict=True):
        frac = np.asarray(panel["weak_fraction"])
        im = ax.imshow(
            frac,
            origin="lower",
            aspect="auto",
            vmin=0,
            vmax=1,
            cmap="Blues",
            extent=(ratio[0], ratio[-1], p[0], p[-1]),
        )
        ax.plot(
            ratio, panel["p_star"], color=style.STRONG, label="$p^*$ (closed form)", **style.THEORY
        )
        ax.set_title(f"$\\sigma$ = {panel['sigma']:g}")
        ax.set_xlabel("strength ratio $s_1/s_2$")
    axes[0, 0].set_ylabel("dropout $p$ on the strong group")
    axes[0, 0].legend(loc="upper left", frameon=False)
    cb = fig.colorbar(im, ax=axes[0, -1])
    cb.set_label("weak group: fraction of its\ndirections kept by the optimum")
    d1, d2 = cfg["dims"]
    fig.suptitle(
        f"Which group the optimal linear encoder learns (d = ({d1}, {d2}), m = {cfg['m']})"
    )
    return fig


# ---------------------------------------------------------------------------------------------
# (ii) eigenvalues and probe accuracy against p


def vs_p_config() -> Config:
    return {
        "s_strong": 2.0,
        "s_weak": 1.0,
        "sigma": 0.5,
        "dims": [2, 2],
        "m": 2,
        "grid": 201,
        "sim_p": [0.0, 0.2, 0.4, 0.55, 0.65, 0.8, 0.95],
        "sim_steps": 1500,
        "sim_lr": 0.02,
        "sim_batch": 256,
        "probe_n": 20000,
        "seed": 0,
    }


def compute_vs_p(cfg: Config) -> Results:
    p = np.linspace(0.0, 1.0, cfg["grid"])
    lam_s = dropout_eigenvalue(p, cfg["s_strong"], cfg["sigma"])
    lam_w = dropout_eigenvalue(0.0, cfg["s_weak"], cfg["sigma"]) * np.ones_like(p)
    acc = np.array(
        [
            [
                probe_accuracy(
                    optimal_encoder(_two_group(cfg, float(pi))), _two_group(cfg, float(pi)), k
                )
                for k in (0, 1)
            ]
            for pi in p
        ]
    )  # (grid, 2)
    rng = np.random.default_rng(cfg["seed"])
    sim = []
    for pi in cfg["sim_p"]:
        model = _two_group(cfg, float(pi))
        w0 = 1e-2 * rng.standard_normal((model.embed_dim, model.dim))
        run = sgd_on_views(
            model,
            w0,
            cfg["sim_steps"],
            cfg["sim_lr"],
            cfg["sim_batch"],
            rng,
            record_every=cfg["sim_steps"],
        )
        w = run.w[-1]
        sim.append([fit_probe_accuracy(w, model, k, cfg["probe_n"], rng) for k in (0, 1)])
    return {
        "p": p.tolist(),
        "lambda_strong": lam_s.tolist(),
        "lambda_weak": lam_w.tolist(),
        "acc": acc.tolist(),
        "sim_p": cfg["sim_p"],
        "sim_acc": sim,
        "p_star": float(p_star(cfg["s_strong"], cfg["s_weak"], cfg["sigma"])),
    }


def plot_vs_p(res: Results, cfg: Config) -> Any:
    p = np.asarray(res["p"])
    acc, sim = np.asarray(res["acc"]), np.asarray(res["sim_acc"])
    fig, axes = style.subplots(1, 2, width=3.4)
    ax = axes[0, 0]
    ax.plot(p, res["lambda_strong"], color=style.STRONG, label="strong group", **style.THEORY)
    ax.plot(p, res["lambda_weak"], color=style.WEAK, label="weak group", **style.THEORY)
    ax.set_xlabel("dropout $p$ on the strong group")
    ax.set_ylabel("eigenvalue $\\lambda_k$ of $A^{-1/2} C A^{-1/2}$")
    ax = axes[0, 1]
    ax.plot(p, acc[:, 0], color=style.STRONG, label="strong task, optimum", **style.THEORY)
    ax.plot(p, acc[:, 1], color=style.WEAK, label="weak task, optimum", **style.THEORY)
    ax.plot(
        res["sim_p"],
        sim[:, 0],
        color=style.STRONG,
        label="strong, SGD on views",
        **style.SIMULATION,
    )
    ax.plot(
        res["sim_p"], sim[:, 1], color=style.WEAK, label="weak, SGD on views", **style.SIMULATION
    )
    ax.axhline(0.5, color=style.NEUTRAL, lw=0.8, ls=":", label="chance")
    ax.set_xlabel("dropout $p$ on the strong group")
    ax.set_ylabel("linear probe accuracy (clean inputs)")
    for a in axes[0]:
        a.axvline(res["p_star"], color=style.NEUTRAL, lw=0.8, ls="--")
        a.legend(frameon=False, loc="best")
    axes[0, 0].text(res["p_star"], axes[0, 0].get_ylim()[1] * 0.95, " $p^*$", va="top")
    fig.suptitle(
        f"Dropping the strong group lets the weak one in (s = ({cfg['s_strong']:g}, "
        f"{cfg['s_weak']:g}), $\\sigma$ = {cfg['sigma']:g}, m = {cfg['m']})"
    )
    return fig


# ---------------------------------------------------------------------------------------------
# (iii) learning curves per group


def dynamics_config() -> Config:
    return {
        "s_strong": 2.0,
        "s_weak": 1.0,
        "sigma": 0.5,
        "dims": [2, 2],
        "m": 4,
        "r0": 1e-4,
        "t_max": 4.0,
        "grid": 200,
        "ps": [0.0, 0.6],
        "sim_points": 16,
        "sgd_lr": 2e-3,
        "sgd_batch": 512,
        "seed": 0,
    }


def compute_dynamics(cfg: Config) -> Results:
    t = np.linspace(0.0, cfg["t_max"], cfg["grid"])
    t_sim = np.linspace(0.0, cfg["t_max"], cfg["sim_points"])
    rng = np.random.default_rng(cfg["seed"])
    panels = []
    for p in cfg["ps"]:
        model = _two_group(cfg, float(p))
        closed = mode_curves(model, t, cfg["r0"])
        w0 = decoupled_init(model, cfg["r0"])
        flow = integrate_gradient_flow(model, w0, t_sim)  # (T, m, d)
        steps = round(cfg["t_max"] / cfg["sgd_lr"])
        sgd = sgd_on_views(
            model,
            w0,
            steps,
            cfg["sgd_lr"],
            cfg["sgd_batch"],
            rng,
            record_every=max(1, steps // (cfg["sim_points"] - 1)),
        )

        def per_group(w: np.ndarray, model: LinearModel = model) -> list[list[float]]:
            norms = mode_norms(model, w)  # (T, d)
            return np.stack([norms[:, s].sum(-1) for s in model.slices], -1).tolist()

        panels.append(
            {
                "p": p,
                "closed": closed.group_weight.tolist(),
                "limit": closed.group_limit.tolist(),
                "flow": per_group(flow),
                "sgd_t": sgd.t.tolist(),
                "sgd": per_group(sgd.w),
            }
        )
    return {"t": t.tolist(), "t_sim": t_sim.tolist(), "panels": panels}


def plot_dynamics(res: Results, cfg: Config) -> Any:
    fig, axes = style.subplots(1, len(res["panels"]), width=3.4, sharey=True)
    for ax, panel in zip(axes[0], res["panels"], strict=True):
        limit = np.asarray(panel["limit"])  # normalise each group by its final weight
        closed, flow, sgd = (np.asarray(panel[k]) / limit for k in ("closed", "flow", "sgd"))
        for k, (color, name) in enumerate(((style.STRONG, "strong"), (style.WEAK, "weak"))):
            ax.plot(
                res["t"], closed[:, k], color=color, label=f"{name}: closed form", **style.THEORY
            )
            ax.plot(
                res["t_sim"],
                flow[:, k],
                color=color,
                label=f"{name}: ODE solver",
                **style.SIMULATION,
            )
            ax.plot(
                panel["sgd_t"],
                sgd[:, k],
                color=color,
                marker="x",
                ls="none",
                ms=4,
                label=f"{name}: SGD on views",
            )
        ax.set_title(f"dropout on strong group p = {panel['p']:g}")
        ax.set_xlabel("gradient-flow time t")
    axes[0, 0].set_ylabel("group weight $\\|W R_{:,k}\\|_F^2$ / its limit")
    axes[0, 0].legend(frameon=False, fontsize=7)
    fig.suptitle("Gradient flow from small initialisation learns each group along a sigmoid")
    return fig


THEORY_PHASE = FigureSpec(
    "theory_phase",
    "phase diagram over (s1/s2, p) with the p* curve",
    compute_phase,
    plot_phase,
    phase_config,
)
THEORY_VS_P = FigureSpec(
    "theory_vs_p",
    "eigenvalues and probe accuracy against p",
    compute_vs_p,
    plot_vs_p,
    vs_p_config,
)
THEORY_DYNAMICS = FigureSpec(
    "theory_dynamics",
    "learning curves per group: closed form vs simulation",
    compute_dynamics,
    plot_dynamics,
    dynamics_config,
)


# ---------------------------------------------------------------------------------------------
# (iv) linear InfoNCE with shared bits


def infonce_config() -> Config:
    return {
        "bits": [0, 4, 8, 16, 32, 64],
        "dropouts": [0.0, 0.5],
        "taus": [0.05, 0.1, 0.2, 0.5],
        "seeds": [0, 1],
        "steps": 1000,
        "batch_size": 32,
        "lr": 0.01,
        "probe_resolution": 0.1,
    }


def compute_infonce(cfg: Config) -> Results:
    from linear_theory.infonce import infonce_sweep

    out = infonce_sweep(
        bits=cfg["bits"],
        dropouts=cfg["dropouts"],
        taus=cfg["taus"],
        seeds=cfg["seeds"],
        steps=cfg["steps"],
        batch_size=cfg["batch_size"],
        lr=cfg["lr"],
        probe_resolution=cfg["probe_resolution"],
    )
    keep = ("probe", "probe_resolved", "loss", "shares", "bits_only_loss", "lower_bound")
    res: Results = {k: np.asarray(out[k]).tolist() for k in keep}
    res["config_json"] = str(out["config_json"])
    return res


def plot_infonce(res: Results, cfg: Config) -> Any:
    bits = np.asarray(cfg["bits"])
    probe = np.asarray(res["probe_resolved"])  # (bits, dropouts, taus, seeds)
    weak = np.asarray(res["shares"])[..., 1]
    fig, axes = style.subplots(2, len(cfg["taus"]), width=2.6, height=2.5, sharey="row")
    x = np.arange(len(bits))
    for j, tau in enumerate(cfg["taus"]):
        for i, p in enumerate(cfg["dropouts"]):
            color = style.STRONG if p == 0 else style.WEAK
            label = "no dropout" if p == 0 else f"bit dropout p = {p:g}"
            for row, values in enumerate((probe, weak)):
                mean = values[:, i, j].mean(-1)
                std = values[:, i, j].std(-1)
                ax = axes[row, j]
                ax.errorbar(
                    x, mean, yerr=std, color=color, marker="o", ms=4, capsize=2, label=label
                )
        axes[0, j].set_title(f"temperature $\\tau$ = {tau:g}")
        for row in range(2):
            axes[row, j].set_xticks(x, [str(b) for b in bits])
        axes[1, j].set_xlabel("shared random bits b")
    axes[0, 0].set_ylabel("weak-group probe $R^2$\n(resolution-limited)")
    axes[1, 0].set_ylabel("weak group's share of $\\|W\\|_F^2$")
    axes[0, 0].legend(frameon=False, loc="lower left")
    n_seeds = len(cfg["seeds"])
    fig.suptitle(
        f"Linear InfoNCE: shared bits suppress the weak group; dropping them restores it "
        f"(mean $\\pm$ sd over {n_seeds} seeds)"
    )
    return fig


THEORY_INFONCE = FigureSpec(
    "theory_infonce",
    "linear InfoNCE: weak-group probe vs shared bits, with/without dropout, per temperature",
    compute_infonce,
    plot_infonce,
    infonce_config,
)
