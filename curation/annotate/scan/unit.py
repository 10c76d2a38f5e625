"""One decode of a work unit (a video, or one segment of a long video) feeds everything: shot detection at
every cascade level, Farnebäck motion on frames sampled at ``motion.sample_fps``, and keyframe candidates.

A segment is decoded with ``decode.segment_overlap_s`` of context on each side so detectors see across its
edges; it reports only what starts inside it. Frame indices in a :class:`UnitResult` are relative to the
unit's first frame; :mod:`curation.annotate.scan.assemble` turns them into video frame indices.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import av
import cv2
import numpy as np

from curation.annotate.config import AnnotateConfig
from curation.annotate.shots import Boundary, FrameFeatures, TransNetV2Model, build_detector
from curation.annotate.scan.keyframes import used_candidates
from curation.annotate.scan.motion import PairMotion, farneback_flow, flow_motion, flow_scale
from curation.annotate.scan.registry import SIGNALS
from curation.annotate.scan.signal import SampleGrid
from curation.annotate.shots.luma import is_black
from curation.video import DecodedFrame, DecodeStats, KeyframeImage, VideoError, iter_frames, scaled_size


@dataclass(frozen=True)
class WorkUnit:
    """A time range ``[start_s, end_s)`` of one video (``end_s`` None = to the end)."""

    video_id: str
    path: str
    unit_index: int
    n_units: int
    start_s: float
    end_s: float | None
    width: int
    height: int
    fps: float


@dataclass
class UnitResult:
    """What a scan of one unit found. Indices are relative to the unit's first frame. ``luma_mean`` /
    ``luma_std``: per frame, mean and standard deviation of the analysis-size luma (0..255), to tell black
    frames."""

    video_id: str
    unit_index: int
    n_units: int
    error_kind: str | None = None
    error: str | None = None
    frames: int = 0
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    boundaries: list[Boundary] = field(default_factory=list)
    pairs: list[PairMotion] = field(default_factory=list)
    keyframes: dict[int, bytes] = field(default_factory=dict)
    keyframe_size: tuple[int, int] = (0, 0)
    luma_mean: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    luma_std: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    decode_errors: int = 0
    stopped_early: str | None = None
    timestamp_repairs: int = 0
    detector: dict = field(default_factory=dict)
    scan_seconds: float = 0.0
    # Per scan signal (curation.annotate.scan.signal): its samples, frames relative to the unit.
    signals: dict[str, list] = field(default_factory=dict)


class _KeyframeKeeper:
    """Keeps keyframe candidates: a time grid, and the frames right next to likely cuts (exact).

    A candidate is held reduced but not converted (:class:`~curation.video.KeyframeImage`) while the unit is
    scanned, up to ``budget`` bytes (the oldest are encoded when more come); at the end only those a clip can
    use are converted and encoded as JPEG (:meth:`finish`): most candidates are never used, and the colour
    conversion and the JPEG were most of their cost."""

    def __init__(self, config: AnnotateConfig, size: tuple[int, int], ring: int):
        self._config = config.keyframes
        self._size = size
        self._ring: deque[tuple[int, DecodedFrame, bool]] = deque(maxlen=ring)
        self._grid = SampleGrid(config.keyframes.candidate_fps)
        self._exact_until = -1
        self._reach = config.clips.trim_frames + 1
        self._budget = int(config.keyframes.pending_mb * 2**20)
        self._pending: dict[int, KeyframeImage] = {}
        self._pending_bytes = 0
        self._kept: dict[int, bytes] = {}

    def _keep(self, rel: int, frame: DecodedFrame) -> None:
        if rel >= 0 and rel not in self._kept and rel not in self._pending:
            image = frame.keyframe_image(*self._size)
            self._pending[rel] = image
            self._pending_bytes += image.nbytes
            while self._pending_bytes > self._budget:
                self._encode(next(iter(self._pending)))

    def _encode(self, rel: int) -> None:
        image = self._pending.pop(rel)
        self._pending_bytes -= image.nbytes
        ok, buf = cv2.imencode(".jpg", image.bgr(), [cv2.IMWRITE_JPEG_QUALITY, self._config.jpeg_quality])
        if ok:
            self._kept[rel] = buf.tobytes()

    def push(self, rel: int, frame: DecodedFrame, triggers: list[int], in_range: bool) -> None:
        self._ring.append((rel, frame, in_range))
        for trigger in triggers:
            # Frames just before a likely cut are in the ring; frames just after are kept as they come. A cut
            # in the context after the unit's end still keeps the unit's last frames before it.
            for r, f, inside in self._ring:
                if inside and trigger - self._reach - 1 <= r <= trigger:
                    self._keep(r, f)
            self._exact_until = max(self._exact_until, trigger + self._reach)
        if in_range:
            if self._grid.due(frame.time_s):
                self._keep(rel, frame)
            if rel <= self._exact_until:
                self._keep(rel, frame)

    def keep_last(self) -> None:
        if self._ring:
            rel, frame, _ = self._ring[-1]
            self._keep(rel, frame)

    def candidates(self, frames: int) -> np.ndarray:
        """The candidates' frame indices below ``frames``, sorted."""
        return np.array(sorted(k for k in (*self._kept, *self._pending) if k < frames), dtype=np.int64)

    def finish(self, used: set[int]) -> dict[int, bytes]:
        """The JPEG of every candidate in ``used`` (from :meth:`candidates`); the rest are dropped (also those
        the budget made encode early), so they are neither held nor sent on."""
        for rel in [r for r in self._pending if r in used]:
            self._encode(rel)
        self._pending.clear()
        self._pending_bytes = 0
        return {k: v for k, v in self._kept.items() if k in used}


