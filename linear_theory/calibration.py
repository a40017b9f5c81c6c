"""Estimate the linear model's parameters from data: group dims and strengths, view noise.

Pure numpy on data matrices (no data loading, no deep results). The inputs are, for ``n``
examples in one fixed ``D``-dimensional space (e.g. :func:`random_projection` of the pixels):

* one matrix per feature group, that group's component of the input: for an overlay suite the
  overlay component ``x - x_clean`` and the background ``x_clean``;
* two views ``v1, v2`` of the same ``n`` inputs, made by the view transform whose noise the
  model's ``sigma`` stands for.

In the linear model (``linear_theory.model``) group k contributes ``s_k z_k`` on a
``d_k``-dimensional subspace with isotropic unit-variance latents, and a view adds independent
noise ``sigma eps`` in every direction. The estimators are exact for that model in the limit
``n -> inf`` and are applied unchanged to real data, where they define the isotropic
approximation of each group:

* **dim** ``d_k``: the participation ratio ``(tr S_k)^2 / tr(S_k^2)`` of the group's covariance
  ``S_k`` (the number of equally strong directions with the same first two spectral moments),
  with the Gaussian finite-sample correction
  ``tr(S^2) ~= (tr(S_hat^2) - tr(S_hat)^2 / n) / (1 + 1 / n)``, rounded to an integer >= 1;
* **strength** ``s_k = sqrt(tr S_k / d_k)``: the group's variance per direction (its total
  variance is kept);
* **noise** ``sigma``: half the covariance of the view difference, ``N = Cov(v1 - v2) / 2``,
  read along each group's signal subspace (its top ``d_k`` principal directions ``U_k``):
  ``sigma_k^2 = tr(U_k^T N U_k) / d_k``, and ``sigma^2`` their ``d_k``-weighted mean. For the
  model's isotropic noise every direction gives ``sigma^2``; for real views (crops, colour
  changes) the noise that matters for the eigenvalue ``q^2 v / (q v + sigma^2)`` is the part
  along the signal directions, not the average over all pixels.

Where real data differ from the model (a power-law spectrum instead of ``d_k`` equal directions,
groups that overlap, noise that is not isotropic), the estimates are the model's summary of the
data, not a test of the model; :class:`Calibration` keeps the per-group noise ``sigma_k`` and the
groups' overlap so that a reader can see how far the model's assumptions are from the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linear_theory.model import FeatureGroup, FloatArray, LinearModel


def _matrix(name: str, x: object, min_rows: int = 2) -> FloatArray:
    """``x`` as a finite float64 matrix ``(n, D)`` with ``n >= min_rows``; else ValueError."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-d matrix (n, D); got shape {a.shape}")
    if a.shape[0] < min_rows or a.shape[1] < 1:
        raise ValueError(f"{name} must have >= {min_rows} rows and >= 1 column; got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (no nan or inf)")
    return a


def _centred(a: FloatArray) -> FloatArray:
    return np.asarray(a - a.mean(axis=0))


def covariance(x: FloatArray) -> FloatArray:
    """Sample covariance ``Y^T Y / n`` of the centred rows of ``x`` ``(n, D)``, ``(D, D)``."""
    y = _centred(_matrix("x", x))
    return np.asarray(y.T @ y / y.shape[0])  # (D, n) @ (n, D)


def participation_ratio(cov: FloatArray, n: int) -> float:
    """``(tr S)^2 / tr(S^2)`` of a covariance estimated from ``n`` samples, bias-corrected.

    ``E tr(S_hat^2) = (1 + 1/n) tr(S^2) + tr(S)^2 / n`` for Gaussian rows; the correction inverts
    it (clipped so that the ratio stays in ``[1, D]``). 0 for a zero covariance.
    """
    s = np.asarray(cov, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"cov must be a square matrix; got shape {s.shape}")
    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    tr = float(np.trace(s))
    if tr <= 0:
        return 0.0
    tr2 = (float(np.sum(s * s)) - tr * tr / n) / (1.0 + 1.0 / n)
    d = s.shape[0]
    tr2 = min(max(tr2, tr * tr / d), tr * tr)  # keeps the ratio in [1, D]
    return tr * tr / tr2


def random_projection(in_dim: int, out_dim: int, seed: int) -> FloatArray:
    """A fixed map ``(in_dim, out_dim)``: ``sqrt(in_dim / out_dim)`` times a Haar-random matrix
    with orthonormal columns (QR of a seeded Gaussian matrix, sign-fixed).

    ``x @ G`` keeps, in expectation over ``G``, the variance along any direction of the input
    (a random ``out_dim``-subspace holds the fraction ``out_dim / in_dim`` of each direction,
    restored by the scale). ``out_dim == in_dim`` gives a (scaled-by-1) rotation.
    """
    if not 1 <= out_dim <= in_dim:
        raise ValueError(f"out_dim must be in [1, in_dim={in_dim}]; got {out_dim}")
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((in_dim, out_dim)))
    return np.asarray(q * np.sign(np.diag(r)) * math.sqrt(in_dim / out_dim))


@dataclass(frozen=True)
class GroupEstimate:
    """One group's isotropic approximation.

    Attributes:
        name: the group's label.
        dim: participation-ratio dimension ``d_k`` (rounded, >= 1).
        dim_exact: the unrounded participation ratio.
        strength: ``s_k = sqrt(total variance / d_k)``.
        variance: total variance ``tr S_k``.
        noise: ``sigma_k``, the view noise along the group's top ``d_k`` principal directions.
    """

    name: str
    dim: int
    dim_exact: float
    strength: float
    variance: float
    noise: float

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "name": self.name,
            "dim": self.dim,
            "dim_exact": self.dim_exact,
            "strength": self.strength,
            "variance": self.variance,
            "noise": self.noise,
        }


