"""Contrastive losses (empirical.losses) against loop-over-pairs references written straight
from their equations, plus exact values in degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.losses import (
    AlignLSE,
    AlignSWD,
    NTXent,
    Spectral,
    alignment,
    build_loss,
    random_orthogonal,
    sample_prior,
    sliced_wasserstein,
)

SETTINGS = settings(deadline=None, max_examples=25, derandomize=True)


def pair(seed: int, n: int, d: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    z = torch.from_numpy(scale * rng.standard_normal((2, n, d)))
    return z[0], z[1]


# ---- slow references, straight from the equations ----


def unit(v: list[float]) -> list[float]:
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def ntxent_ref(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    n = len(z1)
    h = [unit(r) for r in z1.tolist()] + [unit(r) for r in z2.tolist()]
    total = 0.0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        den = sum(math.exp(dot(h[i], h[k]) / tau) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(dot(h[i], h[p]) / tau) / den)
    return total / (2 * n)


def align_ref(h1: list[list[float]], h2: list[list[float]]) -> float:
    n, d = len(h1), len(h1[0])
    return sum((h1[i][j] - h2[i][j]) ** 2 / 2 for i in range(n) for j in range(d)) / (n * d)


def align_lse_ref(z1: torch.Tensor, z2: torch.Tensor, lam: float, tau: float) -> float:
    h1, h2 = [unit(r) for r in z1.tolist()], [unit(r) for r in z2.tolist()]
    h = h1 + h2
    lse = [
        math.log(sum(math.exp(dot(h[i], h[k]) / tau) for k in range(len(h)) if k != i))
        for i in range(len(h))
    ]
    return align_ref(h1, h2) + lam * sum(lse) / len(h)


def swd_ref(x: torch.Tensor, y: torch.Tensor, q: torch.Tensor) -> float:
    xs, ys, qs = x.tolist(), y.tolist(), q.tolist()
    n, d, m = len(xs), len(qs), len(qs[0])
    total = 0.0
    for j in range(m):
        px = sorted(sum(xs[i][l] * qs[l][j] for l in range(d)) for i in range(n))
        py = sorted(sum(ys[i][l] * qs[l][j] for l in range(d)) for i in range(n))
        total += sum((a - b) ** 2 for a, b in zip(px, py, strict=True))
    return total / (n * m)


def spectral_ref(z1: torch.Tensor, z2: torch.Tensor) -> float:
    a, b = z1.tolist(), z2.tolist()
    n = len(a)
    pos = sum(dot(a[i], b[i]) for i in range(n)) / n
    neg = [dot(a[i], b[j]) ** 2 for i in range(n) for j in range(n) if i != j]
    return -2 * pos + sum(neg) / len(neg)


# ---- NT-Xent ----


@SETTINGS
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 6),
    d=st.integers(1, 5),
    tau=st.floats(0.05, 2.0),
)
def test_ntxent_matches_reference(seed: int, n: int, d: int, tau: float) -> None:
    z1, z2 = pair(seed, n, d)
    assert NTXent(tau)(z1, z2).item() == pytest.approx(ntxent_ref(z1, z2, tau), rel=1e-9)


@SETTINGS
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 6),
    d=st.integers(1, 5),
    tau=st.floats(0.1, 2.0),
)
def test_ntxent_bounds(seed: int, n: int, d: int, tau: float) -> None:
    # cosine similarities lie in [-1, 1], so each term log(1 + sum_neg e^{(s_k - s_p)/tau})
    # lies between log(1 + (2N-2) e^{-2/tau}) and log(1 + (2N-2) e^{2/tau})
    z1, z2 = pair(seed, n, d)
    loss = NTXent(tau)(z1, z2).item()
    assert math.log1p((2 * n - 2) * math.exp(-2 / tau)) - 1e-12 <= loss
    assert loss <= math.log1p((2 * n - 2) * math.exp(2 / tau)) + 1e-12


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_ntxent_degenerate_values(n: int, tau: float) -> None:
    z1, z2 = pair(0, n, 4)
    if n == 1:  # the partner is the only other view: softmax over one entry
        assert NTXent(tau)(z1, z2).item() == pytest.approx(0.0, abs=1e-12)
    same = torch.ones(n, 4, dtype=torch.float64)
    assert NTXent(tau)(same, 3 * same).item() == pytest.approx(math.log(2 * n - 1), abs=1e-12)


def test_ntxent_perfect_alignment_limit() -> None:
    # views equal, examples mutually orthogonal: loss = log(1 + (2N - 2) e^{-1/tau})
    n, tau = 3, 0.2
    e = torch.eye(n, dtype=torch.float64)
    want = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert NTXent(tau)(e, e).item() == pytest.approx(want, rel=1e-12)


@SETTINGS
@given(seed=st.integers(0, 10**6), scale=st.floats(0.01, 100.0))
def test_ntxent_is_scale_invariant_and_symmetric(seed: int, scale: float) -> None:
    z1, z2 = pair(seed, 5, 3)
    loss = NTXent(0.5)
    base = loss(z1, z2)
    torch.testing.assert_close(loss(scale * z1, z2), base)
    torch.testing.assert_close(loss(z2, z1), base)
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(5))
    torch.testing.assert_close(loss(z1[perm], z2[perm]), base)


# ---- alignment + LogSumExp ----


@SETTINGS
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 6),
    d=st.integers(1, 5),
    lam=st.floats(0.0, 3.0),
    tau=st.floats(0.05, 2.0),
)
def test_align_lse_matches_reference(seed: int, n: int, d: int, lam: float, tau: float) -> None:
    z1, z2 = pair(seed, n, d)
    got = AlignLSE(lam, tau)(z1, z2).item()
    assert got == pytest.approx(align_lse_ref(z1, z2, lam, tau), rel=1e-9)


@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(1, 6), d=st.integers(1, 5))
def test_ntxent_decomposes_into_alignment_and_lse(seed: int, n: int, d: int) -> None:
    # -h_i.h_p / tau = ||h_i - h_p||^2 / (2 tau) - 1 / tau on the unit sphere
    tau = 0.3
    z1, z2 = pair(seed, n, d)
    h1, h2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    lse = AlignLSE(1.0, tau)
    decomposed = d / tau * alignment(h1, h2) + lse.distribution(h1, h2) - 1 / tau
    torch.testing.assert_close(NTXent(tau)(z1, z2), decomposed)


@pytest.mark.parametrize("n", [1, 4])
def test_align_lse_degenerate_values(n: int) -> None:
    lam, tau = 0.7, 0.25
    same = torch.ones(n, 3, dtype=torch.float64)
    want = lam * (1 / tau + math.log(2 * n - 1))
    assert AlignLSE(lam, tau)(same, same).item() == pytest.approx(want, rel=1e-12)
    # N = 1: the only k != i is the partner
    h1 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    h2 = torch.tensor([[0.6, 0.8]], dtype=torch.float64)
    want1 = ((1 - 0.6) ** 2 + 0.8**2) / 4 + lam * 0.6 / tau
    assert AlignLSE(lam, tau)(h1, 5 * h2).item() == pytest.approx(want1, rel=1e-12)


# ---- sliced Wasserstein ----


@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(1, 8), d=st.integers(1, 4), m=st.integers(1, 4))
def test_sliced_wasserstein_matches_reference(seed: int, n: int, d: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = (torch.from_numpy(rng.standard_normal((n, d))) for _ in range(2))
    q = torch.from_numpy(rng.standard_normal((d, m)))
    assert sliced_wasserstein(x, y, q).item() == pytest.approx(swd_ref(x, y, q), rel=1e-9)


@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(1, 10), d=st.integers(1, 5))
def test_sliced_wasserstein_ignores_order_and_is_zero_on_itself(seed: int, n: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = (torch.from_numpy(rng.standard_normal((n, d))) for _ in range(2))
    q = random_orthogonal(d, torch.Generator().manual_seed(seed), torch.float64)
    perm = torch.from_numpy(rng.permutation(n))
    assert sliced_wasserstein(x, x[perm], q).item() == pytest.approx(0.0, abs=1e-25)
    torch.testing.assert_close(sliced_wasserstein(x[perm], y, q), sliced_wasserstein(x, y, q))
    if n == 1:  # one point each: orthogonal slices preserve the distance
        want = (x - y).pow(2).sum().item() / d
        assert sliced_wasserstein(x, y, q).item() == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("d", [1, 3, 16])
def test_random_orthogonal_is_orthogonal(d: int) -> None:
    q = random_orthogonal(d, torch.Generator().manual_seed(1), torch.float64)
    torch.testing.assert_close(q.T @ q, torch.eye(d, dtype=torch.float64))


def test_prior_samples() -> None:
    g = torch.Generator().manual_seed(2)
    s = sample_prior("hypersphere", 1000, 5, g)
    torch.testing.assert_close(s.norm(dim=1), torch.ones(1000))
    c = sample_prior("hypercube", 20000, 3, g)
    assert c.min() >= -1 and c.max() <= 1
    assert c.var(dim=0).sub(1 / 3).abs().max() < 0.02  # Var U(-1, 1) = 1/3
    nrm = sample_prior("normal", 20000, 3, g)
    assert nrm.mean(dim=0).abs().max() < 0.05 and nrm.var(dim=0).sub(1).abs().max() < 0.05
    with pytest.raises(ValueError, match="prior"):
        sample_prior("laplace", 3, 3, g)


@pytest.mark.parametrize("prior", ["normal", "hypersphere", "hypercube"])
def test_swd_is_small_on_prior_and_large_when_shifted(prior: str) -> None:
    n, d = 5000, 4
    g = torch.Generator().manual_seed(3)
    z1, z2 = (sample_prior(prior, n, d, g, torch.float64) for _ in range(2))
    loss = AlignSWD(lam=1.0, prior=prior, generator=torch.Generator().manual_seed(4))
    on_prior = loss(z1, z2) - alignment(z1, z2)
    assert 0 <= on_prior.item() < 2e-3
    shift = torch.full((d,), 0.5, dtype=torch.float64)
    shifted = loss(z1 + shift, z2 + shift) - alignment(z1, z2)
    if prior == "normal":  # W2^2 between N(0,1) and N(mu_j,1) is mu_j^2, averaged over slices
        assert shifted.item() == pytest.approx(shift.pow(2).sum().item() / d, rel=0.1)
    elif prior == "hypercube":
        assert shifted.item() > 0.1
    else:  # normalisation maps a shifted cloud back to the sphere, but not uniformly
        assert shifted.item() > 10 * on_prior.item()


def test_align_swd_matches_reference_with_replayed_draws() -> None:
    z1, z2 = pair(5, 6, 3, scale=2.0)
    for prior in ("normal", "hypersphere", "hypercube"):
        lam = 0.8
        got = AlignSWD(lam, prior, torch.Generator().manual_seed(9))(z1, z2).item()
        g = torch.Generator().manual_seed(9)
        q = random_orthogonal(3, g, torch.float64)  # drawn first, then the prior sample
        p = sample_prior(prior, 12, 3, g, torch.float64)
        a, b = z1.tolist(), z2.tolist()
        if prior == "hypersphere":
            a, b = [unit(r) for r in a], [unit(r) for r in b]
        h = torch.tensor(a + b, dtype=torch.float64)
        assert got == pytest.approx(align_ref(a, b) + lam * swd_ref(h, p, q), rel=1e-9)


def test_align_swd_generator_handling() -> None:
    z1, z2 = pair(6, 8, 4)
    loss = AlignSWD(1.0, "normal", torch.Generator().manual_seed(0))
    first, second = loss(z1, z2), loss(z1, z2)  # construction generator advances
    assert first.item() != second.item()
    per_call = [loss(z1, z2, generator=torch.Generator().manual_seed(11)) for _ in range(2)]
    assert per_call[0].item() == per_call[1].item()
    # lam = 0 leaves the alignment of unnormalised (normal prior) or normalised h
    torch.testing.assert_close(AlignSWD(0.0, "normal")(z1, z2), alignment(z1, z2))
    n = torch.nn.functional.normalize
    torch.testing.assert_close(
        AlignSWD(0.0, "hypersphere")(z1, z2), alignment(n(z1, dim=1), n(z2, dim=1))
    )


# ---- spectral ----


@SETTINGS
@given(seed=st.integers(0, 10**6), n=st.integers(2, 7), d=st.integers(1, 5))
def test_spectral_matches_reference(seed: int, n: int, d: int) -> None:
    z1, z2 = pair(seed, n, d)
    assert Spectral()(z1, z2).item() == pytest.approx(spectral_ref(z1, z2), rel=1e-9, abs=1e-12)


def test_spectral_degenerate_values() -> None:
    e = torch.eye(4, dtype=torch.float64)  # orthonormal, aligned: -2 * 1 + 0
    assert Spectral()(e, e).item() == -2.0
    ones = torch.ones(3, 2, dtype=torch.float64)  # every dot product is 2: -2*2 + 4
    assert Spectral()(ones, ones).item() == 0.0
    with pytest.raises(ValueError, match="N >= 2"):
        Spectral()(e[:1], e[:1])


# ---- gradients and construction ----


def test_losses_have_correct_gradients() -> None:
    z1, z2 = pair(7, 4, 3)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    q = random_orthogonal(3, torch.Generator().manual_seed(0), torch.float64)
    y = torch.from_numpy(np.random.default_rng(0).standard_normal((8, 3)))
    fns = [
        NTXent(0.3),
        AlignLSE(0.5, 0.4),
        Spectral(),
        lambda a, b: sliced_wasserstein(torch.cat([a, b]), y, q),
    ]
    for fn in fns:
        assert torch.autograd.gradcheck(fn, (z1, z2))


@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("nope", {}, "unknown loss"),
        ("ntxent", {"temperature": 0.0}, "temperature"),
        ("ntxent", {"temperature": math.inf}, "temperature"),
        ("ntxent", {"lam": 1.0}, r"unknown option\(s\) \['lam'\] for loss 'ntxent'"),
        ("align_lse", {"lam": -1.0}, "lam"),
        ("align_swd", {"prior": "laplace"}, "prior"),
        ("spectral", {"temperature": 0.1}, r"unknown option\(s\) \['temperature'\]"),
    ],
)
def test_build_loss_rejects_bad_arguments(name: str, kw: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_loss(name, **kw)


def test_build_loss_builds_each_and_checks_shapes() -> None:
    z1, z2 = pair(8, 4, 3)
    for name in ("ntxent", "align_lse", "align_swd", "spectral"):
        assert torch.isfinite(build_loss(name)(z1, z2))
        with pytest.raises(ValueError, match="shape"):
            build_loss(name)(z1, z2[:, :2])


@pytest.mark.parametrize("name", ["ntxent", "align_lse", "align_swd", "spectral"])
def test_losses_are_device_agnostic(name: str) -> None:
    # shapes-only meta tensors: a tensor made on a fixed device inside forward would fail
    z = torch.empty(4, 8, device="meta")
    out = build_loss(name)(z, z)
    assert out.device.type == "meta" and out.shape == ()
