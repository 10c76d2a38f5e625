"""Hostile headers: small files whose container claims what would exhaust memory or time, for the bad-input
corpus. Each is a real file written with PyAV, then patched where its container keeps the claim:

- ``no_codec_context.mkv``: a track naming an unknown codec, so its stream has no codec context;
- ``huge_frame_size.avi``: raw video whose header declares 16000 x 16000 frames (a 384 MB frame each);
- ``frame_size_grows.ts``: 128 x 72 frames, then one of 8200 x 8200 that the header did not declare;
- ``huge_frame_count.mp4``: an MP4 whose sample table declares 2**31 - 1 frames;
- ``fps_zero.mp4`` / ``fps_1e9.mp4``: timestamps that do not advance / advance by a nanosecond a frame;
- ``hours_over_bytes.mkv``: a few kilobytes declaring a duration of 10 hours;
- ``many_streams.mkv``: one video stream among 300;
- ``timestamps_backwards.ts``: two recordings joined, the second's clock starting again at 0;
- ``timestamps_jump.mkv``: a clock jumping ahead by 3 hours mid-shot;
- ``start_hours_late.mkv``: a first frame stamped 5 hours after the stream's start.

:func:`hostile_corpus` writes them all and says what each must give: the row kind and error kind a scan must
report, or clips.
"""
from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from curation.testing.synthetic import Shot, write_video

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


@dataclass(frozen=True)
class Expect:
    """What scanning a hostile file must give: ``error_kind`` of its status row (None: no error row), and
    whether it must still give clips (``clips``)."""

    error_kind: str | None
    clips: bool


