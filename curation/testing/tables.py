"""Generated annotate outputs of any size (clip tables with plausible, independent random scores; no videos,
no keyframes), for the out-of-core tests of filter and report and for ``benchmarks/bench_curate.py``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.core.layout import ANNOTATIONS, KEYFRAMES
from curation.annotate.table import TABLE_SCHEMA
from curation.contract.schema import ROW_CLIP, ROW_SHOT


def synthetic_annotations(out: str | Path, rows: int, rows_per_part: int = 100_000, seed: int = 0,
                          extras: bool = True) -> None:
    """Write an annotate output at ``out`` with ``rows`` rows in parts of ``rows_per_part``: 8 clips per
    video. With ``extras``, about 1 % of rows are skipped short shots, 0.5 % clips with a model-stage error,
    and 1 % of the scores are missing (null), so every path of the filter is taken."""
    out = Path(out)
    for folder in (ANNOTATIONS, KEYFRAMES):
        (out / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for p, base in enumerate(range(0, rows, rows_per_part)):
        n = min(rows_per_part, rows - base)
        ids = np.arange(base, base + n)
        video = [f"{i // 8:016x}" for i in ids]
        clip_index = (ids % 8).astype(np.int32)
        start = rng.uniform(0, 100, n)
        dur = rng.uniform(1, 12, n)
        cols = {"video_id": video, "video_path": [f"/data/{v}.mp4" for v in video],
                "clip_id": [f"{v}-{c:05d}" for v, c in zip(video, clip_index)], "shot_index": clip_index,
                "start_s": start, "end_s": start + dur, "duration_s": dur, "num_frames": (dur * 25).astype(np.int32),
                "fps": np.full(n, 25.0), "width": rng.choice([640, 1280, 1920], n),
                "height": rng.choice([360, 720, 1080], n), "video_duration_s": np.full(n, 120.0),
                "motion_mean": rng.lognormal(3, 1, n), "motion_p50": rng.lognormal(2.8, 1, n),
                "motion_p90": rng.lognormal(3.5, 1, n), "motion_static_frac": rng.uniform(0, 1, n),
                "motion_pairs": np.full(n, 8, np.int32), "detector": ["cascade-hybrid"] * n,
                "ocr_area_max": rng.exponential(0.02, n), "ocr_area_mean": rng.exponential(0.01, n),
                "ocr_boxes": rng.integers(0, 5, n).astype(np.int32), "aesthetic": rng.normal(5, 0.8, n),
                "text_sim_mean": rng.normal(0.28, 0.04, n), "text_sim_min": rng.normal(0.25, 0.04, n),
                "ocr_text": [None] * n, "caption": ["a person walking down a street"] * n,
                # the scan signals (drawn last: the draws above stay as they were)
                "camera_motion": rng.choice(["static", "pan_left", "pan_right", "zoom_in", "shaky"], n,
                                            p=[0.4, 0.2, 0.2, 0.1, 0.1]),
                "camera_shake": rng.lognormal(1.5, 0.8, n), "object_motion": rng.lognormal(2, 1, n),
                "sharpness": rng.lognormal(4, 0.7, n)}
        for stage in ("ocr", "aesthetic", "caption"):  # every model stage ran, with real (not random) weights
            cols.update({f"{stage}_model": ["generated"] * n, f"{stage}_random_weights": [False] * n})
        kind = np.full(n, ROW_CLIP, dtype=object)
        masks = {}
        if extras:
            shot = rng.random(n) < 0.01
            kind[shot] = ROW_SHOT
            masks["shot"] = shot
            masks["error"] = ~shot & (rng.random(n) < 0.005)
            for c in ("motion_mean", "aesthetic", "ocr_area_max", "text_sim_mean"):
                masks[c] = rng.random(n) < 0.01
        arrays = {}
        for f in TABLE_SCHEMA:
            if f.name == "row_kind":
                arrays[f.name] = pa.array(list(kind), f.type)
            elif f.name == "clip_index":
                arrays[f.name] = pa.array(clip_index, f.type, mask=masks.get("shot"))
            elif f.name == "skip_reason":
                arrays[f.name] = pa.array(np.where(masks["shot"], "too_short", None) if extras else [None] * n,
                                          f.type)
            elif f.name in ("error_kind", "error") and extras:
                arrays[f.name] = pa.array(np.where(masks["error"], "aesthetic_failed", None), f.type)
            elif f.name in cols:
                arrays[f.name] = pa.array(cols[f.name], f.type, mask=masks.get(f.name))
            else:
                arrays[f.name] = pa.nulls(n, f.type)
        pq.write_table(pa.table(arrays, schema=TABLE_SCHEMA), out / ANNOTATIONS / f"part-{p:06d}.parquet",
                       compression="zstd")
