"""A tiny overlay suite for the diagnostics tests (cheap: 3 x 16 x 16 images); importable as
``diag_tiny:tiny_overlay`` (``data.suite``) when this folder is on ``sys.path``."""

from __future__ import annotations

import numpy as np
import torch

from empirical.data.base import Batch, TaskSpec

SIZE = 16

# overrides of a tiny viewmaker run on this suite (the diagnostics and figure tests train it)
TINY_RUN = [
    "data.suite=diag_tiny:tiny_overlay",
    "data.options.n=128",
    "data.knn_bank=0",
    "data.knn_test=0",
    "model.encoder=convnet",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.name=viewmaker",
    "views.vm_width=2",
    "views.vm_blocks=1",
    "views.eps=0.1",
    "optim.batch_size=32",
    "optim.optimizer=adam",
    "optim.lr=0.003",
    "optim.epochs=1",
    "run.device=cpu",
    "run.knn_every=0",
]


class TinyOverlaySuite:
    """Overlay suite of ``n`` 3 x 16 x 16 images: background class = one of 4 fixed random
    textures (plus noise); overlay class = a bright 6 x 6 square in one of 4 quadrants.
    ``x_clean`` has no square; ``overlay_mask`` marks the square."""

    name = "tiny-overlay"

    def __init__(self, split: str = "train", n: int = 256, seed: int = 0) -> None:
        self.split = split
        self.input_shape = (3, SIZE, SIZE)
        self.tasks = (
            TaskSpec("background", "classification", num_classes=4),
            TaskSpec("overlay", "classification", num_classes=4),
        )
        rng = np.random.default_rng([seed, split == "test"])
        textures = np.random.default_rng(seed + 99).uniform(0.0, 0.6, (4, 3, SIZE, SIZE))
        self.bg = rng.integers(0, 4, n)
        self.clean = (textures[self.bg] + rng.uniform(0.0, 0.2, (n, 3, SIZE, SIZE))).astype(
            np.float32
        )
        masks = np.zeros((4, 1, SIZE, SIZE), dtype=bool)
        for q in range(4):
            r, c = divmod(q, 2)
            masks[q, :, 1 + 8 * r : 7 + 8 * r, 1 + 8 * c : 7 + 8 * c] = True
        self.masks = masks

    def __len__(self) -> int:
        return len(self.bg)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        ov = rng.integers(0, 4, len(idx))  # fresh overlay per read, as the real overlay suites
        clean = torch.from_numpy(self.clean[idx])
        mask = torch.from_numpy(self.masks[ov])
        x = torch.where(mask, torch.ones_like(clean), clean)
        return Batch(
            x=x,
            labels={"background": torch.from_numpy(self.bg[idx]), "overlay": torch.from_numpy(ov)},
            index=torch.from_numpy(idx),
            x_clean=clean,
            overlay_mask=mask,
        )


def tiny_overlay(split: str = "train", n: int = 256, seed: int = 0) -> TinyOverlaySuite:
    return TinyOverlaySuite(split, n, seed)
