"""A trained run, loaded for evaluation: config, encoder, head, views and datasets.

``load_run(RUN_DIR)`` reads ``RUN_DIR/last.pt`` (``prev.pt`` if that is damaged; see
``empirical.checkpoint``), rebuilds the encoder and projection head from the resolved config saved
in it and loads their weights (eval mode, on the requested device). The returned
:class:`LoadedRun` builds the run's datasets (:meth:`LoadedRun.dataset`) and view generators
(:meth:`LoadedRun.views`: the run's own training views, with its trained viewmaker, or any other
view family with the run's settings), and carries ``weights_sha256``, the checkpoint's identity
used to key evaluation records (``empirical.records``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from empirical.config import Config, from_dict
from empirical.data.base import MultiTaskDataset
from empirical.records import state_sha256
from empirical.views.base import ViewGenerator


@dataclass
class LoadedRun:
    """A trained run, ready for evaluation.

    Attributes:
        run_dir: the run directory.
        config: its resolved config.
        encoder: the encoder (eval mode, on ``device``).
        head: the projection head (eval mode, on ``device``).
        in_channels: encoder input channels (view channels plus post-view channels).
        models: the checkpoint's module state dicts (``"encoder"``, ``"head"``, maybe
            ``"viewmaker"``).
        device: where the modules live.
        weights_sha256: :func:`empirical.records.state_sha256` of ``models`` (all modules).
    """

    run_dir: Path
    config: Config
    encoder: nn.Module
    head: nn.Module
    in_channels: int
    models: dict[str, dict[str, torch.Tensor]]
    device: torch.device
    weights_sha256: str = ""

    def __post_init__(self) -> None:
        if not self.weights_sha256:
            self.weights_sha256 = state_sha256(self.models)

    def modules(self) -> dict[str, nn.Module]:
        """The frozen modules every evaluation reads: ``{"encoder": ..., "head": ...}``."""
        return {"encoder": self.encoder, "head": self.head}

    def dataset(self, split: str, **options: Any) -> MultiTaskDataset:
        """The run's suite (``data.suite`` and ``data.options``, updated by ``options``)."""
        from empirical.parts import build_dataset

        cfg = self.config
        if options:
            cfg = cfg.replace(data={"options": {**cfg.data.options, **options}})
        return build_dataset(cfg, split)

    def views(self, name: str, view_channels: int) -> ViewGenerator:
        """A view generator for inputs with ``view_channels`` channels (post-view channels
        excluded).

        ``"run"``: the run's own training views, with the trained viewmaker's weights when the run
        learned one; any other name of ``views.name`` (``expert``, ``oracle``, ``identity``,
        ``spirograph``, ``foster``) builds those views with the run's view settings (``viewmaker``
        is rejected: an untrained viewmaker is meaningless here; use ``"run"``).
        """
        from empirical.config import VIEWS
        from empirical.parts import build_views

        if name == "run":
            views = build_views(self.config, view_channels)
            if isinstance(views, nn.Module):
                if "viewmaker" not in self.models:
                    raise ValueError(f"{self.run_dir} has no trained viewmaker in its checkpoint")
                views.load_state_dict(self.models["viewmaker"])
                views.to(self.device).eval()
            return cast(ViewGenerator, views)
        if name not in VIEWS or name == "viewmaker":
            allowed = ", ".join(["run", *(v for v in VIEWS if v != "viewmaker")])
            raise ValueError(f"views must be one of {allowed}; got {name!r}")
        cfg = self.config.replace(views={"name": name})
        return cast(ViewGenerator, build_views(cfg, view_channels))


def first_conv_in_channels(state: dict[str, torch.Tensor]) -> int:
    """Input channels of the first 4-D (conv) weight of an encoder state dict."""
    for value in state.values():
        if value.dim() == 4:
            return int(value.shape[1])
    raise ValueError("encoder state dict has no convolution weight")


def build_encoder_head(cfg: Config, in_channels: int) -> tuple[nn.Module, nn.Module]:
    """The encoder of ``cfg.model`` for ``in_channels`` input channels and its projection head
    (freshly initialised from torch's global generator, float32, on the CPU)."""
    from empirical.models import ProjectionHead, build_encoder
    from empirical.parts import encoder_kwargs

    m = cfg.model
    encoder = build_encoder(m.encoder, in_channels, **encoder_kwargs(cfg))
    head = ProjectionHead(int(encoder.feat_dim), m.head_hidden, m.out_dim, m.head_depth)
    return encoder, head


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild the encoder and head of ``run_dir`` from ``last.pt`` (config from the checkpoint).

    A ``last.pt`` that is missing or cannot be read falls back to ``prev.pt``, as ``train
    --resume`` does (``empirical.checkpoint.CheckpointFiles.load``); a warning on stderr says so.

    Raises:
        FileNotFoundError: neither checkpoint exists.
        empirical.checkpoint.CheckpointError: no checkpoint that can be read (truncated,
            corrupt, unknown format).
        ValueError: a checkpoint whose weights do not fit its config.
    """
    from empirical.checkpoint import CheckpointError, CheckpointFiles
    from empirical.parts import resolve_device

    loaded = CheckpointFiles(run_dir).load()
    if loaded.note:
        print(loaded.note, file=sys.stderr, flush=True)
    path, state = loaded.path, loaded.state
    models: dict[str, dict[str, torch.Tensor]] = state.get("models", {})
    if "config" not in state or not {"encoder", "head"} <= set(models):
        raise CheckpointError(path, "holds no config, encoder or head")
    cfg = from_dict(state["config"])
    dev = resolve_device(device) if isinstance(device, str) else device
    in_channels = first_conv_in_channels(models["encoder"])
    encoder, head = build_encoder_head(cfg, in_channels)
    try:
        encoder.load_state_dict(models["encoder"])
        head.load_state_dict(models["head"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{path}: weights do not fit the saved config ({first})") from None
    encoder.to(dev).eval()
    head.to(dev).eval()
    return LoadedRun(path.parent, cfg, encoder, head, in_channels, models, dev)
