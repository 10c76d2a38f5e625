"""The one guard between PyAV's view of a file and our code: every fact we read from a container, a stream or a
decoded frame is read here, checked, and either given back valid or turned into a :class:`VideoError`.

A damaged or hostile file can leave any of PyAV's attributes unset or absurd: a video stream without a codec
context (a damaged MP4 header), a frame size of 0 or of 60000 x 60000, a time base of 0/1, a frame rate of 0 or
1e9, a duration of hours over a few kilobytes, a frame without a pixel format, a display matrix of NaNs. Read
unguarded, these end in ``AttributeError``, ``ZeroDivisionError`` or ``ValueError`` far from their cause.
Probe, decode and the keyframe conversion read them only through :func:`stream_facts`, :func:`frame_format`,
:func:`rotation_clockwise` and :func:`pyav`.

Error kinds raised here: ``damaged_stream`` (the stream lacks a fact a decode needs: codec context, frame size,
pixel format, a usable time base), ``unsupported`` (a frame size past :data:`MAX_PIXELS`).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av

from curation.core.errors import VideoError

# Frames larger than this are refused before decoding: a hostile header can claim a size whose frames
# would exhaust memory (16384 x 16384 x 1.5 bytes = 400 MB per frame).
MAX_PIXELS = 8192 * 8192
# Frame rates outside (0, MAX_FPS) frames/s are taken as unknown (a header's 0 or 1e9; real footage stops at
# about 1000 fps for high-speed cameras, which are stored at playback rates).
MAX_FPS = 1000.0
# A declared duration is believed only up to this many seconds (30 days) and only when the file holds at least
# MIN_BYTES_PER_S bytes for each declared second: a header claiming hours over a few kilobytes would otherwise
# have the scan plan thousands of segments. The least a real stream needs is about 10 bytes a frame (a skipped
# H.264 frame), so 1 byte a second leaves a factor of ten even at 1 frame/s.
MAX_DURATION_S = 30 * 86400.0
MIN_BYTES_PER_S = 1.0
# What PyAV raises when it reads a field a damaged file left unset or out of range (None where an object was
# expected, a zero denominator, a NaN to int, a value past a C type's range).
PYAV_FAULTS = (AttributeError, TypeError, ValueError, ZeroDivisionError, OverflowError, IndexError, KeyError)


@contextmanager
def pyav(what: str, kind: str = "damaged_stream") -> Iterator[None]:
    """Run a block of PyAV calls; what they raise for a damaged file (:data:`PYAV_FAULTS`, and FFmpeg's own
    errors) becomes ``VideoError(kind, "<what>: <error>")``. Keep the block to PyAV calls: a bug of ours
    inside it would be reported as damage."""
    try:
        yield
    except VideoError:
        raise
    except av.error.FFmpegError as exc:
        raise VideoError(kind, f"{what}: {exc}") from exc
    except PYAV_FAULTS as exc:
        raise VideoError(kind, f"{what}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class StreamFacts:
    """What a video stream's header says, checked. ``time_base``: seconds per timestamp tick (None: the stream
    has none usable, frames are then timed by their order); ``start_pts``: the first timestamp (0 when unset);
    ``fps``: frames per second, 0.0 when unknown or absurd; ``frames``: the declared frame count (0 when
    unknown); ``duration_s``: the declared duration, 0.0 when unknown or not believable (see
    :data:`MAX_DURATION_S`); ``duration_note``: why a declared duration was set aside, else None."""

    codec: str
    pix_fmt: str
    coded_width: int
    coded_height: int
    time_base: Fraction | None
    start_pts: int
    fps: float
    frames: int
    duration_s: float
    duration_note: str | None = None


def _fraction(value) -> Fraction | None:
    """A positive, finite rational, or None."""
    if value is None:
        return None
    try:
        fraction = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return fraction if fraction > 0 else None


def _finite(value, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def stream_fps(stream: av.video.stream.VideoStream) -> float:
    """The stream's frame rate in frames/s from its average, guessed or base rate, the first in (0, MAX_FPS);
    0.0 when none is."""
    for name in ("average_rate", "guessed_rate", "base_rate"):
        with pyav(f"the stream's {name}"):
            rate = _fraction(getattr(stream, name))
        if rate is not None and 0 < float(rate) < MAX_FPS:
            return float(rate)
    return 0.0


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The container's first video stream; ``no_video_stream`` when it has none."""
    with pyav("the container's streams"):
        streams = container.streams
        if not streams.video:
            kinds = sorted({str(s.type) for s in streams}) or ["none"]
            raise VideoError("no_video_stream", f"no video stream (streams: {', '.join(kinds)})")
        return streams.video[0]


