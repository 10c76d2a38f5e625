"""From boundaries to shots to clips: a pure function of frame times and detected boundaries."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from curation.annotate.config import ClipsConfig
from curation.annotate.shots.base import Boundary


@dataclass(frozen=True)
class Shot:
    """A detected shot: frames ``start .. end`` inclusive, ``index`` its order in the video."""

    index: int
    start: int
    end: int
    cut_before: bool
    cut_after: bool


@dataclass(frozen=True)
class Clip:
    """Frames ``start .. end`` inclusive of one shot; ``start_s`` / ``end_s`` are the presentation time of the
    first frame and the end of the last frame."""

    shot: Shot
    start: int
    end: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class SkippedShot:
    """A detected shot that gave no clip: ``reason`` is ``too_short`` (shorter than ``min_s`` after
    trimming, or nothing left after trimming) or ``black`` (every frame dark and flat: the black gap of a
    fade, a slate); ``start_s`` / ``end_s`` span the whole shot."""

    shot: Shot
    reason: str
    start_s: float
    end_s: float


def shots_from_boundaries(n_frames: int, boundaries: list[Boundary]) -> list[Shot]:
    """Partition frames ``0 .. n_frames-1`` into shots, leaving out transition frames."""
    shots: list[Shot] = []
    start = 0
    cut_before = False
    for b in sorted(boundaries, key=lambda x: x.start):
        if b.start <= start and b.end <= start:
            continue
        end = min(b.start, n_frames) - 1
        if end >= start:
            shots.append(Shot(len(shots), start, end, cut_before, True))
        start = max(start, b.end)
        cut_before = True
        if start >= n_frames:
            break
    if start <= n_frames - 1:
        shots.append(Shot(len(shots), start, n_frames - 1, cut_before, False))
    return shots


def frame_end_times(times: np.ndarray, fallback_duration: float) -> np.ndarray:
    """End time of each frame: the next frame's time; the last frame lasts the median frame duration."""
    if len(times) == 0:
        return times
    ends = np.empty_like(times)
    ends[:-1] = times[1:]
    steps = np.diff(times)
    last = float(np.median(steps)) if len(steps) else fallback_duration
    ends[-1] = times[-1] + (last if last > 0 else fallback_duration)
    return ends


def clips_from_shots(shots: list[Shot], times: np.ndarray, config: ClipsConfig,
                     fallback_frame_s: float = 1 / 25,
                     black: np.ndarray | None = None) -> tuple[list[Clip], list[SkippedShot]]:
    """Apply the clip policy: trim next to transitions, drop shots shorter than ``min_s``, split shots longer
    than ``max_s`` into equal pieces (by time, so variable frame rates are handled). ``black`` (per frame,
    optional) marks dark flat frames; a shot made only of them gives no clip. Returns the clips and every
    shot that gave none, with the reason."""
    ends = frame_end_times(times, fallback_frame_s)
    clips: list[Clip] = []
    skipped: list[SkippedShot] = []
    for shot in shots:
        whole = (float(times[shot.start]), float(ends[shot.end]))
        if black is not None and black[shot.start:shot.end + 1].all():
            skipped.append(SkippedShot(shot, "black", *whole))
            continue
        start = shot.start + (config.trim_frames if shot.cut_before else 0)
        end = shot.end - (config.trim_frames if shot.cut_after else 0)
        if end < start:
            skipped.append(SkippedShot(shot, "too_short", *whole))
            continue
        t0, t1 = float(times[start]), float(ends[end])
        duration = t1 - t0
        if duration + 1e-9 < config.min_s:
            skipped.append(SkippedShot(shot, "too_short", *whole))
            continue
        pieces = max(1, math.ceil(duration / config.max_s - 1e-9)) if config.max_s > 0 else 1
        # Piece k starts at the first frame at or after t0 + k * duration / pieces.
        cuts = [start] + [int(np.searchsorted(times, t0 + k * duration / pieces, side="left"))
                          for k in range(1, pieces)] + [end + 1]
        for a, b in zip(cuts[:-1], cuts[1:]):
            if b - 1 < a:
                continue
            clips.append(Clip(shot, a, b - 1, float(times[a]), float(ends[b - 1])))
    return clips, skipped
