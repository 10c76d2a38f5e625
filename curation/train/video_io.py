"""Writing generated frames as an H.264 mp4 (through the one encoder, :mod:`curation.video.encode`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from curation.core.atomic import atomic_write
from curation.video.encode import H264Writer


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> None:
    """(N, H, W, 3) uint8 RGB frames -> mp4, atomically (even sizes are cropped to, as yuv420p needs)."""
    path = Path(path)
    frames = np.asarray(frames)
    h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2

    def write(tmp: Path) -> None:
        with H264Writer(str(tmp), w, h, fps, crf=crf, preset="medium") as writer:
            for frame in frames:
                writer.write_array(frame[:h, :w], "rgb24")

    atomic_write(path, write, suffix=".tmp.mp4")  # the suffix tells FFmpeg the container
