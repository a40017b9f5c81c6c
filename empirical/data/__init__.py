"""Offline multi-task datasets (overlay suites, Chen et al.'s suites, Spirograph, audio)."""

from empirical.data.base import Batch, MultiTaskDataset, TaskSpec, append_post_view_channels

__all__ = ["Batch", "MultiTaskDataset", "TaskSpec", "append_post_view_channels"]
