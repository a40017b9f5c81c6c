# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Feature suppression and feature dropout in a linear model you can solve exactly
#
# Contrastive learning trains an encoder to map two *views* of the same input (two random
# augmentations of it) to nearby points, and views of different inputs to distant points. The
# encoder only keeps what the two views share. Tamkin et al. (*Feature Dropout*, NeurIPS 2023)
# point out two consequences, and this notebook lets you watch both in a model small enough to
# solve with pen and paper:
#
# * **Suppression.** When the encoder has room for only a few features, an *easy* feature (one
#   that is strong and survives the augmentations) takes all the room, and a weaker feature is
#   not learned at all, even if a downstream task needs it.
# * **Feature dropout.** An augmentation that sometimes *removes* the easy feature from a view
#   (it "destroys" the label of the easy task in that view) makes the easy feature less reliable
#   as a match between views, and above a threshold dropout probability $p^*$ the weak feature
#   takes its place.
#
# Everything below comes from the `linear_theory` package of this project (closed forms and an
# ODE solver); the derivations are in `docs/theory.md`.

# %% [markdown]
# ## The model
#
# * An input has two **feature groups** of two coordinates each: a *strong* group, $s_1 z_1$,
#   and a *weak* group, $s_2 z_2$, with Gaussian latents $z_1, z_2$ and strengths
#   $s_1 = r \cdot s_2$ ($r$ is the *strength ratio*; $s_2 = 1$).
# * A **view** of the input drops the strong group with probability $p$ (feature dropout; each
#   view decides on its own) and adds Gaussian noise of size $\sigma$ to every coordinate.
# * The **encoder** is a matrix $W$ with $m$ rows: it maps the 4 input coordinates to an
#   $m$-dimensional embedding. $m < 4$ means the encoder cannot keep everything.
# * It is trained with the **spectral contrastive loss**
#   $L(W) = -2\,\mathbb{E}[f(\tilde x_1)\cdot f(\tilde x_2)] + \mathbb{E}[(f(\tilde x)\cdot
#   f(\tilde x'))^2]$: pull the two views of one input together, push views of different inputs
#   apart.
#
# The loss has a closed-form minimum: it keeps the $m$ directions with the largest eigenvalues of
# a "signal to view-variance" matrix. For a group with dropout $p$, strength $s$ and noise
# $\sigma$ that eigenvalue is
#
# $$\lambda = \frac{(1-p)^2 s^2}{(1-p)\,s^2 + \sigma^2}.$$
#
# A group whose eigenvalue is not among the top $m$ gets **zero** weight: its downstream task
# is at chance. Dropout lowers the strong group's eigenvalue; where it falls below the weak
# group's, at $p = p^*$, the optimum switches.

# %%
import io
import time
from typing import Any

import ipywidgets as widgets
import numpy as np
import PIL.Image
from IPython.display import display
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from linear_theory import (
    FeatureGroup,
    LinearModel,
    group_weights,
    optimal_encoder,
    p_star,
    phase_diagram,
    probe_accuracy,
)
from linear_theory.dynamics import integrate_gradient_flow, learning_time
from linear_theory.spectral import dropout_eigenvalue

DIMS = (2, 2)  # coordinates in the strong and the weak group


def two_groups(ratio: float, p: float, sigma: float, m: int) -> LinearModel:
    """Strong group (strength ``ratio``, dropped with probability ``p``) and weak group (1)."""
    return LinearModel(
        groups=(
            FeatureGroup(dim=DIMS[0], strength=ratio, dropout=p, name="strong"),
            FeatureGroup(dim=DIMS[1], strength=1.0, name="weak"),
        ),
        noise=sigma,
        embed_dim=m,
    )


# %% [markdown]
# ## One setting, by hand
#
# The strong group twice as strong as the weak one, noise $\sigma = 0.5$, room for $m = 2$ of
# the 4 directions. Without dropout the optimum spends both rows of $W$ on the strong group; the
# probe of the weak task (the best linear classifier of the sign of the weak group's first
# latent, reading the embedding of clean inputs, in closed form) is at chance, 0.5. Above $p^*$
# it is the other way round.

# %%
threshold = float(p_star(2.0, 1.0, 0.5))
print(f"p* = {threshold:.3f}")
for p in (0.0, threshold - 0.05, threshold + 0.05, 0.5):
    model = two_groups(2.0, p, 0.5, 2)
    w_star = optimal_encoder(model)  # (m, 4): a global minimiser of the loss
    acc = [probe_accuracy(w_star, model, group=k) for k in (0, 1)]
    lam = [float(dropout_eigenvalue(p, 2.0, 0.5)), float(dropout_eigenvalue(0.0, 1.0, 0.5))]
    print(
        f"p = {p:.3f}: eigenvalues strong {lam[0]:.3f}, weak {lam[1]:.3f}; "
        f"probe accuracy strong {acc[0]:.2f}, weak {acc[1]:.2f}"
    )

