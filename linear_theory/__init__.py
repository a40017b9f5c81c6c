"""Exact and simulated linear contrastive models of feature suppression and feature dropout.

Modules: ``model`` (the spec), ``moments`` (closed-form and Monte Carlo moments), ``loss`` (the
spectral contrastive loss), ``spectral`` (global optimum, p*, phase diagrams), ``symbolic`` (sympy
derivations), ``dynamics`` (gradient flow), ``infonce`` (linear InfoNCE with shared bits),
``probes`` (downstream probes) and ``strategies`` (hypothesis strategies).
"""

from linear_theory.loss import spectral_loss, spectral_loss_grad
from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.moments import cross_moment, sample_views, view_moment
from linear_theory.probes import probe_accuracy, probe_r2
from linear_theory.spectral import (
    group_weights,
    learned_dims,
    optimal_encoder,
    optimal_loss,
    p_star,
    phase_diagram,
)

__all__ = [
    "FeatureGroup",
    "LinearModel",
    "cross_moment",
    "group_weights",
    "learned_dims",
    "optimal_encoder",
    "optimal_loss",
    "p_star",
    "phase_diagram",
    "probe_accuracy",
    "probe_r2",
    "random_rotation",
    "sample_views",
    "spectral_loss",
    "spectral_loss_grad",
    "view_moment",
]
