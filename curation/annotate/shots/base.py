"""The shot-detector interface: frames in (in order), boundaries out."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import cv2
import numpy as np

# TransNetV2's fixed input size (height, width).
TINY_SIZE = (27, 48)


@dataclass(frozen=True)
class Boundary:
    """A shot boundary over local frame indices.

    Frames ``start .. end - 1`` belong to a transition (none for a hard cut, where ``start == end``);
    ``end`` is the first frame of the new shot. ``score`` is the evidence (detector-specific scale),
    ``source`` names the detector and level that found it.
    """

    start: int
    end: int
    score: float
    source: str

    @property
    def is_cut(self) -> bool:
        return self.start == self.end


def tiny_picture(bgr: np.ndarray) -> np.ndarray:
    """TransNetV2's input picture: a small BGR frame area-averaged to ``TINY_SIZE``, as RGB uint8."""
    return cv2.cvtColor(cv2.resize(bgr, (TINY_SIZE[1], TINY_SIZE[0]), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2RGB)


@dataclass
class FrameFeatures:
    """What detectors see of one frame: a small BGR image (PySceneDetect scores; detectors that run TransNetV2
    make its picture from it, :func:`tiny_picture`) and optionally its luma at any small size (else derived
    from ``bgr``). Detectors may hold on to both: neither is written to afterwards."""

    index: int
    bgr: np.ndarray
    gray: np.ndarray | None = None


class ShotDetector(ABC):
    """Receives every decoded frame of a video (or a segment plus context) in order.

    ``push`` returns local indices of frames that may start a new shot (cheap, causal, a superset of the
    final cuts), so the caller can keep the frames next to them; ``finish`` returns the final boundaries.
    """

    name: str = "detector"

    @abstractmethod
    def push(self, features: FrameFeatures) -> list[int]:
        ...

    @abstractmethod
    def finish(self) -> list[Boundary]:
        ...

    def align(self, first_frame: int) -> None:
        """Called before the first ``push`` with the video frame number of the first frame (an estimate,
        exact for constant-rate video), so work done every few frames falls on the same frames whichever
        segment of the video the detector starts in. Default: nothing to align."""

    def describe(self) -> dict:
        """Detector name and parameters, recorded with every clip."""
        return {"detector": self.name}
