"""Imports every figure module so that each registers itself."""

from figures import (
    experiment_figures,  # noqa: F401
    theory_figures,  # noqa: F401
)
