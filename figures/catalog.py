"""Imports every figure module so that each registers itself."""

from figures import theory_figures  # noqa: F401
