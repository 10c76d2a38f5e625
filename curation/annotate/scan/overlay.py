"""On-screen graphics per clip (logos, watermarks, bugs, burnt-in bands): regions that stay the same across the
clip while the rest of the picture changes, from frames the scan already decodes (``sample_fps`` a second).

Each sampled frame's luma at a 128 px short side is reduced to cells of ``CELL`` pixels: the cell's mean and its
texture (mean Sobel gradient, grey levels a pixel). Over a clip, a cell is graphics when its mean moves by at most
``still_range`` across the samples while it is textured in every one (flat bars and sky are not graphics), and so
are unchanged cells within 4 cells of those (a logo's plate, a band's background). That
says something only when the picture around changes: when fewer than ``changing_share`` of the cells move by
``change_range`` or more (a still camera on a still scene), the clip's columns are null. Connected graphics cells
(at least two) are the boxes; the crop is the largest box left after cutting each graphic off with a band from
one edge (top, bottom, left or right), tried every way for up to 6 graphics. Boxes are found to a cell (22 px
at 640x360) and widened by one cell each side, so they hold the whole graphic.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.annotate.scan.signal import SampleGrid, ScanSignal, analysis_size
from curation.core.section import Float, Section

SHORT_SIDE = 128
CELL = 8
MAX_GRAPHICS = 6
GROW = 4  # cells (32 px at a 128 px short side)


class OverlayConfig(Section):
    """The ``overlay`` stage: persistent on-screen graphics and the crop that removes them.

    sample_fps: frames measured a second (default 2).
    still_range: a cell whose mean luma moves by at most this across the clip's samples is unchanged (default 3
        grey levels).
    texture: a cell is textured where its mean Sobel gradient reaches this (default 4 grey levels a pixel).
    change_range / changing_share: the picture changes when at least ``changing_share`` (default 0.3) of the
        cells move by ``change_range`` (default 12 grey levels) or more; otherwise graphics cannot be told from a
        still scene and the columns are null.
    """

    sample_fps: Float = Field(2.0, gt=0, le=60)
    still_range: Float = Field(3.0, ge=0)
    texture: Float = Field(4.0, ge=0)
    change_range: Float = Field(12.0, gt=0)
    changing_share: Float = Field(0.3, gt=0, le=1)


@dataclass(frozen=True)
class FrameCells:
    """One sampled frame's cells: mean luma and texture, (rows, cols) uint8 / float16."""

    first: int
    last: int
    means: np.ndarray
    texture: np.ndarray

    def shifted(self, offset: int) -> FrameCells:
        return FrameCells(self.first + offset, self.last + offset, self.means, self.texture)


