"""Combine the scanned units of one video into clip rows and keyframe rows (pure; no I/O)."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from curation.annotate.shots.clips import Clip, clips_from_shots, frame_end_times, shots_from_boundaries
from curation.annotate.config import AnnotateConfig
from curation.annotate.shots import Boundary, merge_boundaries
from curation.annotate.shots.luma import is_black
from curation.annotate.scan.keyframes import clip_targets, nearest
from curation.annotate.scan.motion import PairMotion, clip_motion
from curation.annotate.scan.registry import SIGNALS
from curation.annotate.scan.unit import UnitResult
from curation.contract.schema import CLIP_COLUMNS, ROW_CLIP, ROW_SHOT, ROW_STATUS, ROW_TRANSITION
from curation.video import VideoInfo

# A video is called truncated when fewer than this share of its declared frames (or duration) decode.
TRUNCATION_SHARE = 0.95


def video_id_for(path: str) -> str:
    """Stable id: BLAKE2b of the absolute path or the URI (the same file gets the same id in every run)."""
    key = path if "://" in path else os.path.abspath(path)
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@dataclass
class VideoOutput:
    rows: list[dict]
    keyframes: list[dict]


def _empty_row(video_id: str, path: str, kind: str = ROW_STATUS) -> dict:
    row = {name: None for name, _, _ in CLIP_COLUMNS}
    row.update(video_id=video_id, video_path=path, row_kind=kind)
    return row


def transition_kind(start: int, end: int, black: np.ndarray) -> str:
    """Kind of the gradual transition over frames ``start .. end - 1`` (``end`` = first frame of the new
    shot) from which sides are black: ``fade_in``, ``fade_out``, ``fade_out_in`` or ``gradual``."""
    n = len(black)
    before = bool(black[start - 1]) if start > 0 else True
    after = bool(black[end]) if end < n else True
    if before and not after:
        return "fade_in"
    if after and not before:
        return "fade_out"
    if not before and not after and bool(black[max(0, start):min(end, n)].any()):
        return "fade_out_in"
    return "gradual"


def error_output(video_id: str, path: str, kind: str, message: str, info: VideoInfo | None = None) -> VideoOutput:
    """The single status row of a video that failed before any frame was analysed."""
    row = _empty_row(video_id, path)
    if info is not None:
        row.update(fps=info.fps, width=info.width, height=info.height, rotation=info.rotation, codec=info.codec)
    row.update(error_kind=kind, error=message)
    return VideoOutput([row], [])


def assemble_video(video_id: str, info: VideoInfo, units: list[UnitResult], config: AnnotateConfig) -> VideoOutput:
    """Clip rows (and keyframe rows) for one video from all its units, in order.

    Units are used up to and including the first that failed; a failure, a truncation or skipped packets add
    a status row (or a warning) so nothing goes unreported, and every clip that decoded is kept.
    """
    units = sorted(units, key=lambda u: u.unit_index)
    offsets, times, boundaries, pairs, keyframes, luma_mean, luma_std = [], [], [], [], {}, [], []
    signal_samples: dict[str, list] = {}
    failure: UnitResult | None = None
    offset = 0
    for unit in units:
        offsets.append(offset)
        times.append(unit.times)
        luma_mean.append(unit.luma_mean)
        luma_std.append(unit.luma_std)
        boundaries += [Boundary(b.start + offset, b.end + offset, b.score, b.source) for b in unit.boundaries]
        pairs += [PairMotion(p.first + offset, p.second + offset, p.dt, p.mean, p.static_pixels, p.pixels, p.hist)
                  for p in unit.pairs]
        keyframes.update({k + offset: v for k, v in unit.keyframes.items()})
        for name, samples in unit.signals.items():
            signal_samples.setdefault(name, []).extend(s.shifted(offset) for s in samples)
        offset += unit.frames
        if unit.error_kind is not None:
            if unit.error_kind == "no_frames" and offset > 0:
                # A segment past the last frame: the file is shorter than it declares (truncated), which the
                # check below reports like a single pass's early end.
                break
            failure = unit
            break
    all_times = np.concatenate(times) if times else np.zeros(0)
    n_frames = len(all_times)
    decode_errors = sum(u.decode_errors for u in units)
    detector = units[0].detector if units else {}

    warnings = []
    problem_kind = None  # a damaged file whose decodable part still gave clips gets a status row too
    if decode_errors:
        warnings.append(f"{decode_errors} undecodable packets skipped")
        problem_kind = "corrupt_frames"
    stopped = [u.stopped_early for u in units if u.stopped_early]
    if stopped:
        warnings.append(stopped[0])
        problem_kind = "truncated"
    repairs = sum(u.timestamp_repairs for u in units)
    if repairs:
        warnings.append(f"timestamps repaired at {repairs} frames (not advancing, going back, or jumping ahead)")
    warnings.extend(info.notes)
    if failure is None and n_frames:
        if info.frame_count > 0 and n_frames < TRUNCATION_SHARE * info.frame_count:
            warnings.append(f"truncated: {n_frames} of {info.frame_count} declared frames decoded")
            problem_kind = "truncated"
        elif not repairs and info.duration_s > 0 and all_times[-1] < TRUNCATION_SHARE * info.duration_s - 1.0:
            # (Repaired times no longer measure against the declared duration.)
            warnings.append(f"truncated: decoded {all_times[-1]:.2f} s of {info.duration_s:.2f} s declared")
            problem_kind = "truncated"
    warning = "; ".join(warnings) or None

    if n_frames == 0:
        kind = failure.error_kind if failure else "no_frames"
        message = failure.error if failure else "no frame decoded"
        out = error_output(video_id, info.path, kind, message, info)
        out.rows[0]["warning"] = warning
        return out

    boundaries = merge_boundaries(boundaries, config.cuts.min_shot_frames)
    shots = shots_from_boundaries(n_frames, boundaries)
    if failure is not None and shots:
        # The last shot was cut short by the failure, not by a boundary: it ends where decoding stopped.
        last = shots[-1]
        shots[-1] = type(last)(last.index, last.start, last.end, last.cut_before, False)
    frame_s = 1.0 / info.fps if info.fps > 0 else 1 / 25
    black = is_black(np.concatenate(luma_mean), np.concatenate(luma_std), config.clips.black_level)
    clips, skipped = clips_from_shots(shots, all_times, config.clips, frame_s, black)
    boundary_source = {b.end: b.source for b in boundaries}
    duration = float(all_times[-1] - all_times[0] + frame_s)
    fps = (n_frames - 1) / float(all_times[-1] - all_times[0]) if n_frames > 1 and all_times[-1] > all_times[0] else info.fps
    common = dict(
        fps=fps, width=info.width, height=info.height, rotation=info.rotation, codec=info.codec,
        video_duration_s=duration, video_frames=n_frames, detector=detector.get("detector"),
        detector_params=json.dumps(detector, sort_keys=True), decode_errors=decode_errors, warning=warning,
    )
    pair_first = np.array([p.first for p in pairs], dtype=np.int64)
    pair_second = np.array([p.second for p in pairs], dtype=np.int64)
    candidates = np.array(sorted(keyframes), dtype=np.int64)
    do_motion = "motion" in config.stages
    do_keyframes = "keyframes" in config.stages
    key_w, key_h = units[0].keyframe_size

    rows, key_rows = [], []
    for index, clip in enumerate(clips):
        row = _empty_row(video_id, info.path, ROW_CLIP)
        clip_id = f"{video_id}-{index:05d}"
        row.update(common)
        row.update(
            clip_index=index, clip_id=clip_id, shot_index=clip.shot.index, shot_start_frame=clip.shot.start,
            shot_end_frame=clip.shot.end, start_frame=clip.start, end_frame=clip.end, start_s=clip.start_s,
            end_s=clip.end_s, duration_s=clip.end_s - clip.start_s, num_frames=clip.end - clip.start + 1,
            boundary_source=boundary_source.get(clip.shot.start),
        )
        if do_motion:
            inside = (pair_first >= clip.start) & (pair_second <= clip.end)
            row.update(clip_motion([p for p, ok in zip(pairs, inside) if ok]))
        for signal in SIGNALS:
            if signal.name in config.stages:
                inside = [s for s in signal_samples.get(signal.name, [])
                          if clip.start <= s.first and s.last <= clip.end]
                row.update(signal.clip_values(getattr(config, signal.name), inside, info.width, info.height))
        if do_keyframes:
            _add_keyframes(row, key_rows, clip, clip_id, video_id, candidates, keyframes, all_times, key_w, key_h)
        rows.append(row)
    footage = _footage_rows(video_id, info.path, common, skipped, boundaries, boundary_source, all_times, black,
                            frame_s)
    n_clips = len(rows)

    if failure is not None:
        status = _empty_row(video_id, info.path)
        status.update(common)
        status.update(error_kind=failure.error_kind,
                      error=f"{failure.error} (at {failure.times[-1] if failure.frames else 0:.2f} s; "
                            f"{n_clips} clips before it kept)")
        rows.append(status)
    elif rows and problem_kind is not None:
        status = _empty_row(video_id, info.path)
        status.update(common)
        status.update(error_kind=problem_kind, error=f"{warning} ({n_clips} clips from the decodable part kept)")
        rows.append(status)
    elif not rows:
        status = _empty_row(video_id, info.path)
        status.update(common)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(Counter(x.reason for x in skipped).items()))
        reason = (f"no clip: {len(shots)} shot(s) ({reasons}), none at least {config.clips.min_s} s long and "
                  "not black after trimming")
        status.update(error_kind=problem_kind or "too_short", error=f"{warning}; {reason}" if warning else reason)
        rows.append(status)
    return VideoOutput(rows + footage, key_rows)


def _footage_rows(video_id: str, path: str, common: dict, skipped: list, boundaries: list[Boundary],
                  boundary_source: dict[int, str], times: np.ndarray, black: np.ndarray,
                  frame_s: float) -> list[dict]:
    """One row per detected shot that gave no clip and per detected gradual transition, so every detected
    boundary and all footage are accounted for."""
    rows = []
    for item in skipped:
        row = _empty_row(video_id, path, ROW_SHOT)
        row.update(common)
        shot = item.shot
        row.update(skip_reason=item.reason, boundary_source=boundary_source.get(shot.start), shot_index=shot.index,
                   shot_start_frame=shot.start, shot_end_frame=shot.end, start_frame=shot.start, end_frame=shot.end,
                   start_s=item.start_s, end_s=item.end_s, duration_s=item.end_s - item.start_s,
                   num_frames=shot.end - shot.start + 1)
        rows.append(row)
    n = len(times)
    ends = frame_end_times(times, frame_s)
    for b in boundaries:
        first, last = max(0, b.start), min(b.end, n) - 1
        if b.is_cut or last < first:
            continue
        row = _empty_row(video_id, path, ROW_TRANSITION)
        row.update(common)
        row.update(transition_kind=transition_kind(b.start, b.end, black), start_frame=first, end_frame=last,
                   start_s=float(times[first]), end_s=float(ends[last]),
                   duration_s=float(ends[last] - times[first]), num_frames=last - first + 1,
                   boundary_source=b.source)
        rows.append(row)
    return rows


def _add_keyframes(row: dict, key_rows: list[dict], clip: Clip, clip_id: str, video_id: str,
                   candidates: np.ndarray, keyframes: dict[int, bytes], times: np.ndarray, w: int, h: int) -> None:
    for position, target in clip_targets(clip).items():
        frame = nearest(candidates, target, clip.start, clip.end)
        row[f"keyframe_{position}"] = frame
        if frame is None:
            continue
        key_rows.append({"clip_id": clip_id, "video_id": video_id, "position": position, "frame": frame,
                         "time_s": float(times[frame]), "width": w, "height": h, "jpeg": keyframes[frame]})