def _boxes(data: bytes, start: int = 0, end: int | None = None, path: tuple = ()):
    """(path, offset, size) of every MP4 box, depth first."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        if size < 8:
            return
        yield path + (kind,), i, size
        if kind in _MP4_CONTAINERS:
            yield from _boxes(data, i + 8, i + size, path + (kind,))
        i += size


def _box(data: bytes, name: bytes) -> int:
    """The offset of the first box named ``name`` (its last path part)."""
    for path, offset, _ in _boxes(data):
        if path[-1] == name:
            return offset
    raise ValueError(f"no {name!r} box")


def _shots() -> list[Shot]:
    return [Shot(60, seed=1), Shot(60, (1.0, 0.0), seed=2)]


def _mp4(path: Path, **patch) -> None:
    """A 120-frame MP4 (4.8 s at 25 fps, a cut at frame 60, no B-frames: decode order is display order) with its
    header patched: ``timescale`` (mdhd), ``delta`` (every stts entry's sample delta), ``count`` (the stts sample
    count), ``duration`` (seconds, in mvhd, tkhd, mdhd)."""
    _write(path, _synthetic(_shots()))
    data = bytearray(path.read_bytes())
    mvhd, tkhd, mdhd, stts = (_box(data, n) for n in (b"mvhd", b"tkhd", b"mdhd", b"stts"))
    for box in (mvhd, tkhd, mdhd):
        if data[box + 8] != 0:
            raise ValueError("only version-0 headers are patched")
    movie_scale = struct.unpack(">I", data[mvhd + 20:mvhd + 24])[0]
    media_scale = patch.get("timescale") or struct.unpack(">I", data[mdhd + 20:mdhd + 24])[0]
    if "timescale" in patch:
        data[mdhd + 20:mdhd + 24] = struct.pack(">I", patch["timescale"])
    if "duration" in patch:
        seconds = patch["duration"]
        data[mvhd + 24:mvhd + 28] = struct.pack(">I", int(seconds * movie_scale))
        data[tkhd + 28:tkhd + 32] = struct.pack(">I", int(seconds * movie_scale))
        data[mdhd + 24:mdhd + 28] = struct.pack(">I", int(seconds * media_scale))
    entries = struct.unpack(">I", data[stts + 12:stts + 16])[0]
    for k in range(entries):
        at = stts + 16 + 8 * k
        if "count" in patch:
            data[at:at + 4] = struct.pack(">I", patch["count"])
        if "delta" in patch:
            data[at + 4:at + 8] = struct.pack(">I", patch["delta"])
    path.write_bytes(bytes(data))


def _synthetic(shots: list[Shot]) -> list[np.ndarray]:
    """The frames of ``shots`` at 128 x 72 (the synthetic renderer's, through a lossless round trip)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "frames.mkv"
        write_video(path, shots, 128, 72, crf=0)
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def _frames(n: int) -> list[np.ndarray]:
    """One pan of ``n`` frames."""
    return _synthetic([Shot(n, (1.0, 0.0), seed=3)])


def _write(path: Path, frames: list[np.ndarray], pts: list[int] | None = None) -> None:
    """H.264 without B-frames at 25 fps, frame ``i`` stamped ``pts[i]`` ticks of 1/25 s (default ``i``)."""
    with av.open(str(path), "w") as container:
        video = _h264_stream(container)
        for i, image in enumerate(frames):
            _encode(video, container, image, i if pts is None else pts[i])
        _flush(video, container)


def _encode(stream, container, image: np.ndarray, pts: int) -> None:
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    frame.pts = pts
    for packet in stream.encode(frame):
        container.mux(packet)


def _flush(stream, container) -> None:
    for packet in stream.encode():
        container.mux(packet)


def _h264_stream(container, fps: int = 25):
    stream = container.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
    stream.options = {"preset": "ultrafast", "bf": "0"}
    return stream


def _hours_over_bytes(path: Path, hours: float = 10.0) -> None:
    """An MKV of 120 frames (4.8 s, a few kilobytes) whose segment declares ``hours`` hours."""
    _write(path, _synthetic(_shots()))
    data = bytearray(path.read_bytes())
    at = data.index(b"\x44\x89\x88")  # the segment's Duration: an 8-byte float, in TimestampScale units (ms)
    data[at + 3:at + 11] = struct.pack(">d", hours * 3600 * 1000)
    path.write_bytes(bytes(data))


def _no_codec_context(path: Path) -> None:
    """An MKV whose track names a codec no decoder knows (a damaged CodecID): PyAV gives its video stream no
    codec context."""
    write_video(path, _shots(), 128, 72)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/AVC", 1))


def _huge_frame_size(path: Path) -> None:
    """Raw grey video in AVI whose headers (avih, strh, strf) declare 16000 x 16000 frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "gray"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16), i * 20, np.uint8), format="gray")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
    data = bytearray(path.read_bytes())
    avih = data.index(b"avih") + 8
    data[avih + 32:avih + 40] = struct.pack("<II", 16000, 16000)  # dwWidth, dwHeight
    strf = data.index(b"strf") + 8
    data[strf + 4:strf + 12] = struct.pack("<ii", 16000, 16000)  # biWidth, biHeight
    path.write_bytes(bytes(data))


def _frame_size_grows(path: Path, side: int = 8200) -> None:
    """Two MPEG-TS recordings joined: 60 frames of 128 x 72 (the size the header gives), then one frame of
    ``side`` x ``side`` (past MAX_PIXELS; a flat grey frame, a few hundred kilobytes)."""
    small = path.with_name(f".{path.stem}-small.ts")
    write_video(small, [Shot(60, (1.0, 0.0), seed=1)], 128, 72)
    big = path.with_name(f".{path.stem}-big.ts")
    with av.open(str(big), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.full((side, side), 100, np.uint8), format="gray")
        frame.pts = 0
        for packet in stream.encode(frame.reformat(format="yuv420p")):
            container.mux(packet)
        _flush(stream, container)
    path.write_bytes(small.read_bytes() + big.read_bytes())
    small.unlink()
    big.unlink()


def _many_streams(path: Path, streams: int = 300) -> None:
    """One H.264 stream (a pan of 75 frames) and ``streams - 1`` subtitle streams, in MKV."""
    with av.open(str(path), "w") as container:
        video = _h264_stream(container)
        for _ in range(streams - 1):
            container.add_stream("ass")
        for i, image in enumerate(_frames(75)):
            _encode(video, container, image, i)
        _flush(video, container)


def _timestamps_backwards(path: Path) -> None:
    """Two MPEG-TS recordings of 60 frames joined byte for byte: the second's clock starts at 0 again."""
    parts = []
    for seed in (1, 2):
        part = path.with_name(f".{path.stem}-{seed}.ts")
        write_video(part, [Shot(60, (1.0, 0.0), seed=seed)], 128, 72)
        parts.append(part.read_bytes())
        part.unlink()
    path.write_bytes(b"".join(parts))


def _timestamps_jump(path: Path, frames: int = 120, jump_at: int = 60, jump_s: float = 3 * 3600.0,
                     first_s: float = 0.0) -> None:
    """An MKV of one pan whose timestamps start at ``first_s`` and jump ahead by ``jump_s`` seconds at frame
    ``jump_at``."""
    _write(path, _frames(frames),
           [i + int(round((first_s + (jump_s if i >= jump_at else 0.0)) * 25)) for i in range(frames)])


# name -> (writer, what a scan must give)
HOSTILE = {
    "no_codec_context.mkv": (_no_codec_context, Expect("damaged_stream", clips=False)),
    "huge_frame_size.avi": (_huge_frame_size, Expect("unsupported", clips=False)),
    "huge_frame_count.mp4": (lambda p: _mp4(p, count=2**31 - 1), Expect("truncated", clips=True)),
    "fps_zero.mp4": (lambda p: _mp4(p, delta=0), Expect(None, clips=True)),
    "fps_1e9.mp4": (lambda p: _mp4(p, timescale=1_000_000_000, delta=1), Expect(None, clips=True)),
    "hours_over_bytes.mkv": (_hours_over_bytes, Expect(None, clips=True)),
    "frame_size_grows.ts": (_frame_size_grows, Expect("unsupported", clips=True)),
    "many_streams.mkv": (_many_streams, Expect(None, clips=True)),
    "timestamps_backwards.ts": (_timestamps_backwards, Expect(None, clips=True)),
    "timestamps_jump.mkv": (_timestamps_jump, Expect(None, clips=True)),
    "start_hours_late.mkv": (lambda p: _timestamps_jump(p, jump_s=0.0, first_s=5 * 3600.0),
                             Expect(None, clips=True)),
}


def hostile_corpus(directory: str | Path) -> dict[Path, Expect]:
    """Write every file of :data:`HOSTILE` into ``directory``; returns each path with what it must give."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (write, expect) in HOSTILE.items():
        path = directory / name
        write(path)
        out[path] = expect
    return out
