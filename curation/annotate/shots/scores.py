"""Per-frame content scores: PySceneDetect's ContentDetector score, computed with OpenCV at one frame step of the
cascade."""
from __future__ import annotations

import cv2
import numpy as np
from scenedetect import ContentDetector

# The detector's default weights of the (hue, saturation, luma, edges) differences; edges weigh 0.
_WEIGHTS = np.asarray(ContentDetector.DEFAULT_COMPONENT_WEIGHTS, dtype=np.float64)
_WEIGHT_SUM = float(np.abs(_WEIGHTS).sum())


class ContentScorer:
    """Scores every ``step``-th frame (of the video, with ``phase``) against the previous scored one with
    ContentDetector's ``content_val``: the weighted mean absolute HSV difference (0..255).

    The same numbers as ``ContentDetector._calculate_frame_score`` with its default weights (tested equal), at
    about a quarter of its cost: one absolute difference of the HSV images and one per-channel sum in OpenCV,
    instead of a split and three NumPy int32 passes (0.6 ms of a frame's ~6 ms in the scan)."""

    def __init__(self, step: int = 1):
        self.step = step
        # Added to the index for "every step-th frame": a segment starting mid-video scores the frames that a
        # scan from the start would (ShotDetector.align).
        self.phase = 0
        self._last: np.ndarray | None = None
        self._indices: list[int] = []
        self._scores: list[float] = []

    def push(self, index: int, bgr: np.ndarray) -> float | None:
        """Score frame ``index`` against frame ``index - step``; None when this level skips the frame."""
        if (index + self.phase) % self.step:
            return None
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        score = 0.0
        if self._last is not None:
            # Integer sums are exact in doubles, so each component equals PySceneDetect's NumPy mean.
            sums = cv2.sumElems(cv2.absdiff(hsv, self._last))[:3]
            n = float(hsv.shape[0] * hsv.shape[1])
            components = (sums[0] / n, sums[1] / n, sums[2] / n, 0.0)
            score = sum(c * w for c, w in zip(components, _WEIGHTS)) / _WEIGHT_SUM
        self._last = hsv
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
