"""The per-parameter split of Foster's gradient penalty (empirical.diagnostics.penalty)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from empirical.data.spirograph import NUISANCE_NAMES, SpirographDataset
from empirical.data.subsets import random_subset
from empirical.diagnostics.penalty import measure_penalty_parts, penalty_record
from empirical.models import build_encoder
from empirical.views.spirograph import SpirographViews


def test_penalty_record_of_a_hand_made_gram() -> None:
    gram = torch.tensor([[6.0, 1.0, 0.0], [1.0, 2.0, -1.0], [0.0, -1.0, 1.0]], dtype=torch.float64)
    rec = penalty_record(gram, torch.ones(3), torch.ones(3), ("h", "fg", "fb"), 8, 4)
    assert rec["total"] == pytest.approx(9.0)
    assert rec["alone"] == {"h": 6.0, "fg": 2.0, "fb": 1.0}
    assert rec["alone_share"]["h"] == pytest.approx(6.0 / 9.0)
    assert rec["attributed"] == {"h": 7.0, "fg": 2.0, "fb": 0.0}
    assert rec["share"]["h"] == pytest.approx(7.0 / 9.0)
    # no-h: the fg/fb block only, 2 + 1 - 2 * 1
    assert rec["restricted"] == {"all": pytest.approx(9.0), "no-h": pytest.approx(1.0)}
    unnamed = penalty_record(gram, torch.ones(3), torch.ones(3), None, 8, 4)
    assert unnamed["names"] == ["alpha0", "alpha1", "alpha2"]
    assert set(unnamed["restricted"]) == {"all"}  # no h column: no-h is not offered


def test_measure_penalty_parts_matches_explicit_jacobians_on_spirograph() -> None:
    torch.manual_seed(0)
    enc = build_encoder("small_resnet", 3, width=4).eval()
    data = SpirographDataset("test", n_train=8, n_test=12)
    views = SpirographViews()
    n, k, seed = 4, 5, 3
    rec = measure_penalty_parts(enc, data, views, NUISANCE_NAMES, n, n, num_samples=k, seed=seed)
    # replay the draws: subset, read, views, alpha'; then J_b by autograd.functional.jacobian
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    batch = data.batch(random_subset(len(data), n, rng), rng)
    pair = views(batch, gen)
    alpha_prime = pair.sample_alpha(k * n, gen).reshape(k, n, 6)
    render = pair.render1

    def h(a: torch.Tensor) -> torch.Tensor:
        return F.normalize(enc(render(a)), dim=1)

    # eval mode: examples do not interact, so d(sum_b h_bd)/d alpha holds row d of every J_b
    a = pair.alpha1.clone().requires_grad_(True)
    out = h(a).sum(0)  # (D,)
    rows = [torch.autograd.grad(out[d], a, retain_graph=True)[0] for d in range(out.shape[0])]
    jac = torch.stack(rows, dim=1).double()  # (B, D, P)
    delta = (alpha_prime - pair.alpha1).double()  # (K, B, P)
    want = torch.einsum("bdp,kbp->kbd", jac, delta).pow(2).sum(-1).mean()
    assert rec["total"] == pytest.approx(float(want), rel=1e-4)
    delta_no_h = delta.clone()
    delta_no_h[..., 0] = 0.0
    want_no_h = torch.einsum("bdp,kbp->kbd", jac, delta_no_h).pow(2).sum(-1).mean()
    assert rec["restricted"]["no-h"] == pytest.approx(float(want_no_h), rel=1e-4)
    assert rec["names"] == list(NUISANCE_NAMES)
    assert math.fsum(rec["share"].values()) == pytest.approx(1.0)
    assert rec["jacobian_sq"]["h"] == pytest.approx(
        float(jac[..., 0].pow(2).sum(1).mean()), rel=1e-4
    )


def test_invariance_diagnostic_records_the_penalty_split(tmp_path: Path) -> None:
    from empirical.config import Config, apply_overrides
    from empirical.diagnostics.diagnose import DiagnosticOptions, diagnose
    from empirical.train import train

    cfg = apply_overrides(
        Config(),
        [
            "data.suite=spirograph",
            "data.options.n_train=32",
            "data.options.n_test=16",
            "data.knn_bank=0",
            "data.knn_test=0",
            "model.encoder=convnet",
            "model.width=4",
            "model.head_hidden=16",
            "model.out_dim=8",
            "views.name=spirograph",
            "regulariser.weight=0.1",
            "regulariser.nuisance=no-h",
            "regulariser.num_samples=2",
            "optim.batch_size=16",
            "optim.epochs=1",
            "run.device=cpu",
            "run.knn_every=0",
        ],
    )
    assert train(cfg, tmp_path)["status"] == "completed"
    opts = DiagnosticOptions(num_inputs=8, num_copies=2, num_train=16, batch_size=8)
    _, rec = diagnose(tmp_path, "invariance", opts)
    pen = rec["metrics"]["penalty"]
    assert pen["names"] == list(NUISANCE_NAMES) and pen["num_inputs"] == 8
    assert pen["total"] > pen["restricted"]["no-h"] > 0
    assert math.fsum(pen["share"].values()) == pytest.approx(1.0)
