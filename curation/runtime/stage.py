"""The stage interface: declared resources, model set-up once per worker, ``__call__(batch) -> batch``.

Stages never import Ray; :mod:`curation.runtime.ray_runner` turns their resources into Ray Data arguments, and the same
stage runs in a plain loop in tests and benchmarks. Batches are columnar: ``dict[str, list | np.ndarray]``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import Field

from curation.core.section import Float, Section

Batch = dict[str, Any]


class StageResources(Section):
    """What one stage asks of the cluster (turned into Ray arguments in ``curation.runtime.ray_runner`` only).

    num_cpus: CPUs per worker (default 1; the probe stage defaults to 0: it only reads headers). num_gpus: GPUs per worker, fractional allowed (default 0).
    batch_size: rows per batch (default 1). pool_size: workers; 0 = one per CPU (or per GPU share) the cluster
    has (default 0).
    gpu_memory_gb: GPU memory one worker needs, GiB (0 = not declared). On GPU workers ``num_gpus`` is raised to
    at least this share of a GPU, so Ray never packs more workers onto a GPU than its memory holds, and the
    worker caps its allocator at it.
    """

    num_cpus: Float = Field(1.0, ge=0)
    num_gpus: Float = Field(0.0, ge=0)
    batch_size: int = Field(1, ge=1)
    pool_size: int = Field(0, ge=0)
    gpu_memory_gb: Float = Field(0.0, ge=0)


class Stage(ABC):
    """Subclasses set ``name`` and implement ``__call__``; ``resources`` comes from the config."""

    name: str = "stage"

    def __init__(self, resources: StageResources):
        self.resources = resources

    @abstractmethod
    def __call__(self, batch: Batch) -> Batch:
        ...

    def close(self) -> None:
        """Release what the worker holds (child processes, models)."""
