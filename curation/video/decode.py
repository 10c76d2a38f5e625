"""Streaming decode with PyAV: the only code that decodes video frames.

Frames are yielded one at a time (never a whole video in memory) with presentation timestamps from their
PTS, so variable-frame-rate files get true times; timestamps that cannot be right (not advancing, going
back, jumping by minutes or hours) are repaired and counted. Undecodable packets are counted, not fatal. The container
is always closed. Conversions to analysis sizes take the fast path (planes + OpenCV resize) for 8-bit 4:2:0,
the common case, and go through swscale otherwise; all apply the display rotation.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import cv2
import numpy as np

from curation.video.errors import VideoError
from curation.video.guard import MAX_FPS, PYAV_FAULTS, frame_format, pyav, rotation_clockwise, stream_facts, video_stream
from curation.video.probe import open_container

_FAST_FORMATS = {"yuv420p", "yuvj420p"}
# Consecutive frames closer than this (seconds) are not believed: no footage is stored at more than MAX_FPS.
MIN_STEP_S = 1.0 / MAX_FPS
# A jump forward between consecutive frames larger than this (seconds) is a broken clock, not a frame held on
# screen (a static screen recording holds a frame for seconds, not minutes).
MAX_GAP_S = 60.0


@dataclass
class DecodeStats:
    """Counters of one decode: frames yielded, undecodable packets (and each one's time from the stream start,
    seconds, None where the packet has no timestamp), whether the stream ended early, and the frames whose
    timestamps were repaired (:func:`_repair_time`)."""

    frames: int = 0
    decode_errors: int = 0
    error_times: list[float | None] = field(default_factory=list)
    stopped_early: str | None = None
    timestamp_repairs: int = 0

    def errors_between(self, start_s: float, end_s: float | None) -> int:
        """Undecodable packets timed in ``[start_s, end_s)`` (``end_s`` None: to the end), and the untimed ones:
        a segment's own, not those of the context decoded around it (which the next segment counts)."""
        return sum(1 for t in self.error_times if t is None or (t >= start_s and (end_s is None or t < end_s)))