# %% [markdown]
# ## The interactive figure
#
# Four panels, redrawn whenever you move a slider:
#
# 1. **Eigenvalues** of both groups against the dropout $p$ (the dot is your $p$). The optimum
#    keeps the $m$ largest; $p^*$ is where the curves cross.
# 2. **Probe accuracy of the optimal encoder** for each group's task, against $p$. Chance is 0.5.
#    With $m = 4$ nothing competes and both tasks are solved at every $p < 1$.
# 3. **Phase diagram**: the fraction of the weak group's directions that the optimum keeps,
#    over strength ratio and $p$, with the closed-form $p^*$ curve; the cross is your setting.
# 4. **Learning curves**: gradient flow on the loss from a small random start (solved with an
#    ODE solver), the weight $\|W_k\|_F^2$ on each group over training time, with the optimum's
#    weights dashed. The weak group is learned later (a smaller eigenvalue means a slower
#    sigmoid), and when it does not fit it rises a little and is then pushed out.

# %%
P_GRID = np.linspace(0.0, 1.0, 51)
RATIO_GRID = np.linspace(1.0, 4.0, 121)
PHASE_P = np.linspace(0.0, 1.0, 121)
COLORS = {"strong": "#0072B2", "weak": "#D55E00"}  # colour-blind safe (Okabe-Ito)
T_POINTS = 80
INIT_SCALE = 1e-2


def compute(ratio: float, p: float, sigma: float, m: int) -> dict[str, Any]:
    """Everything the four panels show for one setting (closed forms and one ODE solve)."""
    acc = np.empty((len(P_GRID), 2))  # probe accuracy of the optimum on the grid of p
    for i, p_i in enumerate(P_GRID):
        model_i = two_groups(ratio, float(p_i), sigma, m)
        acc[i] = [probe_accuracy(optimal_encoder(model_i), model_i, group=k) for k in (0, 1)]
    model = two_groups(ratio, p, sigma, m)
    w_star = optimal_encoder(model)
    rr, pp = np.meshgrid(RATIO_GRID, PHASE_P)  # (121, 121) grid over (ratio, p)
    # learning curves: gradient flow from a seeded small start, over about 3 half-learning
    # times of the slower group (computed with room for both groups)
    half = learning_time(model.replace(embed_dim=sum(DIMS)), r0=INIT_SCALE**2)
    finite = half[np.isfinite(half)]
    t = np.linspace(0.0, float(np.clip(3.0 * finite.max(), 1.0, 60.0)), T_POINTS)
    w0 = INIT_SCALE * np.random.default_rng(0).standard_normal((m, model.dim))
    w_t = integrate_gradient_flow(model, w0, t, rtol=1e-6, atol=1e-10)  # (T, m, 4)
    return {
        "lam": np.stack(
            [dropout_eigenvalue(P_GRID, ratio, sigma), dropout_eigenvalue(0 * P_GRID, 1.0, sigma)]
        ),  # (2, len(P_GRID))
        "acc": acc,
        "here_lam": [
            float(dropout_eigenvalue(p, ratio, sigma)),
            float(dropout_eigenvalue(0, 1, sigma)),
        ],
        "here_acc": [probe_accuracy(w_star, model, group=k) for k in (0, 1)],
        "p_star": float(p_star(ratio, 1.0, sigma)),  # nan where the weak group never wins
        "p_star_curve": p_star(RATIO_GRID, 1.0, sigma),
        "phase": phase_diagram(rr, pp, m, sigma, dims=DIMS).learned_fraction[..., 1],
        "t": t,
        "weights": group_weights(w_t, model),  # (T, 2)
        "optimum": group_weights(w_star, model),  # (2,)
    }


# %% [markdown]
# The figure is drawn once; a redraw only repaints what changed (matplotlib's *blitting*: the
# axes, ticks and labels are kept as a bitmap, the lines and the image are drawn on top) and
# hands the PNG to an image widget. That keeps a redraw well under a second. The learning-curve
# panel changes its axes with the setting, so it is repainted whole.