def frame_cells(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell means and textures of a grey frame (its size cut to whole cells)."""
    h, w = (gray.shape[0] // CELL) * CELL, (gray.shape[1] // CELL) * CELL
    g = gray[:h, :w].astype(np.float32)
    grad = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    means = cv2.resize(g, (w // CELL, h // CELL), interpolation=cv2.INTER_AREA)
    texture = cv2.resize(grad, (w // CELL, h // CELL), interpolation=cv2.INTER_AREA)
    return np.round(means).astype(np.uint8), texture.astype(np.float16)


@dataclass
class _OverlaySampler:
    config: OverlayConfig
    size: tuple[int, int]
    grid: SampleGrid
    kept: list[FrameCells] = field(default_factory=list)

    def frame(self, rel: int, frame, in_range: bool) -> None:
        if not self.grid.due(frame.time_s):
            return
        if in_range:
            self.kept.append(FrameCells(rel, rel, *frame_cells(frame.gray(*self.size))))

    def pair(self, *args) -> None:
        pass

    def samples(self) -> list[FrameCells]:
        return self.kept


def _sampler(config: OverlayConfig, width: int, height: int) -> _OverlaySampler:
    return _OverlaySampler(config, analysis_size(width, height, SHORT_SIDE), SampleGrid(config.sample_fps))


def graphics_mask(config: OverlayConfig, samples: list[FrameCells]) -> np.ndarray | None:
    """The clip's graphics cells (bool, rows x cols), or None when the picture does not change enough to tell
    (or there are fewer than 2 samples)."""
    if len(samples) < 2:
        return None
    means = np.stack([s.means for s in samples]).astype(np.int16)
    spread = means.max(0) - means.min(0)
    if np.mean(spread >= config.change_range) < config.changing_share:
        return None
    textured = np.stack([s.texture for s in samples]).astype(np.float32).min(0) >= config.texture
    unchanged = spread <= config.still_range
    core = unchanged & textured
    # A graphic's flat parts (the plate behind a logo's letters, a band around its text) are unchanged but not
    # textured: unchanged cells within GROW cells of the textured core join it.
    grown = core.astype(np.uint8)
    for _ in range(GROW):
        grown = cv2.dilate(grown, np.ones((3, 3), np.uint8)) & unchanged.astype(np.uint8)
    # Only what holds at least two core cells is a graphic.
    count, labels = cv2.connectedComponents(grown, connectivity=8)
    cores = np.bincount(labels[core], minlength=count)
    return np.isin(labels, np.flatnonzero(cores >= 2)) & (labels > 0)


def _best_crop(boxes: list[tuple[int, int, int, int]], w: int, h: int) -> tuple[int, int, int, int] | None:
    """The largest (x, y, w, h) left after cutting each box off with a band from one edge, tried every way."""
    if not boxes:
        return (0, 0, w, h)
    if len(boxes) > MAX_GRAPHICS:
        return None
    best, best_area = None, -1
    for sides in itertools.product(range(4), repeat=len(boxes)):
        x0, y0, x1, y1 = 0, 0, w, h
        for (bx, by, bw, bh), side in zip(boxes, sides):
            if side == 0:
                y0 = max(y0, by + bh)
            elif side == 1:
                y1 = min(y1, by)
            elif side == 2:
                x0 = max(x0, bx + bw)
            else:
                x1 = min(x1, bx)
        area = max(0, x1 - x0) * max(0, y1 - y0)
        if area > best_area:
            best, best_area = (x0, y0, x1 - x0, y1 - y0), area
    return best


def clip_overlay(config: OverlayConfig, samples: list[FrameCells], width: int, height: int) -> dict:
    """The clip's columns: graphics area, boxes and the crop that removes them (display pixels)."""
    none = dict.fromkeys(("overlay_area", "overlay_boxes", "overlay_crop", "overlay_crop_share"))
    mask = graphics_mask(config, samples)
    if mask is None:
        return none
    gw, gh = analysis_size(width, height, SHORT_SIDE)
    sx, sy = width / gw * CELL, height / gh * CELL  # display pixels a cell
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:]:
        # One cell more on every side: a graphic's edge cells hold some of the moving picture too, so they
        # changed and were left out; the box must hold the whole graphic for the crop to remove it.
        x0, y0 = max(0.0, (x - 1) * sx), max(0.0, (y - 1) * sy)
        x1, y1 = min(float(width), (x + w + 1) * sx), min(float(height), (y + h + 1) * sy)
        boxes.append((int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1 - np.floor(x0))),
                      int(np.ceil(y1 - np.floor(y0)))))
    area = float(mask.sum()) / mask.size
    crop = _best_crop(boxes, width, height)
    return {"overlay_area": area, "overlay_boxes": [list(b) for b in boxes],
            "overlay_crop": None if crop is None else list(crop),
            "overlay_crop_share": None if crop is None else crop[2] * crop[3] / float(width * height)}


SIGNAL = ScanSignal(
    name="overlay",
    config=OverlayConfig,
    columns=(
        ("overlay_area", pa.float64(), "Share of the frame in persistent on-screen graphics (logos, bugs, bands, "
                                       "burnt-in text that stays), 0..1; null when the picture changes too little "
                                       "to tell graphics from a still scene."),
        ("overlay_boxes", pa.list_(pa.list_(pa.int32())), "The graphics as boxes [x, y, width, height], display "
                                                          "pixels."),
        ("overlay_crop", pa.list_(pa.int32()), "The largest box [x, y, width, height] left after cutting each "
                                               "graphic off with a band from one edge (display pixels); null with "
                                               "more than 6 graphics."),
        ("overlay_crop_share", pa.float64(), "Share of the frame that crop keeps, 0..1 (1: no graphics); crop, "
                                             "don't drop: keep clips at 0.6 or more ({column: overlay_crop_share, "
                                             "min: 0.6})."),
    ),
    sampler=_sampler,
    clip_values=clip_overlay,
    default=True,
)
