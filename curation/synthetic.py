"""Synthetic H.264 videos with known truth (cuts, fades, static and moving shots, text), written with PyAV.

Used by the test fixtures, ``curate sample`` and the benchmarks. Every shot shows its own random texture, so a
cut is a real content change; a moving shot pans over a larger texture at an exact speed in pixels per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np


@dataclass(frozen=True)
class Shot:
    """frames: length. speed: pan in output pixels per frame (x, y). text: overlay drawn on every frame.
    transition_in: frames of dissolve from the previous shot (0 = hard cut)."""

    frames: int
    speed: tuple[float, float] = (0.0, 0.0)
    seed: int = 0
    text: str | None = None
    transition_in: int = 0


@dataclass
class Truth:
    """Ground truth of a written video: frame indices (0-based decode order)."""

    cuts: list[int] = field(default_factory=list)          # first frame of each new shot after a hard cut
    gradual: list[tuple[int, int]] = field(default_factory=list)  # inclusive frame ranges of dissolves
    shots: list[tuple[int, int]] = field(default_factory=list)    # inclusive frame ranges of pure shot content
    frames: int = 0
    fps: float = 25.0


BLACK = -1  # the seed of an all-black shot (for fades from and to black)


def texture(seed: int, width: int, height: int) -> np.ndarray:
    """A colourful texture with structure at several scales (BGR uint8), different for every seed; all black
    for ``BLACK``."""
    if seed == BLACK:
        return np.zeros((height, width, 3), np.uint8)
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((8, 0.5), (32, 0.3), (96, 0.2)):
        small = rng.random((max(2, height // scale), max(2, width // scale), 3)).astype(np.float32)
        image += weight * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    tint = rng.random(3).astype(np.float32) * 0.6 + 0.2
    image = np.clip(image * tint * 1.6 * 255, 0, 255).astype(np.uint8)
    for _ in range(6):  # shapes give the flow and the cut detectors edges to hold on to
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(3, min(width, height) // 30), max(4, min(width, height) // 6)))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(image, (x, y), r, colour, -1)
    return image


def _shot_frames(shot: Shot, width: int, height: int, scale: float):
    """Yield the frames of a shot. ``scale`` renders the same scene at another resolution: the texture is
    drawn at the base size and resized, so content and physical motion are identical across scales."""
    base_w, base_h = int(round(width / scale)), int(round(height / scale))
    margin = int(np.ceil(max(abs(shot.speed[0]), abs(shot.speed[1])) / scale * shot.frames)) + 4
    tex = texture(shot.seed, base_w + 2 * margin, base_h + 2 * margin)
    if scale != 1.0:
        tex = cv2.resize(tex, (int(round(tex.shape[1] * scale)), int(round(tex.shape[0] * scale))),
                         interpolation=cv2.INTER_CUBIC)
    m = int(round(margin * scale))
    for i in range(shot.frames):
        dx, dy = shot.speed[0] * i, shot.speed[1] * i
        # Sub-pixel pan: translate with an affine warp so the speed is exact.
        matrix = np.float32([[1, 0, -(m + dx)], [0, 1, -(m + dy)]])
        frame = cv2.warpAffine(tex, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if shot.text:
            size = max(0.4, height / 300)
            cv2.putText(frame, shot.text, (int(width * 0.08), int(height * 0.85)), cv2.FONT_HERSHEY_SIMPLEX,
                        size * 1.5, (255, 255, 255), max(1, int(size * 3)), cv2.LINE_AA)
        yield frame


def write_video(path: str | Path, shots: list[Shot], width: int = 320, height: int = 180, fps: int = 25,
                scale: float = 1.0, crf: int = 18) -> Truth:
    """Encode ``shots`` to H.264 (yuv420p) at ``path``; returns the ground truth. ``width``/``height`` are the
    output size; ``scale`` (output size / scene size) renders the same scene at another resolution."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = Truth(fps=float(fps))
    frames: list[np.ndarray] = []
    for index, shot in enumerate(shots):
        content = list(_shot_frames(shot, width, height, scale))
        start = len(frames)
        if index > 0 and shot.transition_in > 0:
            n = shot.transition_in
            previous = frames[-1].astype(np.float32)
            # The dissolve replaces the first n frames of the new shot's content.
            for k in range(n):
                alpha = (k + 1) / (n + 1)
                frames.append(np.clip((1 - alpha) * previous + alpha * content[k], 0, 255).astype(np.uint8))
            truth.gradual.append((start, start + n - 1))
            frames.extend(content[n:])
            truth.shots.append((start + n, len(frames) - 1))
        else:
            if index > 0:
                truth.cuts.append(start)
            frames.extend(content)
            truth.shots.append((start, len(frames) - 1))
    truth.frames = len(frames)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return truth


def motion_truth(speed_px_per_frame: float, fps: float, short_side: int) -> float:
    """The true motion of a pan in the motion unit (px/s at a 256 px short side)."""
    return speed_px_per_frame * fps * 256.0 / short_side


def sample_corpus(directory: str | Path) -> dict[str, Truth]:
    """A small corpus for ``curate sample``: cuts, a dissolve, static and moving shots, text overlays."""
    directory = Path(directory)
    specs = {
        "cuts_and_motion.mp4": [Shot(75, seed=1), Shot(100, (1.0, 0.0), seed=2), Shot(90, (0.0, 0.5), seed=3),
                                Shot(80, (2.0, 1.0), seed=4)],
        "dissolve_static.mp4": [Shot(90, seed=5), Shot(110, (0.5, 0.0), seed=6, transition_in=20),
                                Shot(60, seed=7)],
        "text_overlay.mp4": [Shot(80, seed=8, text="SUBTITLE TEXT"), Shot(80, (1.0, 0.0), seed=9, text="HELLO")],
        "long_pan.mp4": [Shot(400, (0.8, 0.2), seed=10)],
    }
    return {name: write_video(directory / name, shots) for name, shots in specs.items()}


def demo_corpus(directory: str | Path) -> dict[str, Truth]:
    """The `curate demo` corpus: static and moving shots, hard cuts, a fade from black, a dissolve, text
    overlays, and a long pan (split into several clips), about 50 s in all."""
    directory = Path(directory)
    specs = {
        "cuts_and_motion.mp4": [Shot(75, seed=1), Shot(100, (1.0, 0.0), seed=2), Shot(90, (0.0, 0.5), seed=3),
                                Shot(80, (2.0, 1.0), seed=4)],
        "fade_from_black.mp4": [Shot(40, seed=BLACK), Shot(100, (0.3, 0.0), seed=11, transition_in=25),
                                Shot(90, (3.0, 0.0), seed=12)],
        "dissolve_static.mp4": [Shot(90, seed=5), Shot(110, (0.5, 0.0), seed=6, transition_in=20),
                                Shot(60, seed=7)],
        "text_overlay.mp4": [Shot(80, seed=8, text="SUBTITLE TEXT"), Shot(80, (1.0, 0.0), seed=9, text="HELLO"),
                             Shot(80, (0.6, 0.3), seed=13, text="BREAKING NEWS: BIG TEXT")],
        "long_pan.mp4": [Shot(400, (0.8, 0.2), seed=10)],
    }
    return {name: write_video(directory / name, shots) for name, shots in specs.items()}
