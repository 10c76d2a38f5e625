"""Clarity and exposure per clip, from frames the scan already decodes, sampled on the motion stage's grid
(``sample_fps`` a second, anchored at time 0 of the video).

Per sampled frame, on its luma and colours scaled to a 256 px short side (so the numbers do not depend on the
source resolution): **sharpness**, the variance of the Laplacian (Open-Sora's and Step-Video's blur measure);
the **over-exposed** and **under-exposed** share of the pixels (luma at or above ``over_level`` / at or below
``under_level``: video white is 235 and black 16 in the usual limited range); mean **saturation** (HSV, 0..1);
**contrast** (the luma's standard deviation, grey levels); and how far the frame is from the sample before it
(mean absolute difference of 64 px-wide thumbnails, grey levels). Per clip: the median sharpness (a few blurred
frames in a pan do not make a clip blurred), the means of the others, and **still**: every sample after the clip's
first differs from the one before by less than ``still_change`` (a slideshow still, a frozen frame).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.annotate.scan.signal import SampleGrid, ScanSignal, analysis_size
from curation.core.section import Float, Section

# The analysis size: every measure here is taken at this short side.
SHORT_SIDE = 256
THUMB_WIDTH = 64


class ClarityConfig(Section):
    """The ``clarity`` stage: sharpness, exposure, saturation, contrast and stillness per clip.

    sample_fps: frames measured a second (default 2, as the motion stage's samples).
    over_level / under_level: luma (0..255 as decoded) at or above / at or below which a pixel is over- /
        under-exposed (defaults 233 and 18: video white and black, 235 and 16, less two levels of noise).
    still_change: a clip is still when every sample differs from the one before by less than this mean absolute
        difference (default 1.0 grey level: compression noise, with nothing moving).
    """

    sample_fps: Float = Field(2.0, gt=0, le=60)
    over_level: int = Field(233, ge=1, le=255)
    under_level: int = Field(18, ge=0, le=254)
    still_change: Float = Field(1.0, ge=0)


@dataclass(frozen=True)
class FrameClarity:
    """One sampled frame's measures (frame ``first`` = ``last``)."""

    first: int
    last: int
    sharpness: float
    over: float
    under: float
    saturation: float
    contrast: float
    change: float | None  # against the sample before it; None for the unit's first

    def shifted(self, offset: int) -> FrameClarity:
        return FrameClarity(self.first + offset, self.last + offset, self.sharpness, self.over, self.under,
                            self.saturation, self.contrast, self.change)


def frame_clarity(bgr: np.ndarray, gray: np.ndarray, over_level: int, under_level: int) -> tuple[float, ...]:
    """(sharpness, over share, under share, saturation, contrast) of one frame at the analysis size."""
    sharpness = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    n = gray.size
    over = float(np.count_nonzero(gray >= over_level)) / n
    under = float(np.count_nonzero(gray <= under_level)) / n
    saturation = float(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)[..., 1].mean()) / 255.0
    contrast = float(gray.std())
    return sharpness, over, under, saturation, contrast


@dataclass
class _ClaritySampler:
    config: ClarityConfig
    size: tuple[int, int]
    grid: SampleGrid
    thumb: tuple[int, int]
    kept: list[FrameClarity] = field(default_factory=list)
    _previous: np.ndarray | None = None

    def frame(self, rel: int, frame, in_range: bool) -> None:
        if not self.grid.due(frame.time_s):
            return
        gray = frame.gray(*self.size)
        small = cv2.resize(gray, self.thumb, interpolation=cv2.INTER_AREA).astype(np.int16)
        change = None if self._previous is None else float(np.abs(small - self._previous).mean())
        self._previous = small
        if in_range:
            values = frame_clarity(frame.bgr(*self.size), gray, self.config.over_level, self.config.under_level)
            self.kept.append(FrameClarity(rel, rel, *values, change))

    def pair(self, *args) -> None:
        pass

    def samples(self) -> list[FrameClarity]:
        return self.kept


def _sampler(config: ClarityConfig, width: int, height: int) -> _ClaritySampler:
    size = analysis_size(width, height, SHORT_SIDE)
    thumb = (THUMB_WIDTH, max(2, round(THUMB_WIDTH * size[1] / size[0])))
    return _ClaritySampler(config, size, SampleGrid(config.sample_fps), thumb)


def clip_clarity(config: ClarityConfig, samples: list[FrameClarity], width: int = 0, height: int = 0) -> dict:
    """A clip's columns from its samples (nulls without any; ``still`` null with fewer than 2)."""
    if not samples:
        return dict.fromkeys(("sharpness", "overexposed", "underexposed", "saturation", "contrast", "still"))
    changes = [s.change for s in samples[1:] if s.change is not None]
    return {"sharpness": float(np.median([s.sharpness for s in samples])),
            "overexposed": float(np.mean([s.over for s in samples])),
            "underexposed": float(np.mean([s.under for s in samples])),
            "saturation": float(np.mean([s.saturation for s in samples])),
            "contrast": float(np.mean([s.contrast for s in samples])),
            "still": bool(max(changes) < config.still_change) if changes else None}


SIGNAL = ScanSignal(
    name="clarity",
    config=ClarityConfig,
    columns=(
        ("sharpness", pa.float64(), "Variance of the Laplacian of the luma at a 256 px short side (grey levels²), "
                                    "median over the clip's sampled frames; low = blurred."),
        ("overexposed", pa.float64(), "Share of pixels at or above clarity.over_level (233: video white), mean "
                                      "over the sampled frames, 0..1."),
        ("underexposed", pa.float64(), "Share of pixels at or below clarity.under_level (18: video black), mean, "
                                       "0..1."),
        ("saturation", pa.float64(), "Mean HSV saturation of the sampled frames, 0..1."),
        ("contrast", pa.float64(), "Standard deviation of the luma (grey levels), mean over the sampled frames."),
        ("still", pa.bool_(), "True when no sampled frame differs from the one before by clarity.still_change "
                              "(1 grey level, mean absolute difference of thumbnails) or more: a still picture "
                              "or a frozen frame; null with fewer than 2 samples."),
    ),
    sampler=_sampler,
    clip_values=clip_clarity,
    default=True,
)
