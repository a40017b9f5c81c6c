"""The gate's untrained baseline: paired twins against a population of initialisations
(docs/cpu_scale_search.md, "The gate's untrained baseline").

Reads the exp_oracle_dropout figure's probe records under ``ROOT/results/runs`` (its trained runs
and each untrained population, ``figures.baselines``; the population's seeds are disjoint from the
trained ones, so the trained seeds' own initialisations, their twins, are written and probed here
first where their records are missing, about 2 worker-seconds each) and prints, per (condition,
task) cell: the untrained spread over the population's initialisations, the trained spread over
seeds, the gain paired by seed and the Welch gain against the whole population, with their 95%
intervals; then the pooled within-cell correlation between a trained run's probe and its own
initialisation's, which decides whether pairing by seed can help.
Usage, from the repository root: ``.venv/bin/python scripts/untrained_spread.py [ROOT]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from figures import baselines
from figures.experiments import oracle
from figures.experiments.common import _probe
from figures.stats import paired_interval, welch_interval
from figures.sweep import RunSpec, load_eval, run_sweep


def cells(root: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per cell: its label, the trained probes (seeds), the same seeds' own twins and the
    whole untrained population."""
    cfg = oracle.oracle_config()
    probe = _probe(cfg)
    specs = oracle.oracle_specs(cfg)
    base = baselines.plan(specs, root, (probe,))
    # the trained seeds' own initialisations (twins) and the populations
    untrained = [*baselines.unique(base.twins), *base.untrained_runs()]
    for t in untrained:
        baselines.write_untrained(t, root)
    run_sweep(untrained, root)  # evaluates only the records that are missing
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for spec in specs:
        suite, cond = spec.name.split("-")[:2]  # "digits", "p0.4" or "alone"
        groups.setdefault((suite, cond), []).append(spec)
    out = []
    for (suite, cond), members in groups.items():
        tasks = cfg["suites"][suite]["tasks"]
        if cond == "alone":
            tasks = tasks[:1]  # the blanked background's labels are at chance by construction
        pop = base.untrained_population(members[0].name, probe)
        for t in tasks:
            trained = [load_eval(s.run_dir(root), probe)["metrics"][t]["accuracy"] for s in members]
            own = [
                load_eval(base.twins[s.name].run_dir(root), probe)["metrics"][t]["accuracy"]
                for s in members
            ]
            everyone = [u["metrics"][t]["accuracy"] for u in pop]
            out.append(
                (f"{suite} {cond} {t}", np.array(trained), np.array(own), np.array(everyone))
            )
    return out


def main(root: Path) -> None:
    rows = cells(root / "results" / "runs")
    print(
        "| cell | untrained mean (sd), inits | trained mean (sd), seeds "
        "| paired gain [95%] | Welch gain [95%] |"
    )
    print("|---|---|---|---|---|")
    a: list[float] = []
    b: list[float] = []
    for label, trained, own, pop in rows:
        p, w = paired_interval(trained, own), welch_interval(trained, pop)
        print(
            f"| {label} | {pop.mean():.3f} ({pop.std(ddof=1):.3f}), {pop.size} "
            f"| {trained.mean():.3f} ({trained.std(ddof=1):.3f}), {trained.size} "
            f"| {p.mean:+.3f} [{p.lo:+.3f}, {p.hi:+.3f}] "
            f"| {w.mean:+.3f} [{w.lo:+.3f}, {w.hi:+.3f}] |"
        )
        a += list(trained - trained.mean())
        b += list(own - own.mean())
    r = float(np.corrcoef(a, b)[0, 1])
    print(
        f"\npooled within-cell correlation of a trained probe with its own initialisation's: "
        f"{r:+.2f} over {len(a)} runs in {len(rows)} cells"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
