"""A one-minute walk-through of the linear theory: suppression, the threshold p*, and recovery.

Run:  .venv/bin/python examples/feature_dropout_walkthrough.py [--out walkthrough.png]

1. Two feature groups, the first twice as strong; embedding dimension m equals one group's size.
2. Without dropout the optimal encoder spends all its capacity on the strong group: the weak
   group's probe is at chance (feature suppression).
3. The closed form says at which dropout probability p* the weak group enters; we check it by
   training the encoder with SGD on sampled views on either side of p*.
4. The learning curves show that a weak group is also learned later (suppression in time).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from linear_theory.dynamics import learning_time, sgd_on_views
from linear_theory.model import FeatureGroup, LinearModel
from linear_theory.probes import fit_probe_accuracy, probe_accuracy
from linear_theory.spectral import group_eigenvalues, optimal_encoder, p_star


def model_with(p: float) -> LinearModel:
    return LinearModel(
        groups=(
            FeatureGroup(dim=2, strength=2.0, dropout=p, name="strong"),
            FeatureGroup(dim=2, strength=1.0, dropout=0.0, name="weak"),
        ),
        noise=0.5,
        embed_dim=2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=None, help="optional PNG of probe accuracy against p")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    threshold = float(p_star(2.0, 1.0, 0.5))
    print(f"closed-form threshold p* = {threshold:.3f}")
    print(
        f"{'p':>5} {'lambda_s':>9} {'lambda_w':>9} {'acc_s*':>7} {'acc_w*':>7} "
        f"{'acc_s SGD':>9} {'acc_w SGD':>9}"
    )
    ps = [0.0, threshold - 0.05, threshold + 0.05, 0.5, 0.9]
    rows = []
    for p in ps:
        model = model_with(p)
        lam = [float(g[0]) for g in group_eigenvalues(model)]
        w_star = optimal_encoder(model)
        exact = [probe_accuracy(w_star, model, k) for k in (0, 1)]
        w0 = 1e-2 * rng.standard_normal((model.embed_dim, model.dim))
        w_sgd = sgd_on_views(model, w0, 1500, 0.02, 256, rng, record_every=1500).w[-1]
        sim = [fit_probe_accuracy(w_sgd, model, k, 20000, rng) for k in (0, 1)]
        rows.append((p, *exact, *sim))
        print(
            f"{p:5.2f} {lam[0]:9.3f} {lam[1]:9.3f} {exact[0]:7.3f} {exact[1]:7.3f} "
            f"{sim[0]:9.3f} {sim[1]:9.3f}"
        )

    times = learning_time(model_with(0.0).replace(embed_dim=4), r0=1e-4)
    print(
        f"half-learning times with ample capacity (m=4): strong {times[0]:.2f}, "
        f"weak {times[1]:.2f}  -> the weak group is learned {times[1] / times[0]:.1f}x later"
    )

    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        arr = np.asarray(rows)
        fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
        ax.plot(arr[:, 0], arr[:, 2], "o-", label="weak task, optimum")
        ax.plot(arr[:, 0], arr[:, 4], "x", label="weak task, SGD on views")
        ax.axvline(threshold, ls="--", color="grey", label="$p^*$")
        ax.set_xlabel("dropout on the strong group")
        ax.set_ylabel("probe accuracy")
        ax.legend(frameon=False)
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")
    print(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
