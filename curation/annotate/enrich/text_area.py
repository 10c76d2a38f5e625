"""Text area of a frame from detected text boxes: the area of their **union** over the frame area.

EasyOCR returns axis-aligned boxes ``[x_min, x_max, y_min, y_max]`` and free quadrilaterals ``[[x, y] * 4]``;
boxes of neighbouring words and lines overlap, and tools that sum box areas count the overlap twice (and can
exceed 1). We paint every box into one mask at the frame's size and count its pixels once.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def text_mask(horizontal: Sequence[Sequence[float]], free: Sequence[Sequence[Sequence[float]]],
              width: int, height: int) -> np.ndarray:
    """uint8 mask (height, width), 1 where any box covers the pixel; boxes are clipped to the frame."""
    mask = np.zeros((height, width), np.uint8)
    for x0, x1, y0, y1 in horizontal:
        xa, xb = int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.ceil(x1), 0, width))
        ya, yb = int(np.clip(np.floor(y0), 0, height)), int(np.clip(np.ceil(y1), 0, height))
        if xb > xa and yb > ya:
            mask[ya:yb, xa:xb] = 1
    if free:
        polygons = [np.round(np.asarray(q, np.float64)).astype(np.int32).reshape(-1, 1, 2) for q in free]
        cv2.fillPoly(mask, polygons, 1)
    return mask


def text_area_fraction(horizontal, free, width: int, height: int) -> float:
    """Union of the boxes / frame area, in [0, 1]."""
    if not len(horizontal) and not len(free):
        return 0.0
    return float(text_mask(horizontal, free, width, height).mean())
