"""View generators: expert, oracle feature dropout, viewmaker, Foster colour, Spirograph.

``build_views(name, **kw)`` builds one of :data:`VIEWS`; every generator is called as
``views(batch, generator) -> ViewPair`` and appends the batch's post-view channels (RandBits)
after making the views.

- ``"identity"``: both views are the input.
- ``"expert"``: ``modality`` ("image" | "audio") plus that pipeline's options.
- ``"oracle"``: ``p``; ``base`` (None | "expert" | "identity") and ``base_kwargs``.
- ``"viewmaker"``: ``in_channels``, ``base_channels``, ``num_res_blocks``, ``eps``, ``clamp``,
  ``noise_channels``; ``expert`` (bool: follow with expert image views) and ``expert_kwargs``.
- ``"foster"``: ``crop_scale``, ``p_flip``, ``p_gray``.
- ``"spirograph"``: ``ranges`` (``empirical.data.spirograph.NuisanceRanges``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from empirical.views.base import IdentityViews, SingleView, ViewGenerator, ViewPair
from empirical.views.expert import AudioExpertViews, ImageExpertViews, expert_views
from empirical.views.foster import FosterViews
from empirical.views.oracle import OracleDropoutViews
from empirical.views.spirograph import SpirographViews
from empirical.views.viewmaker import Viewmaker, ViewmakerViews, grad_reverse


def _identity() -> IdentityViews:
    return IdentityViews()


def _expert(modality: str = "image", **kw: Any) -> SingleView:
    cls = {"image": ImageExpertViews, "audio": AudioExpertViews}.get(modality)
    if cls is None:
        raise ValueError(f"expert modality must be 'image' or 'audio'; got {modality!r}")
    _check_kwargs(f"expert ({modality})", cls, kw)
    return expert_views(modality, **kw)


def _oracle(
    p: float, base: str | None = None, base_kwargs: dict[str, Any] | None = None
) -> OracleDropoutViews:
    if base not in (None, "expert", "identity"):
        raise ValueError(f"oracle base must be None, 'expert' or 'identity'; got {base!r}")
    if base is None and base_kwargs:
        raise ValueError("oracle base_kwargs given without a base")
    base_views = None if base is None else build_views(base, **(base_kwargs or {}))
    return OracleDropoutViews(p, base=base_views)


def _viewmaker(
    in_channels: int,
    base_channels: int = 32,
    num_res_blocks: int = 3,
    eps: float = 0.05,
    clamp: bool = False,
    noise_channels: int = 1,
    expert: bool = False,
    expert_kwargs: dict[str, Any] | None = None,
) -> ViewmakerViews:
    if expert_kwargs and not expert:
        raise ValueError("viewmaker expert_kwargs given with expert=False")
    vm = Viewmaker(in_channels, base_channels, num_res_blocks, eps, clamp, noise_channels)
    exp = _expert("image", **(expert_kwargs or {})) if expert else None
    return ViewmakerViews(vm, expert=exp)


VIEWS: dict[str, Callable[..., Any]] = {
    "identity": _identity,
    "expert": _expert,
    "oracle": _oracle,
    "viewmaker": _viewmaker,
    "foster": FosterViews,
    "spirograph": SpirographViews,
}


def _check_kwargs(name: str, factory: Callable[..., Any], kw: dict[str, Any]) -> None:
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kw) - set(params))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for views {name!r}; allowed: {sorted(params)}"
        )


def build_views(name: str, **kw: Any) -> Any:
    """Build the view generator ``name`` (one of :data:`VIEWS`) with options ``kw``.

    Unknown names and unknown options raise ``ValueError`` naming them.
    """
    if name not in VIEWS:
        raise ValueError(f"unknown views {name!r}; known: {', '.join(sorted(VIEWS))}")
    _check_kwargs(name, VIEWS[name], kw)
    return VIEWS[name](**kw)


__all__ = [
    "VIEWS",
    "AudioExpertViews",
    "FosterViews",
    "IdentityViews",
    "ImageExpertViews",
    "OracleDropoutViews",
    "SingleView",
    "SpirographViews",
    "ViewGenerator",
    "ViewPair",
    "Viewmaker",
    "ViewmakerViews",
    "build_views",
    "grad_reverse",
]