@dataclass(frozen=True)
class Calibration:
    """Estimated linear-model parameters of K groups.

    Attributes:
        groups: one :class:`GroupEstimate` per group, in the order given.
        noise: ``sigma``, the ``d_k``-weighted root mean square of the groups' ``sigma_k``.
        overlap: ``tr(S_j S_k) / sqrt(tr S_j^2 tr S_k^2)`` for each pair ``j < k`` (0: the groups
            live on orthogonal subspaces, as in the model; 1: on the same one), keyed
            ``"name_j/name_k"``.
        n: number of examples used.
        space_dim: ``D``, the dimension of the space the matrices live in.
    """

    groups: tuple[GroupEstimate, ...]
    noise: float
    overlap: Mapping[str, float]
    n: int
    space_dim: int

    def model(self, dropouts: Sequence[float], embed_dim: int) -> LinearModel:
        """The linear model with these groups and noise, per-group dropouts and dimension m."""
        if len(dropouts) != len(self.groups):
            raise ValueError(
                f"dropouts must have one value per group ({len(self.groups)}); got {len(dropouts)}"
            )
        return LinearModel(
            groups=tuple(
                FeatureGroup(g.dim, g.strength, float(p), name=g.name)
                for g, p in zip(self.groups, dropouts, strict=True)
            ),
            noise=self.noise,
            embed_dim=embed_dim,
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "groups": [g.to_dict() for g in self.groups],
            "noise": self.noise,
            "overlap": dict(self.overlap),
            "n": self.n,
            "space_dim": self.space_dim,
        }


def _top_directions(cov: FloatArray, k: int) -> FloatArray:
    """Eigenvectors of the ``k`` largest eigenvalues of a symmetric ``(D, D)``, ``(D, k)``."""
    _, vecs = np.linalg.eigh(cov)
    return np.asarray(vecs[:, ::-1][:, :k])


def calibrate(groups: Mapping[str, object], view1: object, view2: object) -> Calibration:
    """Estimate the linear model from group components and two views (module docstring).

    Args:
        groups: name -> the group's component of the inputs, ``(n, D)`` each (same ``n``, ``D``).
        view1, view2: two views of the same ``n`` inputs, ``(n, D)``, in the same space.

    Raises:
        ValueError: naming the argument that is not a finite ``(n, D)`` matrix of the common
            shape, or ``groups`` when it is empty or a group has no variance.
    """
    if not groups:
        raise ValueError("groups must name at least one group matrix")
    mats = {name: _matrix(f"groups[{name!r}]", x) for name, x in groups.items()}
    shape = next(iter(mats.values())).shape
    for name, a in mats.items():
        if a.shape != shape:
            raise ValueError(f"groups[{name!r}] must have shape {shape}; got {a.shape}")
    v1, v2 = _matrix("view1", view1), _matrix("view2", view2)
    for name, v in (("view1", v1), ("view2", v2)):
        if v.shape != shape:
            raise ValueError(f"{name} must have the groups' shape {shape}; got {v.shape}")
    n, dim = shape
    diff = v1 - v2
    noise_cov = covariance(diff) / 2.0  # (D, D): Cov(v1 - v2) / 2 = sigma^2 I in the model
    covs = {name: covariance(a) for name, a in mats.items()}
    out: list[GroupEstimate] = []
    for name, cov in covs.items():
        var = float(np.trace(cov))
        if not var > 0:
            raise ValueError(f"groups[{name!r}] has no variance (all rows equal)")
        pr = participation_ratio(cov, n)
        d = max(1, round(pr))
        u = _top_directions(cov, d)  # (D, d)
        sig2 = float(np.trace(u.T @ noise_cov @ u)) / d  # (d, D) @ (D, D) @ (D, d)
        out.append(GroupEstimate(name, d, pr, math.sqrt(var / d), var, math.sqrt(max(sig2, 0.0))))
    total = sum(g.dim for g in out)
    noise = math.sqrt(sum(g.dim * g.noise**2 for g in out) / total)
    names = list(covs)
    overlap = {}
    for j in range(len(names)):
        for k in range(j + 1, len(names)):
            a, b = covs[names[j]], covs[names[k]]
            overlap[f"{names[j]}/{names[k]}"] = float(
                np.sum(a * b) / math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
            )
    return Calibration(tuple(out), noise, overlap, n, dim)


def sample_components(
    model: LinearModel, n: int, rng: np.random.Generator
) -> tuple[dict[str, FloatArray], FloatArray, FloatArray]:
    """Data of the kind :func:`calibrate` reads, drawn from a known model (for tests and demos).

    Returns ``(groups, view1, view2)``: each group's clean component ``R (s_k z_k)`` (the other
    groups zeroed; keyed by the group's name, or ``"group<k>"``), ``(n, d)``; and two views of
    the clean inputs ``x = sum_k components`` with the model's view noise and no dropout.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    z = rng.standard_normal((n, model.dim)) * np.sqrt(model.coordinate_params()[2])  # (n, d)
    scale = np.concatenate([np.full(g.dim, g.strength) for g in model.groups])
    signal = z * scale  # (n, d), unrotated
    comps: dict[str, FloatArray] = {}
    for k, (g, sl) in enumerate(zip(model.groups, model.slices, strict=True)):
        part = np.zeros_like(signal)
        part[:, sl] = signal[:, sl]
        if model.rotation is not None:
            part = part @ model.rotation.T  # (n, d) @ (d, d)
        comps[g.name or f"group{k}"] = part
    x = sum(comps.values(), np.zeros((n, model.dim)))
    v1 = x + model.noise * rng.standard_normal(x.shape)
    v2 = x + model.noise * rng.standard_normal(x.shape)
    return comps, v1, v2
