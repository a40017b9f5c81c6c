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
# # Shared random bits suppress a feature under InfoNCE; dropping the bits brings it back
#
# Chen, Luo and Li (*Intriguing Properties of Contrastive Losses*, NeurIPS 2021) ran a striking
# experiment, **RandBits**: append a few random bits to every MNIST image, as extra constant
# channels, *after* the augmentations, so that both views of an image carry exactly the same
# bits. The bits say nothing about the digit. Yet with a handful of them a contrastive network
# stops learning the digit: matching two views by their bits is so easy that the loss has
# nothing left to gain from the harder feature. That is **feature suppression** without any
# shortage of capacity.
#
# Tamkin et al. (*Feature Dropout*, NeurIPS 2023) argue that augmentations which *drop* the
# easy feature, in some views, prevent suppression. In RandBits terms: zero the bits in each
# view with probability $p$. Then the bits no longer always match, and the encoder has to find
# something else that does.
#
# This notebook runs both with a **linear** encoder and the same loss the deep runs use
# (NT-Xent, the InfoNCE loss of SimCLR), small enough to train live: it takes about half a
# minute. The code is `linear_theory/infonce.py`.

# %% [markdown]
# ## The model
#
# Each instance has three groups of input coordinates:
#
# * **bits**: $b$ random $\pm 1$ values, identical in both views (the easy feature). Each view
#   zeroes the whole group with probability $p$ (*bit dropout*).
# * **weak group**: a 4-dimensional Gaussian latent $z$ (the downstream task: how well can a
#   linear probe read $z$ from the embedding?), plus fresh noise of size 0.5 in each view.
# * **nuisance**: 32 coordinates of large Gaussian noise (size 4), drawn afresh for every view.
#   They carry nothing shared, but they are there in every input: an encoder that does not
#   concentrate on the weak group lets them through and buries it.
#
# The encoder $f(x) = Wx$ has $m = b + 4$ outputs, room for the bits *and* the weak group, so
# whatever suppression we see is not a lack of capacity. Embeddings are L2-normalised and
# trained with NT-Xent at temperature $\tau$ on batches of $N = 32$ instances (each anchor has
# one positive, the other view, and $2N - 2 = 62$ negatives).
#
# We measure (1) each group's share of $\|W\|_F^2$ and (2) the $R^2$ of the best linear probe of
# $z$ from the embedding of clean inputs, computed in closed form; the probe has a finite
# resolution (it cannot see a direction that carries under 1% of the embedding's variance), as
# a probe trained on finite data would.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from linear_theory.infonce import (
    InfoNCEConfig,
    bits_only_loss,
    group_growth_rates,
    ntxent_lower_bound,
    prob_codes_distinct,
    saturation_temperature,
    train_linear_infonce,
    view_correlations,
)

torch.set_num_threads(1)  # the matrices are tiny: one thread is fastest and leaves cores free
N = 32  # instances per batch
COLORS = {"no dropout": "#0072B2", "bit dropout": "#D55E00"}

# %% [markdown]
# ## Before any training: the bits alone almost solve the task
#
# How alike are the two views of one instance, group by group? The bits agree exactly
# (correlation 1), the weak group agrees up to its view noise ($1 / (1 + 0.5^2) = 0.8$), the
# nuisance not at all. And with enough bits every instance in a batch has its own code: an
# encoder that reads only the bits already tells the 32 instances apart, and its loss is close
# to the smallest value NT-Xent can take.

# %%
print("cross-view correlation (bits, weak, nuisance):", view_correlations(InfoNCEConfig(bits=8)))
tau = 0.2
print(f"\nNT-Xent at tau = {tau}, N = {N}: lowest possible {float(ntxent_lower_bound(N, tau)):.3f}")
for b in (0, 4, 8, 16, 32, 64):
    print(
        f"  b = {b:2d} bits: all {N} codes distinct with probability "
        f"{float(prob_codes_distinct(b, N)):.3f};  bits-only encoder's loss <= "
        f"{float(bits_only_loss(b, N, tau)):.3f}"
    )

# %% [markdown]
# Which group grows first? At the start of training (equal weight on every group), the
# gradient of the loss makes a group grow if its views agree better than the average does. The
# bits, agreeing perfectly, grow fastest; bit dropout cuts their agreement and their head
# start.

# %%
for p in (0.0, 0.5):
    rates = group_growth_rates(InfoNCEConfig(bits=64, bit_dropout=p, tau=tau), [1, 1, 1], N)
    print(f"p = {p}: initial growth rates (bits, weak, nuisance) = {np.round(rates, 3)}")

# %% [markdown]
# ## Train it
#
# One batched run trains an encoder for each setting at once: the number of bits
# $b \in \{0, 8, 32, 64\}$, without and with bit dropout $p = 0.5$, at $\tau = 0.2$; and two
# more at 64 bits without dropout, at a lower and a higher temperature, for the last section.
# Adam, 800 steps of fresh minibatches.

