"""Contrastive losses on two views ``z1, z2`` of shape ``(N, d)`` (row i of each: example i).

- ``"ntxent"``: NT-Xent / InfoNCE of SimCLR (Chen, Kornblith, Norouzi, Hinton, ICML 2020).
- ``"align_lse"``, ``"align_swd"``: the generalized contrastive loss
  ``L = L_align + lambda * L_dist`` of Chen, Luo, Li ("Intriguing Properties of Contrastive
  Losses", NeurIPS 2021).
- ``"spectral"``: the spectral contrastive loss (HaoChen, Wei, Gaidon, Ma, NeurIPS 2021), the
  loss of this project's linear theory.

Every loss is checked in ``tests/empirical/test_losses.py`` against a loop-over-pairs reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from empirical.registry import Registry

Prior = Literal["normal", "hypersphere", "hypercube"]
PRIORS: tuple[str, ...] = ("normal", "hypersphere", "hypercube")


def _check_pair(z1: torch.Tensor, z2: torch.Tensor, min_n: int = 1) -> None:
    if z1.ndim != 2 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both have shape (N, d); got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if z1.shape[0] < min_n or z1.shape[1] < 1:
        raise ValueError(f"need N >= {min_n} pairs and d >= 1; got shape {tuple(z1.shape)}")


def _check_temperature(temperature: float) -> float:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
    return float(temperature)


def _check_lam(lam: float) -> float:
    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number >= 0; got {lam!r}")
    return float(lam)


def _offdiag_similarities(h: torch.Tensor, temperature: float) -> torch.Tensor:
    """``(M, d) -> (M, M)`` logits ``h_i . h_k / tau`` with ``-inf`` on the diagonal (k = i)."""
    logits = h @ h.T / temperature  # (M, d) @ (d, M) -> (M, M)
    eye = torch.eye(h.shape[0], dtype=torch.bool, device=h.device)
    return logits.masked_fill(eye, float("-inf"))


def alignment(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """Chen et al.'s ``L_align``: mean over pairs AND dimensions of ``(h1 - h2)^2 / 2``.

    ``(N, d), (N, d) -> ()``. (Equals ``mean_i ||h1_i - h2_i||^2 / (2 d)``.)
    """
    return 0.5 * (h1 - h2).pow(2).mean()


class NTXent(nn.Module):
    """NT-Xent: ``mean_i -log( exp(s_ip / tau) / sum_{k != i} exp(s_ik / tau) )`` over the
    ``2N`` stacked L2-normalised views, ``s_ik`` cosine similarity, ``p`` the partner view of
    ``i``; each anchor has 1 positive and ``2N - 2`` negatives.

    Degenerate values: ``N = 1`` gives 0; identical embeddings give ``log(2N - 1)``.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2)
        n = z1.shape[0]
        h = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, d)
        logits = _offdiag_similarities(h, self.temperature)  # (2N, 2N)
        idx = torch.arange(n, device=h.device)
        partner = torch.cat([idx + n, idx])  # (2N,)
        return F.cross_entropy(logits, partner)


class AlignLSE(nn.Module):
    """Generalized loss with the LogSumExp distribution term ("decoupled NT-Xent").

    Prior: uniform hypersphere, so both terms use L2-normalised ``h``. With ``H`` the ``2N``
    stacked views, ``L_dist = mean_i logsumexp_{k != i}(H_i . H_k / tau)``: self-similarity
    (``k = i``, a constant ``1 / tau``) is EXCLUDED, as in NT-Xent's denominator, while the
    partner view is included. Hence the exact identity (tested)
    ``NTXent(tau) = (d / tau) * L_align + L_dist - 1 / tau``.
    Degenerate values: identical embeddings give ``lam * (1 / tau + log(2N - 1))``; ``N = 1``
    gives ``||h1 - h2||^2 / (2d) + lam * (h1 . h2) / tau``.
    """

    def __init__(self, lam: float = 1.0, temperature: float = 1.0) -> None:
        super().__init__()
        self.lam = _check_lam(lam)
        self.temperature = _check_temperature(temperature)

    def distribution(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """``L_dist`` on already-normalised ``(N, d)`` views -> ``()``."""
        logits = _offdiag_similarities(torch.cat([h1, h2]), self.temperature)  # (2N, 2N)
        return torch.logsumexp(logits, dim=1).mean()

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2)
        h1, h2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        return alignment(h1, h2) + self.lam * self.distribution(h1, h2)