# %%
class BlitFigure:
    """Render ``fig`` to PNG, repainting only ``artists`` over a cached background."""

    def __init__(self, fig: Figure, artists: list[Any]) -> None:
        self.fig, self.artists = fig, artists
        for a in artists:
            a.set_animated(True)  # left out of the full draw below
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def png(self) -> bytes:
        self.canvas.restore_region(self.background)
        for a in self.artists:
            self.fig.draw_artist(a)
        buf = io.BytesIO()
        PIL.Image.fromarray(np.asarray(self.canvas.buffer_rgba())).save(
            buf, format="png", compress_level=1
        )
        return buf.getvalue()


fig = Figure(figsize=(9.5, 6.8), dpi=80)
axes = fig.subplots(2, 2)
fig.subplots_adjust(left=0.08, right=0.92, bottom=0.08, top=0.9, wspace=0.3, hspace=0.42)
ax_lam, ax_acc, ax_phase, ax_flow = axes.flat
art: dict[str, Any] = {}  # the artists a redraw updates
for name in ("strong", "weak"):
    c = COLORS[name]
    (art[f"lam_{name}"],) = ax_lam.plot(P_GRID, P_GRID, color=c, label=f"{name} group")
    (art[f"lam_dot_{name}"],) = ax_lam.plot([0], [0], "o", color=c)
    (art[f"acc_{name}"],) = ax_acc.plot(P_GRID, P_GRID, color=c, label=f"{name} task")
    (art[f"acc_dot_{name}"],) = ax_acc.plot([0], [0], "o", color=c)
    (art[f"flow_{name}"],) = ax_flow.plot([0, 1], [0, 0], color=c, label=f"{name} group")
    art[f"opt_{name}"] = ax_flow.axhline(0.0, color=c, ls="--", lw=1)
ax_acc.axhline(0.5, color="grey", lw=0.8, ls=":", label="chance")
for ax in (ax_lam, ax_acc):
    art[f"pstar_{id(ax)}"] = ax.axvline(0.0, color="grey", ls="--", lw=0.8, label="$p^*$")
    ax.set_xlabel("dropout $p$ on the strong group")
    ax.set_xlim(0, 1)
ax_lam.set_ylim(0, 1)  # lambda <= 1 - p <= 1
ax_lam.set_ylabel("eigenvalue $\\lambda_k$")
ax_lam.set_title("eigenvalues (the optimum keeps the top $m$)")
ax_acc.set_ylim(0.45, 1.03)
ax_acc.set_ylabel("probe accuracy, clean inputs")
ax_acc.set_title("probe accuracy of the optimal encoder")
art["phase"] = ax_phase.imshow(
    np.zeros((len(PHASE_P), len(RATIO_GRID))),
    origin="lower",
    aspect="auto",
    vmin=0,
    vmax=1,
    cmap="Blues",
    extent=(RATIO_GRID[0], RATIO_GRID[-1], PHASE_P[0], PHASE_P[-1]),
)
(art["p_star_curve"],) = ax_phase.plot(RATIO_GRID, RATIO_GRID, color="k", lw=1.5, label="$p^*$")
(art["here"],) = ax_phase.plot([1], [0], "x", color=COLORS["weak"], ms=10, mew=2, label="you")
ax_phase.set_ylim(0, 1)
ax_phase.set_xlabel("strength ratio $s_1/s_2$")
ax_phase.set_ylabel("dropout $p$ on the strong group")
ax_phase.set_title("weak group: fraction kept by the optimum")
fig.colorbar(art["phase"], ax=ax_phase, fraction=0.05, pad=0.02)
ax_flow.set_xlabel("gradient-flow time $t$")
ax_flow.set_ylabel("group weight $\\|W_k\\|_F^2$")
ax_flow.set_title("learning curves (dashed: the optimum)")
for ax in (ax_lam, ax_acc, ax_flow):
    ax.legend(fontsize=7, loc="center right", framealpha=0.85)
ax_phase.legend(fontsize=7, loc="lower right")
art["title"] = fig.suptitle(" ")
# repainted on every redraw, in this order: lines, image and title, the learning-curve panel
# whole (its axes change), then the legends on top of the lines
changing = [a for k, a in art.items() if not k.startswith(("flow_", "opt_"))]
blit = BlitFigure(
    fig, [*changing, ax_flow, *(ax.get_legend() for ax in (ax_lam, ax_acc, ax_phase))]
)
image = widgets.Image(format="png")
redraw_log: list[dict[str, float]] = []  # per redraw: the setting, wall and CPU seconds


