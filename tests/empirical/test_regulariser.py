"""Foster's gradient regulariser (empirical.regulariser) against explicit Jacobians."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from empirical.models import build_encoder
from empirical.regulariser import gradient_penalty, projected_penalty, rademacher

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
