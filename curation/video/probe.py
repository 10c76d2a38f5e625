"""Probing: what a video file holds, read from the container without decoding it."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from curation.core import storage
from curation.video.errors import VideoError
from curation.video.guard import MAX_PIXELS, pyav, rotation_clockwise, stream_facts, video_stream

__all__ = ["MAX_PIXELS", "VideoInfo", "open_container", "probe", "rotation_clockwise"]


@dataclass(frozen=True)
class VideoInfo:
    """Container facts. Sizes are display sizes, after rotation; times in seconds.

    frame_count is what the container declares (0 when unknown); it can be wrong (a broken file may claim
    444 frames and decode 68), so the scan counts decoded frames itself.
    rotation is the clockwise rotation in degrees (0, 90, 180, 270) applied to decoded frames for display.
    fps is 0.0 when the header gives no believable rate, duration_s 0.0 when it gives no believable duration
    (:mod:`curation.video.guard`); notes says what of the header was set aside.
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
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> av.VideoFrame:
    """Decode the first frame: it carries the rotation, and a file that cannot give one is not a video."""
    errors = 0
    with pyav("demuxing the first frame", kind="no_frames"):
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except av.error.FFmpegError:
                errors += 1
                if errors > 50:
                    break
    raise VideoError("no_frames", f"no decodable frame ({errors} undecodable packets)")


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
        stream = video_stream(container)
        facts = stream_facts(container, stream, size)
        with pyav("the video stream's decoder"):
            stream.thread_type = "AUTO"
        rotation = rotation_clockwise(_first_frame(container, stream))
        coded_w, coded_h = facts.coded_width, facts.coded_height
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        with pyav("the container's format"):
            container_name = container.format.name
            has_audio = bool(container.streams.audio)
            bit_rate = container.bit_rate
        return VideoInfo(
            path=str(path),
            size_bytes=size,
            container=str(container_name),
            codec=facts.codec,
            pix_fmt=facts.pix_fmt,
            width=width,
            height=height,
            coded_width=coded_w,
            coded_height=coded_h,
            rotation=rotation,
            fps=facts.fps,
            frame_count=facts.frames,
            duration_s=facts.duration_s,
            has_audio=has_audio,
            bit_rate=int(bit_rate) if isinstance(bit_rate, int) and bit_rate > 0 else 0,
            notes=(facts.duration_note,) if facts.duration_note else (),
        )
