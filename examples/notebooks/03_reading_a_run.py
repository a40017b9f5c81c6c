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
# # Reading a deep run: train, learning curves, probes, views
#
# The linear notebooks solve the theory exactly. Deep networks cannot be solved; they are
# trained, and what they learned is read off afterwards. This notebook walks through one
# complete, deliberately tiny run of the project's training loop, the same loop every
# experiment uses, and reads it the way the figures do:
#
# 1. a **config** says what to train (data, views, encoder, loss, optimiser);
# 2. the loop writes a **run directory**: the resolved config, a line of metrics per step and
#    per epoch, a checkpoint and a summary;
# 3. the **learning curves** come from `metrics.jsonl`;
# 4. **linear probes** on the frozen encoder measure what it learned, per downstream task,
#    beside the same encoder *untrained*;
# 5. a **view gallery** shows what the augmentations do to the inputs.
#
# Training takes about half a minute on a laptop CPU; it is far too short to reproduce a paper,
# which is not the point here.

# %%
import contextlib
import io
import json
import shutil
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from empirical.config import Config, apply_overrides
from empirical.data.registry import build_suite
from empirical.diagnostics.diagnose import main as diagnostics_main
from empirical.evaluate import EvalOptions, evaluate
from empirical.train import train

# %% [markdown]
# ## The data: two tasks in one image
#
# The Feature Dropout paper builds datasets with two downstream tasks in every image: a
# background class and an *overlay* drawn on top. Here the background is a Fashion-MNIST item
# (10 classes) and the overlay a handwritten digit (10 classes) pasted in a 2 x 2 grid. The
# overlay is the easy feature: bright, sharp, drawn once per image and shared by both of its
# views.
#
# Fashion-MNIST comes from Debian's `dataset-fashion-mnist` (`make data-deps` installs it);
# without it the notebook falls back to natural-photo backgrounds.

# %%
SUITE = "overlay-digits-on-fashion"
try:
    test_set = build_suite(SUITE, "test")
except FileNotFoundError as err:
    print(f"{err}\n-> using natural-photo backgrounds instead")
    SUITE = "overlay-digits-on-natural"
    test_set = build_suite(SUITE, "test")
print(SUITE, "tasks:", [(t.name, t.num_classes) for t in test_set.tasks])

# %% [markdown]
# ## The views: oracle feature dropout
#
# Contrastive learning needs two views of each image. This run uses **oracle feature-dropout
# views**: each view independently *removes the overlay* with probability $p = 0.5$ (the data
# suites know each image without its overlay, so the removal is exact). The overlay no longer
# matches reliably across views, so the encoder cannot win by matching digits alone. Below:
# the images, and the same images with the overlay dropped.

