"""Which keyframe candidates the clips use: for each clip, the candidate nearest its first, middle and last
frame. Assembly picks them (:mod:`curation.annotate.scan.assemble`); a unit's scan asks the same question of
its own shots first (:func:`used_candidates`), so it converts and encodes only the candidates that can be
picked."""
from __future__ import annotations

import numpy as np

from curation.annotate.config import ClipsConfig
from curation.annotate.shots import Boundary
from curation.annotate.shots.clips import Clip, clips_from_shots, shots_from_boundaries


def clip_targets(clip: Clip) -> dict[str, int]:
    """The frame each keyframe position of ``clip`` aims at."""
    return {"first": clip.start, "middle": (clip.start + clip.end) // 2, "last": clip.end}


def nearest(candidates: np.ndarray, target: int, lo: int, hi: int) -> int | None:
    """The candidate in ``lo .. hi`` nearest ``target`` (the earlier of two as near), None when there is none.
    ``candidates``: frame indices, sorted."""
    inside = candidates[(candidates >= lo) & (candidates <= hi)]
    if len(inside) == 0:
        return None
    return int(inside[np.argmin(np.abs(inside - target))])


def used_candidates(candidates: np.ndarray, times: np.ndarray, boundaries: list[Boundary], black: np.ndarray,
                    config: ClipsConfig, frame_s: float, min_shot_frames: int, open_start: bool,
                    open_end: bool) -> set[int]:
    """The candidates (sorted frame indices of one unit) that assembly can pick, from the unit's own frame
    ``times``, ``boundaries`` and ``black`` flags.

    A shot inside the unit is final: assembly finds the same shot and the same clips. Near an open end (where
    the video goes on in a neighbouring unit: ``open_start`` / ``open_end``) it is not: boundaries within
    ``min_shot_frames`` across the seam merge, the first or last shot goes on in the neighbour, and the last
    frame's duration is the whole video's median. There every candidate is kept: before the first final
    shot's start and after the last final shot's end."""
    n = len(times)
    shots = shots_from_boundaries(n, boundaries)
    margin = min_shot_frames + config.trim_frames + 1
    final = [s for i, s in enumerate(shots)
             if not (open_start and (i == 0 or s.start < margin))
             and not (open_end and (i == len(shots) - 1 or s.end >= n - margin))]
    if not final:
        return {int(c) for c in candidates}
    lo, hi = final[0].start, final[-1].end
    used = {int(c) for c in candidates if c < lo or c > hi}
    clips, _ = clips_from_shots(final, times, config, frame_s, black)
    for clip in clips:
        for target in clip_targets(clip).values():
            frame = nearest(candidates, target, clip.start, clip.end)
            if frame is not None:
                used.add(frame)
    return used