class _MotionSampler:
    """Farnebäck pairs: a sampled frame on a grid of ``sample_fps`` per second anchored at time 0 of the
    video (so every segment samples the same frames), and its partner, the first later frame at least
    ``pair_gap_s`` after it (None: the next sample). A pair whose first frame is in the unit is kept,
    wherever its second frame is."""

    def __init__(self, config: AnnotateConfig, gray_size: tuple[int, int], out: list[PairMotion],
                 flow_users: tuple = ()):
        self._config = config.motion
        self._flow_users = flow_users  # the scan signals that read each pair's flow (Sampler.pair)
        self._size = gray_size
        self._period = 1.0 / config.motion.sample_fps
        self._gap = config.motion.pair_gap_s
        self._next_sample = 0.0
        self._open: deque[tuple[int, float, np.ndarray]] = deque()  # samples waiting for their partner
        self._out = out

    def push(self, rel: int, frame: DecodedFrame, in_range: bool) -> None:
        sampled = frame.time_s >= self._next_sample
        if sampled:
            self._next_sample = (np.floor(frame.time_s / self._period) + 1) * self._period
        due = 0
        if self._gap is not None or sampled:
            gap = self._gap or 0.0
            # Frames are pushed after their sample is opened, so a partner is always a later frame.
            while due < len(self._open) and frame.time_s - self._open[due][1] >= gap:
                due += 1
        opens = sampled and in_range
        if not due and not opens:
            return
        gray = frame.gray(*self._size)
        for _ in range(due):
            first, t, first_gray = self._open.popleft()
            flow = farneback_flow(first_gray, gray, self._config)
            self._out.append(flow_motion(flow, first, rel, frame.time_s - t, self._config))
            for user in self._flow_users:
                user.pair(first, rel, t, frame.time_s - t, flow, flow_scale(flow), first_gray)
        if opens:
            self._open.append((rel, frame.time_s, gray))


