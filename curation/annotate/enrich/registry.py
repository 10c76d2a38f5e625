"""Every model stage, described in one place: what it adds to the clip table, which weights it needs, how its
model is labelled in the output, and which other stages it reads. In the order the stages run.

Each stage declares itself in its own file (its ``STAGE``, an :class:`~curation.annotate.enrich.stage.EnrichStage`,
beside its :class:`~curation.annotate.enrich.base.ModelStage`); this module lists them, in the order they run.
Importing it loads no model and no torch: a stage file imports those where the stage starts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curation.annotate.enrich import aesthetic, caption, caption_merge, ocr, video_caption
from curation.annotate.enrich.stage import EnrichStage

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig


# The SVD recipe's second and third captions come after the stages above, so the table's existing columns keep
# their order.
REGISTRY: tuple[EnrichStage, ...] = (caption.STAGE, ocr.STAGE, aesthetic.STAGE, video_caption.STAGE,
                                     caption_merge.STAGE)
BY_NAME = {stage.name: stage for stage in REGISTRY}


def enabled(cfg: AnnotateConfig) -> list[EnrichStage]:
    """The model stages ``cfg`` runs, in order (each after the stages it reads)."""
    return [stage for stage in REGISTRY if stage.name in cfg.stages]


def stage_weights(cfg: AnnotateConfig) -> dict[str, dict[str, Any]]:
    """Constructor arguments (resolved weights) of every enabled model stage; raises before any work when
    weights are missing or a head does not fit its model."""
    return {stage.name: stage.weights(cfg) for stage in enabled(cfg)}
