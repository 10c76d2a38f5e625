"""What a model stage declares about itself, in its own file (:data:`STAGE` there), and the registry lists: its
columns, how its weights are found and labelled, what it reads. Imports no model and no torch."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from curation.core.section import Section
from curation.runtime.stage import StageResources

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig


@dataclass(frozen=True)
class EnrichStage:
    """name: the stage (also its config section ``annotate.<name>``, its workers ``annotate.ray.<name>`` and the
        prefix of its ``<name>_model`` / ``<name>_random_weights`` / ``<name>_error`` columns).
    implementation: ``module:Class`` of the stage.
    columns: the columns it adds, (name, Arrow type, meaning).
    config: its config section's class (``annotate.<name>``; :class:`~curation.core.section.Section`).
    resources: its workers' defaults (``annotate.ray.<name>``).
    default: whether a job runs it unless ``annotate.stages`` says otherwise (default false: opt-in).
    reads_key: the key of its section that decides what it reads, named when a stage it reads is not in the run
        (default none: ``stages``).
    weights: the stage's constructor arguments from the config: resolved weights; raises ConfigError before any
        work when they are missing.
    label: (text written to ``<name>_model``, whether the weights are random), from those arguments.
    reads: the stages whose columns it reads under a config (they run before it).
    download: fetch the weights the config names (on a machine with internet); returns what was fetched.
    transport_keys: keys of its section that change how its results are fetched, not what they are (a rerun
        completing an output may change them)."""

    name: str
    implementation: str
    columns: tuple[tuple[str, pa.DataType, str], ...]
    config: type[Section]
    resources: StageResources
    weights: Callable[[AnnotateConfig], dict[str, Any]]
    label: Callable[..., tuple[str, bool]]
    reads: Callable[[AnnotateConfig], tuple[str, ...]] = field(default=lambda cfg: ())
    download: Callable[[AnnotateConfig], list[str]] = field(default=lambda cfg: [])
    transport_keys: tuple[str, ...] = ()
    default: bool = False
    reads_key: str | None = None

    def load(self) -> type:
        module, name = self.implementation.split(":")
        return getattr(importlib.import_module(module), name)