def random_orthogonal(
    d: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Haar-random ``(d, d)`` orthogonal matrix: QR of a Gaussian matrix, column signs fixed
    so that ``R`` has a positive diagonal. Drawn on ``generator``'s device."""
    a = torch.randn(d, d, generator=generator, device=generator.device, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    return (q * torch.sign(torch.diagonal(r))).to(dtype)  # (d, d) * (d,) -> (d, d)


def sample_prior(
    prior: str, n: int, d: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(n, d)`` samples of the prior: ``"normal"`` N(0, I); ``"hypersphere"`` uniform on the
    unit sphere (normalised Gaussians); ``"hypercube"`` uniform on ``[-1, 1]^d``."""
    kw: dict[str, Any] = {"generator": generator, "device": generator.device, "dtype": dtype}
    if prior == "normal":
        return torch.randn(n, d, **kw)
    if prior == "hypersphere":
        return F.normalize(torch.randn(n, d, **kw), dim=1)
    if prior == "hypercube":
        return 2.0 * torch.rand(n, d, **kw) - 1.0
    raise ValueError(f"prior must be one of {PRIORS}; got {prior!r}")


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Squared sliced Wasserstein-2 distance along the columns of ``q``.

    ``x, y: (n, d)``, ``q: (d, m)`` -> ``()``: project both (``x @ q``), sort each projected
    coordinate (1-D optimal transport) and take the mean squared difference over ``(n, m)``.
    """
    if x.shape != y.shape or x.ndim != 2 or q.shape[0] != x.shape[1]:
        raise ValueError(
            f"need x, y of equal shape (n, d) and q (d, m); "
            f"got {tuple(x.shape)}, {tuple(y.shape)}, {tuple(q.shape)}"
        )
    px = torch.sort(x @ q, dim=0).values  # (n, d) @ (d, m) -> (n, m)
    py = torch.sort(y @ q, dim=0).values  # (n, d) @ (d, m) -> (n, m)
    return (px - py).pow(2).mean()


class AlignSWD(nn.Module):
    """Generalized loss with the sliced-Wasserstein distribution term (Chen, Luo, Li 2021).

    ``L = L_align + lam * SWD(H, P)`` where ``H`` stacks the ``2N`` views, ``P`` is an equal-size
    prior sample and the slices are the columns of a fresh random ``d x d`` orthogonal matrix
    (drawn, then ``P``, from the generator on every call). Per prior:

    - ``"normal"``: standard normal prior; ``h`` unnormalised in both terms.
    - ``"hypersphere"``: uniform on the unit sphere; ``h`` L2-normalised in both terms.
    - ``"hypercube"``: uniform on ``[-1, 1]^d``; ``h`` unnormalised in both terms.

    Randomness: the ``generator`` of the call if given, else the one given at construction
    (default: a fresh CPU generator seeded with 0, kept as ``self.generator``; save its state
    with checkpoints). Draws happen on the generator's device and are moved to ``z``'s.
    """

    def __init__(
        self, lam: float = 1.0, prior: str = "normal", generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.lam = _check_lam(lam)
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}; got {prior!r}")
        self.prior = prior
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def forward(
        self, z1: torch.Tensor, z2: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_pair(z1, z2)
        g = generator if generator is not None else self.generator
        if self.prior == "hypersphere":
            z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        h = torch.cat([z1, z2])  # (2N, d)
        n, d = h.shape
        q = random_orthogonal(d, g, h.dtype).to(h.device)  # (d, d)
        p = sample_prior(self.prior, n, d, g, h.dtype).to(h.device)  # (2N, d)
        return alignment(z1, z2) + self.lam * sliced_wasserstein(h, p, q)


class Spectral(nn.Module):
    """Spectral contrastive loss ``-2 E[f1 . f2] + E[(f . f')^2]`` on unnormalised ``f``.

    Minibatch estimate: the first expectation averages ``z1_i . z2_i`` over the N pairs; the
    second averages ``(z1_i . z2_j)^2`` over the ``N (N - 1)`` cross-view pairs with ``i != j``
    (views of different examples, so independent: an unbiased estimate). Needs N >= 2.
    """

    def __init__(self) -> None:  # no options (the registry checks them against this signature)
        super().__init__()

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        _check_pair(z1, z2, min_n=2)
        n = z1.shape[0]
        diag = (z1 * z2).sum(dim=1)  # (N,) = z1_i . z2_i
        cross = z1 @ z2.T  # (N, d) @ (d, N) -> (N, N)
        off_diagonal = (cross.pow(2).sum() - diag.pow(2).sum()) / (n * (n - 1))
        return -2.0 * diag.mean() + off_diagonal


LOSSES: Registry[Callable[..., nn.Module]] = Registry("loss")
LOSSES.register("ntxent", NTXent, description="NT-Xent / InfoNCE (SimCLR)")
LOSSES.register("align_lse", AlignLSE, description="Chen et al.: alignment + lambda * LSE")
LOSSES.register("align_swd", AlignSWD, description="Chen et al.: alignment + lambda * SWD")
LOSSES.register("spectral", Spectral, description="spectral contrastive loss (HaoChen et al.)")


def build_loss(name: str, **kw: Any) -> nn.Module:
    """Build loss ``name`` (one of :data:`LOSSES`); ``forward(z1, z2) -> ()``.

    Options: ntxent ``temperature``; align_lse ``lam``, ``temperature``; align_swd ``lam``,
    ``prior``, ``generator``; spectral none. Unknown names/options raise ``ValueError`` (naming
    them) before anything is built; errors inside a loss's constructor propagate unchanged.
    """
    return LOSSES.build(name, **kw)
