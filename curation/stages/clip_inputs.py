"""Clip-inputs stage: one keyframe part in, one row per clip that still needs a model stage out (the three
keyframe JPEGs side by side, the existing caption, and a ``need_<stage>`` flag per model stage)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.config import MODEL_STAGES, AnnotateConfig
from curation.schema import KEYFRAME_SCHEMA
from curation.stages.base import Batch, Stage
from curation.stages.model_base import POSITIONS


class ClipInputStage(Stage):
    """Input rows: ``part`` (a keyframe part file), ``needs`` (JSON {clip_id: [stage, ...]}) and ``texts``
    (JSON {clip_id: caption} of clips whose caption exists already)."""

    name = "clip_inputs"

    def __init__(self, config: AnnotateConfig):
        super().__init__(config.ray.clip_inputs)

    def __call__(self, batch: Batch) -> Batch:
        out: dict[str, list] = {c: [] for c in ("clip_id", "video_id", "text", *(f"jpeg_{p}" for p in POSITIONS),
                                                *(f"need_{s}" for s in MODEL_STAGES))}
        for part, needs_json, texts_json in zip(batch["part"], batch["needs"], batch["texts"]):
            needs: dict[str, list[str]] = json.loads(needs_json)
            texts: dict[str, str] = json.loads(texts_json)
            table = pq.read_table(str(part), schema=KEYFRAME_SCHEMA,
                                  filters=pc.field("clip_id").isin(list(needs)))
            images: dict[str, dict[str, bytes]] = {}
            video: dict[str, str] = {}
            for clip_id, video_id, position, jpeg in zip(*(table.column(c).to_pylist()
                                                           for c in ("clip_id", "video_id", "position", "jpeg"))):
                images.setdefault(clip_id, {})[position] = jpeg
                video[clip_id] = video_id
            for clip_id, stages in needs.items():
                out["clip_id"].append(clip_id)
                out["video_id"].append(video.get(clip_id, clip_id.rsplit("-", 1)[0]))
                out["text"].append(texts.get(clip_id, ""))
                for p in POSITIONS:
                    out[f"jpeg_{p}"].append(images.get(clip_id, {}).get(p, b""))
                for s in MODEL_STAGES:
                    out[f"need_{s}"].append(s in stages)
        return {k: np.array(v, dtype=bool if k.startswith("need_") else object) for k, v in out.items()}
