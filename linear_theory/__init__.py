"""Exact and simulated linear contrastive models of feature suppression and feature dropout."""

from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.moments import cross_moment, sample_views, view_moment

__all__ = [
    "FeatureGroup",
    "LinearModel",
    "cross_moment",
    "random_rotation",
    "sample_views",
    "view_moment",
]
