"""The one H.264 encoder (PyAV's libx264): frames in, an mp4 out to a file path or a file object."""
from __future__ import annotations

from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np


class H264Writer:
    """Encode frames as H.264 (yuv420p) in an mp4.

    target: a local path, or a binary file object (``format`` then names the container, default mp4).
    width, height: the output size in pixels (even; yuv420p needs it). fps: frames per second (a float is turned
    into a fraction with denominator <= 1001, so 29.97 stays exact). crf / preset: libx264 quality and speed
    (defaults 18, veryfast). Use as a context manager; the stream is flushed on exit.
    """

    def __init__(self, target: str | BinaryIO, width: int, height: int, fps: float, crf: int = 18,
                 preset: str = "veryfast", format: str | None = None):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs an even frame size, got {width}x{height}")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.width, self.height = width, height
        self._container = av.open(target, "w", format=format or (None if isinstance(target, str) else "mp4"))
        self._stream = self._container.add_stream("libx264", rate=self.rate)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        self.frames = 0

    def write_array(self, image: np.ndarray, format: str = "rgb24") -> None:
        """One (height, width, 3) uint8 image, ``rgb24`` or ``bgr24``."""
        self.write_frame(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=format))

    def write_frame(self, frame: av.VideoFrame) -> None:
        """One frame of the output size (any pixel format swscale converts); it is shown for 1 / fps."""
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.close()
        else:
            self._container.close()