@dataclass
class DecodedFrame:
    """One decoded frame. ``time_s`` is its presentation time from the stream start, in seconds."""

    time_s: float
    frame: av.VideoFrame
    rotation: int = 0
    _planes: tuple | None = field(default=None, repr=False)
    _luma: dict = field(default_factory=dict, repr=False)  # (width, height) -> resized luma, shared by gray/bgr
    _format: str | None = field(default=None, repr=False)

    @property
    def pix_fmt(self) -> str:
        """The frame's pixel format name (checked: a frame without one is ``damaged_stream``)."""
        if self._format is None:
            self._format = frame_format(self.frame)
        return self._format

    def _yuv_planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._planes is None:
            f = self.frame
            with pyav("reading a frame's planes", kind="decode_error"):
                h, w = f.height, f.width
                ch, cw = (h + 1) // 2, (w + 1) // 2
                y = np.frombuffer(f.planes[0], np.uint8).reshape(h, f.planes[0].line_size)[:, :w]
                u = np.frombuffer(f.planes[1], np.uint8).reshape(ch, f.planes[1].line_size)[:, :cw]
                v = np.frombuffer(f.planes[2], np.uint8).reshape(ch, f.planes[2].line_size)[:, :cw]
            self._planes = (y, u, v)
        return self._planes

    def _reformat(self, width: int, height: int, format: str, **options) -> np.ndarray:
        """The frame through swscale at ``width`` x ``height`` (coded orientation) in ``format``."""
        with pyav("converting a frame", kind="decode_error"):
            return self.frame.reformat(width=width, height=height, format=format, **options).to_ndarray()

    def _small_luma(self, width: int, height: int) -> np.ndarray:
        """The luma plane at an analysis size, computed once per size (``gray`` and ``bgr`` share it)."""
        key = (width, height)
        if key not in self._luma:
            y = self._yuv_planes()[0]
            self._luma[key] = np.ascontiguousarray(_resize(_rotate(y, self.rotation), width, height))
        return self._luma[key]

    @property
    def display_size(self) -> tuple[int, int]:
        w, h = self.frame.width, self.frame.height
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def gray(self, width: int, height: int) -> np.ndarray:
        """Luma at ``width`` x ``height`` (display orientation), uint8; shared, do not modify it."""
        if self.pix_fmt in _FAST_FORMATS:
            return self._small_luma(width, height)
        cw, chh = _coded_size(width, height, self.rotation)
        out = _rotate(self._reformat(cw, chh, "gray"), self.rotation)
        return np.ascontiguousarray(out)

    def bgr(self, width: int, height: int) -> np.ndarray:
        """BGR at ``width`` x ``height`` (display orientation), uint8. Fast path for analysis sizes."""
        if self.pix_fmt in _FAST_FORMATS:
            _, u, v = (_rotate(p, self.rotation) for p in self._yuv_planes())
            yuv = cv2.merge([self._small_luma(width, height), _resize(u, width, height), _resize(v, width, height)])
            return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
        cw, chh = _coded_size(width, height, self.rotation)
        out = self._reformat(cw, chh, "bgr24", interpolation="BILINEAR")
        return np.ascontiguousarray(_rotate(out, self.rotation))

    def bgr_keyframe(self, width: int, height: int) -> np.ndarray:
        """BGR at ``width`` x ``height`` (display orientation, at most the frame's size), uint8, for keyframes:
        for 8-bit 4:2:0 the planes are area-averaged (integer factor, then bilinear for the rest, under 2x) and
        converted with the stream's colour matrix and range (BT.709 / BT.2020 when tagged, else BT.601 as
        swscale assumes; full range when tagged or ``yuvj``). A quarter to a tenth of :meth:`bgr_exact`'s
        cost; on real 720p frames it differs from it by 1.3 grey levels on average (the filters differ, not
        the colours). Other formats, and sizes above the frame's, go through :meth:`bgr_exact`."""
        return self.keyframe_image(width, height).bgr()

    def keyframe_image(self, width: int, height: int) -> KeyframeImage:
        """:meth:`bgr_keyframe` in two steps: this one reduces each plane at least ``width`` x ``height`` to that
        size (any other plane is copied as it is), and :meth:`KeyframeImage.bgr` resizes the rest, merges and
        converts, the costlier part, for the candidates that are used. Holds no reference to the decoder's
        buffers."""
        f = self.frame
        dw, dh = self.display_size
        if self.pix_fmt not in _FAST_FORMATS or width > dw or height > dh:
            return KeyframeImage(width, height, (self.bgr_exact(width, height),), None)
        planes = []
        for plane in (_rotate(p, self.rotation) for p in self._yuv_planes()):
            h, w = plane.shape[:2]
            # A smaller plane is resized in bgr(): the same bilinear step, later, and held at its own size.
            reduced = _area(plane, width, height) if w >= width and h >= height else plane
            planes.append(plane.copy() if reduced is plane else reduced)
        with pyav("the frame's colour tags", kind="decode_error"):
            color_range, colorspace = f.color_range, f.colorspace
        full = color_range == _FULL_RANGE or self.pix_fmt == "yuvj420p"
        return KeyframeImage(width, height, tuple(planes), _yuv_to_bgr(colorspace, full))

    def bgr_exact(self, width: int, height: int) -> np.ndarray:
        """BGR at ``width`` x ``height`` through swscale with the stream's colour matrix (for keyframes).
        swscale's bilinear filter widens with the reduction, so it does not alias, at a third of the cost of
        its area filter."""
        cw, chh = _coded_size(width, height, self.rotation)
        out = self._reformat(cw, chh, "bgr24", interpolation="BILINEAR")
        return np.ascontiguousarray(_rotate(out, self.rotation))


@dataclass(frozen=True)
class KeyframeImage:
    """A frame on its way to a keyframe (:meth:`DecodedFrame.keyframe_image`): ``planes`` are Y, U, V, each
    reduced to ``width`` x ``height`` or smaller in one direction, and ``matrix`` the 3x4 YUV-to-BGR transform; or ``planes`` is one
    finished BGR image and ``matrix`` None."""

    width: int
    height: int
    planes: tuple[np.ndarray, ...]
    matrix: np.ndarray | None

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.planes)

    def bgr(self) -> np.ndarray:
        """BGR at ``width`` x ``height``, uint8."""
        if self.matrix is None:
            return self.planes[0]
        yuv = cv2.merge([_area(p, self.width, self.height) for p in self.planes])
        return cv2.transform(yuv, self.matrix)


_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
# (Kr, Kb) by AVColorSpace: 1 BT.709, 9 BT.2020 non-constant; anything else is converted as BT.601.
_KR_KB = {1: (0.2126, 0.0722), 9: (0.2627, 0.0593)}


