"""The stage interface: declared resources, model set-up once per worker, ``__call__(batch) -> batch``.

Stages never import Ray; :mod:`curation.runtime.ray_runner` turns their resources into Ray Data arguments, and the same
stage runs in a plain loop in tests and benchmarks. Batches are columnar: ``dict[str, list | np.ndarray]``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from curation.config import StageResources

Batch = dict[str, Any]


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
