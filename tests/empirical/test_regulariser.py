"""Foster's gradient regulariser (empirical.regulariser) against explicit Jacobians."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from empirical.models import build_encoder
from empirical.regulariser import (
    differentiated,
    gradient_penalty,
    penalty_decomposition,
    projected_penalty,
    rademacher,
)

B, P, D, K = 2, 2, 3, 4
DT = torch.float64


def setup(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, D)).to(DT)
    x0 = torch.randn(B, 3, dtype=DT)
    alpha1 = torch.rand(B, P, dtype=DT) + 0.5
    alpha_prime = torch.rand(K, B, P, dtype=DT) + 0.5
    return enc, x0, alpha1, alpha_prime


def render_with(x0: torch.Tensor):  # alpha (B, P) -> view (B, 3), nonlinear in alpha
    def render(alpha: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x0 * alpha[..., :1] + x0.pow(2) * alpha[..., 1:2])

    return render


def jacobians(enc: nn.Module, x0: torch.Tensor, alpha1: torch.Tensor, create_graph: bool = False):
    """Per-example J_b = d normalize(h(alpha_b)) / d alpha_b, (D, P), by autograd.functional."""
    out = []
    for b in range(B):
        render = render_with(x0[b])

        def h(a: torch.Tensor, render=render) -> torch.Tensor:
            return F.normalize(enc(render(a)), dim=0)

        out.append(jacobian(h, alpha1[b], create_graph=create_graph))
    return out


def explicit(js, v, alpha1, alpha_prime) -> torch.Tensor:
    """mean_{k,b} (v_b^T J_b (alpha'_kb - alpha1_b))^2, straight from the definition."""
    terms = [
        (v[b] @ js[b] @ (alpha_prime[k, b] - alpha1[b])) ** 2 for k in range(K) for b in range(B)
    ]
    return torch.stack(terms).mean()


def test_fixed_v_equals_explicit_jacobian_formula() -> None:
    enc, x0, alpha1, alpha_prime = setup()
    v = torch.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]], dtype=DT)
    gp = projected_penalty(enc, render_with(x0), alpha1, alpha_prime, v)
    want = explicit(jacobians(enc, x0, alpha1), v, alpha1, alpha_prime)
    assert gp.item() > 0
    torch.testing.assert_close(gp, want)


def test_expectation_over_all_rademacher_vectors_is_jacobian_norm() -> None:
    # E_v (v^T J d)^2 = ||J d||^2 since E[v v^T] = I: enumerate all 2^(B*D) sign vectors
    enc, x0, alpha1, alpha_prime = setup(1)
    render = render_with(x0)
    values = [
        projected_penalty(enc, render, alpha1, alpha_prime, torch.tensor(s, dtype=DT).view(B, D))
        for s in itertools.product([-1.0, 1.0], repeat=B * D)
    ]
    js = jacobians(enc, x0, alpha1)
    norms = [
        (js[b] @ (alpha_prime[k, b] - alpha1[b])).pow(2).sum() for k in range(K) for b in range(B)
    ]
    torch.testing.assert_close(torch.stack(values).mean(), torch.stack(norms).mean())
    assert torch.stack(values).std() > 0  # a single v really is a noisy estimate


def test_penalty_gradient_wrt_encoder_matches_explicit_formula() -> None:
    enc, x0, alpha1, alpha_prime = setup(2)
    v = rademacher((B, D), torch.Generator().manual_seed(0)).to(DT)
    gp = projected_penalty(enc, render_with(x0), alpha1, alpha_prime, v)
    got = torch.autograd.grad(gp, list(enc.parameters()))
    want_value = explicit(jacobians(enc, x0, alpha1, create_graph=True), v, alpha1, alpha_prime)
    want = torch.autograd.grad(want_value, list(enc.parameters()))
    for g, w in zip(got, want, strict=True):
        assert g.abs().sum() > 0
        torch.testing.assert_close(g, w)


