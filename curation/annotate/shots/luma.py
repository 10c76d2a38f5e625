"""Luma evidence for hard cuts that the HSV content score misses or mistakes.

On a small grey image (``LUMA_WIDTH`` px wide) of every frame:

- ``change[i]``: mean absolute luma difference between frames ``i-1`` and ``i`` after aligning them by their
  global translation (phase correlation), so a fast pan is not a change but a cut is. Grey-scale footage gives
  no hue or saturation difference, so the HSV score of a cut between two grey shots is a third of its luma
  change; this score sees it whole.
- ``persist[i]``: the smallest aligned difference between a frame ``a < i`` and a frame ``b >= i`` at most
  ``FLASH_FRAMES + 1`` apart (``b - a >= 2``). Across a cut the picture stays different; across a camera flash
  or a strobe (entering or leaving it) it comes back, so ``persist / change`` is small.

Scores are 0..255 grey levels. Cost: one small real FFT and a few subtractions per frame.
"""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from curation.annotate.shots.scores import adaptive_ratio

# Width in pixels of the grey image the luma scores are computed on.
LUMA_WIDTH = 64
# A flash or strobe is at most this many frames long: the picture must come back within it.
FLASH_FRAMES = 3
# Changed-area cells: size in pixels of the analysis image, and the mean difference that counts as changed.
AREA_CELL = 4
AREA_LEVEL = 3.0
# A frame that changes less than this (grey levels) repeats the previous picture (a held drawing, a
# duplicated frame, a still shot); ``hold_aware_ratio`` looks past such frames for the neighbours' level.
HOLD_LEVEL = 0.5
# How far (frames) to look for changing neighbours past held frames.
HOLD_REACH = 10
# A new picture changing the whole frame by more than this (mean aligned luma, grey levels) is a cut, never a
# held drawing's neighbour; for the HSV score ``cuts.content_threshold`` plays this part.
HELD_LUMA_MAX = 16.0
# A frame is black when its mean luma is below BLACK_LEVEL and its standard deviation below BLACK_FLATNESS
# (0..255); ``clips.black_level`` uses the same test for the clip policy.
BLACK_LEVEL = 32.0
BLACK_FLATNESS = 8.0
# Alignments that leave less than this share of the frame overlapping are not trusted.
MIN_OVERLAP = 0.4


