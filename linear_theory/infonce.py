"""Linear InfoNCE (NT-Xent) with shared random bits: feature suppression inside the linear model.

Chen, Luo & Li ("Intriguing Properties of Contrastive Losses", NeurIPS 2021) append ``b``
random bits to every image *after* augmentation, so both views carry identical bits; a few
bits suffice to suppress the learning of the digit. Tamkin et al. ("Feature Dropout",
NeurIPS 2023) argue that augmentations which drop the easy feature prevent this. This module
puts both into the linear model of ``science.md`` ("The linear theory this project builds").

Input (per instance), ``D = b + d_w + d_n`` coordinates, in this order:

* **bits** ``beta in {-1, +1}^b`` (uniform, zero mean, unit variance), shared *exactly* by the
  two views; each view independently sets the whole group to ``0`` (its mean) with probability
  ``p`` (``bit_dropout``).
* **weak group** ``s z`` with ``z ~ N(0, I_{d_w})`` (the downstream latent, strength ``s``);
  each view adds its own noise ``sigma eps`` and may drop the group with ``weak_dropout``.
* **nuisance** ``nu n`` with ``n ~ N(0, I_{d_n})`` drawn afresh for every presentation (each
  view, and the clean input used for probing): input coordinates that carry nothing shared.

Encoder ``f(x) = W x`` with ``W`` of shape ``(m, D)``; embeddings are L2-normalised and trained
with NT-Xent at temperature ``tau`` (2N - 2 negatives per anchor).

**Measuring suppression honestly.** A linear probe on ``f(x)`` is invariant to invertible
``W``, so with ``m >= D`` the probe would be trivially perfect. Here ``m`` defaults to
``b + d_w`` (exactly the signal dimension: ample capacity for bits *and* weak group) while the
nuisance makes ``D > m``: the encoder must choose which directions to keep, and weak-group
signal it does not amplify is buried under the nuisance it lets through. The defaults
(``d_w = 4``, ``s = 1``, ``sigma = 0.5``, ``d_n = 32``, ``nu = 4``) make the nuisance dominate
the input at initialisation, so the weak group has to be *learned*. We report

1. the learned weight share of each group, ``||W[:, group]||_F^2 / ||W||_F^2``;
2. the population R^2 of the best linear probe of ``z`` from *unnormalised* embeddings ``W x``
   of clean inputs (no dropout, no view noise, nuisance present), in closed form
   (:func:`probe_r2`). This exact probe is blind to scale: under plain SGD the bits take all
   the weight, yet the weak direction, tiny but cleaner than the (faster-decaying) nuisance,
   is still read perfectly;
3. therefore also a resolution-limited probe (``resolution = 0.1``): the same probe reading
   ``W x + eta`` with isotropic noise at 1% of the mean embedding variance per coordinate.

Findings (Adam, N = 32, 1000 steps; see ``infonce_sweep``): without bit dropout enough bits
suppress the weak group (64 bits at tau >= 0.2: weak share ~1e-3, resolved probe ~0.01);
bit dropout p = 0.5 restores it (probe ~0.98 for every b and tau). Temperature: *lower
temperature suppresses less*, as Chen et al. found in deep networks, but by freezing, not by
learning: far below ``t* = 1 / log(2N - 2)`` the bits drive the loss to ~0 within tens of
steps, every gradient then carries ``(1 - e^{-L}) / tau ~ 0``, and the weak group keeps about
the weight it had (neither learned nor erased); above ``t*`` the loss cannot saturate (its
floor is ``log(1 + (2N-2) e^{-1/tau})``) and the alignment term erases the noisier weak group
(view correlation ``rho_w = s^2/(s^2+sigma^2) < 1 = rho_bits``).

Derived quantities (tested in ``tests/linear_theory/test_infonce.py``):

* :func:`ntxent_lower_bound` - NT-Xent over ``2N`` unit vectors is at least
  ``log(1 + (2N-2) exp(-N / ((N-1) tau)))`` (Jensen twice; equality for coincident positives on
  a regular simplex, which needs ``m >= N - 1``).
* :func:`bits_only_loss` - an isometric bits-only encoder has negative similarities
  ``1 - 2H/b`` with ``H ~ Binomial(b, 1/2)``; Jensen gives the expected loss bound
  ``log(1 + (2N-2) ((1 + exp(-2/(b tau)))/2)^b)`` -> ``log(1 + (2N-2) e^{-1/tau})`` as b grows
  (tight once ``2^b >> N``); :func:`bits_only_gap` is its distance to the lower bound.
* :func:`prob_codes_distinct` - all N codes distinct with probability ``prod_k (1 - k/2^b)``.
* :func:`group_growth_rates` - early-time growth of each group's weight (expansion around
  uniform similarities, valid while ``p_pos << 1``; concentrated norms):
  ``d w_g/dt = (4 kappa / tau) w_g a_g (rho_g - R) / T`` without dropout, ``R`` the
  weight-averaged view correlation: a group grows iff it out-correlates the average.
* :func:`saturated_weak_gradient_scale`, :func:`weak_gradient_bound` - once the bits have
  saturated the loss, every gradient carries the factor ``(1 - p_pos) / tau``, and
  ``||dL/dW_w|| <= (4/tau)(1 - e^{-L}) max_k |x_kw| / |W x_k|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
GROUPS = ("bits", "weak", "nuisance")
_SAMPLE_CHUNK = 25  # minibatches drawn per config and generator call (fixed: reproducibility)


def _check(cond: bool, name: str, allowed: str, value: object) -> None:
    if not cond:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


@dataclass(frozen=True)
class InfoNCEConfig:
    """One configuration of the linear InfoNCE model with shared bits.

    Attributes:
        bits: number ``b >= 0`` of shared random bits (the easy feature).
        bit_dropout: probability ``p`` in [0, 1] that a view zeroes the bits group.
        tau: NT-Xent temperature, ``> 0``.
        seed: seed (``>= 0``) of this configuration's torch generator (init and data).
        weak_dim: dimension ``d_w >= 1`` of the weak Gaussian group.
        weak_strength: strength ``s > 0`` of the weak group.
        view_noise: std ``sigma >= 0`` of the additive view noise on the weak group.
        weak_dropout: probability in [0, 1) that a view drops the weak group.
        nuisance_dim: number ``d_n >= 0`` of view-specific nuisance coordinates.
        nuisance_scale: std ``nu >= 0`` of the nuisance coordinates.
        embed_dim: embedding dimension ``m >= 1``; ``None`` means ``bits + weak_dim``.
    """

    bits: int = 0
    bit_dropout: float = 0.0
    tau: float = 0.1
    seed: int = 0
    weak_dim: int = 4
    weak_strength: float = 1.0
    view_noise: float = 0.5
    weak_dropout: float = 0.0
    nuisance_dim: int = 32
    nuisance_scale: float = 4.0
    embed_dim: int | None = None

    def __post_init__(self) -> None:
        _check(_is_int(self.bits) and self.bits >= 0, "bits", "an integer >= 0", self.bits)
        _check(
            math.isfinite(self.bit_dropout) and 0.0 <= self.bit_dropout <= 1.0,
            "bit_dropout",
            "in [0, 1]",
            self.bit_dropout,
        )
        _check(math.isfinite(self.tau) and self.tau > 0, "tau", "finite and > 0", self.tau)
        _check(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _check(
            _is_int(self.weak_dim) and self.weak_dim >= 1,
            "weak_dim",
            "an integer >= 1",
            self.weak_dim,
        )
        _check(
            math.isfinite(self.weak_strength) and self.weak_strength > 0,
            "weak_strength",
            "finite and > 0",
            self.weak_strength,
        )
        _check(
            math.isfinite(self.view_noise) and self.view_noise >= 0,
            "view_noise",
            "finite and >= 0",
            self.view_noise,
        )
        _check(
            math.isfinite(self.weak_dropout) and 0.0 <= self.weak_dropout < 1.0,
            "weak_dropout",
            "in [0, 1)",
            self.weak_dropout,
        )
        _check(
            _is_int(self.nuisance_dim) and self.nuisance_dim >= 0,
            "nuisance_dim",
            "an integer >= 0",
            self.nuisance_dim,
        )
        _check(
            math.isfinite(self.nuisance_scale) and self.nuisance_scale >= 0,
            "nuisance_scale",
            "finite and >= 0",
            self.nuisance_scale,
        )
        _check(
            self.embed_dim is None or (_is_int(self.embed_dim) and self.embed_dim >= 1),
            "embed_dim",
            "None or an integer >= 1",
            self.embed_dim,
        )

    @property
    def m(self) -> int:
        """Resolved embedding dimension."""
        return self.bits + self.weak_dim if self.embed_dim is None else int(self.embed_dim)

    @property
    def dim(self) -> int:
        """Input dimension ``D = b + d_w + d_n``."""
        return self.bits + self.weak_dim + self.nuisance_dim

    def to_dict(self) -> dict[str, object]:
        """The resolved config as a plain dict (saved with results)."""
        out = asdict(self)
        out["embed_dim"] = self.m
        return out

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> InfoNCEConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        _check(not unknown, "config keys", f"a subset of {sorted(known)}", unknown)
        return cls(**d)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Layout:
    """Padded layout shared by a batch of configs (all tensors float32, CPU).

    Input coordinates: ``[0, B)`` bits (``B = max b``), ``[B, B + d_w)`` weak,
    ``[B + d_w, D)`` nuisance. Embedding rows ``[0, M)`` with ``M = max m``.

    Attributes:
        max_bits: ``B``.
        weak_dim: ``d_w`` (shared by all configs).
        nuisance_dim: ``d_n`` (shared by all configs).
        max_embed: ``M``.
        mask: ``(C, M, D)`` 1 where ``W`` is a real parameter of the config, else 0.
        bits: ``(C,)`` number of bits per config.
        bit_keep: ``(C,)`` ``1 - p``.
        weak_keep: ``(C,)`` ``1 - weak_dropout``.
        strength: ``(C,)`` ``s``.
        noise: ``(C,)`` ``sigma``.
        nuisance: ``(C,)`` ``nu``.
        tau: ``(C,)`` temperature.
    """

    max_bits: int
    weak_dim: int
    nuisance_dim: int
    max_embed: int
    mask: torch.Tensor
    bits: torch.Tensor
    bit_keep: torch.Tensor
    weak_keep: torch.Tensor
    strength: torch.Tensor
    noise: torch.Tensor
    nuisance: torch.Tensor
    tau: torch.Tensor

    @property
    def dim(self) -> int:
        return self.max_bits + self.weak_dim + self.nuisance_dim

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """Slices of the bits, weak and nuisance coordinates."""
        b, w = self.max_bits, self.weak_dim
        return slice(0, b), slice(b, b + w), slice(b + w, self.dim)


def make_layout(configs: Sequence[InfoNCEConfig]) -> Layout:
    """Pad a batch of configs to one layout; ``weak_dim`` and ``nuisance_dim`` must agree."""
    _check(len(configs) >= 1, "configs", "a non-empty sequence of InfoNCEConfig", configs)
    for name in ("weak_dim", "nuisance_dim"):
        vals = sorted({getattr(c, name) for c in configs})
        _check(len(vals) == 1, name, "the same for every config of one batched run", vals)
    big_b = max(c.bits for c in configs)
    dw, dn = configs[0].weak_dim, configs[0].nuisance_dim
    big_m = max(c.m for c in configs)
    d = big_b + dw + dn
    mask = torch.zeros(len(configs), big_m, d)
    for i, c in enumerate(configs):
        mask[i, : c.m, : c.bits] = 1.0
        mask[i, : c.m, big_b:] = 1.0

    def vec(name: str) -> torch.Tensor:
        return torch.tensor([float(getattr(c, name)) for c in configs])

    return Layout(
        max_bits=big_b,
        weak_dim=dw,
        nuisance_dim=dn,
        max_embed=big_m,
        mask=mask,
        bits=torch.tensor([c.bits for c in configs]),
        bit_keep=1.0 - vec("bit_dropout"),
        weak_keep=1.0 - vec("weak_dropout"),
        strength=vec("weak_strength"),
        noise=vec("view_noise"),
        nuisance=vec("nuisance_scale"),
        tau=vec("tau"),
    )


def sample_views(
    config: InfoNCEConfig, n: int, generator: torch.Generator, max_bits: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``n`` instances of one config and two views of each.

    Args:
        config: the configuration.
        n: number of instances (>= 1).
        generator: torch generator (all randomness comes from it).
        max_bits: pad the bits group to this many coordinates (zeros); default ``config.bits``.

    Returns:
        ``(z, x1, x2)``: weak latents ``(n, d_w)`` and views ``(n, D)`` with
        ``D = max_bits + d_w + d_n``, float32.
    """
    _check(_is_int(n) and n >= 1, "n", "an integer >= 1", n)
    big_b = config.bits if max_bits is None else max_bits
    _check(big_b >= config.bits, "max_bits", f">= config.bits={config.bits}", max_bits)
    b, dw, dn = config.bits, config.weak_dim, config.nuisance_dim
    u = torch.rand(n, b + 4, generator=generator)  # bits and four keep-draws
    g = torch.randn(n, 3 * dw + 2 * dn, generator=generator)
    beta = torch.where(u[:, :b] < 0.5, -1.0, 1.0)  # (n, b)
    z = g[:, :dw]
    views = []
    for v in range(2):
        keep_b = (u[:, b + v] >= config.bit_dropout).float()[:, None]  # (n, 1)
        keep_w = (u[:, b + 2 + v] >= config.weak_dropout).float()[:, None]
        eps = g[:, dw * (1 + v) : dw * (2 + v)]
        nu = g[:, 3 * dw + dn * v : 3 * dw + dn * (v + 1)]
        x = torch.zeros(n, big_b + dw + dn)
        x[:, :b] = keep_b * beta
        x[:, big_b : big_b + dw] = keep_w * config.weak_strength * z + config.view_noise * eps
        x[:, big_b + dw :] = config.nuisance_scale * nu
        views.append(x)
    return z, views[0], views[1]