def stream_facts(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 size_bytes: int | None = None) -> StreamFacts:
    """The checked facts of ``stream`` (see :class:`StreamFacts`). ``size_bytes``: the file's size, to judge a
    declared duration by (None: not judged by size). Raises ``damaged_stream`` when the stream has no codec
    context, codec name or frame size, ``unsupported`` when its frame size passes :data:`MAX_PIXELS`."""
    with pyav("the video stream's codec context"):
        ctx = stream.codec_context
        if ctx is None:
            raise VideoError("damaged_stream", "the video stream has no codec context (a damaged header?)")
        codec = ctx.name
        width, height = ctx.width, ctx.height
        pix_fmt = ctx.pix_fmt
    if not codec:
        raise VideoError("damaged_stream", "the video stream names no codec")
    width, height = int(width or 0), int(height or 0)
    if width <= 0 or height <= 0:
        raise VideoError("damaged_stream", f"the video stream has no frame size ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise VideoError("unsupported", f"frame size {width}x{height} exceeds {MAX_PIXELS} pixels")
    with pyav("the video stream's timing"):
        time_base = _fraction(stream.time_base)
        start = stream.start_time
        declared = stream.duration
        container_duration = container.duration
        container_start = container.start_time
        frames = stream.frames
    start_pts = int(start) if isinstance(start, int) else 0
    duration = 0.0
    if declared is not None and time_base is not None:
        duration = _finite(declared * time_base)
    elif container_duration is not None:
        # Where streams have no duration of their own (Matroska, WebM), the container's is where its timeline
        # ends, which counts from 0, not from its first timestamp (a recording whose clock starts hours in).
        late = container_start if isinstance(container_start, int) and container_start > 0 else 0
        duration = _finite((container_duration - late) / av.time_base)
    duration, note = max(duration, 0.0), None
    if duration > MAX_DURATION_S:
        duration, note = 0.0, f"declared duration {duration:.0f} s exceeds {MAX_DURATION_S:.0f} s; ignored"
    elif size_bytes is not None and duration * MIN_BYTES_PER_S > size_bytes:
        duration, note = 0.0, (f"declared duration {duration:.0f} s is implausible for {size_bytes} bytes; "
                               "ignored")
    frames = int(frames) if isinstance(frames, int) and frames > 0 else 0
    return StreamFacts(codec=str(codec), pix_fmt=str(pix_fmt or ""), coded_width=width, coded_height=height,
                       time_base=time_base, start_pts=start_pts, fps=stream_fps(stream), frames=frames,
                       duration_s=duration, duration_note=note)


def frame_format(frame: av.VideoFrame) -> str:
    """The decoded frame's pixel format name; ``damaged_stream`` when it has none or no size, ``unsupported``
    when its size passes :data:`MAX_PIXELS`."""
    with pyav("a decoded frame"):
        fmt = frame.format
        name = fmt.name if fmt is not None else None
        width, height = frame.width, frame.height
    if not name or not width or not height:
        raise VideoError("damaged_stream", f"a decoded frame has no pixel format or size ({name}, {width}x{height})")
    if width * height > MAX_PIXELS:
        # The header promised less: a stream whose frame size grows mid-file (a new sequence header).
        raise VideoError("unsupported", f"a decoded frame of {width}x{height} exceeds {MAX_PIXELS} pixels")
    return name


def rotation_clockwise(frame: av.VideoFrame) -> int:
    """Clockwise display rotation of a decoded frame, from its display matrix: 0, 90, 180 or 270 (0 when the
    side data is absent or not a number).

    FFmpeg reports the matrix angle counter-clockwise; PyAV exposes it per frame, not per stream.
    """
    with pyav("the frame's display matrix"):
        angle = frame.rotation
    angle = _finite(angle)
    return int(round(-angle / 90.0) * 90) % 360