def scan_unit(unit: WorkUnit, config: AnnotateConfig, model: TransNetV2Model | None,
              deadline: float | None = None, decode_threads: int | None = None) -> UnitResult:
    """Decode ``unit`` once and compute everything the enabled stages need. Per-video failures come back as
    ``error_kind`` / ``error``; programming errors raise. ``decode_threads``: the decoder's threads (default
    None: ``decode.threads``)."""
    started = time.monotonic()
    result = UnitResult(unit.video_id, unit.unit_index, unit.n_units)
    detector = build_detector(config.cuts, model)
    result.detector = detector.describe()
    do_motion = "motion" in config.stages
    do_keyframes = "keyframes" in config.stages
    overlap = config.decode.segment_overlap_s
    first_unit = unit.unit_index == 0
    last_unit = unit.end_s is None

    bgr_size = scaled_size(unit.width, unit.height, target_width=config.cuts.analysis_width)
    gray_size = scaled_size(unit.width, unit.height, short_side=config.motion.short_side)
    # Never larger than the video: an upscaled keyframe holds nothing more, and costs a swscale and a JPEG.
    key_size = scaled_size(unit.width, unit.height,
                           long_side=min(config.keyframes.long_side, max(unit.width, unit.height)))
    result.keyframe_size = key_size
    keeper = _KeyframeKeeper(config, key_size, ring=config.clips.trim_frames + 3) if do_keyframes else None

    signals = {s.name: s.sampler(getattr(config, s.name), unit.width, unit.height)
               for s in SIGNALS if s.name in config.stages}
    motion = _MotionSampler(config, gray_size, result.pairs,
                            tuple(signals[s.name] for s in SIGNALS if s.name in signals and "motion" in s.needs))
    times: list[float] = []
    luma_mean: list[float] = []
    luma_std: list[float] = []
    stats = DecodeStats()
    first_rel: int | None = None  # decode-order index of the unit's first in-range frame
    decode_index = -1
    frames = iter_frames(
        unit.path,
        start_s=max(0.0, unit.start_s - overlap) if not first_unit else 0.0,
        end_s=None if last_unit else unit.end_s + overlap,
        threads=config.decode.threads if decode_threads is None else decode_threads,
        max_decode_errors=config.decode.max_decode_errors,
        stats=stats,
        deadline=deadline,
        prefetch=config.decode.prefetch,
    )
    try:
        for frame in frames:
            decode_index += 1
            if decode_index == 0:
                detector.align(round(frame.time_s * unit.fps))
            in_range = frame.time_s >= unit.start_s and (last_unit or frame.time_s < unit.end_s)
            if in_range and first_rel is None:
                first_rel = decode_index
            rel = decode_index - (first_rel if first_rel is not None else 10**12)
            bgr = frame.bgr(*bgr_size)
            gray = frame.gray(*bgr_size)
            if in_range:
                times.append(frame.time_s)
                mean, std = cv2.meanStdDev(gray)
                luma_mean.append(float(mean[0, 0]))
                luma_std.append(float(std[0, 0]))
            triggers = detector.push(FrameFeatures(decode_index, bgr, gray))
            if keeper is not None:
                keeper.push(rel, frame, [t - (first_rel or 0) for t in triggers] if first_rel is not None else [],
                            in_range)
            if do_motion:
                motion.push(rel, frame, in_range)
            for sampler in signals.values():
                sampler.frame(rel, frame, in_range)
        if keeper is not None and last_unit:
            keeper.keep_last()
    except VideoError as exc:
        result.error_kind, result.error = exc.kind, exc.message
    except (av.error.FFmpegError, cv2.error, MemoryError) as exc:
        result.error_kind, result.error = "decode_error", f"{type(exc).__name__}: {exc}"
    finally:
        frames.close()
    # Only this unit's own packets: those in the context around it belong to its neighbours.
    result.decode_errors = stats.errors_between(-np.inf if first_unit else unit.start_s, unit.end_s)
    result.stopped_early = stats.stopped_early
    result.timestamp_repairs = stats.timestamp_repairs
    result.frames = len(times)
    result.times = np.asarray(times, dtype=np.float64)
    result.luma_mean = np.asarray(luma_mean, dtype=np.float32)
    result.luma_std = np.asarray(luma_std, dtype=np.float32)
    if first_rel is None:
        if result.error_kind is None:
            result.error_kind, result.error = "no_frames", "no frame decoded in this range"
    else:
        # Also after a mid-stream failure: what decoded before it is kept.
        result.boundaries = [
            Boundary(b.start - first_rel, b.end - first_rel, b.score, b.source)
            for b in detector.finish() if 0 <= b.end - first_rel < len(times)
        ]
    result.pairs = [p for p in result.pairs if 0 <= p.first < len(times)]
    result.signals = {name: [s for s in sampler.samples() if 0 <= s.first < len(times)]
                      for name, sampler in signals.items()}
    if keeper is not None:
        candidates = keeper.candidates(len(times))
        # A failed unit's last shot is cut short in assembly (no boundary after it): not final either.
        used = used_candidates(candidates, result.times, result.boundaries,
                               is_black(result.luma_mean, result.luma_std, config.clips.black_level),
                               config.clips, 1.0 / unit.fps if unit.fps > 0 else 1 / 25,
                               config.cuts.min_shot_frames, open_start=not first_unit,
                               open_end=unit.n_units > 1 or result.error_kind is not None)
        result.keyframes = keeper.finish(used)
    result.scan_seconds = time.monotonic() - started
    return result
