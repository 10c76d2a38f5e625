"""Writing generated frames as an H.264 mp4 (PyAV)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from curation.core.atomic import atomic_write


def write_mp4(path: str | Path, frames: np.ndarray, fps: float, crf: int = 18) -> None:
    """(N, H, W, 3) uint8 RGB frames -> mp4, atomically (even sizes are cropped to, as yuv420p needs)."""
    path = Path(path)
    frames = np.asarray(frames)
    h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2

    def write(tmp: Path) -> None:
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"crf": str(crf)}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]),
                                                                        format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_write(path, write, suffix=".tmp.mp4")  # the suffix tells FFmpeg the container
