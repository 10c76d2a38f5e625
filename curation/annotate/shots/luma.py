"""Luma evidence for hard cuts that the HSV content score misses or mistakes.

On a small grey image (``LUMA_WIDTH`` px wide) of every frame:

- ``change[i]``: mean absolute luma difference between frames ``i-1`` and ``i`` after aligning them by their
  global translation (phase correlation), so a fast pan is not a change but a cut is. Grey-scale footage gives
  no hue or saturation difference, so the HSV score of a cut between two grey shots is a third of its luma
  change; this score sees it whole.
- ``persist[i]``: the smallest aligned difference between a frame ``a < i`` and a frame ``b >= i`` at most
  ``FLASH_FRAMES + 1`` apart (``b - a >= 2``). Across a cut the picture stays different; across a camera flash
  or a strobe (entering or leaving it) it comes back, so ``persist / change`` is small.
- ``area[i]`` / ``kept[i]``: the share of 4x4-px cells that changed between frames ``i-1`` and ``i``, and the
  share that kept their picture (textured in both frames, unchanged). A cut changes the whole picture; a
  graphic, a caption, a picture-in-picture inset or one half of a split screen changes a part of it and leaves
  the rest as it was, texture and all (flat areas such as a grey backdrop or letterbox bars count for
  neither: they look the same on both sides of a cut).
- ``similarity[i]``: the correlation of frames ``i-1`` and ``i`` where a change of gain and offset explains
  their difference (else 0): near 1 for the same picture exposed differently (an exposure change, flicker).

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
# A cell kept its picture when it changed by less than KEPT_LEVEL and its luma varies by more than
# TEXTURE_LEVEL (standard deviation within the cell) in both frames (grey levels).
KEPT_LEVEL = 1.5
TEXTURE_LEVEL = 2.0
# ... or by less than this share of the cell's standard deviation (the smaller of the two frames').
KEPT_SHARE = 0.5
# Pixels (of the thumbnail) searched around each guess of the motion between a span's two ends.
ENDS_SEARCH = 3
# Exposure changes scale the picture's contrast by at most this factor; a larger one is a fade.
MAX_GAIN = 2.0
# ... and a gain and offset explain at least this share of the (mean squared) change they make.
EXPOSURE_SHARE = 0.5
# Width in pixels of the thumbnail kept of every frame for comparing the two ends of a gradual transition.
THUMB_WIDTH = 32
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
# Another move than the phase correlation's highest peak aligns two frames only where it leaves less than this
# share of their unaligned difference on the same pixels: a true move brings it down to the noise (a blurred
# fast pan whose peak at no motion won: 15.7 -> 0.7 grey levels), while on a fading picture no shift explains
# the change (a shift's smaller overlap alone makes it a little smaller), and taking one would shift the
# accumulated position the slow levels align by.
OTHER_MOVE_GAIN = 0.5
# ... and it is the previous frame's move, or the correlation's second peak within this many pixels of it (a
# camera speeds up or slows down over several frames).
MOVE_CHANGE = 2
# Alignments that leave less than this share of the frame overlapping are not trusted.
MIN_OVERLAP = 0.4
# Graphics on screen (a channel's bars, logo, ticker, subtitles) keep their picture for this many frames on
# both sides of a cut, while live picture kept across a change inside a shot drifts, shakes or is noisy over
# them: cells kept across a frame and for PERSIST_FRAMES before and after it are graphics (``graphic``).
PERSIST_FRAMES = 12
# ... and at least this many frames on a side are needed to call a cell persistent on that side.
PERSIST_MIN = 4
# Frames keeping less than this share of their cells are not examined for graphics (nothing to tell apart).
GRAPHIC_MIN_KEPT = 0.1
# Only a change of at least this share of the frame's cells is examined for graphics (``graphic``): one whose
# kept cells are all graphics on screen is a cut under graphics. Graphics changing inside a shot change less: a
# caption band or an inset a quarter to a third of the frame, a split screen's half 0.5; a cut under dense news
# graphics at 240p changes 0.78-0.80, under a lower third 0.92 (the synthetic broadcast families).
GRAPHICS_CUT_AREA = 0.6


def _too_far(shape: tuple[int, ...], dy: int, dx: int) -> bool:
    """Does a shift by (dy, dx) leave less than ``MIN_OVERLAP`` of a frame of ``shape`` overlapping?"""
    h, w = shape[:2]
    return abs(dy) * w + abs(dx) * h > (1 - MIN_OVERLAP) * h * w


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (cv2.norm: one pass, no temporary image)."""
    return cv2.norm(a, b, cv2.NORM_L1) / a.size


