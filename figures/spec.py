"""What a figure is: ``compute(config) -> results`` (the only place that runs simulations or reads
training outputs) and ``plot(results, config) -> matplotlib Figure``, with a default config.

The figure modules define :class:`FigureSpec` values; ``figures.registry`` registers them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from figures.baselines import Request
    from figures.judges import JudgeShare
    from figures.sweep import RunSpec

Results = dict[str, Any]
Config = dict[str, Any]


@dataclass(frozen=True)
class FigureSpec:
    name: str
    description: str
    compute: Callable[[Config], Results]
    plot: Callable[[Results, Config], Any]
    default_config: Callable[[], Config]
    # the claims the figure tests, from its results (figures.claims.Claim entries); None: none
    claims: Callable[[Results, Config], list[Any]] | None = None
    # the training runs ``compute(config)`` sweeps, listed without running anything (its sweep
    # adds their untrained populations, figures.baselines); counted up front by
    # ``python -m figures`` (``all --dry-run`` and the job's progress display). None: the
    # figure trains nothing, or its runs are only counted once its sweep starts
    specs: Callable[[Config], Sequence[RunSpec]] | None = None
    # figures whose trained runs ``compute`` reads without training them itself: drawing
    # several figures (``python -m figures all``) draws these first (figures.registry.in_order)
    reads: tuple[str, ...] = ()
    # the baselines ``compute(config)`` prepares (``figures.baselines.Request``: its trained runs,
    # their untrained runs' evaluations and the raw-pixel probe's), listed without running
    # anything: ``python -m figures all`` evaluates them in its shared pool (figures.prefetch)
    # so that the figure's sweep finds them done. None: the figure prepares none
    baselines: Callable[[Config], Request] | None = None
    # the dropout-rate judges ``compute(config)`` trains, each set shared among runs of one suite
    # (``figures.judges.JudgeShare``: the compute trains them through the same list), listed
    # without running anything: ``python -m figures all`` trains them in its shared pool once
    # the runs are trained, then evaluates the rates there. None: the figure rates no runs
    judges: Callable[[Config], Sequence[JudgeShare]] | None = None
