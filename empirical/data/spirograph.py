"""Spirograph (Foster, Pukdee, Rainforth, ICLR 2021): a batched, differentiable torch renderer.

A hypotrochoid with 40 points ``t_i`` in ``[0, 2 pi]``::

    x_i = (m - h) cos t_i + h cos((m - h) t_i / b)
    y_i = (m - h) sin t_i - h sin((m - h) t_i / b)

is splatted on a 32x32 grid over ``[-6, 6]^2`` as
``i(u, v) = mean_i exp(-((u - x_i)^2 + (v - y_i)^2) / sigma)``, normalised to max 1 per image,
and coloured ``c = i * (fr, fg, fb) + (1 - i) * (br, bg, bb)``.

Targets (what the downstream linear regression predicts): ``(m, b, sigma, fr)``.
Nuisance ``alpha`` (what the views change, differentiably): ``(h, fg, fb, br, bg, bb)``.

Pixel ``(row r, column c)`` sits at ``u = grid[c]``, ``v = grid[r]`` with
``grid = linspace(-6, 6, 32)`` (row 0 is ``v = -6``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from empirical.data.base import Batch, TaskSpec, check_indices, split_stream
from empirical.registry import strict

TARGET_NAMES: tuple[str, ...] = ("m", "b", "sigma", "fr")
NUISANCE_NAMES: tuple[str, ...] = ("h", "fg", "fb", "br", "bg", "bb")
TARGET_RANGES: dict[str, tuple[float, float]] = {
    "m": (2.0, 5.0),
    "b": (0.1, 1.1),
    "sigma": (0.25, 1.0),
    "fr": (0.4, 1.0),
}
NUM_POINTS = 40
IMAGE_SIZE = 32
EXTENT = 6.0


@dataclass(frozen=True)
class NuisanceRanges:
    """Uniform ranges of the nuisance parameters ``alpha`` (Foster et al.'s defaults).

    Attributes:
        h: range of ``h`` (default ``(0.5, 2.5)``; shift it for robustness tests).
        fg: range shared by the foreground green and blue ``fg, fb`` (default ``(0.4, 1)``).
        bg: range shared by the background colour ``br, bg, bb`` (default ``(0, 0.6)``).
    """

    h: tuple[float, float] = (0.5, 2.5)
    fg: tuple[float, float] = (0.4, 1.0)
    bg: tuple[float, float] = (0.0, 0.6)

    def __post_init__(self) -> None:
        lo, hi = self.h
        if not (0.0 < lo < hi):
            raise ValueError(f"h must be a range (low, high) with 0 < low < high; got {self.h}")
        for name, (lo, hi) in (("fg", self.fg), ("bg", self.bg)):
            if not (0.0 <= lo < hi <= 1.0):
                raise ValueError(
                    f"{name} must be a colour range (low, high) with 0 <= low < high <= 1; "
                    f"got {(lo, hi)}"
                )

    def bounds(self) -> tuple[tuple[float, float], ...]:
        """Per-column ``(low, high)`` in ``NUISANCE_NAMES`` order (6 pairs)."""
        return (self.h, self.fg, self.fg, self.bg, self.bg, self.bg)


def render_spirograph(
    m: torch.Tensor,
    b: torch.Tensor,
    h: torch.Tensor,
    sigma: torch.Tensor,
    fg_colour: torch.Tensor,
    bg_colour: torch.Tensor,
) -> torch.Tensor:
    """Render a batch of Spirograph images (differentiable in every argument).

    Uses the separability ``exp(-(du^2 + dv^2)/sigma) = exp(-du^2/sigma) exp(-dv^2/sigma)``, so the
    intensity is one batched matmul of two ``(B, 40, 32)`` factors.

    Args:
        m, b, h, sigma: ``(B,)`` curve parameters (``b != 0``, ``sigma > 0``).
        fg_colour: ``(B, 3)`` foreground ``(fr, fg, fb)``.
        bg_colour: ``(B, 3)`` background ``(br, bg, bb)``.

    Returns:
        ``(B, 3, 32, 32)`` images in the dtype of ``m``.
    """
    dtype, device = m.dtype, m.device
    t = torch.linspace(0.0, 2.0 * math.pi, NUM_POINTS, dtype=dtype, device=device)  # (P,)
    grid = torch.linspace(-EXTENT, EXTENT, IMAGE_SIZE, dtype=dtype, device=device)  # (G,)
    mh = (m - h)[:, None]  # (B, 1)
    phase = mh * t[None, :] / b[:, None]  # (B, P)
    x = mh * torch.cos(t)[None, :] + h[:, None] * torch.cos(phase)  # (B, P)
    y = mh * torch.sin(t)[None, :] - h[:, None] * torch.sin(phase)  # (B, P)
    inv_s = (1.0 / sigma)[:, None, None]  # (B, 1, 1)
    ex = torch.exp(-((grid[None, None, :] - x[:, :, None]) ** 2) * inv_s)  # (B, P, G): over u
    ey = torch.exp(-((grid[None, None, :] - y[:, :, None]) ** 2) * inv_s)  # (B, P, G): over v
    inten = torch.bmm(ey.transpose(1, 2), ex) / NUM_POINTS  # (B, G, P) @ (B, P, G) -> (B, v, u)
    peak = inten.amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(dtype).tiny)  # (B, 1, 1)
    i = (inten / peak)[:, None]  # (B, 1, G, G)
    fg = fg_colour[:, :, None, None]  # (B, 3, 1, 1)
    bg = bg_colour[:, :, None, None]  # (B, 3, 1, 1)
    return i * fg + (1.0 - i) * bg  # (B, 3, G, G)


def render_from_params(targets: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Render from stacked parameters.

    Args:
        targets: ``(B, 4)`` columns ``TARGET_NAMES`` = ``(m, b, sigma, fr)``.
        alpha: ``(B, 6)`` columns ``NUISANCE_NAMES`` = ``(h, fg, fb, br, bg, bb)``.

    Returns:
        ``(B, 3, 32, 32)`` images.
    """
    if targets.ndim != 2 or targets.shape[1] != len(TARGET_NAMES):
        raise ValueError(f"targets must have shape (B, 4); got {tuple(targets.shape)}")
    if alpha.ndim != 2 or alpha.shape[1] != len(NUISANCE_NAMES):
        raise ValueError(f"alpha must have shape (B, 6); got {tuple(alpha.shape)}")
    if alpha.shape[0] != targets.shape[0]:
        raise ValueError(
            f"targets and alpha batch sizes differ: {targets.shape[0]} vs {alpha.shape[0]}"
        )
    m, b, sigma, fr = targets.unbind(dim=1)
    h, fg, fb = alpha[:, 0], alpha[:, 1], alpha[:, 2]
    fg_colour = torch.stack([fr, fg, fb], dim=1)  # (B, 3)
    return render_spirograph(m, b, h, sigma, fg_colour, alpha[:, 3:6])


Generator = np.random.Generator | torch.Generator


def _uniform(n: int, bounds: tuple[tuple[float, float], ...], generator: Generator) -> torch.Tensor:
    """``(n, len(bounds))`` float32 uniform draws, column j in ``bounds[j]``."""
    lo = torch.tensor([a for a, _ in bounds], dtype=torch.float32)
    hi = torch.tensor([c for _, c in bounds], dtype=torch.float32)
    if isinstance(generator, torch.Generator):
        dev = generator.device
        u = torch.rand(n, len(bounds), generator=generator, device=dev)
        lo, hi = lo.to(dev), hi.to(dev)
    elif isinstance(generator, np.random.Generator):
        u = torch.from_numpy(generator.random((n, len(bounds)), dtype=np.float32))
    else:
        raise ValueError(
            f"generator must be a numpy Generator or a torch Generator; got {type(generator)}"
        )
    return lo + (hi - lo) * u


def sample_targets(n: int, generator: Generator) -> torch.Tensor:
    """Draw ``(n, 4)`` targets ``(m, b, sigma, fr)`` from ``TARGET_RANGES`` (float32)."""
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    return _uniform(n, tuple(TARGET_RANGES[k] for k in TARGET_NAMES), generator)


def sample_nuisance(
    n: int,
    generator: Generator,
    ranges: NuisanceRanges | None = None,
) -> torch.Tensor:
    """Draw ``(n, 6)`` nuisance parameters ``alpha = (h, fg, fb, br, bg, bb)`` (float32).

    A torch generator draws on its own device (views made on an accelerator).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    return _uniform(n, (ranges or NuisanceRanges()).bounds(), generator)


def standardise_targets(targets: torch.Tensor) -> torch.Tensor:
    """Map ``(B, 4)`` raw targets to zero mean and unit variance under their uniform priors:
    ``(t - (lo + hi)/2) / ((hi - lo)/sqrt(12))`` (fixed constants, not data statistics)."""
    lo = torch.tensor([TARGET_RANGES[k][0] for k in TARGET_NAMES], dtype=targets.dtype)
    hi = torch.tensor([TARGET_RANGES[k][1] for k in TARGET_NAMES], dtype=targets.dtype)
    lo, hi = lo.to(targets.device), hi.to(targets.device)
    return (targets - (lo + hi) / 2) / ((hi - lo) / math.sqrt(12.0))


class SpirographDataset:
    """Spirograph parameter sets; each read renders them with a fresh nuisance draw.

    The dataset stores only the targets, ``(n, 4)``, drawn from ``seed`` and the split (train and
    test are independent streams). ``batch`` draws one ``alpha`` per example from ``rng``, renders
    ``(B, 3, 32, 32)`` float32 images, and returns ``Batch.params = {"targets": (B, 4) raw,
    "alpha": (B, 6)}`` so that view code can re-render the same example with fresh ``alpha``
    (``sample_nuisance`` + ``render_from_params``). Task ``"targets"`` is regression of dim 4 on
    the targets standardised by ``standardise_targets`` (or raw with ``standardise=False``).
    """

    name: str = "spirograph"
    input_shape: tuple[int, int, int] = (3, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(
        self,
        split: str = "train",
        n_train: int = 10_000,
        n_test: int = 2_000,
        seed: int = 0,
        h_range: tuple[float, float] = (0.5, 2.5),
        bg_range: tuple[float, float] = (0.0, 0.6),
        standardise: bool = True,
    ) -> None:
        stream = split_stream(split)
        for field_name, value in (("n_train", n_train), ("n_test", n_test)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{field_name} must be an integer >= 1; got {value!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0; got {seed}")
        h_lo, h_hi = h_range
        if not (0.0 < h_lo < h_hi):
            raise ValueError(
                f"h_range must be (low, high) with 0 < low < high; got {tuple(h_range)}"
            )
        bg_lo, bg_hi = bg_range
        if not (0.0 <= bg_lo < bg_hi <= 1.0):
            raise ValueError(
                f"bg_range must be (low, high) with 0 <= low < high <= 1; got {tuple(bg_range)}"
            )
        self.split = split
        self.seed = seed
        self.ranges = NuisanceRanges(h=(h_lo, h_hi), bg=(bg_lo, bg_hi))
        self.standardise = standardise
        self.tasks: tuple[TaskSpec, ...] = (
            TaskSpec("targets", "regression", dim=len(TARGET_NAMES)),
        )
        n = n_train if split == "train" else n_test
        gen = np.random.default_rng([seed, stream])
        self.targets = sample_targets(n, gen)  # (n, 4)

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        """Render examples ``indices`` ``(B,)`` with one ``alpha`` draw each from ``rng``."""
        idx = check_indices(indices, len(self))
        index = torch.from_numpy(idx)
        targets = self.targets[index]  # (B, 4)
        alpha = sample_nuisance(len(idx), rng, self.ranges)  # (B, 6)
        with torch.no_grad():
            x = render_from_params(targets, alpha)
        label = standardise_targets(targets) if self.standardise else targets.clone()
        return Batch(
            x=x,
            labels={"targets": label},
            index=index,
            params={"targets": targets, "alpha": alpha},
        )


build_spirograph = strict(SpirographDataset, "suite 'spirograph'")