def _yuv_to_bgr(colorspace: int, full_range: bool) -> np.ndarray:
    """The 3x4 affine matrix taking (Y, U, V, 1) to (B, G, R) for ``cv2.transform``."""
    kr, kb = _KR_KB.get(colorspace if isinstance(colorspace, int) else -1, (0.299, 0.114))
    kg = 1.0 - kr - kb
    y_scale, c_scale, y_offset = (1.0, 1.0, 0.0) if full_range else (255 / 219, 255 / 224, 16.0)
    m = np.array([[y_scale, c_scale * 2 * (1 - kb), 0.0],
                  [y_scale, -c_scale * 2 * kb * (1 - kb) / kg, -c_scale * 2 * kr * (1 - kr) / kg],
                  [y_scale, 0.0, c_scale * 2 * (1 - kr)]])
    offset = -(m[:, 0] * y_offset + (m[:, 1] + m[:, 2]) * 128.0)
    return np.hstack([m, offset[:, None]]).astype(np.float32)


def _area(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale without aliasing: an integer-factor area average, then bilinear for the rest (under 2x)."""
    h, w = plane.shape[:2]
    k = min(w // width, h // height)
    if k >= 2:
        plane = cv2.resize(plane, (w // k, h // k), interpolation=cv2.INTER_AREA)
    if plane.shape[1] != width or plane.shape[0] != height:
        plane = cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)
    return plane


def _coded_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation in (90, 270) else (width, height)


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 90:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if rotation == 180:
        return cv2.rotate(image, cv2.ROTATE_180)
    if rotation == 270:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Downscale for analysis, cheaply: every s-th pixel first (keeping at least 2x2 source pixels per output
    pixel), then an integer-factor area average (OpenCV's fast path), then a final step of less than 2x
    (bilinear; OpenCV's area filter at a non-integer factor costs 30 times more)."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    stride = max(1, min(w // (2 * width), h // (2 * height)))
    if stride > 1:
        # Nearest-neighbour at an integer factor is the strided subsample; cv2 reads it straight from the
        # plane (a NumPy strided view would be copied element by element on its way into OpenCV).
        image = cv2.resize(image, (w // stride, h // stride), interpolation=cv2.INTER_NEAREST)
    return _area(image, width, height)


def scaled_size(width: int, height: int, *, short_side: int | None = None, long_side: int | None = None,
                target_width: int | None = None) -> tuple[int, int]:
    """Size keeping the aspect ratio, rounded to even numbers (4:2:0 and codecs want even sizes)."""
    if short_side is not None:
        scale = short_side / min(width, height)
    elif long_side is not None:
        scale = long_side / max(width, height)
    elif target_width is not None:
        scale = target_width / width
    else:
        raise ValueError("give short_side, long_side or target_width")
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def prefetched(frames: Iterator, depth: int) -> Iterator:
    """Run the iterator ``frames`` (a decode) in its own thread, ``depth`` items ahead of the consumer.

    FFmpeg decodes without the GIL, so the decoder keeps working while the consumer analyses the previous
    frames (about 10 % off a 720p scan here, BENCHMARKS.md). An exception in the
    decode is raised in the consumer at the item where it happened. Closing the returned generator stops the
    thread and closes ``frames`` (so its container is closed) before returning."""
    if depth <= 0:
        yield from frames
        return
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            items.put((done, exc))
        finally:
            frames.close()

    worker = threading.Thread(target=produce, name="decode", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = items.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()


def iter_frames(
    path: str,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    threads: int = 0,
    max_decode_errors: int = 200,
    stats: DecodeStats | None = None,
    deadline: float | None = None,
    prefetch: int = 0,
) -> Iterator[DecodedFrame]:
    """Yield frames with ``start_s <= time_s < end_s`` in presentation order.

    ``prefetch`` > 0 decodes in a separate thread that many frames ahead (:func:`prefetched`).

    ``start_s > 0`` seeks to the key frame before it, so segments of a long file are decoded independently.
    ``deadline`` is a ``time.monotonic()`` value after which decoding stops with a ``timeout`` error
    (the hard kill of a decode stuck inside FFmpeg is the worker process's job).
    """
    stats = stats if stats is not None else DecodeStats()
    frames = _decode(path, start_s, end_s, threads, max_decode_errors, stats, deadline)
    return prefetched(frames, prefetch) if prefetch > 0 else frames


class _BestEffort:
    """A decoded frame's timestamp: its pts, or its dts where the pts have gone wrong more often than the dts
    (FFmpeg's own best-effort rule): an AVI with B-frames gives frames in display order whose pts are shuffled
    and whose dts are right."""

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = None

    def choose(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


def _repair_time(t: float, last: float, shift: float, period: float, from_start: bool,
                 stats: DecodeStats) -> tuple[float, float]:
    """A frame's time ``t`` (seconds) after the previous frame's ``last``, repaired where a broken or hostile
    file's timestamps cannot be right: a time that does not advance by :data:`MIN_STEP_S` (a frame rate of 0 or
    1e9, a timestamp going backwards, as in two recordings joined) becomes ``last + period``; a jump forward of
    more than :data:`MAX_GAP_S` (a clock jump of hours) too, and the later frames move with it (``shift``,
    returned updated); so does a first frame more than :data:`MAX_GAP_S` after the stream's start, when the
    decode starts there (``from_start``). Counted in ``stats.timestamp_repairs``."""
    if last == -np.inf:
        if from_start and t > MAX_GAP_S:
            stats.timestamp_repairs += 1
            return 0.0, shift - t
        return t, shift
    if last + MIN_STEP_S <= t <= last + MAX_GAP_S:
        return t, shift
    stats.timestamp_repairs += 1
    repaired = last + period
    return repaired, (shift + repaired - t) if t > last else shift


def _decode(path: str, start_s: float, end_s: float | None, threads: int, max_decode_errors: int,
            stats: DecodeStats, deadline: float | None) -> Iterator[DecodedFrame]:
    container = open_container(path)
    with container:
        stream = video_stream(container)
        facts = stream_facts(container, stream)
        with pyav("the video stream's decoder"):
            stream.thread_type = "AUTO"
            if threads:
                stream.codec_context.thread_count = threads
        time_base = facts.time_base
        start_pts = facts.start_pts
        if start_s > 0 and time_base:
            target = int(start_s / time_base) + start_pts
            with pyav("seeking", kind="decode_error"):
                container.seek(target, stream=stream, backward=True, any_frame=False)
        fps = facts.fps or 25.0
        last_time = -np.inf
        shift = 0.0  # seconds added to every later timestamp since a jump was repaired
        stamps = _BestEffort()
        decoded_before_start = 0
        rotation: int | None = None

        def frames_of(packet: av.Packet | None) -> list[av.VideoFrame]:
            try:
                return stream.decode(packet) if packet is not None else stream.decode(None)
            except av.error.EOFError:
                return []
            except av.error.FFmpegError:
                stats.decode_errors += 1
                stamp = None if packet is None else (packet.pts if packet.pts is not None else packet.dts)
                stats.error_times.append(float((stamp - start_pts) * time_base)
                                         if stamp is not None and time_base else None)
                if stats.decode_errors > max_decode_errors:
                    raise VideoError("decode_error",
                                     f"more than {max_decode_errors} undecodable packets") from None
                return []

        def packets() -> Iterator[av.Packet | None]:
            try:
                yield from container.demux(stream)
            except av.error.FFmpegError as exc:
                # A truncated or damaged container ends the stream; what was decoded stays valid.
                stats.stopped_early = f"demux stopped: {exc}"
            except PYAV_FAULTS as exc:
                # PyAV's own reading of a damaged container (e.g. an MPEG-TS stream appearing mid-file, which
                # PyAV's stream list does not hold: IndexError) ends the demux too.
                stats.stopped_early = f"demux stopped: {type(exc).__name__}: {exc}"
            yield None

        for packet in packets():
            if deadline is not None and time.monotonic() > deadline:
                raise VideoError("timeout", "decode exceeded the per-video time limit")
            if packet is not None and packet.size == 0:
                continue
            for frame in frames_of(packet):
                stamp = stamps.choose(frame.pts, frame.dts)
                if stamp is not None and time_base:
                    t = float((stamp - start_pts) * time_base) + shift
                else:
                    t = (stats.frames + decoded_before_start) / fps + shift
                t, shift = _repair_time(t, last_time, shift, 1.0 / fps, start_s == 0, stats)
                last_time = t
                if t < start_s:
                    decoded_before_start += 1
                    continue
                if end_s is not None and t >= end_s:
                    return
                if rotation is None:
                    rotation = rotation_clockwise(frame)
                stats.frames += 1
                yield DecodedFrame(time_s=t, frame=frame, rotation=rotation)
