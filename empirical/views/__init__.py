"""View generators: expert, oracle feature dropout, viewmaker, Foster colour, Spirograph.

``build_views(name, **kw)`` builds one of :data:`VIEWS` (an ``empirical.registry.Registry``);
every generator is called as ``views(batch, generator) -> ViewPair`` and appends the batch's
post-view channels (RandBits) after making the views.

- ``"identity"``: both views are the input.
- ``"expert"``: ``modality`` ("image" | "audio") plus that pipeline's options.
- ``"oracle"``: ``p``; ``base`` (None | "expert" | "identity") and ``base_kwargs``.
- ``"viewmaker"``: ``in_channels``, ``base_channels``, ``num_res_blocks``, ``eps``, ``clamp``,
  ``noise_channels``; ``expert`` (bool: follow with expert image views) and ``expert_kwargs``.
- ``"foster"``: ``crop_scale``, ``p_flip``, ``p_gray``.
- ``"spirograph"``: the suite's nuisance ranges ``h_range``, ``bg_range``.
- ``"bitdrop"``: ``p`` (RandBits bit dropout); ``expert_kwargs`` (None: no image transform).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from empirical.registry import Registry, check_arguments
from empirical.views.base import IdentityViews, SingleView, ViewGenerator, ViewPair
from empirical.views.bitdrop import bit_dropout_views
from empirical.views.expert import AudioExpertViews, ImageExpertViews, expert_views
from empirical.views.foster import FosterViews
from empirical.views.oracle import OracleDropoutViews
from empirical.views.spirograph import SpirographViews, spirograph_views
from empirical.views.viewmaker import Viewmaker, ViewmakerViews, grad_reverse


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
    expert: bool = False,
    expert_kwargs: dict[str, Any] | None = None,
    **viewmaker: Any,
) -> ViewmakerViews:
    """A :class:`Viewmaker` (``viewmaker``: its options, checked against its signature) and,
    with ``expert``, expert image views after it."""
    if expert_kwargs and not expert:
        raise ValueError("viewmaker expert_kwargs given with expert=False")
    check_arguments(Viewmaker, (in_channels,), viewmaker, "views 'viewmaker'")
    vm = Viewmaker(in_channels, **viewmaker)
    exp = expert_views("image", **(expert_kwargs or {})) if expert else None
    return ViewmakerViews(vm, expert=exp)


VIEWS: Registry[Callable[..., Any]] = Registry("views")
VIEWS.register("expert", expert_views, description="hand-designed image or audio views")
VIEWS.register("oracle", _oracle, description="oracle feature dropout (drop the overlay)")
VIEWS.register("viewmaker", _viewmaker, description="learned adversarial views")
VIEWS.register("foster", FosterViews, description="Foster et al.'s differentiable colour views")
VIEWS.register("spirograph", spirograph_views, description="Spirograph, fresh nuisance")
VIEWS.register("identity", IdentityViews, description="both views are the input")
VIEWS.register("bitdrop", bit_dropout_views, description="RandBits: zero the bits in a view")


def build_views(name: str, **kw: Any) -> Any:
    """Build the view generator ``name`` (one of :data:`VIEWS`) with options ``kw``.

    Unknown names and unknown options raise ``ValueError`` naming them.
    """
    return VIEWS.build(name, **kw)


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
    "spirograph_views",
]
