"""Letterbox and pillarbox bars per clip: the content box, from frames the scan already decodes (sampled
``sample_fps`` a second, anchored at time 0 of the video).

On each sampled frame's luma at a 256 px short side, a bar is a run of whole rows (top, bottom) or columns (left,
right) from the frame's edge inwards that are flat (standard deviation at most ``flat_std`` grey levels) and
dark (mean at most ``dark_level``), or flat and within ``flat_std`` of the edge's own level (a grey or coloured
bar). A clip's bar on each side is the smallest over its samples (a bar is there in every frame; a dark moment
of the picture is not a bar), and bars thinner than ``min_share`` of the frame are none. The content box is
given in display pixels of the source.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.annotate.scan.signal import SampleGrid, ScanSignal, analysis_size
from curation.core.section import Float, Section

SHORT_SIDE = 256


class BordersConfig(Section):
    """The ``borders`` stage: black or flat bars (letterbox, pillarbox) and the content box per clip.

    sample_fps: frames measured a second (default 2).
    dark_level: a flat line with mean luma at or below this is black (default 32; video black is 16).
    flat_std: a line whose luma varies by at most this (standard deviation, grey levels) is flat (default 4).
    min_share: bars thinner than this share of the frame's height (top, bottom) or width (left, right) are none
        (default 0.02).
    """

    sample_fps: Float = Field(2.0, gt=0, le=60)
    dark_level: Float = Field(32.0, ge=0, le=255)
    flat_std: Float = Field(4.0, ge=0)
    min_share: Float = Field(0.02, ge=0, lt=0.5)


@dataclass(frozen=True)
class FrameBars:
    """One sampled frame's bars, as shares of its height (top, bottom) and width (left, right)."""

    first: int
    last: int
    top: float
    bottom: float
    left: float
    right: float

    def shifted(self, offset: int) -> FrameBars:
        return FrameBars(self.first + offset, self.last + offset, self.top, self.bottom, self.left, self.right)


def _run(means: np.ndarray, stds: np.ndarray, dark: float, flat: float) -> int:
    """How many lines from index 0 on are a bar: flat, and dark or at the edge line's level."""
    edge = means[0]
    bar = (stds <= flat) & ((means <= dark) | (np.abs(means - edge) <= flat))
    return int(np.argmin(bar)) if not bar.all() else len(bar)


def frame_bars(gray: np.ndarray, dark: float, flat: float) -> tuple[float, float, float, float]:
    """(top, bottom, left, right) bars of one grey frame as shares of its height and width."""
    g = gray.astype(np.float32)
    h, w = g.shape
    rows_m, rows_s = g.mean(1), g.std(1)
    cols_m, cols_s = g.mean(0), g.std(0)
    top = _run(rows_m, rows_s, dark, flat)
    bottom = _run(rows_m[::-1], rows_s[::-1], dark, flat)
    left = _run(cols_m, cols_s, dark, flat)
    right = _run(cols_m[::-1], cols_s[::-1], dark, flat)
    if top + bottom >= h or left + right >= w:  # a flat frame (black, a title card): no picture to box
        return 0.0, 0.0, 0.0, 0.0
    return top / h, bottom / h, left / w, right / w


@dataclass
class _BordersSampler:
    config: BordersConfig
    size: tuple[int, int]
    grid: SampleGrid
    kept: list[FrameBars] = field(default_factory=list)

    def frame(self, rel: int, frame, in_range: bool) -> None:
        if not self.grid.due(frame.time_s):
            return
        if in_range:
            bars = frame_bars(frame.gray(*self.size), self.config.dark_level, self.config.flat_std)
            self.kept.append(FrameBars(rel, rel, *bars))

    def pair(self, *args) -> None:
        pass

    def samples(self) -> list[FrameBars]:
        return self.kept


def _sampler(config: BordersConfig, width: int, height: int) -> _BordersSampler:
    return _BordersSampler(config, analysis_size(width, height, SHORT_SIDE), SampleGrid(config.sample_fps))


def content_box(config: BordersConfig, samples: list[FrameBars], width: int, height: int) -> dict:
    """The clip's content box in display pixels (x, y, width, height) and the share of the frame its bars take
    (bars thinner than ``min_share`` are none); nulls without samples."""
    min_share = config.min_share
    if not samples:
        return dict.fromkeys(("content_x", "content_y", "content_width", "content_height", "border_share"))
    sides = {k: min(getattr(s, k) for s in samples) for k in ("top", "bottom", "left", "right")}
    sides = {k: (v if v >= min_share else 0.0) for k, v in sides.items()}
    x, y = round(sides["left"] * width), round(sides["top"] * height)
    w = width - x - round(sides["right"] * width)
    h = height - y - round(sides["bottom"] * height)
    return {"content_x": x, "content_y": y, "content_width": w, "content_height": h,
            "border_share": 1.0 - (w * h) / float(width * height)}


SIGNAL = ScanSignal(
    name="borders",
    config=BordersConfig,
    columns=(
        ("content_x", pa.int32(), "Left edge of the clip's content box (inside letterbox/pillarbox bars), display "
                                  "pixels."),
        ("content_y", pa.int32(), "Top edge of the content box, display pixels."),
        ("content_width", pa.int32(), "Width of the content box, display pixels (the frame's width without bars)."),
        ("content_height", pa.int32(), "Height of the content box, display pixels."),
        ("border_share", pa.float64(), "Share of the frame the bars take, 0..1 (0: no bars)."),
    ),
    sampler=_sampler,
    clip_values=content_box,
    default=True,
)
