"""Seeded mutants of videos: damaged copies for the fuzz test, the long fuzz benchmark and a user's own files.

A mutant is a copy of a source video with one kind of damage (:data:`MUTATIONS`), drawn from a seeded
generator, so the same ``(source, kind, seed)`` always gives the same bytes. The damage kinds are those real
files suffer in transfer and storage: flipped bits, zeroed or overwritten runs, a cut-off end, a damaged
container header, and chunks duplicated or lost (a resumed download, a bad splice).

:func:`fuzz_sources` writes the synthetic sources: one small video per container the fixtures write (H.264 in
mp4, mkv, mov, MPEG-TS and AVI, and VP9 in WebM), each with two shots joined by a cut, the second a pan, so a mutant
still holds clips where its damage spares them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from curation.testing.synthetic import Shot, write_video

# How a mutant is damaged; every kind keeps the file's length within a factor of two of its source's.
MUTATIONS = ("bit_flips", "zeroed_run", "random_run", "truncate", "header", "duplicate_chunk", "drop_chunk")
# The containers of :func:`fuzz_sources`: name -> (file suffix, codec).
CONTAINERS = {"mp4": (".mp4", "h264"), "mkv": (".mkv", "h264"), "mov": (".mov", "h264"), "ts": (".ts", "h264"),
              "avi": (".avi", "h264"), "webm": (".webm", "vp9")}


@dataclass(frozen=True)
class Mutant:
    """A damaged copy: its ``path``, the ``source`` it was made from, the damage ``kind`` and the ``seed``."""

    path: Path
    source: Path
    kind: str
    seed: int


def mutate(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    """``data`` with one damage of ``kind`` (one of :data:`MUTATIONS`), placed and sized by ``rng``."""
    n = len(data)
    if n < 16:
        raise ValueError("a source of fewer than 16 bytes cannot be mutated")
    out = bytearray(data)
    if kind == "bit_flips":
        for position in rng.integers(0, n, int(rng.integers(1, 65))):
            out[position] ^= 1 << int(rng.integers(0, 8))
    elif kind in ("zeroed_run", "random_run"):
        length = int(rng.integers(16, max(17, min(8192, n // 4))))
        start = int(rng.integers(0, n - length))
        out[start:start + length] = (bytes(length) if kind == "zeroed_run"
                                     else rng.integers(0, 256, length, dtype=np.uint8).tobytes())
    elif kind == "truncate":
        out = out[:int(n * rng.uniform(0.02, 0.98))]
    elif kind == "header":
        # The first kilobyte holds the container's header (an MP4's ftyp and often its moov, an MKV's EBML
        # head and track entries, a TS's first PAT/PMT).
        head = min(1024, n)
        length = int(rng.integers(4, 129))
        start = int(rng.integers(0, max(1, head - length)))
        out[start:start + length] = rng.integers(0, 256, min(length, n - start), dtype=np.uint8).tobytes()
    elif kind in ("duplicate_chunk", "drop_chunk"):
        length = int(rng.integers(64, max(65, n // 8)))
        start = int(rng.integers(0, n - length))
        chunk = bytes(out[start:start + length])
        if kind == "drop_chunk":
            del out[start:start + length]
        else:
            at = int(rng.integers(0, n))
            out[at:at] = chunk
    else:
        raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
    return bytes(out)


def _seed(source: Path, kind: str, seed: int) -> int:
    digest = hashlib.blake2b(f"{source.name}/{kind}/{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def make_mutants(sources: list[Path], directory: str | Path, count: int, seed: int = 0,
                 kinds: tuple[str, ...] = MUTATIONS) -> list[Mutant]:
    """``count`` mutants of ``sources`` in ``directory``, going round every (source, kind) pair in turn, so a
    few dozen cover every container with every kind. The same arguments give the same files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pairs = [(source, kind) for kind in kinds for source in sources]
    out = []
    for i in range(count):
        source, kind = pairs[i % len(pairs)]
        round_seed = seed + i // len(pairs)
        rng = np.random.default_rng(_seed(source, kind, round_seed))
        path = directory / f"{source.stem}-{kind}-{round_seed}{source.suffix}"
        path.write_bytes(mutate(source.read_bytes(), kind, rng))
        out.append(Mutant(path, source, kind, round_seed))
    return out


def _write_vp9(path: Path, frames: list[np.ndarray], fps: int) -> None:
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8"}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def fuzz_sources(directory: str | Path, width: int = 128, height: int = 72, fps: int = 25) -> list[Path]:
    """One source video per container of :data:`CONTAINERS` in ``directory``: a static shot of 70 frames, a
    hard cut, a pan of 80 frames (2.8 and 3.2 s at 25 fps: each gives a clip of the default config's 2 s or
    more; small, so a few dozen mutants scan in seconds)."""
    directory = Path(directory)
    shots = [Shot(70, seed=1), Shot(80, (1.0, 0.0), seed=2)]
    paths = []
    for name, (suffix, codec) in CONTAINERS.items():
        path = directory / f"source_{name}{suffix}"
        if codec == "h264":
            write_video(path, shots, width, height, fps)
        else:
            # The synthetic frames, through the H.264 writer's own renderer: written once as mp4, decoded back.
            h264 = directory / f".source_{name}.mp4"
            write_video(h264, shots, width, height, fps)
            with av.open(str(h264)) as container:
                frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
            h264.unlink()
            _write_vp9(path, frames, fps)
        paths.append(path)
    return paths
