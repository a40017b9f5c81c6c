"""The spectral contrastive loss of a linear encoder, in population form.

``L(W) = -2 E[f(x~1).f(x~2)] + E[(f(x~).f(x~'))^2]`` with ``f(x) = W x`` and ``x~, x~'`` views of
independent examples equals ``-2 tr(P C) + tr(P A P A)`` with ``P = W^T W``,
``C = E[x~1 x~2^T]`` and ``A = E[x~ x~^T]``. Functions broadcast over leading batch dimensions:
``W`` may be ``(..., m, d)`` with ``C, A`` of shape ``(..., d, d)``.
"""

from __future__ import annotations

import numpy as np

from linear_theory.model import FloatArray


def spectral_loss(w: FloatArray, c: FloatArray, a: FloatArray) -> FloatArray:
    """``-2 tr(P C) + tr(P A P A)``; returns shape ``(...)``."""
    p = np.swapaxes(w, -1, -2) @ w  # (..., d, m) @ (..., m, d) -> (..., d, d)
    pa = p @ a  # (..., d, d)
    return np.asarray(
        -2.0 * np.einsum("...ij,...ji->...", p, c) + np.einsum("...ij,...ji->...", pa, pa)
    )


def spectral_loss_grad(w: FloatArray, c: FloatArray, a: FloatArray) -> FloatArray:
    """Gradient ``dL/dW = -4 W C + 4 W A P A`` (C, A symmetric); shape of ``w``."""
    p = np.swapaxes(w, -1, -2) @ w  # (..., d, d)
    return np.asarray(-4.0 * (w @ c) + 4.0 * (w @ a @ p @ a))  # (..., m, d)
