"""Farnebäck dense optical flow and the motion score.

Unit: **px/s @256** — pixels per second of displacement, measured on a frame scaled so that its short side is
256 px. Flow is computed at ``motion.short_side`` (default 128) and scaled by ``256 / short_side``, and divided
by the true time between the two sampled frames (from their timestamps, so variable-frame-rate files are
right). The same content at any source resolution, frame rate or analysis size gives about the same score.

Per pair of consecutive samples we keep the mean magnitude, the count of static pixels and a histogram of
per-pixel magnitudes on fixed log-spaced bins; a clip's statistics pool the pixels of all its pairs, so
``motion_p50`` / ``motion_p90`` are percentiles over every pixel of every pair (to within one bin, ~3 %).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from curation.annotate.config import MotionConfig

REFERENCE_SHORT_SIDE = 256
# Bin edges in px/s: 0, then 256 log-spaced edges from 0.01 to 10000 px/s (ratio ~1.056 per bin).
HIST_EDGES = np.concatenate([[0.0], np.geomspace(0.01, 10_000.0, 256)])
N_BINS = len(HIST_EDGES) - 1


@dataclass
class PairMotion:
    """Flow between two sampled frames (indices are frame indices; ``dt`` seconds between them)."""

    first: int
    second: int
    dt: float
    mean: float
    static_pixels: int
    pixels: int
    hist: np.ndarray


def farneback_flow(prev_gray: np.ndarray, gray: np.ndarray, config: MotionConfig) -> np.ndarray:
    """Dense Farnebäck flow between two uint8 grey frames: (H, W, 2) float32 (dx, dy) in pixels, such that
    ``prev_gray[y, x]`` is seen at ``gray[y + dy, x + dx]``. The motion score's flow; frame interpolation
    (:mod:`curation.train.interpolate`) uses the same."""
    return cv2.calcOpticalFlowFarneback(
        prev_gray, gray, None, config.pyr_scale, config.levels, config.winsize,
        config.iterations, config.poly_n, config.poly_sigma, 0,
    )


def pair_motion(prev_gray: np.ndarray, gray: np.ndarray, first: int, second: int, dt: float,
                config: MotionConfig) -> PairMotion:
    """Flow statistics of one pair, in px/s @256."""
    return flow_motion(farneback_flow(prev_gray, gray, config), first, second, dt, config)


def flow_scale(flow: np.ndarray) -> float:
    """px@256 per analysis pixel of a flow field (its short side scaled to 256)."""
    return REFERENCE_SHORT_SIDE / min(flow.shape[:2])


def flow_motion(flow: np.ndarray, first: int, second: int, dt: float, config: MotionConfig) -> PairMotion:
    """:func:`pair_motion` of a flow already computed."""
    speed = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2) * flow_scale(flow) / max(dt, 1e-6)
    hist, _ = np.histogram(speed, bins=HIST_EDGES)
    # Values beyond the last edge land in the last bin so no pixel goes uncounted.
    hist[-1] += int((speed > HIST_EDGES[-1]).sum())
    return PairMotion(first, second, dt, float(speed.mean()), int((speed < config.static_threshold).sum()),
                      int(speed.size), hist.astype(np.int64))


def _percentile(hist: np.ndarray, q: float) -> float:
    total = hist.sum()
    if total == 0:
        return float("nan")
    cum = np.cumsum(hist)
    target = q * total
    b = int(np.searchsorted(cum, target, side="left"))
    b = min(b, len(hist) - 1)
    before = cum[b - 1] if b > 0 else 0
    frac = (target - before) / max(hist[b], 1)
    lo, hi = HIST_EDGES[b], HIST_EDGES[b + 1]
    if lo <= 0:
        return float(hi * frac)
    return float(lo * (hi / lo) ** frac)


def clip_motion(pairs: list[PairMotion]) -> dict:
    """Pooled statistics over the pairs inside one clip. NaN when the clip has no pair."""
    if not pairs:
        nan = float("nan")
        return {"motion_mean": nan, "motion_p50": nan, "motion_p90": nan, "motion_max": nan,
                "motion_static_frac": nan, "motion_pairs": 0}
    hist = np.sum([p.hist for p in pairs], axis=0)
    pixels = sum(p.pixels for p in pairs)
    return {
        "motion_mean": float(sum(p.mean * p.pixels for p in pairs) / pixels),
        "motion_p50": _percentile(hist, 0.5),
        "motion_p90": _percentile(hist, 0.9),
        "motion_max": float(max(p.mean for p in pairs)),
        "motion_static_frac": float(sum(p.static_pixels for p in pairs) / pixels),
        "motion_pairs": len(pairs),
    }
