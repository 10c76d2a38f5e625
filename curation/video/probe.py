"""Probing: what a video file holds, read from the container without decoding it."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from curation.core import storage
from curation.video.errors import VideoError

# Frames larger than this are refused before decoding: a hostile header can claim a size whose frames
# would exhaust memory (16384 x 16384 x 1.5 bytes = 400 MB per frame).
MAX_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class VideoInfo:
    """Container facts. Sizes are display sizes, after rotation; times in seconds.

    frame_count is what the container declares (0 when unknown); it can be wrong (a broken file may claim
    444 frames and decode 68), so the scan counts decoded frames itself.
    rotation is the clockwise rotation in degrees (0, 90, 180, 270) applied to decoded frames for display.
    """

    path: str
    size_bytes: int
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    fps: float
    frame_count: int
    duration_s: float
    has_audio: bool
    bit_rate: int

    def to_dict(self) -> dict:
        return asdict(self)


def rotation_clockwise(frame: av.VideoFrame) -> int:
    """Clockwise display rotation of a decoded frame, from its display matrix.

    FFmpeg reports the matrix angle counter-clockwise; PyAV exposes it per frame, not per stream.
    """
    return int(round(-float(frame.rotation or 0) / 90.0) * 90) % 360


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame:
    """Decode the first frame: it carries the rotation, and a file that cannot give one is not a video."""
    errors = 0
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                return frame
        except av.error.FFmpegError:
            errors += 1
            if errors > 50:
                break
    raise VideoError("no_frames", f"no decodable frame ({errors} undecodable packets)")


def _fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(rate)
            if 0 < value < 1000:
                return value
    return 0.0


def open_container(path: str) -> av.container.InputContainer:
    """Open a local file or an object-store URI (read through :func:`curation.core.storage.open_input`) with PyAV.
    Raises :class:`VideoError` (``not_a_video``, ``unreadable``)."""
    try:
        if storage.is_remote(path):
            fh = storage.open_input(path)
            try:
                return av.open(fh, mode="r")
            except BaseException:
                fh.close()
                raise
        return av.open(path, mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError("not_a_video", f"FFmpeg cannot open it: {exc}") from exc
    except storage.StorageError as exc:
        raise VideoError("unreadable", str(exc)) from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise VideoError("unreadable", f"cannot open: {exc}") from exc


def _size(path: str) -> int:
    if storage.is_remote(path):
        try:
            return storage.size(path)
        except storage.StorageError as exc:
            raise VideoError("unreadable", str(exc)) from exc
    local = Path(path)
    try:
        size = local.stat().st_size
    except OSError as exc:
        raise VideoError("unreadable", f"cannot stat file: {exc.strerror or exc}") from exc
    if not local.is_file():
        raise VideoError("unreadable", "not a regular file")
    return size


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a file's (or object's) container header. Raises :class:`VideoError` with a kind for every failure."""
    path = str(path)
    size = _size(path)
    if size == 0:
        raise VideoError("empty_file", "file is 0 bytes")
    container = open_container(path)
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError("no_video_stream", f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        coded_w, coded_h = int(ctx.width or 0), int(ctx.height or 0)
        if coded_w <= 0 or coded_h <= 0:
            raise VideoError("not_a_video", "video stream has no frame size")
        if coded_w * coded_h > MAX_PIXELS:
            raise VideoError("unsupported", f"frame size {coded_w}x{coded_h} exceeds {MAX_PIXELS} pixels")
        stream.thread_type = "AUTO"
        rotation = rotation_clockwise(_first_frame(container, stream))
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * Fraction(stream.time_base))
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        return VideoInfo(
            path=str(path),
            size_bytes=size,
            container=container.format.name,
            codec=ctx.name,
            pix_fmt=str(ctx.pix_fmt or ""),
            width=width,
            height=height,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            fps=_fps(stream),
            frame_count=int(stream.frames or 0),
            duration_s=max(duration, 0.0),
            has_audio=bool(container.streams.audio),
            bit_rate=int(container.bit_rate or 0),
        )