def _overlap(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``a`` and ``b`` that show the same scene when ``b`` is ``a`` moved by (dy, dx)."""
    h, w = a.shape[:2]
    return (a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)],
            b[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)])


def _aligned_mad(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """Mean |a - b| over the overlap when ``b`` is ``a`` moved by (dy, dx); plain difference when the overlap
    is too small."""
    if (dy == 0 and dx == 0) or _too_far(a.shape, dy, dx):
        return _mad(a, b)
    return _mad(*_overlap(a, b, dy, dx))


def is_black(mean, std, level: float = BLACK_LEVEL):
    """Dark and flat: mean luma below ``level`` and standard deviation below ``BLACK_FLATNESS`` (scalars or
    arrays)."""
    return (np.asarray(mean) < level) & (np.asarray(std) < BLACK_FLATNESS)


def _cells(image: np.ndarray) -> np.ndarray:
    """Mean over every ``AREA_CELL`` x ``AREA_CELL`` cell (the image cropped to whole cells)."""
    h, w = image.shape[:2]
    return cv2.resize(image[:h - h % AREA_CELL, :w - w % AREA_CELL], (w // AREA_CELL, h // AREA_CELL),
                      interpolation=cv2.INTER_AREA)


def cell_change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(changed, kept): the share of ``AREA_CELL`` x ``AREA_CELL`` cells whose mean absolute difference
    exceeds ``AREA_LEVEL``, and the share that kept their picture (luma standard deviation over
    ``TEXTURE_LEVEL`` in both frames, difference below ``KEPT_LEVEL`` or ``KEPT_SHARE`` of it). A cut changes
    most of the frame and keeps none of it; a caption appearing or a small object moving changes a few cells, and a graphic or an inset
    changing leaves the rest of the picture kept."""
    h, w = a.shape[:2]
    if h < AREA_CELL or w < AREA_CELL:
        return float((cv2.absdiff(a, b) > AREA_LEVEL).mean()), 0.0
    changed, kept = cell_maps(a, b)
    return float(np.count_nonzero(changed)) / changed.size, float(np.count_nonzero(kept)) / kept.size


def cell_maps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per ``AREA_CELL`` x ``AREA_CELL`` cell: did it change, did it keep its picture (:func:`cell_change`);
    two boolean arrays of the cells' grid. The images must hold at least one cell."""
    diff = cv2.absdiff(a, b)
    # One resize of the five planes gives each cell's mean difference and both frames' first two moments.
    cells = _cells(cv2.merge([diff, a, a * a, b, b * b]))
    changed = cells[..., 0]
    spread = np.sqrt(np.maximum(np.minimum(cells[..., 2] - cells[..., 1] ** 2, cells[..., 4] - cells[..., 3] ** 2),
                                0.0))
    # Kept: changed by less than KEPT_LEVEL or than KEPT_SHARE of the cell's texture (a sub-pixel shift left
    # after aligning moves an edge by a fraction of its contrast; two different textures differ by ~1.6x it).
    kept = (spread > TEXTURE_LEVEL) & (changed < np.maximum(KEPT_LEVEL, KEPT_SHARE * spread))
    return changed > AREA_LEVEL, kept


def _shifted_kept(a: np.ndarray, b: np.ndarray, dy: float, dx: float) -> float:
    """The kept share (:func:`cell_change`) of ``b`` against ``a`` when ``b`` shows ``a``'s content moved by
    (dy, dx) pixels (sub-pixel: ``b`` is moved back by bilinear interpolation), over the overlap; 0 when they
    no longer overlap by ``MIN_OVERLAP``."""
    h, w = a.shape[:2]
    my, mx = int(np.ceil(abs(dy))) + 1, int(np.ceil(abs(dx))) + 1
    # (the overlap is cropped evenly on both sides, so it must leave two cells each way)
    if _too_far(a.shape, dy, dx) or h - 2 * my < 2 * AREA_CELL or w - 2 * mx < 2 * AREA_CELL:
        return 0.0
    if float(dy).is_integer() and float(dx).is_integer():
        # A whole-pixel move is a slice (equal to the interpolated image, at a fraction of the cost).
        iy, ix = int(dy), int(dx)
        moved = b[my + iy:h - my + iy, mx + ix:w - mx + ix]
    else:
        moved = cv2.warpAffine(b, np.float32([[1, 0, -dx], [0, 1, -dy]]), (w, h),
                               flags=cv2.INTER_LINEAR)[my:h - my, mx:w - mx]
    return cell_change(a[my:h - my, mx:w - mx], moved)[1]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Are two same-sized float32 images one picture exposed differently? Their correlation (-1..1: 1 when
    ``b`` is ``gain * a + offset``), where a gain and offset explain at least ``EXPOSURE_SHARE`` of their
    mean squared difference; else 0. Two framings of one subject on one backdrop can correlate highly, but
    they differ by layout, which no gain explains. Also 0 when either is flat (nothing to compare), when
    their contrasts differ by more than ``MAX_GAIN`` times (a fade, not an exposure change) and when they are
    equal (nothing to explain)."""
    (ma, sa), (mb, sb) = (cv2.meanStdDev(x) for x in (a, b))
    ma, sa, mb, sb = float(ma[0, 0]), float(sa[0, 0]), float(mb[0, 0]), float(sb[0, 0])
    if min(sa, sb) < 1.0 or max(sa, sb) > MAX_GAIN * min(sa, sb):
        return 0.0
    cross = float(np.dot(a.ravel(), b.ravel())) / a.size  # ravel copies only a cropped (strided) view
    r = (cross - ma * mb) / (sa * sb)
    difference = (ma - mb) ** 2 + sa * sa + sb * sb - 2 * r * sa * sb  # E[(a - b)^2]
    residual = sb * sb * (1.0 - r * r)  # E[(b - gain * a - offset)^2] at the best gain and offset
    if difference <= 1e-6 or residual > (1.0 - EXPOSURE_SHARE) * difference:
        return 0.0
    return float(r)


def _best_mad(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """The smaller of the unaligned difference and the differences aligned by (dy, dx) either way (the sign
    convention of the estimate does not matter, and a wrong estimate on a static frame costs nothing)."""
    plain = _mad(a, b)
    if dy == 0 and dx == 0:
        return plain
    return min(plain, _aligned_mad(a, b, dy, dx), _aligned_mad(a, b, -dy, -dx))


def _near(move: tuple[int, int], last: tuple[int, int]) -> bool:
    """Is ``move`` within ``MOVE_CHANGE`` pixels (each way) of the previous frame's ``last``?"""
    return abs(move[0] - last[0]) <= MOVE_CHANGE and abs(move[1] - last[1]) <= MOVE_CHANGE


def _explained(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """The difference of ``a`` and ``b`` aligned by (dy, dx) either way, where that alignment explains the
    change: less than ``OTHER_MOVE_GAIN`` of their unaligned difference over the same pixels of ``b`` (a
    shift's smaller overlap alone makes a smaller difference on a fading or flat picture); else infinity."""
    best = np.inf
    for sy, sx in ((dy, dx), (-dy, -dx)):
        if (sy == 0 and sx == 0) or _too_far(a.shape, sy, sx):
            continue
        moved, seen = _overlap(a, b, sy, sx)
        still = _overlap(b, a, sy, sx)[1]  # ``a`` where ``seen`` lies in ``b``
        value = _mad(moved, seen)
        if value < OTHER_MOVE_GAIN * _mad(still, seen):
            best = min(best, value)
    return best


def _aligned_only(a: np.ndarray, b: np.ndarray, dy: int, dx: int) -> float:
    """Like :func:`_best_mad`, but 0 where the frames moved too far to overlap (fast motion over many frames
    is not a transition)."""
    return 0.0 if _too_far(a.shape, dy, dx) else _best_mad(a, b, dy, dx)


def _correlation(fa: np.ndarray, fb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The phase correlation surface of two frames from the spectra of their mean-free images."""
    cross = fa * np.conj(fb)
    cross /= np.abs(cross) + 1e-9
    return np.fft.irfft2(cross, s=shape)


def _peak(surface: np.ndarray) -> tuple[int, int]:
    """The integer translation at the surface's highest value."""
    h, w = surface.shape
    dy, dx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    return (int(dy) - h if dy > h // 2 else int(dy)), (int(dx) - w if dx > w // 2 else int(dx))


def _second_peak(surface: np.ndarray, first: tuple[int, int]) -> tuple[int, int]:
    """The highest peak outside the 3x3 neighbourhood of ``first`` (the surface is changed). It matters on fast
    pans: the images' borders (an FFT sees each image as tiled) and large flat areas make a peak at no motion
    that can outweigh the true one (a blurred 8-px move of a 64-px frame lost to it)."""
    h, w = surface.shape
    rows = [(first[0] + k) % h for k in (-1, 0, 1)]
    cols = [(first[1] + k) % w for k in (-1, 0, 1)]
    surface[np.ix_(rows, cols)] = -np.inf
    return _peak(surface)


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
        self._kept: list[float] = []
        self._similarity: list[float] = []
        self._thumbs: list[np.ndarray] = []
        self._thumb_change: list[float] = []
        self._black: list[bool] = []
        self._positions: list[tuple[int, int]] = []
        self._move = (0, 0)  # the camera's last move that explained a change (see push)
        # The last 2 * PERSIST_FRAMES + 2 analysis images, for the graphics test; its results per frame, None
        # until the frames after it have come.
        self._recent: deque[tuple[int, np.ndarray]] = deque(maxlen=2 * PERSIST_FRAMES + 2)
        self._graphic: list[float | None] = []
        self._graphic_cells: dict[int, np.ndarray] = {}  # frame -> its graphics cells, where it has some

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
        change = area = kept = same = 0.0
        spectrum = None
        if self._ring:
            _, prev, prev_spectrum, prev_position = self._ring[-1]
            plain = _mad(prev, gray)
            dy = dx = 0
            change, explained = plain, False
            # Below the held-frame level nothing moved enough to align (and the FFT is the costliest step).
            if plain > HOLD_LEVEL:
                spectrum = np.fft.rfft2(gray - float(mean[0, 0]))
                if prev_spectrum is None:
                    prev_spectrum = np.fft.rfft2(prev - float(prev.mean()))
                (dy, dx), change, explained = self._align(prev, gray,
                                                          _correlation(prev_spectrum, spectrum, gray.shape))
            same = 1.0  # a repeated picture, unless it changed
            if change > HOLD_LEVEL:
                area, kept = cell_change(prev, gray)
                same = similarity(prev, gray)
                # Unaligned: aligning the two frames of a cut between two framings of one subject on one
                # backdrop lines the subject up, and it would look kept.
            position = (prev_position[0] + dy, prev_position[1] + dx)
            if explained:
                # The camera's last move that explained a change is the guess after frames that show none (a
                # repeated or flat picture, a failed alignment); one that no longer holds explains nothing. A
                # new move also re-aligns the frame before where it explains that frame's change better (a
                # video or a shot starting in a fast pan: no move was known at its first frame).
                if self._move != (dy, dx):
                    self._realign((dy, dx))
                self._move = (dy, dx)
        self._change.append(change)
        self._area.append(area)
        self._kept.append(kept)
        self._similarity.append(same)
        thumb_height = max(2, int(round(gray.shape[0] * THUMB_WIDTH / gray.shape[1])))
        thumb = cv2.resize(gray, (THUMB_WIDTH, thumb_height), interpolation=cv2.INTER_AREA).astype(np.uint8)
        self._thumb_change.append(_mad(self._thumbs[-1], thumb) if self._thumbs else 0.0)
        self._thumbs.append(thumb)
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
        self._recent.append((index, gray))
        self._graphic.append(None)
        if index >= PERSIST_FRAMES:
            self._settle(index - PERSIST_FRAMES)
        return change

    def _align(self, prev: np.ndarray, gray: np.ndarray, surface: np.ndarray) -> tuple[tuple[int, int], float, bool]:
        """(move, change, explained): the move from ``prev`` to ``gray``, their difference aligned by it
        (:func:`_best_mad`), and whether the move explains the change (:func:`_explained`; never a move of
        none). The move is the phase correlation's highest peak, unless the camera's last move (while it moves),
        or the second peak where it is near that, explains the change better. The highest peak can be the
        borders' or flat areas' (:func:`_second_peak`), and a camera keeps moving: a blurred fast pan lost its
        alignment for single frames, each a false cut."""
        first = _peak(surface)
        move, change = first, _best_mad(prev, gray, *first)
        if self._move != (0, 0):
            second = _second_peak(surface, first)
            for other in dict.fromkeys((self._move, second)):  # in this order, once each
                if other == first or not _near(other, self._move):
                    continue
                value = _explained(prev, gray, *other)  # inf for a move of none: never taken
                if value < change:
                    move, change = other, value
            if move != first:
                return move, change, True
        return move, change, move != (0, 0) and _explained(prev, gray, *move) < np.inf

    def _realign(self, move: tuple[int, int]) -> None:
        """Align the frames just before the newest by ``move`` too, going back while it explains each one's
        change better than its own alignment did (a video or a shot starting in a fast pan: no move was known
        at its first frames, and the correlation failed on them). Only lowers changes already returned by
        :meth:`push`: what a caller decided from them causally stays a superset."""
        ring = list(self._ring)
        for later in range(len(ring) - 1, 0, -1):
            index, frame = ring[later][0], ring[later][1]
            value = _explained(ring[later - 1][1], frame, *move)
            if not value < self._change[index]:
                return
            self._change[index] = value

    def _settle(self, j: int) -> None:
        """Work out ``graphic[j]``: the share of frame ``j``'s cells kept from frame ``j - 1`` that also kept
        their picture from ``PERSIST_FRAMES`` frames before ``j - 1`` and until ``PERSIST_FRAMES`` frames after
        ``j`` (each end compared with the other directly, unaligned: graphics do not move with the camera),
        using the frames seen so far (at least ``PERSIST_MIN`` on each side, else 0); 0 for a frame that keeps
        less than ``GRAPHIC_MIN_KEPT`` or changes less than ``GRAPHICS_CUT_AREA``."""
        share = 0.0
        self._graphic[j] = share
        if j < 1 or self._kept[j] < GRAPHIC_MIN_KEPT or self._area[j] < GRAPHICS_CUT_AREA:
            return
        frames = dict(self._recent)
        last = max(frames)
        before, after = max(0, j - 1 - PERSIST_FRAMES), min(last, j + PERSIST_FRAMES)
        if (j - 1 - before >= PERSIST_MIN and after - j >= PERSIST_MIN and before in frames and after in frames):
            a, b = frames[j - 1], frames[j]
            if min(a.shape[:2]) >= AREA_CELL:
                across = cell_maps(a, b)[1]
                persistent = across & cell_maps(frames[before], a)[1] & cell_maps(b, frames[after])[1]
                share = float(np.count_nonzero(persistent)) / persistent.size
                if share > 0:
                    self._graphic_cells[j] = persistent
        self._graphic[j] = share

    def similarity_without_graphics(self, j: int) -> float:
        """:func:`similarity` of frames ``j - 1`` and ``j`` (thumbnails) leaving out frame ``j``'s graphics
        cells (:meth:`graphic`): under a channel's graphics two dark shots correlate through the graphics alone,
        and would look like one picture exposed differently. :meth:`graphic` must have been called."""
        a, b = self._thumb(j - 1), self._thumb(j)
        cells = self._graphic_cells.get(j)
        if cells is None:
            return similarity(a, b)
        scale = THUMB_WIDTH // (LUMA_WIDTH // AREA_CELL)  # thumbnail pixels a cell
        mask = np.zeros(a.shape, bool)
        grid = np.repeat(np.repeat(cells, scale, axis=0), scale, axis=1)[:a.shape[0], :a.shape[1]]
        mask[:grid.shape[0], :grid.shape[1]] = grid
        keep = ~mask
        if np.count_nonzero(keep) < 16:
            return 0.0
        return similarity(a[keep].reshape(-1, 1), b[keep].reshape(-1, 1))

    def graphic(self) -> np.ndarray:
        """Per frame: the share of its cells that kept their picture from the previous frame *and* for
        ``PERSIST_FRAMES`` frames on both sides (graphics on screen; see ``PERSIST_FRAMES``): 0..1, at most
        :meth:`kept`. The frames of the last ``PERSIST_FRAMES`` are worked out with the frames there are."""
        for j, value in enumerate(self._graphic):
            if value is None:
                self._settle(j)
        return np.asarray(self._graphic, dtype=np.float64)

    def latest(self) -> tuple[float, float, float, float]:
        """(change, area, kept, similarity) of the last frame pushed (see :meth:`arrays`, :meth:`area`,
        :meth:`kept`, :meth:`similarity`)."""
        return self._change[-1], self._area[-1], self._kept[-1], self._similarity[-1]

    def latest_slow(self, k: int) -> tuple[float, float]:
        """The last frame's aligned ``k``-step luma difference (see :meth:`slow`) and the sum of the last ``k``
        thumbnail one-step changes (:meth:`thumb_change`) that the slow tests compare it with; neither changes
        later (unlike the one-step changes, which :meth:`_realign` may lower)."""
        return (self._slow[k][-1] if self._slow[k] else 0.0), float(sum(self._thumb_change[-k:]))

    def tracked(self, start: int, end: int, level: float) -> bool:
        """Did the camera move by whole analysis pixels at every frame of ``start .. end`` (inclusive), each frame
        then being the one before it moved (aligned change below ``level``)? Then the change over them is the
        camera's motion, however much the picture's colours changed while it moved."""
        end = min(end, len(self._positions) - 1)
        if start < 1 or end < start:
            return False
        for i in range(start, end + 1):
            (y0, x0), (y1, x1) = self._positions[i - 1], self._positions[i]
            if (y0, x0) == (y1, x1) or not self._change[i] < level:
                return False
        return True

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

    def kept(self) -> np.ndarray:
        """Share of the frame that kept its picture from the previous frame (0..1, see :func:`cell_change`;
        0 where the frame repeats the previous one)."""
        return np.asarray(self._kept, dtype=np.float64)

    def similarity(self) -> np.ndarray:
        """:func:`similarity` with the previous frame (1 where the frame
        repeats the previous one, 0 for the first frame)."""
        return np.asarray(self._similarity, dtype=np.float64)

    def _thumb(self, index: int) -> np.ndarray:
        """The float32 thumbnail of frame ``index`` (clamped to the frames seen)."""
        return self._thumbs[min(max(index, 0), len(self._thumbs) - 1)].astype(np.float32)

    def _guesses(self, before: int, after: int) -> set[tuple[int, int]]:
        """Whole-thumbnail-pixel guesses of how far the content moved from ``before`` to ``after``: none, and
        the accumulated translation (whole 64-px pixels, so it drifts over many frames, and a graphic
        cutting can mislead it)."""
        last = len(self._positions) - 1
        p, q = self._positions[min(max(before, 0), last)], self._positions[min(max(after, 0), last)]
        scale = THUMB_WIDTH / LUMA_WIDTH
        # Positions accumulate where each frame's predecessor lies; the content moved the other way.
        return {(0, 0), (int(round((p[0] - q[0]) * scale)), int(round((p[1] - q[1]) * scale)))}

    def ends_similarity(self, before: int, after: int) -> float:
        """:func:`similarity` of frames ``before`` and ``after`` (thumbnails, at the whole-pixel offset within
        ``ENDS_SEARCH`` of a guess where it is largest): are the two ends of a span the same picture? 0
        when either is black (a fade to or from black is the picture's gain going to 0)."""
        last = len(self._black) - 1
        if self._black[min(max(before, 0), last)] or self._black[min(max(after, 0), last)]:
            return 0.0
        a, b = self._thumb(before), self._thumb(after)
        best = similarity(a, b)
        for cy, cx in self._guesses(before, after):
            for ey in range(-ENDS_SEARCH, ENDS_SEARCH + 1):
                for ex in range(-ENDS_SEARCH, ENDS_SEARCH + 1):
                    if not _too_far(a.shape, cy + ey, cx + ex):
                        best = max(best, similarity(*_overlap(a, b, cy + ey, cx + ex)))
        return best

    def ends_kept(self, before: int, after: int) -> float:
        """The largest share of frame ``after`` that shows frame ``before``'s picture kept
        (:func:`cell_change` on the thumbnails), over the motions between them within ``ENDS_SEARCH`` pixels
        of a guess, refined to a quarter pixel (an edge off by half a pixel no longer looks kept): most of the
        frame when only a graphic or an inset changed between them, none of it across a transition."""
        return max(self._kept_shares(before, after))

    def ends_keep(self, before: int, after: int, share: float) -> bool:
        """Is :meth:`ends_kept` at least ``share``? The search stops at the first motion that keeps it (a
        graphic changing is told after a few motions; only a transition is searched in full)."""
        return any(kept >= share for kept in self._kept_shares(before, after))

    def _kept_shares(self, before: int, after: int):
        """The kept shares that :meth:`ends_kept` takes the largest of, one per motion, as they are computed:
        the whole-pixel motions around each guess, then the quarter pixels around the best of them."""
        a, b = self._thumb(before), self._thumb(after)
        scored: dict[tuple[float, float], float] = {}

        def score(motions):
            for motion in motions:
                if motion not in scored:
                    scored[motion] = _shifted_kept(a, b, *motion)
                    yield scored[motion]

        whole = range(-ENDS_SEARCH, ENDS_SEARCH + 1)
        yield from score((float(cy + ey), float(cx + ex)) for cy, cx in self._guesses(before, after)
                         for ey in whole for ex in whole)
        sy, sx = max(scored, key=scored.get)
        quarter = np.arange(-0.75, 0.8, 0.25)
        yield from score((sy + float(fy), sx + float(fx)) for fy in quarter for fx in quarter)

    def thumb_change(self) -> np.ndarray:
        """Per frame: the mean absolute difference of its ``THUMB_WIDTH``-px thumbnail from the previous frame's
        (0..255, unaligned; 0 for the first frame). A shot moving by a fraction of a pixel changes its 64-px
        frame by a few grey levels every frame and its thumbnail by about half that."""
        return np.asarray(self._thumb_change, dtype=np.float64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(change, persist); where no later frame exists, persist equals change (treated as lasting)."""
        change = np.asarray(self._change, dtype=np.float64)
        persist = np.asarray(self._persist, dtype=np.float64)
        missing = ~np.isfinite(persist)
        persist[missing] = change[missing]
        return change, persist
