"""Frame interpolation for `curate generate --interpolate` (in process, not the CLI): frames per second at SVD's
output size and the error of the middle frame against the truth, next to a linear blend's, on a synthetic
textured picture panned by known amounts. Prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_interpolate.py [--width 1024 --height 576] [--pairs 6]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.testing.synthetic import texture  # noqa: E402
from curation.train.interpolate import between, interpolate  # noqa: E402


def scene(width: int, height: int, dx: float, dy: float = 0.0, seed: int = 11) -> np.ndarray:
    """A textured RGB picture moved by (dx, dy) pixels (sub-pixel, resampled from a larger render)."""
    big = cv2.GaussianBlur(texture(seed, width + 256, height + 256), (0, 0), 1.0)
    m = np.float32([[1, 0, 128 - dx], [0, 1, 128 - dy]])
    moved = cv2.warpAffine(big, m, (width + 256, height + 256), flags=cv2.INTER_LINEAR)
    return cv2.cvtColor(moved[128:128 + height, 128:128 + width], cv2.COLOR_BGR2RGB)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=576)
    ap.add_argument("--pairs", type=int, default=6, help="frame pairs timed (factor 4: 3 new frames each)")
    args = ap.parse_args()
    w, h = args.width, args.height
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}; frames {w}x{h}\n")
    frames = np.stack([scene(w, h, 8.0 * k) for k in range(args.pairs + 1)])
    started = time.perf_counter()
    out = interpolate(frames, 4)
    wall = time.perf_counter() - started
    new = len(out) - len(frames)
    print(f"`interpolate(frames, 4)`: {args.pairs} pairs, {new} new frames in {wall:.2f} s = "
          f"{new / wall:.1f} new frames/s ({len(out) / wall:.1f} output frames/s)\n")
    print("| motion between the two frames (px, at this size) | middle frame MAE vs truth | linear blend MAE | ratio |")
    print("| --- | --- | --- | --- |")
    margin = 32
    for step in (4, 8, 16, 32, 64):
        a, b, truth = scene(w, h, 0), scene(w, h, step), scene(w, h, step / 2)
        (middle,) = between(a, b, [0.5])
        blend = (a.astype(np.float32) + b) / 2

        def mae(x):
            return float(np.abs(x.astype(np.float32) - truth)[margin:-margin, margin:-margin].mean())

        ours, linear = mae(middle), mae(blend)
        print(f"| {step} | {ours:.2f} | {linear:.2f} | {ours / linear:.2f} |")


if __name__ == "__main__":
    main()
