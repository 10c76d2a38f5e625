"""Black borders (letterbox bars above and below the picture, pillarbox bars left and right of it) found on a
keyframe, so that a copy with bars added hashes like the picture without them.

A border row (or column) is dark and flat: its mean grey level under ``dark`` (default 32 of 255) and its standard
deviation under ``flat`` (default 8). The bars are the runs of border rows at the two edges; both edges are cut by
the shorter run, because bars are centred and a dark region of the picture itself (a night sky, a dark floor)
seldom reaches both edges at once. Sanity bound: when less than ``keep`` (default a third) of the height or
width would remain, that direction is not cut (a dark, flat scene is a picture, not bars).
"""
from __future__ import annotations

import numpy as np

DARK = 32.0   # grey level (0-255) under which a row or column can be a bar
FLAT = 8.0    # standard deviation (grey levels) under which it is flat enough to be one
KEEP = 1 / 3  # the least share of the height / width left after cutting bars


def bar_width(lines: np.ndarray, dark: float = DARK, flat: float = FLAT) -> int:
    """How many lines to cut at each end of ``lines`` (a 2-D array, one line a row): the shorter of the two runs
    of dark, flat lines at its ends."""
    border = (lines.mean(axis=1) < dark) & (lines.std(axis=1) < flat)
    if border.all():
        return 0
    return int(min(np.argmin(border), np.argmin(border[::-1])))


def content_box(grey: np.ndarray, dark: float = DARK, flat: float = FLAT,
                keep: float = KEEP) -> tuple[int, int, int, int]:
    """The picture inside the black bars of a grey image: (top, bottom, left, right) pixel bounds, bottom and
    right exclusive; the whole image when it has no bars."""
    image = np.asarray(grey, np.float32)
    h, w = image.shape
    rows, cols = bar_width(image, dark, flat), bar_width(image.T, dark, flat)
    rows = rows if h - 2 * rows >= keep * h else 0
    cols = cols if w - 2 * cols >= keep * w else 0
    return rows, h - rows, cols, w - cols


def strip_borders(grey: np.ndarray, dark: float = DARK, flat: float = FLAT, keep: float = KEEP) -> np.ndarray:
    """``grey`` without its black bars (a view of it, no copy)."""
    top, bottom, left, right = content_box(grey, dark, flat, keep)
    return grey[top:bottom, left:right]