def test_gradient_penalty_replays_its_draws() -> None:
    enc, x0, alpha1, _ = setup(3)

    def sample_alpha(n: int, g: torch.Generator) -> torch.Tensor:
        return (0.5 + torch.rand(n, P, generator=g)).to(DT)

    gp = gradient_penalty(
        enc, render_with(x0), alpha1, sample_alpha, num_samples=K, cap=math.inf,
        generator=torch.Generator().manual_seed(5),
    )  # fmt: skip
    g = torch.Generator().manual_seed(5)
    alpha_prime = sample_alpha(K * B, g).view(K, B, P)  # row k * B + b -> (k, b)
    v = rademacher((B, D), g).to(DT)
    torch.testing.assert_close(gp, explicit(jacobians(enc, x0, alpha1), v, alpha1, alpha_prime))
    assert set(v.unique().tolist()) <= {-1.0, 1.0}


def test_cap_limits_value_and_stops_gradient() -> None:
    enc, x0, alpha1, alpha_prime = setup(4)
    v = torch.ones(B, D, dtype=DT)
    full = projected_penalty(enc, render_with(x0), alpha1, alpha_prime, v)
    cap = 0.5 * full.item()
    capped = projected_penalty(enc, render_with(x0), alpha1, alpha_prime, v, cap=cap)
    assert capped.item() == pytest.approx(cap)
    grads = torch.autograd.grad(capped, list(enc.parameters()))
    assert all(torch.count_nonzero(g) == 0 for g in grads)


def test_invariant_encoder_gets_no_penalty() -> None:
    # brightness alpha scales the input; a bias-free ReLU net is positively homogeneous, so the
    # normalised representation does not move (J = 0); with biases it does.
    torch.manual_seed(6)
    x0 = torch.rand(B, 5, dtype=DT)

    def brightness(alpha: torch.Tensor) -> torch.Tensor:
        return x0 * alpha

    alpha1 = torch.rand(B, 1, dtype=DT) + 0.6
    alpha_prime = torch.rand(K, B, 1, dtype=DT) + 0.6
    v = torch.ones(B, 4, dtype=DT)
    for bias, zero in ((False, True), (True, False)):
        enc = nn.Sequential(nn.Linear(5, 6, bias=bias), nn.ReLU(), nn.Linear(6, 4, bias=bias))
        gp = projected_penalty(enc.to(DT), brightness, alpha1, alpha_prime, v).item()
        assert (gp < 1e-20) == zero


def test_alpha_free_view_gives_zero() -> None:
    enc, x0, alpha1, alpha_prime = setup(7)
    gp = projected_penalty(enc, lambda a: x0, alpha1, alpha_prime, torch.ones(B, D, dtype=DT))
    assert gp.item() == 0.0


def test_end_to_end_small_resnet_colour_transform() -> None:
    torch.manual_seed(8)
    enc = build_encoder("small_resnet", 3, width=8)
    x = torch.rand(4, 3, 16, 16)

    def render(alpha: torch.Tensor) -> torch.Tensor:  # brightness, contrast per example
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * alpha[:, 1, None, None, None] + mean * alpha[:, 0, None, None, None]

    def sample_alpha(n: int, g: torch.Generator) -> torch.Tensor:
        return 0.6 + 0.8 * torch.rand(n, 2, generator=g)

    alpha1 = sample_alpha(4, torch.Generator().manual_seed(0))
    gp = gradient_penalty(
        enc, render, alpha1, sample_alpha, num_samples=10, cap=1.0,
        generator=torch.Generator().manual_seed(1),
    )  # fmt: skip
    assert 0 < gp.item() < 1.0
    gp.backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"num_samples": 0}, "num_samples"), ({"cap": 0.0}, "cap"), ({"cap": -1.0}, "cap")],
)
def test_rejects_bad_arguments(kw: dict, field: str) -> None:
    enc, x0, alpha1, _ = setup()

    def sample_alpha(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.rand(n, P, generator=g).to(DT)

    with pytest.raises(ValueError, match=field):
        gradient_penalty(
            enc, render_with(x0), alpha1, sample_alpha, generator=torch.Generator(), **kw
        )
    with pytest.raises(ValueError, match="sample_alpha"):
        gradient_penalty(
            enc, render_with(x0), alpha1, lambda n, g: torch.rand(n, P + 1, generator=g, dtype=DT),
            generator=torch.Generator(),
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# which parameters are differentiated (regulariser.nuisance) and the per-parameter decomposition

NAMES3 = ("h", "c1", "c2")


def setup3(seed: int = 0):
    """A float64 encoder and a view nonlinear in 3 parameters, the first called h."""
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, D)).to(DT)
    x0 = torch.randn(B, 4, dtype=DT)
    alpha1 = torch.rand(B, 3, dtype=DT) + 0.5
    alpha_prime = torch.rand(K, B, 3, dtype=DT) + 0.5
    return enc, x0, alpha1, alpha_prime


