"""Imports every suite module so that each registers itself (one import line per module)."""
