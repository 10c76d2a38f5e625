"""Per-frame content scores from PySceneDetect's ContentDetector, at one frame step of the cascade."""
from __future__ import annotations

import numpy as np
from scenedetect import ContentDetector, FrameTimecode

# Nominal rate for PySceneDetect timecodes: scores are keyed by frame number, the rate only converts.
_RATE = 1000.0


class ContentScorer:
    """Feeds every ``step``-th frame to a PySceneDetect ContentDetector and records its ``content_val``:
    the weighted mean absolute HSV difference to the previous fed frame (0..255)."""

    def __init__(self, step: int = 1):
        self.step = step
        self._detector = ContentDetector(threshold=255.0, min_scene_len=0)
        self._indices: list[int] = []
        self._scores: list[float] = []

    def push(self, index: int, bgr: np.ndarray) -> float | None:
        """Score frame ``index`` against frame ``index - step``; None when this level skips the frame."""
        if index % self.step:
            return None
        # The scoring method itself (pinned scenedetect-headless 0.7.2): going through process_frame with a
        # StatsManager would also compute Canny edges on every frame, which the default weights ignore.
        score = self._detector._calculate_frame_score(FrameTimecode(index, _RATE), bgr) or 0.0
        self._indices.append(index)
        self._scores.append(float(score))
        return float(score)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, scores); the first fed frame scores 0."""
        return np.asarray(self._indices, dtype=np.int64), np.asarray(self._scores, dtype=np.float64)


def adaptive_ratio(scores: np.ndarray, window: int) -> np.ndarray:
    """PySceneDetect AdaptiveDetector's ratio: a score over the mean of the ``window`` scores on each side
    (capped at 255; 255 when the neighbours are all zero and the score is not)."""
    n = len(scores)
    out = np.zeros(n)
    if n == 0:
        return out
    padded = np.pad(scores, window, mode="edge")
    kernel = np.ones(2 * window + 1)
    kernel[window] = 0
    mean = np.convolve(padded, kernel, mode="valid") / (2 * window)
    nonzero = mean > 1e-5
    out[nonzero] = np.minimum(scores[nonzero] / mean[nonzero], 255.0)
    out[~nonzero & (scores > 0)] = 255.0
    return out