def render3(x0: torch.Tensor, h_scale: float = 1.0):
    def render(alpha: torch.Tensor) -> torch.Tensor:  # h enters a phase, as in Spirograph
        h, c1, c2 = alpha[:, :1] * h_scale, alpha[:, 1:2], alpha[:, 2:3]
        return torch.sin(x0 * h) * c1 + x0.pow(2) * c2 * c1

    return render


def fd_jacobians(enc: nn.Module, render, alpha1: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(B, D, P)`` d normalize(enc(render(alpha))) / d alpha by central finite differences."""
    cols = []
    with torch.no_grad():
        for j in range(alpha1.shape[1]):
            step = torch.zeros_like(alpha1)
            step[:, j] = eps
            hi = F.normalize(enc(render(alpha1 + step)), dim=1)
            lo = F.normalize(enc(render(alpha1 - step)), dim=1)
            cols.append((hi - lo) / (2 * eps))
    return torch.stack(cols, dim=-1)


def fd_penalty(jac: torch.Tensor, v: torch.Tensor, delta: torch.Tensor, cols: list[int]):
    """mean_{k,b} (v_b^T J_{b,S} delta_{kb,S})^2 over the columns S = ``cols``."""
    proj = torch.einsum("bd,bdp,kbp->kb", v, jac[:, :, cols], delta[:, :, cols])
    return proj.pow(2).mean()


def test_no_h_penalty_is_the_colour_columns_only_by_finite_differences() -> None:
    enc, x0, alpha1, alpha_prime = setup3()
    render = render3(x0)
    v = rademacher((B, D), torch.Generator().manual_seed(1)).to(DT)
    jac = fd_jacobians(enc, render, alpha1)
    delta = alpha_prime - alpha1
    flags = differentiated("no-h", NAMES3, 3)
    assert flags == (False, True, True)
    faithful = projected_penalty(enc, render, alpha1, alpha_prime, v)
    no_h = projected_penalty(enc, render, alpha1, alpha_prime, v, differentiate=flags)
    torch.testing.assert_close(faithful, fd_penalty(jac, v, delta, [0, 1, 2]), rtol=1e-6, atol=0)
    torch.testing.assert_close(no_h, fd_penalty(jac, v, delta, [1, 2]), rtol=1e-6, atol=0)
    assert abs(faithful.item() - no_h.item()) > 1e-3 * faithful.item()  # h did contribute


def test_no_h_penalty_does_not_see_how_h_moves_the_view() -> None:
    # two renders equal at alpha1, with equal colour derivatives there, whose derivative in h
    # differs: the no-h penalty and its encoder gradients are the same for both, "all" is not
    enc, x0, alpha1, alpha_prime = setup3(1)
    v = rademacher((B, D), torch.Generator().manual_seed(2)).to(DT)
    flags = differentiated("no-h", NAMES3, 3)
    base, bump = render3(x0), torch.randn(B, 4, dtype=DT)

    def steeper(alpha: torch.Tensor) -> torch.Tensor:
        return base(alpha) + 5.0 * (alpha[:, :1] - alpha1[:, :1]) * bump

    values, grads, faithful = [], [], []
    for render in (base, steeper):
        gp = projected_penalty(enc, render, alpha1, alpha_prime, v, differentiate=flags)
        values.append(gp.item())
        grads.append(torch.autograd.grad(gp, list(enc.parameters())))
        faithful.append(projected_penalty(enc, render, alpha1, alpha_prime, v).item())
    assert values[0] == pytest.approx(values[1], rel=1e-12)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
    assert faithful[0] != pytest.approx(faithful[1], rel=1e-3)


def test_differentiated_choices_and_errors() -> None:
    from empirical.config import ConfigError
    from empirical.data.spirograph import NUISANCE_NAMES
    from empirical.regulariser import alpha_names

    assert differentiated("all", None, 4) == (True,) * 4
    assert alpha_names("spirograph") == NUISANCE_NAMES
    assert differentiated("no-h", NUISANCE_NAMES, 6) == (False, *(True,) * 5)
    for names in (alpha_names("foster"), None):
        with pytest.raises(ConfigError, match=r"regulariser\.nuisance.*'h'"):
            differentiated("no-h", names, 4)
    with pytest.raises(ConfigError, match=r"regulariser\.nuisance"):
        differentiated("colour", NUISANCE_NAMES, 6)
    enc, x0, alpha1, alpha_prime = setup3()
    with pytest.raises(ValueError, match="differentiate"):
        projected_penalty(
            enc, render3(x0), alpha1, alpha_prime, torch.ones(B, D, dtype=DT), differentiate=[1]
        )


def test_decomposition_splits_the_expected_penalty_among_parameters() -> None:
    enc, x0, alpha1, alpha_prime = setup3(2)
    render = render3(x0)
    parts = penalty_decomposition(enc, render, alpha1, alpha_prime)

    def expected(flags: tuple[bool, ...]) -> float:  # E_v over all 2^(B*D) sign vectors
        vs = [
            torch.tensor(s, dtype=DT).view(B, D)
            for s in itertools.product([-1.0, 1.0], repeat=B * D)
        ]
        return float(
            torch.stack(
                [
                    projected_penalty(enc, render, alpha1, alpha_prime, v, differentiate=flags)
                    for v in vs
                ]
            )
            .mean()
            .detach()
        )

    assert parts.total == pytest.approx(expected((True, True, True)), rel=1e-9)
    for j in range(3):
        only = tuple(i == j for i in range(3))
        assert parts.alone[j].item() == pytest.approx(expected(only), rel=1e-9)
    no_h = differentiated("no-h", NAMES3, 3)
    assert parts.restricted(no_h) == pytest.approx(expected(no_h), rel=1e-9)
    assert float(parts.attributed.sum()) == pytest.approx(parts.total, rel=1e-12)
    jac = fd_jacobians(enc, render, alpha1)
    torch.testing.assert_close(parts.jacobian_sq, jac.pow(2).sum(1).mean(0), rtol=1e-6, atol=0)
    torch.testing.assert_close(parts.delta_sq, (alpha_prime - alpha1).pow(2).mean((0, 1)))


def test_training_step_penalty_follows_regulariser_nuisance() -> None:
    # the step's penalty with no-h is the one without the h column: much smaller on Spirograph,
    # where h dominates; same seeds, same batch, same weights
    from empirical.compute import Compute
    from empirical.config import Config, apply_overrides
    from empirical.data.subsets import channel_counts
    from empirical.distributed import DistInfo
    from empirical.parts import build_dataset, build_parts
    from empirical.step import loss_terms

    values = {}
    for nuisance in ("all", "no-h"):
        cfg = apply_overrides(
            Config(),
            [
                "data.suite=spirograph",
                "data.options.n_train=16",
                "data.options.n_test=8",
                "model.encoder=small_resnet",
                "model.width=4",
                "views.name=spirograph",
                "regulariser.weight=0.1",
                f"regulariser.nuisance={nuisance}",
                "regulariser.num_samples=4",
                "regulariser.cap=1000",
                "run.device=cpu",
            ],
        )
        data = build_dataset(cfg, "train")
        ch = channel_counts(data)
        parts = build_parts(cfg, ch.total, ch.views, 1, 1, torch.device("cpu"), DistInfo())
        batch = data.batch(np.arange(8), np.random.default_rng(0))
        compute = Compute(torch.device("cpu"), torch.float32, None)
        terms = loss_terms(parts, batch, cfg, DistInfo(), compute)
        values[nuisance] = (terms.contrastive.item(), terms.penalty.item())
    assert values["all"][0] == values["no-h"][0]  # the same contrastive loss
    assert 0 < values["no-h"][1] < 0.5 * values["all"][1]
