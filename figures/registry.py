"""Figure registry and the results cache.

A figure is two functions: ``compute(config) -> results`` (the only place that runs simulations
or reads training outputs) and ``plot(results, config) -> matplotlib Figure``. Results are cached
as ``results/figures/NAME.json`` together with the config that produced them; a cached result
whose config differs from the current one is recomputed. The figure is written as PNG and PDF into
``figures/out/`` together with ``NAME.config.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from empirical.io import atomic_write, atomic_write_json

Results = dict[str, Any]
Config = dict[str, Any]

RESULTS_DIR = Path("results") / "figures"
OUT_DIR = Path("figures") / "out"


@dataclass(frozen=True)
class FigureSpec:
    name: str
    description: str
    compute: Callable[[Config], Results]
    plot: Callable[[Results, Config], Any]
    default_config: Callable[[], Config]


FIGURES: dict[str, FigureSpec] = {}


def register(spec: FigureSpec) -> FigureSpec:
    if spec.name in FIGURES:
        raise ValueError(f"figure {spec.name!r} registered twice")
    FIGURES[spec.name] = spec
    return spec


def load_or_compute(
    spec: FigureSpec, config: Config, results_dir: Path = RESULTS_DIR, force: bool = False
) -> Results:
    """Cached results for ``config``, computing (and saving atomically) when missing or stale."""
    path = results_dir / f"{spec.name}.json"
    if path.exists() and not force:
        try:
            cached = json.loads(path.read_text())
            if cached.get("config") == json.loads(json.dumps(config)):
                return dict(cached["results"])
        except (json.JSONDecodeError, KeyError):
            pass  # a corrupt cache is recomputed
    results = spec.compute(config)
    atomic_write_json(path, {"config": config, "results": results})
    return results


def make_figure(
    name: str,
    out_dir: Path = OUT_DIR,
    results_dir: Path = RESULTS_DIR,
    force: bool = False,
    config: Config | None = None,
) -> list[Path]:
    """Compute (or load) the results of figure ``name`` and write PNG, PDF and config."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(sorted(FIGURES))}")
    spec = FIGURES[name]
    cfg = spec.default_config() if config is None else config
    results = load_or_compute(spec, cfg, results_dir, force)
    fig = spec.plot(results, cfg)
    paths = []
    for ext in ("png", "pdf"):

        def save(f: BinaryIO, ext: str = ext) -> None:
            fig.savefig(f, format=ext, dpi=150, bbox_inches="tight")

        paths.append(atomic_write(out_dir / f"{name}.{ext}", save))
    plt.close(fig)
    paths.append(atomic_write_json(out_dir / f"{name}.config.json", cfg))
    return paths
