"""Imports every suite module so that each registers itself (one import line per module)."""
from empirical.data import spirograph  # noqa: F401
from empirical.data import overlay  # noqa: F401
from empirical.data import chen  # noqa: F401