# %%
batch = test_set.batch(np.arange(6), np.random.default_rng(0))
fig, axes = plt.subplots(2, 6, figsize=(9, 3.2), layout="constrained")
for i in range(6):
    for row, (x, title) in enumerate(((batch.x, "with overlay"), (batch.x_clean, "dropped"))):
        axes[row, i].imshow(x[i].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[row, i].set_axis_off()
        axes[row, i].set_title(
            f"digit {int(batch.labels['digit'][i])}" if row == 0 else title, fontsize=8
        )
plt.show()

# %% [markdown]
# ## The config
#
# A run is a typed config: defaults plus `section.key=value` overrides, exactly the strings
# the command line takes (`featuredrop train section.key=value ...`). A misspelt key or a value
# out of range is an error that names the key. This one is tiny: 512 training images, a small
# ResNet of width 8, 8 epochs of batches of 64.

# %%
OVERRIDES = [
    f"data.suite={SUITE}",
    "data.train_size=512",  # a seeded random subset of the training split
    "data.knn_bank=512",  # the kNN monitor: a memory bank of training images ...
    "data.knn_test=256",  # ... and held-out test images, classified after every epoch
    "model.encoder=small_resnet",
    "model.width=8",
    "model.head_hidden=32",
    "model.out_dim=16",
    "views.name=oracle",
    "views.p=0.5",
    "optim.batch_size=64",
    "optim.epochs=8",
    "optim.optimizer=adam",
    "optim.lr=0.003",
    "loss.temperature=0.2",
    "run.knn_every=1",
    "run.log_every=1000",  # one progress line per epoch, not per step
    "run.threads=1",  # tiny model: one thread is fastest, and leaves the other cores free
    "run.seed=0",
]
cfg = apply_overrides(Config(), OVERRIDES)
resolved = cfg.to_dict()  # every key, defaults included: what config.json will hold
print({section: len(keys) for section, keys in resolved.items()}, "keys per section")
print("views:", resolved["views"]["name"], "p =", resolved["views"]["p"])

# %% [markdown]
# ## Train
#
# `train(cfg, run_dir)` is what `featuredrop train` calls. A second run with learning rate 0
# and a single step is the **untrained twin**: the same architecture with the same seeded
# initial weights (only BatchNorm's running statistics take that one step). Random
# convolutional features are a strong baseline on images, so a trained number means little
# without the untrained one beside it.

# %%
RUN_DIR, UNTRAINED_DIR = Path("runs/notebook-oracle"), Path("runs/notebook-untrained")
for run_dir in (RUN_DIR, UNTRAINED_DIR):
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time the notebook runs
t0 = time.perf_counter()
summary = train(cfg, RUN_DIR)
train_seconds = time.perf_counter() - t0
train(apply_overrides(cfg, ["optim.lr=0", "optim.max_steps=1"]), UNTRAINED_DIR)
print(
    f"{summary['status']}: {summary['global_step']} steps in {train_seconds:.1f} s, "
    f"final loss {summary['final_loss']:.3f}"
)
print("run directory:", sorted(p.name for p in RUN_DIR.iterdir()))

# %% [markdown]
# ## Learning curves from `metrics.jsonl`
#
# One JSON object per line: `"type": "step"` lines hold the loss and learning rate of each
# step, `"type": "epoch"` lines the epoch's mean loss, its throughput and the kNN monitor's
# accuracy per task. The kNN monitor is cheap and noisy; it tells you whether a task is moving,
# not how well a trained probe would read it.

# %%
records = [json.loads(line) for line in (RUN_DIR / "metrics.jsonl").read_text().splitlines()]
steps = [r for r in records if r["type"] == "step"]
epochs = [r for r in records if r["type"] == "epoch"]
tasks = [t.name for t in test_set.tasks]
fig, (ax_loss, ax_knn) = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
ax_loss.plot([r["global_step"] for r in steps], [r["loss"] for r in steps], lw=1, label="step")
ax_loss.plot(
    [r["global_step"] for r in epochs], [r["loss"] for r in epochs], "o-", label="epoch mean"
)
ax_loss.set_xlabel("training step")
ax_loss.set_ylabel("contrastive loss (NT-Xent)")
ax_loss.legend(frameon=False)
monitored = [r for r in epochs if r["knn"]]  # epochs the monitor skipped record {}
for task in tasks:
    ax_knn.plot(
        [r["epoch"] + 1 for r in monitored], [r["knn"][task] for r in monitored], "o-", label=task
    )
ax_knn.set_xlabel("epoch")
ax_knn.set_ylabel("kNN accuracy (test images)")
ax_knn.legend(frameon=False)
plt.show()

# %% [markdown]
# ## Probe the frozen encoder
#
# The standard measure of a contrastive representation: freeze the encoder, extract features
# of labelled images, and fit a linear classifier per task (`featuredrop evaluate RUN_DIR`).
# The evaluation checks that the encoder's weights did not move and writes its record, with
# the config and a hash of the weights, to `RUN_DIR/eval/`.

# %%
options = EvalOptions(n_train=512, n_test=512, seed=0)
probes = {}
for label, run_dir in (("trained", RUN_DIR), ("untrained", UNTRAINED_DIR)):
    path, record = evaluate(run_dir, "probe", options)
    probes[label] = record["metrics"]
    print(f"{label}: wrote {path}")
for task in tasks:
    trained, untrained = (probes[k][task]["accuracy"] for k in ("trained", "untrained"))
    verdict = "above" if trained > untrained else "not above"
    print(
        f"{task:>10}: trained {trained:.3f}, untrained {untrained:.3f}, chance "
        f"{probes['trained'][task]['chance']:.2f}: {trained - untrained:+.3f}, {verdict} the "
        "untrained encoder (one seed)"
    )

# %%
fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained")
x = np.arange(len(tasks))
for k, label in enumerate(("untrained", "trained")):
    acc = [probes[label][t]["accuracy"] for t in tasks]
    ax.bar(x + 0.38 * (k - 0.5), acc, width=0.36, label=f"{label} encoder")
ax.scatter(
    x, [probes["trained"][t]["chance"] for t in tasks], marker="_", s=600, c="k", label="chance"
)
ax.set_xticks(x, tasks)
ax.set_ylabel("linear probe accuracy (test)")
ax.set_ylim(0, 1)
ax.legend(frameon=False, loc="upper right")
plt.show()

# %% [markdown]
# How to read it: dropping the overlay in half of the views makes the digit an unreliable
# match, so the encoder has less reason to keep it and more reason to learn the background;
# the theory predicts exactly this trade (see `01_linear_theory.py`: above $p^*$ the weak group
# takes the strong one's place). With one seed and a run this short the differences are small
# and noisy; the figures (`featuredrop figures list`) run several seeds at a scale where
# training clearly beats the untrained encoder, and report intervals.

# %% [markdown]
# ## The view gallery
#
# `featuredrop diagnose RUN_DIR --what gallery` draws, for a few test inputs, the views the
# project can make: a viewmaker network's (the run's own when it trained one; untrained
# otherwise, as here) with its perturbation, and the expert SimCLR augmentations (crops,
# colour jitter, grayscale, blur, flips). The PNG and a JSON record go to `RUN_DIR/eval/`.

# %%
with contextlib.redirect_stdout(io.StringIO()) as log:  # it prints its whole JSON record
    status = diagnostics_main([str(RUN_DIR), "--what", "gallery", "--num-copies", "4"])
assert status == 0, f"the gallery diagnostic exited with status {status}:\n{log.getvalue()}"
print(log.getvalue().splitlines()[0])
display(Image(filename=str(RUN_DIR / "eval" / "diagnostics-gallery.png"), width=900))

# %% [markdown]
# ## From here
#
# * The same steps on the command line: `featuredrop train --preset NAME --out runs/x`,
#   `featuredrop evaluate runs/x`, `featuredrop diagnose runs/x --what dropout-rate`,
#   `featuredrop report runs/x-s0 runs/x-s1` (mean and sd over seeds).
# * `featuredrop train --list` lists the presets of every experiment, `--keys` every config key
#   with its range.
# * `docs/evaluation.md` describes each evaluation and diagnostic.
