"""Where Foster et al.'s gradient penalty comes from: its split among the view parameters alpha.

For test inputs under the run's views (first view ``alpha1``, ``K`` fresh draws ``alpha'``), the
expected first-order penalty ``mean_{k,b} ||J_b (alpha'_kb - alpha1_b)||^2`` of the frozen
encoder's pooled representation (the one the training penalty differentiates; normalised) is split
among the parameters with exact Jacobian columns (``empirical.regulariser.penalty_decomposition``):

- ``alone[j]``: the penalty if only parameter j were differentiated; ``alone_share`` = its
  fraction of the sum of ``alone``;
- ``attributed[j]``: an exact split of the total (cross terms shared equally); ``share`` = its
  fraction of the total;
- ``jacobian_sq[j]`` = ``mean_b ||dh_b/dalpha_bj||^2`` and ``delta_sq[j]`` = ``mean (alpha'_j -
  alpha1_j)^2``: the two factors of ``alone[j]`` (roughly, their product): how fast the
  representation moves per unit of j, and how far the draws move j;
- ``restricted``: the total with only some columns differentiated, for each
  ``regulariser.nuisance`` choice the views allow (e.g. ``no-h`` on Spirograph).

The encoder is in eval mode (BatchNorm uses its running statistics), so each example's Jacobian
is its own; the training penalty, with BatchNorm in training mode, also has cross-example terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.data.base import MultiTaskDataset
from empirical.data.subsets import random_subset
from empirical.features import eval_mode, module_device, read_batches
from empirical.regulariser import NUISANCE_CHOICES, differentiated, penalty_decomposition
from empirical.views.base import ViewGenerator

DEFAULT_SAMPLES = 100  # K fresh alpha' per input, as in the paper


def measure_penalty_parts(
    encoder: nn.Module,
    dataset: MultiTaskDataset,
    views: ViewGenerator,
    names: Sequence[str] | None = None,
    num_inputs: int = 256,
    batch_size: int = 64,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The per-parameter decomposition of the expected penalty over ``num_inputs`` random
    examples of ``dataset`` (see the module docstring). ``names`` label alpha's columns
    (default ``alpha0, alpha1, ...``).

    Raises:
        ValueError: views without differentiable parameters (``render1`` / ``sample_alpha``).
    """
    if num_inputs < 1 or batch_size < 1 or num_samples < 1:
        raise ValueError(
            "num_inputs, batch_size and num_samples must be >= 1; got "
            f"{num_inputs}, {batch_size}, {num_samples}"
        )
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    device = module_device(encoder)
    idx = random_subset(len(dataset), num_inputs, rng)
    gram: torch.Tensor | None = None
    jac_sq: torch.Tensor | None = None
    delta_sq: torch.Tensor | None = None
    n = 0
    with torch.enable_grad(), eval_mode(encoder, views):
        for batch in read_batches(dataset, idx, batch_size, rng):
            batch = batch.to(device)
            pair = views(batch, gen)
            if pair.render1 is None or pair.alpha1 is None or pair.sample_alpha is None:
                raise ValueError("the penalty decomposition needs views with alpha (spirograph)")
            b = pair.alpha1.shape[0]
            drawn = pair.sample_alpha(num_samples * b, gen).to(pair.alpha1)
            alpha_prime = drawn.reshape(num_samples, *pair.alpha1.shape)
            parts = penalty_decomposition(encoder, pair.render1, pair.alpha1, alpha_prime)
            w = float(b)
            gram = parts.gram * w if gram is None else gram + parts.gram * w
            jac_sq = parts.jacobian_sq * w if jac_sq is None else jac_sq + parts.jacobian_sq * w
            delta_sq = parts.delta_sq * w if delta_sq is None else delta_sq + parts.delta_sq * w
            n += b
    assert gram is not None and jac_sq is not None and delta_sq is not None
    return penalty_record(gram / n, jac_sq / n, delta_sq / n, names, n, num_samples)


def penalty_record(
    gram: torch.Tensor,
    jacobian_sq: torch.Tensor,
    delta_sq: torch.Tensor,
    names: Sequence[str] | None,
    num_inputs: int,
    num_samples: int,
) -> dict[str, Any]:
    """The JSON record of a decomposition: per-parameter values keyed by name (see the module
    docstring), the total and the restricted totals."""
    p = gram.shape[0]
    labels = (
        list(names) if names is not None and len(names) == p else [f"alpha{j}" for j in range(p)]
    )
    total = float(gram.sum())
    alone = torch.diagonal(gram)
    attributed = gram.sum(dim=1)
    alone_sum = float(alone.sum())
    restricted: dict[str, float] = {}
    for choice in NUISANCE_CHOICES:
        try:
            flags = differentiated(choice, labels, p)
        except ValueError:
            continue  # a choice these views do not allow
        m = torch.tensor([float(f) for f in flags], dtype=gram.dtype)
        restricted[choice] = float(m @ gram @ m)

    def per(values: torch.Tensor) -> dict[str, float]:
        return {name: float(v) for name, v in zip(labels, values, strict=True)}

    return {
        "names": labels,
        "total": total,
        "alone": per(alone),
        "alone_share": per(alone / alone_sum if alone_sum > 0 else torch.zeros_like(alone)),
        "attributed": per(attributed),
        "share": per(attributed / total if total > 0 else torch.zeros_like(attributed)),
        "jacobian_sq": per(jacobian_sq),
        "delta_sq": per(delta_sq),
        "restricted": restricted,
        "num_inputs": num_inputs,
        "num_samples": num_samples,
        "layer": "pooled",
    }
