"""Imports every suite module so that each registers itself (one import line per module)."""

from empirical.data import (
    audio,  # noqa: F401
    chen,  # noqa: F401
    overlay,  # noqa: F401
    spirograph,  # noqa: F401
)
