"""Benchmarks: ``python -m benchmarks [NAME ...]`` merges its keys into results/bench.json."""
