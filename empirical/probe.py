"""The one linear probe of the project: a linear map trained on standardised frozen features.

Linear evaluation as in SimCLR, the Viewmaker and Feature Dropout papers (Tamkin et al. 2021/2023)
and Foster et al. (2021), with full-batch solvers instead of SGD epochs (a design of this project:
deterministic and fast at CPU scale):

- classification: multinomial logistic regression, minimising
  ``mean_i CE(W^T z_i + b, y_i) + (lambda / 2) ||W||_F^2`` by full-batch L-BFGS (strong Wolfe line
  search) from zero; reports accuracy, the chance level ``1 / K`` and the majority-class rate;
- regression: ridge regression, ``mean_i ||W^T z_i + b - y_i||^2 + lambda ||W||_F^2`` in
  closed form (Cholesky of the primal ``D x D`` or the dual ``N x N`` Gram matrix, whichever is
  smaller); reports MSE and ``R^2 = 1 - SSE / SST`` per target dimension and their means.

Features are standardised with the training set's mean and standard deviation (``z``; scales
floored at 1% of the RMS feature scale, see :class:`Standardiser`). The weight
decay ``lambda`` is either given or chosen on a seeded validation split of the training set
(best validation accuracy, ties broken by validation loss; best validation MSE for regression),
after which the probe is refitted on the whole training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from empirical.data.base import TaskSpec

LOGISTIC_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
RIDGE_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
REL_STD_FLOOR = 1e-2  # scales are at least 1% of the RMS feature std (see Standardiser)


@dataclass(frozen=True)
class Standardiser:
    """``z = (x - mean) / scale``; ``mean``, ``scale`` ``(D,)`` from the training features.

    ``scale = max(std, 0.01 * rms)`` with ``rms = sqrt(mean_j std_j^2)`` the typical feature
    scale (all-constant features: scale 1). The floor keeps nearly dead features (a ReLU unit
    active on a handful of training examples) from being blown up by orders of magnitude on
    test inputs; features above it are exactly standardised, so the probe is invariant to
    per-feature affine maps ``x -> a x + c`` (``a > 0``) as long as no feature falls below it.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardiser:
        """From training features ``x`` ``(N, D)``."""
        mean = x.mean(dim=0)
        std = x.std(dim=0, unbiased=False)
        floor = REL_STD_FLOOR * float(std.square().mean().sqrt())
        if floor == 0.0:
            return cls(mean, torch.ones_like(std))
        return cls(mean, std.clamp_min(floor))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe for one task.

    Attributes:
        task: the task.
        standardiser: applied to raw features first.
        weight: ``(D, K)`` with ``K = num_classes`` (classification) or ``dim`` (regression).
        bias: ``(K,)``.
        weight_decay: the lambda used.
        validation: validation metric of each lambda tried (empty when lambda was given).
    """

    task: TaskSpec
    standardiser: Standardiser
    weight: torch.Tensor
    bias: torch.Tensor
    weight_decay: float
    validation: dict[float, float]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features ``(N, D)`` -> logits ``(N, num_classes)`` or predictions ``(N, dim)``."""
        z = self.standardiser(x.to(self.weight.device, self.weight.dtype))
        return z @ self.weight + self.bias  # (N, D) @ (D, K) -> (N, K)

    def score(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float | list[float]]:
        """Metrics on features ``x`` ``(N, D)`` with labels ``y`` (see :func:`task_metrics`)."""
        return task_metrics(self.task, self.predict(x), y.to(self.weight.device))


def task_metrics(
    task: TaskSpec, out: torch.Tensor, y: torch.Tensor
) -> dict[str, float | list[float]]:
    """Classification (``out`` logits ``(N, K)``, ``y`` ``(N,)``): ``accuracy``, ``loss`` (mean
    cross-entropy), ``chance`` (1/K), ``majority`` (frequency of the most common label).
    Regression (``out``, ``y`` ``(N, dim)``): ``mse`` and ``r2`` (means over dimensions),
    ``mse_per_dim``, ``r2_per_dim`` with ``R^2_j = 1 - SSE_j / SST_j`` (SST about the mean of
    ``y``), and ``chance`` 0 (the R^2 of predicting the mean)."""
    n = int(y.shape[0])
    if n == 0:
        raise ValueError("cannot score a probe on 0 examples")
    if task.kind == "classification":
        y = y.long()
        counts = torch.bincount(y, minlength=task.num_classes)
        return {
            "accuracy": float((out.argmax(dim=1) == y).double().mean()),
            "loss": float(F.cross_entropy(out.double(), y)),
            "chance": task.chance,
            "majority": float(counts.max()) / n,
            "n": n,
        }
    y = y.reshape(n, -1).to(out.dtype)
    out = out.reshape(n, -1)
    sse = ((out - y) ** 2).sum(dim=0).double()  # (dim,)
    sst = ((y - y.mean(dim=0)) ** 2).sum(dim=0).double()  # (dim,)
    r2 = 1.0 - sse / sst.clamp_min(torch.finfo(torch.float64).tiny)
    mse = sse / n
    return {
        "mse": float(mse.mean()),
        "r2": float(r2.mean()),
        "mse_per_dim": [float(v) for v in mse],
        "r2_per_dim": [float(v) for v in r2],
        "chance": 0.0,
        "n": n,
    }


