"""Figure registry and the results cache.

:data:`FIGURES` holds every figure (``figures.spec.FigureSpec``: ``compute``, ``plot``,
``default_config``); this module imports the figure modules and registers their specs explicitly.
Results are cached as ``results/figures/NAME.json`` together with the config that produced them
and a fingerprint of the code that computed them (:func:`code_sha256`); a cached result whose
config or code differs from the current one is recomputed (its runs and evaluation records stay
cached in ``results/runs/``, each under its own key, so a recompute reads them again and redoes
only what their keys say is stale). The figure is written as PNG and PDF into ``figures/out/``
together with ``NAME.config.json``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from empirical.io import atomic_write, atomic_write_json
from empirical.registry import Registry
from figures import theory_figures as tf
from figures.experiments import (
    audio,
    budget,
    dynamics,
    foster,
    local,
    losses,
    multitask,
    oracle,
    randbits,
    suppression,
)
from figures.spec import Config, FigureSpec, Results

RESULTS_DIR = Path("results") / "figures"
OUT_DIR = Path("figures") / "out"

FIGURES: Registry[FigureSpec] = Registry("figure")
for _spec in (
    tf.THEORY_PHASE,
    tf.THEORY_VS_P,
    tf.THEORY_DYNAMICS,
    tf.THEORY_INFONCE,
    oracle.EXP_ORACLE_DROPOUT,
    multitask.EXP_VIEWS_MULTITASK,
    randbits.EXP_RANDBITS,
    foster.EXP_FOSTER,
    local.EXP_LOCAL_FEATURES,
    audio.EXP_AUDIO,
    budget.EXP_VIEWMAKER_BUDGET,
    dynamics.EXP_DYNAMICS,
    losses.EXP_LOSSES,
    suppression.EXP_SUPPRESSION,
):
    FIGURES.register(_spec.name, _spec, description=_spec.description)


def in_order(names: Sequence[str], figures: Mapping[str, FigureSpec] | None = None) -> list[str]:
    """``names`` with every figure after the figures among ``names`` whose runs it reads
    (``FigureSpec.reads``), otherwise in the given order.

    Raises:
        ValueError: the figures read each other in a cycle (names them).
    """
    figs = FIGURES if figures is None else figures
    wanted = set(names)
    out: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        if name in visiting:
            raise ValueError(f"figures read each other's runs in a cycle: {' -> '.join(visiting)}")
        visiting.append(name)
        for dep in figs[name].reads:
            if dep in wanted:
                visit(dep)
        visiting.pop()
        out.append(name)

    for n in names:
        visit(n)
    return out


CODE_PACKAGES = ("figures", "linear_theory")  # what computes a figure's results from records


def sources_sha256(root: Path, packages: Sequence[str], seed: str = "") -> str:
    """SHA-256 of ``seed`` and the relative path, size and bytes of every ``.py`` file under
    ``root/PACKAGE`` for each of ``packages``, in sorted order."""
    h = hashlib.sha256(seed.encode())
    for package in packages:
        for f in sorted(f for f in (root / package).rglob("*.py") if f.is_file()):
            h.update(f"{f.relative_to(root).as_posix()}|{f.stat().st_size}|".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """:func:`sources_sha256` of :data:`CODE_PACKAGES`, seeded with
    ``empirical.records.code_sha256`` (the evaluation code whose records the results read),
    computed once per process. Any edit there, a comment or a plot included, recomputes every
    figure's results from its cached records; the git commit is not used, so that an edit
    elsewhere (the training loop, tests, docs) leaves them cached."""
    from empirical import records

    root = Path(__file__).resolve().parents[1]
    return sources_sha256(root, CODE_PACKAGES, records.code_sha256())


def cached_results(name: str, config: Config, results_dir: Path = RESULTS_DIR) -> Results | None:
    """The results in ``results_dir/NAME.json`` when they were computed with ``config`` by the
    current code (:func:`code_sha256`); None when missing, corrupt or stale."""
    try:
        cached = json.loads((results_dir / f"{name}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(cached, dict) or "results" not in cached:
        return None
    if cached.get("config") != json.loads(json.dumps(config)):
        return None
    if cached.get("code") != code_sha256():
        return None
    return dict(cached["results"])


def load_or_compute(
    spec: FigureSpec, config: Config, results_dir: Path = RESULTS_DIR, force: bool = False
) -> Results:
    """Cached results for ``config`` and the current code (:func:`cached_results`), computing
    (and saving atomically) when missing or stale."""
    if not force:
        cached = cached_results(spec.name, config, results_dir)
        if cached is not None:
            return cached
    results = spec.compute(config)
    path = results_dir / f"{spec.name}.json"
    atomic_write_json(path, {"config": config, "code": code_sha256(), "results": results})
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

    spec = FIGURES.lookup(name)
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
