"""The linear contrastive model: feature groups, views and the embedding dimension.

Data (science.md, "The linear theory this project builds"): K feature groups. Group k has
dimension ``d_k``, strength ``s_k`` and a latent ``z_k`` with covariance ``diag(spectrum_k)``
(isotropic, unit variance by default). The clean input is ``x = R concat_k(s_k z_k)`` with an
optional fixed orthogonal rotation ``R``. A view is
``x~ = R (mask * concat_k(s_k z_k)) + sigma * eps`` where the mask drops the whole group k with
probability ``p_k``, independently in each view, and
``eps`` is standard normal noise drawn independently per view. The encoder is ``f(x) = W x`` with
``W`` of shape ``(m, d)``.

All parameters live in small frozen dataclasses that validate themselves: a bad value raises
``ValueError`` naming the field and the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _check(cond: bool, name: str, allowed: str, value: object) -> None:
    if not cond:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


@dataclass(frozen=True)
class FeatureGroup:
    """One group of latent features.

    Attributes:
        dim: number of latent coordinates ``d_k`` (>= 1).
        strength: scale ``s_k`` (>= 0) multiplying the latent in the input.
        dropout: probability ``p_k`` in [0, 1] that a view drops the whole group.
        spectrum: optional per-coordinate latent variances (length ``dim``, each > 0);
            ``None`` means isotropic unit variance.
        name: a label used in tables and figures.
    """

    dim: int
    strength: float
    dropout: float = 0.0
    spectrum: tuple[float, ...] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        _check(
            isinstance(self.dim, int | np.integer) and self.dim >= 1,
            "dim",
            "an integer >= 1",
            self.dim,
        )
        _check(
            math.isfinite(self.strength) and self.strength >= 0,
            "strength",
            "finite and >= 0",
            self.strength,
        )
        _check(
            math.isfinite(self.dropout) and 0.0 <= self.dropout <= 1.0,
            "dropout",
            "in [0, 1]",
            self.dropout,
        )
        if self.spectrum is not None:
            spec = tuple(float(v) for v in self.spectrum)
            _check(len(spec) == self.dim, "spectrum", f"of length dim={self.dim}", len(spec))
            _check(
                all(math.isfinite(v) and v > 0 for v in spec),
                "spectrum",
                "finite values > 0",
                self.spectrum,
            )
            object.__setattr__(self, "spectrum", spec)

    @property
    def variances(self) -> FloatArray:
        """Latent variances of the group's coordinates, shape ``(dim,)``."""
        if self.spectrum is None:
            return np.ones(self.dim)
        return np.asarray(self.spectrum, dtype=np.float64)

    @property
    def keep(self) -> float:
        """Probability ``1 - p_k`` that a view keeps the group."""
        return 1.0 - self.dropout


@dataclass(frozen=True)
class LinearModel:
    """A linear contrastive model: feature groups, view noise and embedding dimension.

    Attributes:
        groups: the K feature groups (K >= 1).
        noise: view noise standard deviation ``sigma`` (>= 0), independent per view.
        embed_dim: embedding dimension ``m`` (>= 1).
        rotation: optional fixed orthogonal ``(d, d)`` matrix applied to the clean input.
    """

    groups: tuple[FeatureGroup, ...]
    noise: float = 0.0
    embed_dim: int = 1
    rotation: FloatArray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        groups = tuple(self.groups)
        _check(len(groups) >= 1, "groups", "a non-empty sequence of FeatureGroup", self.groups)
        _check(
            all(isinstance(g, FeatureGroup) for g in groups),
            "groups",
            "FeatureGroup instances",
            self.groups,
        )
        object.__setattr__(self, "groups", groups)
        _check(
            math.isfinite(self.noise) and self.noise >= 0, "noise", "finite and >= 0", self.noise
        )
        _check(
            isinstance(self.embed_dim, int | np.integer) and self.embed_dim >= 1,
            "embed_dim",
            "an integer >= 1",
            self.embed_dim,
        )
        if self.rotation is not None:
            rot = np.asarray(self.rotation, dtype=np.float64)
            d = self.dim
            _check(rot.shape == (d, d), "rotation", f"a ({d}, {d}) matrix", rot.shape)
            _check(
                bool(np.allclose(rot @ rot.T, np.eye(d), atol=1e-8)),
                "rotation",
                "orthogonal (R R^T = I)",
                "a non-orthogonal matrix",
            )
            rot.setflags(write=False)
            object.__setattr__(self, "rotation", rot)

    @classmethod
    def from_arrays(
        cls,
        dims: Sequence[int],
        strengths: Sequence[float],
        dropouts: Sequence[float] | None = None,
        noise: float = 0.0,
        embed_dim: int = 1,
    ) -> LinearModel:
        """Build a model from parallel sequences; lengths must match."""
        k = len(dims)
        _check(len(strengths) == k, "strengths", f"of length len(dims)={k}", len(strengths))
        if dropouts is None:
            dropouts = [0.0] * k
        _check(len(dropouts) == k, "dropouts", f"of length len(dims)={k}", len(dropouts))
        groups = tuple(
            FeatureGroup(dim=int(d), strength=float(s), dropout=float(p))
            for d, s, p in zip(dims, strengths, dropouts, strict=True)
        )
        return cls(groups=groups, noise=float(noise), embed_dim=int(embed_dim))

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    @property
    def dim(self) -> int:
        """Input dimension ``d = sum_k d_k``."""
        return sum(g.dim for g in self.groups)

    @property
    def slices(self) -> tuple[slice, ...]:
        """Slice of each group's coordinates in the (unrotated) input."""
        out, start = [], 0
        for g in self.groups:
            out.append(slice(start, start + g.dim))
            start += g.dim
        return tuple(out)

    @property
    def group_index(self) -> NDArray[np.int64]:
        """Group id of each unrotated input coordinate, shape ``(d,)``."""
        return np.concatenate([np.full(g.dim, k) for k, g in enumerate(self.groups)])

    def coordinate_params(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per-coordinate ``(keep probability, strength^2 * variance, variance)``, each ``(d,)``."""
        keep = np.concatenate([np.full(g.dim, g.keep) for g in self.groups])
        var = np.concatenate([g.variances for g in self.groups])
        s2 = np.concatenate([np.full(g.dim, g.strength**2) for g in self.groups])
        return keep, s2 * var, var

    def replace(self, **changes: object) -> LinearModel:
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace as _replace

        return _replace(self, **changes)  # type: ignore[arg-type]

    def with_dropout(self, dropouts: Sequence[float]) -> LinearModel:
        """A copy with new per-group dropout probabilities."""
        from dataclasses import replace as _replace

        _check(
            len(dropouts) == self.num_groups,
            "dropouts",
            f"of length num_groups={self.num_groups}",
            len(dropouts),
        )
        groups = tuple(
            _replace(g, dropout=float(p)) for g, p in zip(self.groups, dropouts, strict=True)
        )
        return self.replace(groups=groups)


def random_rotation(d: int, rng: np.random.Generator) -> FloatArray:
    """A Haar-random ``(d, d)`` orthogonal matrix (QR of a Gaussian matrix, sign-fixed)."""
    _check(d >= 1, "d", "an integer >= 1", d)
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return np.asarray(q * np.sign(np.diag(r)), dtype=np.float64)