def ntxent(h1: torch.Tensor, h2: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """Batched NT-Xent (SimCLR) loss on L2-normalised embeddings.

    For the ``2N`` stacked embeddings ``u`` (rows normalised), anchor ``i`` with positive
    ``j(i)`` (the other view of the same instance) has loss
    ``-u_i.u_j / tau + log sum_{k != i} exp(u_i.u_k / tau)``; the result averages over the 2N
    anchors (Chen et al. 2020, eq. 1; 2N - 2 negatives per anchor).

    Args:
        h1, h2: embeddings ``(..., N, m)`` of the two views (unnormalised).
        tau: temperature, a float or a tensor broadcastable to the batch shape ``(...)``.

    Returns:
        Loss of shape ``(...)``.
    """
    n = h1.shape[-2]
    u = torch.nn.functional.normalize(torch.cat([h1, h2], dim=-2), dim=-1)  # (..., 2N, m)
    t = torch.as_tensor(tau, dtype=u.dtype)[..., None, None]
    sim = (u @ u.transpose(-1, -2)) / t  # (..., 2N, m) @ (..., m, 2N) -> (..., 2N, 2N)
    eye = torch.eye(2 * n, dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    idx = torch.arange(2 * n)
    pos = sim[..., idx, (idx + n) % (2 * n)]  # (..., 2N)
    return (torch.logsumexp(sim, dim=-1) - pos).mean(dim=-1)


def probe_r2(w: torch.Tensor, layout: Layout, resolution: float = 0.0) -> torch.Tensor:
    """Population R^2 of the best linear probe of the weak latent from ``W x`` (clean inputs).

    Clean inputs: bits and weak group present, no view noise, nuisance present (it is part of
    every presentation). Embeddings are unnormalised. With ``resolution = 0`` this is
    ``R^2 = (s^2 / d_w) tr(W_w^T (W Sigma W^T)^{-1} W_w)``,
    ``Sigma = diag(1 (bits), s^2 (weak), nu^2 (nuisance))`` (least squares needs only second
    moments; exact for +-1 bits too). That probe is blind to scale: a weak direction a million
    times smaller than the bits is still read perfectly if no nuisance shares it. With
    ``resolution = delta > 0`` the probe reads ``W x + eta``, ``eta ~ N(0, delta^2 v I_m)``
    where ``v = tr(W Sigma W^T) / m`` is the mean embedding variance per coordinate: features
    whose share of the embedding variance is far below ``delta^2`` become invisible, as for a
    regularised probe trained on finite data.

    Args:
        w: ``(C, M, D)`` encoders (padded entries must be zero).
        layout: the batch layout.
        resolution: ``delta >= 0``.

    Returns:
        ``(C,)`` R^2 in [0, 1], averaged over the ``d_w`` latent coordinates.
    """
    _check(math.isfinite(resolution) and resolution >= 0, "resolution", ">= 0", resolution)
    w = w.detach().to(torch.float64)
    _, sw, sn = layout.slices
    s2 = layout.strength.to(torch.float64) ** 2
    var = torch.ones(w.shape[0], layout.dim, dtype=torch.float64)
    var[:, sw] = s2[:, None]
    var[:, sn] = (layout.nuisance.to(torch.float64) ** 2)[:, None]
    cov = (w * var[:, None, :]) @ w.transpose(-1, -2)  # (C, M, D) @ (C, D, M) -> (C, M, M)
    real = layout.mask.to(torch.float64).amax(dim=-1)  # (C, M): 1 on real rows
    per_dim = cov.diagonal(dim1=-2, dim2=-1).sum(-1) / real.sum(-1)  # (C,)
    cov = cov + torch.diag_embed((1.0 - real) + resolution**2 * per_dim[:, None] * real)
    ww = w[:, :, sw]  # (C, M, d_w)
    sol = torch.linalg.solve(cov, ww)  # (C, M, M) \\ (C, M, d_w) -> (C, M, d_w)
    tr = (ww * sol).sum(dim=(-1, -2))
    return (s2 * tr / layout.weak_dim).to(torch.float32)


def group_weights(w: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Share of each group in ``||W||_F^2``: ``(C, 3)`` for (bits, weak, nuisance)."""
    w2 = w.detach() ** 2
    per = torch.stack([w2[:, :, s].sum(dim=(-1, -2)) for s in layout.slices], dim=-1)
    return per / per.sum(dim=-1, keepdim=True).clamp_min(1e-30)


@dataclass(frozen=True)
class InfoNCEHistory:
    """Result of :func:`train_linear_infonce` (numpy arrays; ``T`` records, ``C`` configs).

    Attributes:
        configs: the configs, in batch order.
        steps: ``(T,)`` optimizer steps at which the records were taken.
        loss: ``(T, C)`` minibatch NT-Xent loss at those steps.
        weights: ``(T, C, 3)`` group weight shares (bits, weak, nuisance).
        probe: ``(T, C)`` weak-group probe R^2, exact (``resolution = 0``, :func:`probe_r2`).
        probe_resolved: ``(T, C)`` the same probe at the run's ``probe_resolution``.
        w: ``(C, M, D)`` final encoders in the padded layout.
        settings: the shared training settings.
    """

    configs: tuple[InfoNCEConfig, ...]
    steps: NDArray[np.int64]
    loss: FloatArray
    weights: FloatArray
    probe: FloatArray
    probe_resolved: FloatArray
    w: FloatArray
    settings: dict[str, object]


def init_encoders(
    configs: Sequence[InfoNCEConfig], layout: Layout, init_scale: float
) -> torch.Tensor:
    """Gaussian init ``W_ij ~ N(0, init_scale^2 / D_c)`` from each config's seed: ``(C, M, D)``.

    Each config draws its own ``(m, D_c)`` block so its init does not depend on the batch.
    """
    w = torch.zeros(len(configs), layout.max_embed, layout.dim)
    big_b = layout.max_bits
    for i, c in enumerate(configs):
        g = torch.Generator().manual_seed(int(c.seed))
        blk = torch.randn(c.m, c.dim, generator=g) * (init_scale / math.sqrt(c.dim))
        w[i, : c.m, : c.bits] = blk[:, : c.bits]
        w[i, : c.m, big_b:] = blk[:, c.bits :]
    return w


def train_linear_infonce(
    configs: Sequence[InfoNCEConfig],
    steps: int,
    batch_size: int = 64,
    lr: float = 0.01,
    optimizer: Literal["adam", "sgd"] = "adam",
    init_scale: float = 1.0,
    record_every: int = 50,
    probe_resolution: float = 0.1,
) -> InfoNCEHistory:
    """Train one linear encoder per config with NT-Xent on fresh minibatches, all at once.

    The encoders form one ``(C, M, D)`` parameter (padded entries masked to zero); one forward
    and backward pass per step serves every config. Each config has its own generator
    (seeded by ``config.seed``) for its init and its data, so its trajectory does not depend on
    which other configs share the batch (up to float32 summation order). CPU, float32.

    Args:
        configs: the configurations (``weak_dim`` and ``nuisance_dim`` shared).
        steps: number of optimizer steps (>= 0).
        batch_size: ``N >= 2`` instances per minibatch (2N views).
        lr: learning rate (> 0).
        optimizer: ``"adam"`` or ``"sgd"`` (plain).
        init_scale: ``> 0``, std of ``W`` entries times ``sqrt(D)``.
        record_every: record loss, weights and probe every this many steps (>= 1).
        probe_resolution: ``delta`` of the resolution-limited probe (see :func:`probe_r2`).

    Returns:
        :class:`InfoNCEHistory`.
    """
    configs = tuple(configs)
    _check(_is_int(steps) and steps >= 0, "steps", "an integer >= 0", steps)
    _check(_is_int(batch_size) and batch_size >= 2, "batch_size", "an integer >= 2", batch_size)
    _check(math.isfinite(lr) and lr > 0, "lr", "finite and > 0", lr)
    _check(optimizer in ("adam", "sgd"), "optimizer", "'adam' or 'sgd'", optimizer)
    _check(math.isfinite(init_scale) and init_scale > 0, "init_scale", "> 0", init_scale)
    _check(
        _is_int(record_every) and record_every >= 1, "record_every", "an integer >= 1", record_every
    )
    layout = make_layout(configs)
    w = init_encoders(configs, layout, init_scale).requires_grad_(True)
    opt: torch.optim.Optimizer = (
        torch.optim.Adam([w], lr=lr) if optimizer == "adam" else torch.optim.SGD([w], lr=lr)
    )
    gens = [torch.Generator().manual_seed(int(c.seed) + 1_000_003) for c in configs]
    n, c_count, d = batch_size, len(configs), layout.dim
    _check(
        math.isfinite(probe_resolution) and probe_resolution >= 0,
        "probe_resolution",
        ">= 0",
        probe_resolution,
    )
    rec_steps, rec_loss, rec_w, rec_p, rec_q = [], [], [], [], []
    chunk = _SAMPLE_CHUNK
    buf1 = torch.empty(c_count, chunk, n, d)
    buf2 = torch.empty(c_count, chunk, n, d)
    for step in range(steps + 1):
        if step % chunk == 0:  # draw `chunk` minibatches per config at once (less overhead)
            for i, (cfg, g) in enumerate(zip(configs, gens, strict=True)):
                _, v1, v2 = sample_views(cfg, n * chunk, g, max_bits=layout.max_bits)
                buf1[i], buf2[i] = v1.view(chunk, n, d), v2.view(chunk, n, d)
        x1, x2 = buf1[:, step % chunk], buf2[:, step % chunk]  # (C, N, D) each
        wm = w * layout.mask
        wt = wm.transpose(-1, -2)
        loss = ntxent(x1 @ wt, x2 @ wt, layout.tau)  # (C, N, D) @ (C, D, M) -> (C, N, M)
        if step % record_every == 0 or step == steps:
            rec_steps.append(step)
            rec_loss.append(loss.detach().numpy().astype(np.float64))
            rec_w.append(group_weights(wm, layout).numpy().astype(np.float64))
            rec_p.append(probe_r2(wm, layout).numpy().astype(np.float64))
            rec_q.append(probe_r2(wm, layout, probe_resolution).numpy().astype(np.float64))
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    settings: dict[str, object] = {
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "init_scale": init_scale,
        "record_every": record_every,
        "probe_resolution": probe_resolution,
    }
    return InfoNCEHistory(
        configs=configs,
        steps=np.asarray(rec_steps, dtype=np.int64),
        loss=np.stack(rec_loss),
        weights=np.stack(rec_w),
        probe=np.stack(rec_p),
        probe_resolved=np.stack(rec_q),
        w=(w * layout.mask).detach().numpy().astype(np.float64),
        settings=settings,
    )


# ---------------------------------------------------------------------------------------------
# Derived quantities
# ---------------------------------------------------------------------------------------------


def ntxent_lower_bound(n: int, tau: float | FloatArray) -> FloatArray:
    """Lower bound of the NT-Xent loss over any ``2N`` unit vectors.

    Each anchor's loss ``log(1 + sum_neg exp((s_neg - s_pos)/tau))`` is convex in its
    similarities, so by Jensen it is at least ``log(1 + (2N-2) exp((mean s_neg - s_pos)/tau))``;
    ``sum_{i != k} u_i.u_k = |sum u|^2 - 2N >= -2N`` bounds the mean negative similarity by
    ``-(1 + mean s_pos)/(2N-2)``, and ``s_pos <= 1`` gives
    ``L >= log(1 + (2N-2) exp(-N / ((N-1) tau)))``. Equality: the two views of each instance
    coincide and the N instances form a regular simplex (needs ``m >= N - 1``).

    Args:
        n: batch size ``N >= 2``.
        tau: temperature(s) ``> 0``, any shape.

    Returns:
        The bound, shape of ``tau``.
    """
    _check(_is_int(n) and n >= 2, "n", "an integer >= 2", n)
    t = np.asarray(tau, dtype=np.float64)
    _check(bool(np.all(t > 0)), "tau", "> 0", tau)
    return np.asarray(np.log1p((2 * n - 2) * np.exp(-n / ((n - 1) * t))))


def bits_mgf(bits: int | NDArray[np.int64], tau: float | FloatArray) -> FloatArray:
    """``E exp((s - 1)/tau)`` for the similarity ``s = 1 - 2H/b`` of two random bit codes.

    ``H ~ Binomial(b, 1/2)`` is the Hamming distance of independent codes under an isometric
    bits-only encoder (``u = beta / sqrt(b)``), so ``E exp(-2H/(b tau)) =
    ((1 + exp(-2/(b tau)))/2)^b``; 1 for ``b = 0`` (all embeddings equal). Broadcasts.
    """
    b = np.asarray(bits, dtype=np.float64)
    t = np.asarray(tau, dtype=np.float64)
    _check(bool(np.all(b >= 0)), "bits", ">= 0", bits)
    _check(bool(np.all(t > 0)), "tau", "> 0", tau)
    safe_b = np.where(b > 0, b, 1.0)
    val = np.exp(safe_b * np.log((1.0 + np.exp(-2.0 / (safe_b * t))) / 2.0))
    return np.asarray(np.where(b > 0, val, 1.0))


def bits_only_loss(bits: int | NDArray[np.int64], n: int, tau: float | FloatArray) -> FloatArray:
    """Jensen upper bound on the expected NT-Xent loss of the isometric bits-only encoder.

    Without bit dropout both views carry the same code, so every anchor has ``s_pos = 1`` and
    ``2N - 2`` negatives (two views of each of ``N - 1`` other instances) with similarities
    ``1 - 2H/b``. ``E log(1 + X) <= log(1 + E X)`` gives
    ``log(1 + (2N-2) bits_mgf(b, tau))``; it tends to ``log(1 + (2N-2) e^{-1/tau})`` as ``b``
    grows, within ``log(1 + (2N-2) e^{-1/tau}) - ntxent_lower_bound`` of the optimum; it equals
    ``log(2N - 1)`` at ``b = 0``. The loss *saturates* (gradients vanish) only when
    ``(2N-2) e^{-1/tau} << 1``, i.e. ``tau << 1 / log(2N - 2)``.
    """
    _check(_is_int(n) and n >= 2, "n", "an integer >= 2", n)
    return np.asarray(np.log1p((2 * n - 2) * bits_mgf(bits, tau)))


def bits_only_gap(bits: int | NDArray[np.int64], n: int, tau: float | FloatArray) -> FloatArray:
    """``bits_only_loss - ntxent_lower_bound``: how far the bits-only encoder is from optimal.

    Tends to ``log(1 + (2N-2) e^{-1/tau}) - log(1 + (2N-2) e^{-N/((N-1) tau)})`` as ``b`` grows.
    """
    return np.asarray(bits_only_loss(bits, n, tau) - ntxent_lower_bound(n, tau))


def prob_codes_distinct(bits: int | NDArray[np.int64], n: int) -> FloatArray:
    """Probability that ``n`` uniform ``b``-bit codes are all distinct: ``prod_{k<n}(1-k/2^b)``."""
    _check(_is_int(n) and n >= 1, "n", "an integer >= 1", n)
    b = np.asarray(bits, dtype=np.float64)
    _check(bool(np.all(b >= 0)), "bits", ">= 0", bits)
    k = np.arange(n, dtype=np.float64)
    frac = k / np.exp2(b)[..., None]  # (..., n)
    return np.asarray(np.prod(np.clip(1.0 - frac, 0.0, 1.0), axis=-1))


def saturation_temperature(n: int) -> float:
    """``1 / log(2N - 2)``: below it a perfect bits code drives ``(2N-2) e^{-1/tau}`` under 1."""
    _check(_is_int(n) and n >= 3, "n", "an integer >= 3", n)
    return 1.0 / math.log(2 * n - 2)


def saturated_weak_gradient_scale(
    bits: int | NDArray[np.int64], n: int, tau: float | FloatArray
) -> FloatArray:
    """The factor ``(1 - e^{-L}) / tau`` carried by every gradient once the bits dominate.

    For anchor ``i``, ``dL_i/dW = (1/tau)[-(1 - p_pos) ds_pos/dW + sum_neg p_k ds_k/dW]`` with
    softmax weights ``p``, and ``sum_neg p_k = 1 - p_pos = 1 - e^{-L_i}``. As
    ``||ds_ik/dW_w||_F <= |x_iw|/|W x_i| + |x_kw|/|W x_k|`` and ``mean_i(1 - e^{-L_i}) <=
    1 - e^{-L}`` (concavity),
    ``||dL/dW_w||_F <= (4/tau)(1 - e^{-L}) max_k |x_kw| / |W x_k|`` (see
    :func:`weak_gradient_bound`). Here ``L`` is the bits-only loss :func:`bits_only_loss`.
    """
    t = np.asarray(tau, dtype=np.float64)
    return np.asarray(-np.expm1(-bits_only_loss(bits, n, t)) / t)


def weak_gradient_bound(
    w: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor, cols: slice, tau: float
) -> torch.Tensor:
    """Right side of ``||dL/dW[:, cols]||_F <= (4/tau)(1 - e^{-L}) max_k |x_k[cols]| / |W x_k|``.

    Args:
        w: encoder ``(m, D)``.
        x1, x2: views ``(N, D)``.
        cols: the input coordinates of the group.
        tau: temperature.

    Returns:
        Scalar tensor (float64).
    """
    w64, xs = w.detach().double(), torch.cat([x1, x2]).double()  # (2N, D)
    h = xs @ w64.T  # (2N, D) @ (D, m) -> (2N, m)
    loss = ntxent(h[: x1.shape[0]], h[x1.shape[0] :], tau)
    ratio = (xs[:, cols].norm(dim=-1) / h.norm(dim=-1)).max()
    return (4.0 / tau) * (-torch.expm1(-loss)) * ratio


def _mask_states(keep: float) -> tuple[tuple[float, float], ...]:
    """``((value, probability), ...)`` of a group's keep indicator in one view."""
    if keep >= 1.0:
        return ((1.0, 1.0),)
    if keep <= 0.0:
        return ((0.0, 1.0),)
    return ((1.0, keep), (0.0, 1.0 - keep))


def group_growth_rates(config: InfoNCEConfig, weights: Sequence[float], n: int) -> FloatArray:
    """Early-time growth rates ``d w_g / dt`` of the group weights under gradient flow.

    Large-``tau`` expansion of NT-Xent around uniform similarities: since ``E[u_i.u_k] = 0``
    for independent zero-mean instances, the expected loss is
    ``log(2N-1) - (kappa/tau) E[u_1.u_2] + O(tau^-2)``, ``kappa = (2N-2)/(2N-1)``. With
    isotropic weights inside each group (``w_g = ||W_g||_F^2``) and concentrated norms
    ``|W x~|^2 ~ T(k) = sum_g w_g a_g(k)`` given the view's dropout state ``k``,
    ``J(w) = E[u_1.u_2] ~ sum_{k1,k2} pi(k1) pi(k2) sum_g w_g c_g(k1,k2) / sqrt(T(k1) T(k2))``
    with per-coordinate moments (bits ``c = k1 k2``, ``a = k``; weak ``c = k1 k2 s^2``,
    ``a = k s^2 + sigma^2``; nuisance ``c = 0``, ``a = nu^2``). Gradient flow on ``W`` gives
    ``d w_g/dt = (4 kappa / tau) w_g dJ/dw_g``; without dropout this is
    ``(4 kappa / tau) w_g (c_g - R a_g) / T`` with ``R = sum c w / sum a w``: a group grows iff
    its view correlation ``c_g / a_g`` exceeds the current average ``R``.

    Args:
        config: the configuration (its ``tau`` is used).
        weights: ``(w_bits, w_weak, w_nuisance)``, squared Frobenius norms (``>= 0``).
        n: batch size ``N >= 2``.

    Returns:
        ``(3,)`` rates for (bits, weak, nuisance).
    """
    _check(len(weights) == 3, "weights", "of length 3 (bits, weak, nuisance)", weights)
    _check(_is_int(n) and n >= 2, "n", "an integer >= 2", n)
    w = np.asarray(weights, dtype=np.float64)
    _check(bool(np.all(w >= 0)) and float(w.sum()) > 0, "weights", ">= 0, not all 0", weights)
    s2, sig2, nu2 = config.weak_strength**2, config.view_noise**2, config.nuisance_scale**2
    states = [
        (kb, kw, pb * pw)
        for kb, pb in _mask_states(1.0 - config.bit_dropout)
        for kw, pw in _mask_states(1.0 - config.weak_dropout)
    ]

    def a_vec(kb: float, kw: float) -> FloatArray:
        return np.array([kb, kw * s2 + sig2, nu2])

    grad = np.zeros(3)
    for kb1, kw1, p1 in states:
        a1 = a_vec(kb1, kw1)
        t1 = float(w @ a1)
        for kb2, kw2, p2 in states:
            a2 = a_vec(kb2, kw2)
            t2 = float(w @ a2)
            if t1 <= 0 or t2 <= 0:
                continue  # a view with zero embedding: similarity undefined, measure-zero
            c = np.array([kb1 * kb2, kw1 * kw2 * s2, 0.0])
            num = float(w @ c)
            root = math.sqrt(t1 * t2)
            grad += p1 * p2 * (c / root - 0.5 * num / root * (a1 / t1 + a2 / t2))
    kappa = (2 * n - 2) / (2 * n - 1)
    return np.asarray(4.0 * kappa / config.tau * w * grad)


def view_correlations(config: InfoNCEConfig) -> FloatArray:
    """Per-coordinate cross-view correlation ``rho_g = c_g / a_g`` of (bits, weak, nuisance).

    Bits ``1 - p``; weak ``q_w^2 s^2 / (q_w s^2 + sigma^2)`` (``q_w`` its keep probability);
    nuisance 0. Without dropout the large-``tau`` loss rewards the Rayleigh quotient
    ``R = sum_g c_g w_g / sum_g a_g w_g``, maximised by putting all weight on the group of largest
    ``rho``: exactly shared bits (``rho = 1``) beat a weak group with view noise. With dropout
    the norms are no longer concentrated (a view without bits is made of weak and nuisance
    only) and the rule does not apply; :func:`group_growth_rates` handles that case.
    """
    q = 1.0 - config.weak_dropout
    s2, sig2 = config.weak_strength**2, config.view_noise**2
    return np.array([1.0 - config.bit_dropout, q * q * s2 / (q * s2 + sig2), 0.0])


# ---------------------------------------------------------------------------------------------
# Sweep for the figure
# ---------------------------------------------------------------------------------------------


def infonce_sweep(
    bits: Sequence[int] = (0, 4, 8, 16, 32, 64),
    dropouts: Sequence[float] = (0.0, 0.5),
    taus: Sequence[float] = (0.05, 0.1, 0.2, 0.5),
    seeds: Sequence[int] = (0,),
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 0.01,
    optimizer: Literal["adam", "sgd"] = "adam",
    record_every: int = 50,
    probe_resolution: float = 0.1,
    **config_kw: object,
) -> dict[str, NDArray[np.generic]]:
    """Train the full grid ``bits x dropouts x taus x seeds`` in one batched run.

    ``config_kw`` sets the remaining :class:`InfoNCEConfig` fields (shared by all configs).
    Grid arrays have shape ``G = (len(bits), len(dropouts), len(taus), len(seeds))``.

    Returns:
        A dict of numpy arrays: the axes ``bits, dropouts, taus, seeds``; ``steps (T,)``;
        final ``probe``, ``probe_resolved``, ``loss`` of shape ``G``; final ``shares``
        ``G + (3,)`` (bits, weak, nuisance); histories ``probe_history``,
        ``probe_resolved_history``, ``weak_share_history`` of shape ``(T,) + G``; theory
        curves ``bits_only_loss (len(bits), len(taus))`` and ``lower_bound (len(taus),)`` for
        this batch size; ``config_json`` and ``settings_json`` (0-d string arrays).
    """
    import json

    grid = [
        InfoNCEConfig(bits=int(b), bit_dropout=float(p), tau=float(t), seed=int(s), **config_kw)  # type: ignore[arg-type]
        for b in bits
        for p in dropouts
        for t in taus
        for s in seeds
    ]
    shape = (len(bits), len(dropouts), len(taus), len(seeds))
    hist = train_linear_infonce(
        grid,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        record_every=record_every,
        probe_resolution=probe_resolution,
    )
    t_len = len(hist.steps)
    b_arr = np.asarray(bits, dtype=np.int64)
    t_arr = np.asarray(taus, dtype=np.float64)
    return {
        "bits": b_arr,
        "dropouts": np.asarray(dropouts, dtype=np.float64),
        "taus": t_arr,
        "seeds": np.asarray(seeds, dtype=np.int64),
        "steps": hist.steps,
        "probe": hist.probe[-1].reshape(shape),
        "probe_resolved": hist.probe_resolved[-1].reshape(shape),
        "loss": hist.loss[-1].reshape(shape),
        "shares": hist.weights[-1].reshape((*shape, 3)),
        "probe_history": hist.probe.reshape((t_len, *shape)),
        "probe_resolved_history": hist.probe_resolved.reshape((t_len, *shape)),
        "weak_share_history": hist.weights[..., 1].reshape((t_len, *shape)),
        "bits_only_loss": bits_only_loss(b_arr[:, None], batch_size, t_arr[None, :]),
        "lower_bound": ntxent_lower_bound(batch_size, t_arr),
        "config_json": np.asarray(json.dumps([c.to_dict() for c in grid])),
        "settings_json": np.asarray(json.dumps(hist.settings)),
    }