def redraw(ratio: float, p: float, sigma: float, m: int) -> None:
    """Recompute the four panels for one setting and show them in ``image``."""
    wall, cpu = time.perf_counter(), time.process_time()
    r = compute(ratio, p, sigma, m)
    for k, name in enumerate(("strong", "weak")):
        art[f"lam_{name}"].set_ydata(r["lam"][k])
        art[f"lam_dot_{name}"].set_data([p], [r["here_lam"][k]])
        art[f"acc_{name}"].set_ydata(r["acc"][:, k])
        art[f"acc_dot_{name}"].set_data([p], [r["here_acc"][k]])
        art[f"flow_{name}"].set_data(r["t"], r["weights"][:, k])
        art[f"opt_{name}"].set_ydata([r["optimum"][k]] * 2)
    for ax in (ax_lam, ax_acc):
        art[f"pstar_{id(ax)}"].set_xdata([r["p_star"]] * 2)
        art[f"pstar_{id(ax)}"].set_visible(bool(np.isfinite(r["p_star"])))
    art["phase"].set_data(r["phase"])
    art["p_star_curve"].set_ydata(r["p_star_curve"])
    art["here"].set_data([ratio], [p])
    ax_flow.set_xlim(0, r["t"][-1])
    ax_flow.set_ylim(0, 1.1 * max(r["weights"].max(), r["optimum"].max(), 1e-3))
    art["title"].set_text(
        f"s1/s2 = {ratio:.2f}, p = {p:.2f}, σ = {sigma:.2f}, m = {m}:   p* = {r['p_star']:.3f};"
        f"  optimum's probe accuracy: strong {r['here_acc'][0]:.2f}, weak {r['here_acc'][1]:.2f}"
    )
    image.value = blit.png()
    redraw_log.append(
        {
            "ratio": ratio,
            "p": p,
            "sigma": sigma,
            "m": m,
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
        }
    )


# %%
controls = {
    "ratio": widgets.FloatSlider(2.0, min=1.0, max=4.0, step=0.05, description="s1/s2"),
    "p": widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.01, description="dropout p"),
    "sigma": widgets.FloatSlider(0.5, min=0.05, max=2.0, step=0.05, description="noise σ"),
    "m": widgets.IntSlider(2, min=1, max=4, description="embed dim m"),
}


def on_change(change: object = None) -> None:
    """Slider callback: redraw with the sliders' current values."""
    redraw(**{name: slider.value for name, slider in controls.items()})


for slider in controls.values():
    slider.observe(on_change, names="value")
on_change()
sliders = list(controls.values())
display(widgets.VBox([widgets.HBox(sliders[:2]), widgets.HBox(sliders[2:]), image]))

# %% [markdown]
# ### Things to try
#
# * Move **p** slowly from 0 to 1 with the other sliders at their start: at $p^* \approx 0.14$
#   the weak task jumps from chance to solved and the strong one falls to chance.
# * Set **m = 4**: there is room for everything, the probe panel is flat (but for $p = 1$,
#   where the strong group never appears in a view), the phase diagram is dark everywhere, and
#   suppression is gone, though the learning curves still show the weak group learned later.
# * Set **m = 3**: the weak group gets one of its two directions before $p^*$ and both after.
# * Raise the **noise σ**: noise hurts the weak group more than the strong one, so $p^*$ moves
#   up, and the learning curves slow down.
# * Bring the **strength ratio** towards 1: the groups tie and $p^*$ goes to 0.

# %% [markdown]
# ## Each slider once, timed
#
# The cell below moves every slider once from code, exactly as a drag would, so the figure is
# redrawn four times; it prints how long each redraw took (the tests run this notebook and this
# cell with it). A redraw computes 51 optimal encoders and their probes, a 121 x 121 phase
# diagram and an ODE solve, and renders the figure.

# %%
for name, value in (("ratio", 3.0), ("p", 0.6), ("sigma", 0.8), ("m", 3)):
    controls[name].value = value
for entry in redraw_log:
    print(
        f"s1/s2 = {entry['ratio']:.2f}  p = {entry['p']:.2f}  sigma = {entry['sigma']:.2f}  "
        f"m = {entry['m']}:  redraw {1000 * entry['wall_s']:.0f} ms "
        f"({1000 * entry['cpu_s']:.0f} ms of CPU)"
    )

# %% [markdown]
# ## What to take away
#
# * In a contrastive objective, features compete for the embedding's capacity, ranked by how
#   well they survive the views ($\lambda$ grows with strength and shrinks with noise and
#   dropout). A feature that does not make the cut is not learned *at all*.
# * An augmentation that drops the easy feature in some views, even one that destroys a
#   downstream label, lowers that feature's rank; above $p^*$ the suppressed feature is learned.
# * Even with ample room, weak features are learned later: a finite training budget can suppress
#   them too.
#
# Next: `02_linear_infonce.py` shows the same story for the InfoNCE loss with shared random bits
# (Chen et al.), and `03_reading_a_run.py` trains a small deep network and reads its results.