# ---------------------------------------------------------------------------------------------
# solvers
# ---------------------------------------------------------------------------------------------


def fit_logistic(
    z: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    weight_decay: float,
    max_iter: int = 200,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression by full-batch L-BFGS (deterministic).

    Minimises ``mean_i CE(z_i W + b, y_i) + (weight_decay / 2) ||W||_F^2`` (bias unpenalised).

    Args:
        z: standardised features ``(N, D)``.
        y: labels ``(N,)`` in ``[0, num_classes)``.
        init: warm start ``(W (D, K), b (K,))``; default zeros.

    Returns:
        ``W`` ``(D, K)`` and ``b`` ``(K,)``.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay}")
    d = z.shape[1]
    if init is None:
        w = torch.zeros(d, num_classes, dtype=z.dtype, device=z.device)
        b = torch.zeros(num_classes, dtype=z.dtype, device=z.device)
    else:
        w, b = init[0].clone(), init[1].clone()
    w.requires_grad_(True)
    b.requires_grad_(True)
    onehot = F.one_hot(y.long(), num_classes).to(z.dtype)  # (N, K)
    n = z.shape[0]
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=1e-6,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        # loss and its gradient written out: dL/dlogits = (softmax - onehot) / N; the weight
        # gradient as (G^T Z)^T, much faster on the CPU than Z^T G for few classes
        logits = z @ w + b  # (N, D) @ (D, K) -> (N, K)
        logp = torch.log_softmax(logits, dim=1)  # (N, K)
        loss = -(onehot * logp).sum() / n + 0.5 * weight_decay * (w * w).sum()
        g = (logp.exp() - onehot) / n  # (N, K)
        gw = (g.T.contiguous() @ z).T  # ((K, N) @ (N, D))^T -> (D, K)
        w.grad = (gw + weight_decay * w).contiguous()
        b.grad = g.sum(dim=0)
        return loss

    with torch.no_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def fit_ridge(
    z: torch.Tensor, y: torch.Tensor, weight_decays: Sequence[float]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Ridge regression in closed form for each lambda in ``weight_decays`` (one Gram matrix).

    Minimises ``(1/N) ||Z_c W - Y_c||^2 + lambda ||W||^2`` over centred ``Z_c``, ``Y_c``, so
    ``W = (Z_c^T Z_c / N + lambda I)^{-1} Z_c^T Y_c / N`` (primal, when D <= N) or
    ``W = Z_c^T (Z_c Z_c^T / N + lambda I)^{-1} Y_c / N`` (dual, the same matrix when D > N);
    ``b = mean(Y) - mean(Z) W``. Lambda 0 gives the minimum-norm least-squares solution.

    Args:
        z: features ``(N, D)``; y: targets ``(N, K)``.

    Returns:
        ``[(W (D, K), b (K,)), ...]`` in float64, one per lambda.
    """
    if any(lam < 0 for lam in weight_decays):
        raise ValueError(f"weight_decays must be >= 0; got {list(weight_decays)}")
    z64, y64 = z.double(), y.double().reshape(z.shape[0], -1)
    n, d = z64.shape
    zm, ym = z64.mean(dim=0), y64.mean(dim=0)
    zc, yc = z64 - zm, y64 - ym
    dual = d > n
    gram = (zc @ zc.T if dual else zc.T @ zc) / n  # (N, N) or (D, D)
    rhs = yc / n if dual else zc.T @ yc / n  # (N, K) or (D, K)
    out = []
    for lam in weight_decays:
        if lam > 0:
            eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
            chol = torch.linalg.cholesky(gram + lam * eye)
            sol = torch.cholesky_solve(rhs, chol)
        else:
            sol = torch.linalg.pinv(gram, hermitian=True) @ rhs  # (M, M) @ (M, K)
        w = zc.T @ sol if dual else sol  # (D, N) @ (N, K) -> (D, K)
        out.append((w, ym - zm @ w))
    return out


# ---------------------------------------------------------------------------------------------
# fitting with weight-decay selection
# ---------------------------------------------------------------------------------------------


def _val_key(task: TaskSpec, m: dict[str, float | list[float]]) -> tuple[float, float]:
    """Sort key: larger is better."""
    if task.kind == "classification":
        return (float(m["accuracy"]), -float(m["loss"]))  # type: ignore[arg-type]
    return (-float(m["mse"]), 0.0)  # type: ignore[arg-type]


def split_indices(
    n: int, val_fraction: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded train/validation split of ``range(n)``: ``(fit, val)`` index tensors."""
    n_val = round(val_fraction * n)
    if not 0 < n_val < n:
        raise ValueError(
            f"val_fraction {val_fraction} leaves no validation or no fitting examples of {n}"
        )
    perm = torch.from_numpy(rng.permutation(n))
    return perm[n_val:], perm[:n_val]


def _fit(
    task: TaskSpec,
    z: torch.Tensor,
    y: torch.Tensor,
    weight_decays: Sequence[float],
    max_iter: int,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fits for each lambda (logistic: each warm-started from the previous fit, or ``init``)."""
    if task.kind == "regression":
        return [(w.to(z.dtype), b.to(z.dtype)) for w, b in fit_ridge(z, y, weight_decays)]
    fits: list[tuple[torch.Tensor, torch.Tensor]] = []
    for lam in weight_decays:
        init = fit_logistic(z, y, task.num_classes, lam, max_iter, init)
        fits.append(init)
    return fits


def fit_probe(
    task: TaskSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float | None = None,
    grid: Sequence[float] | None = None,
    val_fraction: float = 0.2,
    rng: np.random.Generator | None = None,
    max_iter: int = 100,
    device: str | torch.device | None = None,
) -> LinearProbe:
    """Fit the linear probe of ``task`` on raw training features ``x`` ``(N, D)``.

    Args:
        task: the task (its ``kind`` picks logistic or ridge regression).
        y: labels ``(N,)`` (classification) or targets ``(N, dim)`` (regression).
        weight_decay: lambda; ``None`` selects it from ``grid`` on a validation split.
        grid: lambdas to try (default :data:`LOGISTIC_GRID` or :data:`RIDGE_GRID`).
        val_fraction: share of the training examples held out for the selection, in (0, 1).
        rng: seeds the validation split (default ``default_rng(0)``).
        max_iter: L-BFGS iterations of the final fit; each selection fit gets half of them,
            warm-started from the previous (stronger) lambda, and the final fit starts from the
            selected one (held-out accuracy is stable to about 0.5% after 30 iterations on the
            default CPU preset's 2048-d pre-pool features).
        device: where to fit (default: the features' device).
    """
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (N, D) with N = len(y); got {tuple(x.shape)}, {len(y)}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1); got {val_fraction}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1; got {max_iter}")
    dev = torch.device(device) if device is not None else x.device
    x = x.to(dev, torch.float32)
    y = y.to(dev)
    if task.kind == "regression":
        y = y.reshape(len(y), -1).float()
    validation: dict[float, float] = {}
    init: tuple[torch.Tensor, torch.Tensor] | None = None
    if weight_decay is None:
        lams = sorted(grid or (LOGISTIC_GRID if task.kind == "classification" else RIDGE_GRID))
        lams = lams[::-1]  # strongest first: warm starts move towards weaker regularisation
        fit_idx, val_idx = split_indices(len(y), val_fraction, rng or np.random.default_rng(0))
        fit_idx, val_idx = fit_idx.to(dev), val_idx.to(dev)
        std = Standardiser.fit(x[fit_idx])
        fits = _fit(task, std(x[fit_idx]), y[fit_idx], lams, max(1, max_iter // 2))
        best, best_key = lams[0], (-float("inf"), -float("inf"))
        for lam, (w, b) in zip(lams, fits, strict=True):
            m = task_metrics(task, std(x[val_idx]) @ w + b, y[val_idx])  # (Nv, D) @ (D, K)
            key = _val_key(task, m)
            validation[lam] = float(m["accuracy" if task.kind == "classification" else "mse"])  # type: ignore[arg-type]
            if key > best_key:
                best, best_key, init = lam, key, (w, b)
        weight_decay = best
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0; got {weight_decay}")
    std = Standardiser.fit(x)
    (w, b), *_ = _fit(task, std(x), y, [weight_decay], max_iter, init)
    return LinearProbe(task, std, w, b, float(weight_decay), validation)


def probe_task(
    task: TaskSpec,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    **kw: object,
) -> tuple[LinearProbe, dict[str, float | list[float]]]:
    """Fit on ``(train_x, train_y)`` (``kw`` as :func:`fit_probe`) and score on the test set.

    Returns the probe and its test metrics plus ``weight_decay``, ``train_accuracy`` /
    ``train_r2`` and ``n_train``.
    """
    probe = fit_probe(task, train_x, train_y, **kw)  # type: ignore[arg-type]
    metrics = probe.score(test_x, test_y)
    train = probe.score(train_x, train_y)
    key = "accuracy" if task.kind == "classification" else "r2"
    metrics = {
        **metrics,
        f"train_{key}": train[key],
        "n_train": int(train_x.shape[0]),
        "weight_decay": probe.weight_decay,
    }
    return probe, metrics
