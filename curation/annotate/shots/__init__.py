"""Shot detectors, one per file, behind the interface in ``base.py``; ``build_detector`` picks one."""
from __future__ import annotations

from curation.annotate.config import CutsConfig
from curation.annotate.shots.base import TINY_SIZE, Boundary, FrameFeatures, ShotDetector, tiny_picture
from curation.annotate.shots.cascade import CascadeDetector, merge_boundaries
from curation.annotate.shots.pyscenedetect import PySceneDetectDetector
from curation.annotate.shots.transnetv2 import TransNetV2Detector, TransNetV2Model


def needs_transnetv2(config: CutsConfig) -> bool:
    return config.detector in ("hybrid", "transnetv2")


def build_detector(config: CutsConfig, model: TransNetV2Model | None = None) -> ShotDetector:
    """A fresh detector for one video (detectors keep per-video state; the model is shared)."""
    if config.detector in ("hybrid", "fast"):
        return CascadeDetector(config, model)
    if config.detector == "transnetv2":
        if model is None:
            raise ValueError("the transnetv2 detector needs the TransNetV2 model")
        return TransNetV2Detector(config, model)
    return PySceneDetectDetector(config, config.detector)


__all__ = ["TINY_SIZE", "Boundary", "FrameFeatures", "ShotDetector", "TransNetV2Model", "build_detector", "tiny_picture",
           "merge_boundaries", "needs_transnetv2"]