# %%
BITS = (0, 8, 32, 64)
DROPOUTS = (0.0, 0.5)
TEMPERATURES = (0.05, 0.5)  # extra runs: 64 bits, no dropout
configs = [InfoNCEConfig(bits=b, bit_dropout=p, tau=tau) for b in BITS for p in DROPOUTS]
configs += [InfoNCEConfig(bits=64, tau=t) for t in TEMPERATURES]
t0 = time.perf_counter()
history = train_linear_infonce(configs, steps=800, batch_size=N, lr=0.01, record_every=20)
train_seconds = time.perf_counter() - t0
print(f"trained {len(configs)} encoders for 800 steps in {train_seconds:.1f} s")
grid = len(BITS) * len(DROPOUTS)
probe = history.probe_resolved[:, :grid].reshape(-1, len(BITS), len(DROPOUTS))  # (T, b, p)
weak_share = history.weights[:, :grid, 1].reshape(-1, len(BITS), len(DROPOUTS))
loss = history.loss[:, :grid].reshape(-1, len(BITS), len(DROPOUTS))
for i, b in enumerate(BITS):
    print(
        f"b = {b:2d}: weak-group probe R^2 {probe[-1, i, 0]:.2f} without dropout, "
        f"{probe[-1, i, 1]:.2f} with bit dropout p = 0.5"
    )

# %% [markdown]
# ## What the encoders learned
#
# Left: the weak group's probe at the end of training. Without dropout, more bits leave less
# of the weak group; with bit dropout it is learned whatever the number of bits. Middle: the
# weak group's share of the encoder's weights during training, for 64 bits. Right: the loss
# without dropout against the bits-only bound: with 32 or 64 bits the encoder sits where a
# bits-only encoder would, and the loss has nothing left to ask of the weak group.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
ax = axes[0]
for j, (label, p) in enumerate(zip(COLORS, DROPOUTS, strict=True)):
    name = label if p == 0 else f"{label} p = {p:g}"
    ax.plot(BITS, probe[-1, :, j], "o-", color=COLORS[label], label=name)
ax.set_xlabel("shared random bits $b$")
ax.set_ylabel("weak-group probe $R^2$ (resolution-limited)")
ax.set_ylim(-0.03, 1.03)
ax.legend(frameon=False)
ax.set_title(f"after 800 steps, $\\tau$ = {tau:g}")
ax = axes[1]
for j, (label, p) in enumerate(zip(COLORS, DROPOUTS, strict=True)):
    ax.plot(history.steps, weak_share[:, -1, j], color=COLORS[label], label=f"64 bits, p = {p:g}")
ax.plot(history.steps, weak_share[:, 0, 0], color="grey", ls="--", label="no bits")
ax.set_yscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("weak group's share of $\\|W\\|_F^2$")
ax.legend(frameon=False)
ax.set_title("the weak group is pushed out, or not")
ax = axes[2]
ax.plot(BITS, loss[-1, :, 0], "o-", color=COLORS["no dropout"], label="trained, no dropout")
ax.plot(BITS, bits_only_loss(np.array(BITS), N, tau), "s--", color="grey", label="bits only")
ax.axhline(float(ntxent_lower_bound(N, tau)), color="k", lw=0.8, ls=":", label="lowest possible")
ax.set_xlabel("shared random bits $b$")
ax.set_ylabel("NT-Xent loss")
ax.legend(frameon=False)
ax.set_title("the bits saturate the loss")
plt.show()

# %% [markdown]
# ## Temperature: a low temperature "freezes" rather than suppresses
#
# Chen et al. found that a lower temperature suppresses less. In the linear model the reason is
# visible. Far below $t^* = 1/\log(2N-2)$ the bits drive the loss to nearly zero within tens of
# steps, and every gradient then carries a factor $(1 - e^{-L})/\tau \approx 0$: training
# stops, and the weak group keeps about the weight it started with, neither learned nor erased.
# Above $t^*$ the loss cannot saturate, and the pull of the two views together erases the
# noisier weak group.

# %%
print(f"t* = 1 / log(2N - 2) = {saturation_temperature(N):.3f}")
by_tau = {
    tau: probe[-1, -1, 0],
    **dict(zip(TEMPERATURES, history.probe_resolved[-1, grid:], strict=True)),
}
share_by_tau = {
    tau: weak_share[-1, -1, 0],
    **dict(zip(TEMPERATURES, history.weights[-1, grid:, 1], strict=True)),
}
for t in sorted(by_tau):
    print(
        f"64 bits, no dropout, tau = {t:4.2f}: weak probe R^2 {by_tau[t]:.2f}, "
        f"weak share of W {share_by_tau[t]:.4f}"
    )

# %% [markdown]
# ## What to take away
#
# * An easy feature that is shared *exactly* by both views, here random bits, lets InfoNCE
#   saturate; a weaker feature then stops being learned, even with room to spare in the
#   embedding.
# * Dropping the easy feature in some views (bit dropout) breaks the shortcut and the weak
#   feature is learned again, as Tamkin et al.'s feature-dropout argument predicts.
# * The deep version of this experiment is the `randbits-cpu` preset (`featuredrop train --preset
#   randbits-cpu data.options.k=20 loss.temperature=0.05`) and the `exp_randbits` figure
#   (`featuredrop figures exp_randbits`).
