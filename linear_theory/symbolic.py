"""Sympy derivations of the linear theory: lambda_k(p), d lambda / dp, p* and the optimal loss.

Each function derives its expression once (cached), and returns a ``Derivation``: the sympy
expression, the symbols it takes, and a numpy callable made by ``lambdify``. The numeric module
``linear_theory.spectral`` is tested against these callables (Tamkin et al., "Feature Dropout",
arXiv 2212.08378, linear model; science.md "The linear theory this project builds").

Derivation of lambda. For one coordinate with strength ``s``, unit-variance latent ``z``, keep
masks ``b1, b2 ~ Bernoulli(q)`` independent per view and view noise ``sigma eps``:
``c = E[b1 b2] s^2 E[z^2]`` and ``a = E[b^2] s^2 E[z^2] + sigma^2``; the Bernoulli expectations
are computed by summing over the mask outcomes. ``lambda = c / a`` is the eigenvalue of
``A^{-1/2} C A^{-1/2}`` on that coordinate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import sympy as sp

p, q, s, sigma = sp.symbols("p q s sigma", nonnegative=True)
s1, s2 = sp.symbols("s_1 s_2", positive=True)
p1, p2 = sp.symbols("p_1 p_2", nonnegative=True)
m, d1, d2 = sp.symbols("m d_1 d_2", positive=True)


@dataclass(frozen=True)
class Derivation:
    """A derived expression, the symbols its numeric callable takes (in order) and the callable."""

    expr: sp.Expr
    args: tuple[sp.Symbol, ...]
    func: Callable[..., Any]


def _bernoulli_expectation(expr: sp.Expr, masks: tuple[sp.Symbol, ...], keep: sp.Expr) -> sp.Expr:
    """``E[expr]`` over independent ``Bernoulli(keep)`` masks, by summing over outcomes."""
    total = sp.Integer(0)
    for outcome in itertools.product((0, 1), repeat=len(masks)):
        prob = sp.Integer(1)
        for b in outcome:
            prob *= keep if b else 1 - keep
        total += prob * expr.subs(dict(zip(masks, outcome, strict=True)))
    return sp.expand(total)


@cache
def moments() -> tuple[sp.Expr, sp.Expr]:
    """Per-coordinate ``(c, a)`` in terms of ``p, s, sigma`` (unit latent variance)."""
    b1, b2 = sp.symbols("b_1 b_2")
    keep = 1 - p
    # E[z1 z2] = 1 for the same latent in both views; noise is independent across views.
    c = _bernoulli_expectation(b1 * b2, (b1, b2), keep) * s**2
    a = _bernoulli_expectation(b1**2, (b1,), keep) * s**2 + sigma**2
    return sp.factor(c), sp.factor(a)


@cache
def eigenvalue() -> Derivation:
    """``lambda(p, s, sigma) = (1-p)^2 s^2 / ((1-p) s^2 + sigma^2)``."""
    c, a = moments()
    expr = sp.simplify(c / a)
    args = (p, s, sigma)
    return Derivation(expr, args, sp.lambdify(args, expr, "numpy"))


@cache
def eigenvalue_derivative() -> Derivation:
    """``d lambda / dp = -q s^2 (q s^2 + 2 sigma^2) / (q s^2 + sigma^2)^2`` with ``q = 1 - p``.

    Every factor is >= 0 for ``q in (0, 1]``, ``s > 0``, so lambda strictly decreases in ``p`` on
    [0, 1) and reaches 0 at ``p = 1``.
    """
    expr = sp.factor(sp.diff(eigenvalue().expr, p))
    args = (p, s, sigma)
    return Derivation(expr, args, sp.lambdify(args, expr, "numpy"))


def eigenvalue_derivative_closed_form() -> sp.Expr:
    """The sign-evident form of ``d lambda / dp`` (to compare with the derived one)."""
    qv = (1 - p) * s**2
    return -qv * (qv + 2 * sigma**2) / (qv + sigma**2) ** 2


@cache
def p_star() -> Derivation:
    """Threshold ``p*(s_1, s_2, sigma)`` solving ``lambda(p, s_1) = lambda(0, s_2)``.

    Solved as a quadratic in ``q = 1 - p``; of its two roots the one with the ``+sqrt`` (the
    only non-negative one, since the product of the roots is ``-mu sigma^2 / s_1^2 <= 0``) is
    kept. The result is meaningful (in (0, 1)) iff ``lambda(0, s_1) > lambda(0, s_2)``.
    """
    lam = eigenvalue().expr
    mu = lam.subs({p: 0, s: s2})
    equation = sp.numer(sp.together(lam.subs({s: s1}).subs(p, 1 - q) - mu))
    roots = sp.solve(equation, q)
    # The non-negative root: evaluate at a generic point to pick it.
    point = {s1: 2, s2: 1, sigma: sp.Rational(1, 2)}
    root = max(roots, key=lambda r: float(r.subs(point)))
    expr = sp.simplify(1 - root)
    args = (s1, s2, sigma)
    return Derivation(expr, args, sp.lambdify(args, expr, "numpy"))


@cache
def optimal_loss_two_group() -> Derivation:
    """Optimal loss of the isotropic two-group model as a piecewise function of ``m``.

    With ``lambda_k = lambda(p_k, s_k, sigma)`` and group dims ``d_1, d_2``, capacity goes to the
    larger eigenvalue first: if ``lambda_1 >= lambda_2``

        L*(m) = -m l1^2                             for m <= d_1
              = -d_1 l1^2 - (m - d_1) l2^2          for d_1 < m <= d_1 + d_2
              = -d_1 l1^2 - d_2 l2^2                for m > d_1 + d_2

    and symmetrically otherwise (at a tie both branches agree). Both eigenvalues are >= 0 here,
    and a zero eigenvalue adds nothing, so "never keep eigenvalues <= 0" holds automatically.
    Arguments of the callable: ``(m, d_1, d_2, p_1, p_2, s_1, s_2, sigma)``.
    """
    lam = eigenvalue().expr
    l1 = lam.subs({p: p1, s: s1})
    l2 = lam.subs({p: p2, s: s2})

    def branch(la: sp.Expr, lb: sp.Expr, da: sp.Expr, db: sp.Expr) -> sp.Piecewise:
        return sp.Piecewise(
            (-m * la**2, m <= da),
            (-da * la**2 - (m - da) * lb**2, m <= da + db),
            (-da * la**2 - db * lb**2, True),
        )

    expr = sp.Piecewise(
        (branch(l1, l2, d1, d2), l1 >= l2),
        (branch(l2, l1, d2, d1), True),
    )
    args = (m, d1, d2, p1, p2, s1, s2, sigma)
    return Derivation(expr, args, sp.lambdify(args, expr, "numpy"))