def _too_far(shape: tuple[int, ...], dy: int, dx: int) -> bool:
    """Does a shift by (dy, dx) leave less than ``MIN_OVERLAP`` of a frame of ``shape`` overlapping?"""
    h, w = shape[:2]
    return abs(dy) * w + abs(dx) * h > (1 - MIN_OVERLAP) * h * w


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (cv2.norm: one pass, no temporary image)."""
    return cv2.norm(a, b, cv2.NORM_L1) / a.size


def _aligned_mad(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """Mean |a - b| over the overlap when ``b`` is ``a`` moved by (dy, dx); plain difference when the overlap
    is too small."""
    if (dy == 0 and dx == 0) or _too_far(a.shape, dy, dx):
        return _mad(a, b)
    h, w = a.shape
    a_part = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    b_part = b[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return _mad(a_part, b_part)


def is_black(mean, std, level: float = BLACK_LEVEL):
    """Dark and flat: mean luma below ``level`` and standard deviation below ``BLACK_FLATNESS`` (scalars or
    arrays)."""
    return (np.asarray(mean) < level) & (np.asarray(std) < BLACK_FLATNESS)


def changed_area(a: np.ndarray, b: np.ndarray) -> float:
    """Share of ``AREA_CELL`` x ``AREA_CELL`` cells whose mean absolute difference exceeds ``AREA_LEVEL``: a
    cut changes most of the frame, a caption appearing or a small object moving changes a few cells."""
    diff = cv2.absdiff(a, b)
    h, w = diff.shape[:2]
    if h < AREA_CELL or w < AREA_CELL:
        return float((diff > AREA_LEVEL).mean())
    cells = cv2.resize(diff[:h - h % AREA_CELL, :w - w % AREA_CELL], (w // AREA_CELL, h // AREA_CELL),
                       interpolation=cv2.INTER_AREA)
    return float((cells > AREA_LEVEL).mean())


def _best_mad(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """The smaller of the unaligned difference and the differences aligned by (dy, dx) either way (the sign
    convention of the estimate does not matter, and a wrong estimate on a static frame costs nothing)."""
    plain = _mad(a, b)
    if dy == 0 and dx == 0:
        return plain
    return min(plain, _aligned_mad(a, b, dy, dx), _aligned_mad(a, b, -dy, -dx))


def _aligned_only(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """Like :func:`_best_mad`, but 0 where the frames moved too far to overlap (fast motion over many frames
    is not a transition)."""
    return 0.0 if _too_far(a.shape, dy, dx) else _best_mad(a, b, dy, dx)


def _translation(fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """Integer global translation between two frames from the spectra of their mean-free images."""
    cross = fa * np.conj(fb)
    cross /= np.abs(cross) + 1e-9
    surface = np.fft.irfft2(cross, s=shape)
    dy, dx = np.unravel_index(int(np.argmax(surface)), shape)
    h, w = shape
    return (int(dy) - h if dy > h // 2 else int(dy)), (int(dx) - w if dx > w // 2 else int(dx))


def _held_pattern(before: list, after: list) -> bool:
    """New pictures on both sides, or two on one side with held frames between them."""
    if before and after:
        return True
    side = before or after
    return len(side) >= 2 and any(b - a >= 2 for a, b in zip(side[:-1], side[1:]))


def _chain(i: int, frames) -> list[int]:
    """The leading ``frames`` (ordered away from ``i``) that follow one another, starting at ``i``, with gaps
    of at most ``HOLD_REACH`` frames: the new pictures of a held sequence around ``i``."""
    out, last = [], i
    for j in frames:
        if abs(int(j) - last) > HOLD_REACH:
            break
        out.append(int(j))
        last = int(j)
    return out


def hold_aware_ratio(change: np.ndarray, window: int, held_max: float, hold_level: float = HOLD_LEVEL) -> np.ndarray:
    """AdaptiveDetector's ratio (a frame's change over the mean of its ``window`` neighbours on each side),
    where the neighbours are the nearest new pictures (change over ``hold_level``), each within
    ``HOLD_REACH`` frames of the next. Animation on twos or threes, duplicated frames and low-rate sources change
    only every few frames, so against the plain ratio every new picture would stand out like a cut. Where
    the changing neighbours within reach do not look like held pictures (new pictures on both sides, or at
    least two with held frames between them on one side), the plain neighbours are used. A change over
    ``held_max`` is never a held picture's neighbour: a run of short still shots changes only at its cuts, and
    against each other they would all look like held drawings. Capped at 255."""
    out = adaptive_ratio(change, window)  # the plain ratio, kept wherever the pictures are not held
    moving = np.nonzero(change > hold_level)[0]
    held = moving[change[moving] <= held_max]
    for i in moving:
        pos = int(np.searchsorted(held, i))
        before = _chain(i, held[max(0, pos - window):pos][::-1])[::-1]
        start = pos + 1 if pos < len(held) and held[pos] == i else pos
        after = _chain(i, held[start:start + window])
        if _held_pattern(before, after):
            out[i] = min(change[i] / float(np.mean(change[before + after])), 255.0)
    return out


class LumaScorer:
    """Streams grey frames; ``arrays()`` gives ``(change, persist)`` per frame (frame 0 scores 0), and
    ``slow(k)`` the aligned difference between every frame and the frame ``k`` before it (for each ``k`` of
    ``slow_steps``; 0 where the frames cannot be aligned or do not exist), the sliding counterpart of the
    cascade's slow levels: a gradual transition adds up to a large k-step change wherever it starts."""

    def __init__(self, slow_steps: tuple[int, ...] = ()) -> None:
        self._slow_steps = tuple(slow_steps)
        self._slow: dict[int, list[float]] = {k: [] for k in self._slow_steps}
        reach = max((FLASH_FRAMES + 1, *self._slow_steps))
        self._ring: deque[tuple[int, np.ndarray, np.ndarray, tuple[int, int]]] = deque(maxlen=reach)
        self._change: list[float] = []
        self._persist: list[float] = []
        self._area: list[float] = []
        self._black: list[bool] = []
        self._positions: list[tuple[int, int]] = []

    @staticmethod
    def prepare(gray: np.ndarray) -> np.ndarray:
        """A grey frame of any size -> the float32 ``LUMA_WIDTH``-wide analysis image."""
        h, w = gray.shape[:2]
        height = max(8, int(round(h * LUMA_WIDTH / w)))
        if (w, h) != (LUMA_WIDTH, height):
            gray = cv2.resize(gray, (LUMA_WIDTH, height), interpolation=cv2.INTER_AREA)
        return gray.astype(np.float32)

    def push(self, index: int, gray: np.ndarray) -> float:
        """Add frame ``index`` (a ``prepare``d image, frames in order, no gaps); returns its change score."""
        mean, std = cv2.meanStdDev(gray)
        self._black.append(bool(is_black(float(mean[0, 0]), float(std[0, 0]))))
        position = (0, 0)
        change = area = 0.0
        spectrum = None
        if self._ring:
            _, prev, prev_spectrum, prev_position = self._ring[-1]
            plain = _mad(prev, gray)
            dy = dx = 0
            # Below the held-frame level nothing moved enough to align (and the FFT is the costliest step).
            if plain > HOLD_LEVEL:
                spectrum = np.fft.rfft2(gray - float(mean[0, 0]))
                if prev_spectrum is None:
                    prev_spectrum = np.fft.rfft2(prev - float(prev.mean()))
                dy, dx = _translation(prev_spectrum, spectrum, gray.shape)
            change = _best_mad(prev, gray, dy, dx)  # the plain difference when nothing moved
            area = changed_area(prev, gray) if change > HOLD_LEVEL else 0.0
            position = (prev_position[0] + dy, prev_position[1] + dx)
        self._change.append(change)
        self._area.append(area)
        self._persist.append(np.inf)
        ring = list(self._ring)
        for k in self._slow_steps:
            value = 0.0
            if k <= len(ring):
                _, frame, _, pos = ring[-k]
                value = _aligned_only(frame, gray, position[0] - pos[0], position[1] - pos[1])
            self._slow[k].append(value)
        # A flash of up to FLASH_FRAMES frames leaves the picture before it equal to the picture after it: for
        # every earlier frame ``a`` at most FLASH_FRAMES + 1 frames back (and not the previous one), compare it
        # with this frame, aligned by the accumulated translation; the difference bounds ``persist`` of every
        # frame the pair spans.
        for back in range(2, FLASH_FRAMES + 2):
            if back > len(ring):
                break
            a, frame, _, pos = ring[-back]
            d = _best_mad(frame, gray, position[0] - pos[0], position[1] - pos[1])
            for i in range(a + 1, index + 1):
                if d < self._persist[i]:
                    self._persist[i] = d
        self._ring.append((index, gray, spectrum, position))
        self._positions.append(position)
        return change

    def moved_apart(self, start: int, end: int) -> bool:
        """Did the picture move so far between frames ``start`` and ``end`` (accumulated translation) that
        the two no longer overlap by ``MIN_OVERLAP``? Then a large change between them is motion."""
        if not self._positions:
            return False
        end = min(end, len(self._positions) - 1)
        start = max(0, min(start, end))
        dy = self._positions[end][0] - self._positions[start][0]
        dx = self._positions[end][1] - self._positions[start][1]
        return _too_far(self._ring[-1][1].shape, dy, dx)

    def black(self) -> np.ndarray:
        """Per frame: is it black (:func:`is_black`)."""
        return np.asarray(self._black, dtype=bool)

    def slow(self, k: int) -> np.ndarray:
        """Aligned ``k``-step luma differences, one per frame."""
        return np.asarray(self._slow[k], dtype=np.float64)

    def area(self) -> np.ndarray:
        """Changed area (0..1, unaligned; 0 where the frame repeats the previous one) per frame."""
        return np.asarray(self._area, dtype=np.float64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(change, persist); where no later frame exists, persist equals change (treated as lasting)."""
        change = np.asarray(self._change, dtype=np.float64)
        persist = np.asarray(self._persist, dtype=np.float64)
        missing = ~np.isfinite(persist)
        persist[missing] = change[missing]
        return change, persist
