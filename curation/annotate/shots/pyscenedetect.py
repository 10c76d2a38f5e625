"""PySceneDetect's own detectors (AdaptiveDetector or ContentDetector) at the native frame rate, as its CLI
runs them: hard cuts only."""
from __future__ import annotations

from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode

from curation.annotate.config import CutsConfig
from curation.annotate.shots.base import Boundary, FrameFeatures, ShotDetector

_RATE = 1000.0


class PySceneDetectDetector(ShotDetector):
    def __init__(self, config: CutsConfig, kind: str):
        if kind == "adaptive":
            self._detector = AdaptiveDetector(
                adaptive_threshold=config.adaptive_threshold,
                min_scene_len=config.min_shot_frames,
                window_width=config.window_width,
                min_content_val=config.min_content_val,
            )
        elif kind == "content":
            self._detector = ContentDetector(threshold=config.content_threshold, min_scene_len=config.min_shot_frames)
        else:
            raise ValueError(f"unknown PySceneDetect detector {kind!r}")
        self.name = f"pyscenedetect-{kind}"
        self._config = config
        self._cuts: list[int] = []

    def push(self, features: FrameFeatures) -> list[int]:
        found = self._detector.process_frame(FrameTimecode(features.index, _RATE), features.bgr)
        new = [int(tc.frame_num) for tc in found]
        self._cuts.extend(new)
        return new

    def finish(self) -> list[Boundary]:
        return [Boundary(c, c, 1.0, self.name) for c in sorted(set(self._cuts)) if c > 0]

    def describe(self) -> dict:
        c = self._config
        params = {"min_scene_len": c.min_shot_frames, "analysis_width": c.analysis_width}
        if self.name.endswith("adaptive"):
            params.update(adaptive_threshold=c.adaptive_threshold, window_width=c.window_width,
                          min_content_val=c.min_content_val)
        else:
            params.update(threshold=c.content_threshold)
        return {"detector": self.name, **params}
