"""``curate report``: the filter output as one self-contained HTML page."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import atomic_write
from curation.buckets import MotionBuckets
from curation.config import Config, ConfigError
from curation.filters import load_thresholds
from curation.report.page import THUMB, build, columns_needed, fill_thumbnails
from pipelines.filter import BUCKETS_FILE, CLIPS_FILE, SUMMARY_FILE, THRESHOLDS_FILE


def _thumbnails(annotations: Path, clip_ids: list[str]) -> dict[str, bytes]:
    """Middle keyframes of ``clip_ids``, shrunk for the page (352 px wide JPEG)."""
    import cv2
    import numpy as np

    out: dict[str, bytes] = {}
    wanted = sorted(set(html.unescape(c) for c in clip_ids))
    for part in sorted((annotations / "keyframes").glob("part-*.parquet")) if wanted else []:
        kf = pq.read_table(part, columns=["clip_id", "position", "jpeg"],
                           filters=(pc.field("position") == "middle") & pc.field("clip_id").isin(wanted))
        for clip_id, jpeg in zip(kf.column("clip_id").to_pylist(), kf.column("jpeg").to_pylist()):
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            small = cv2.resize(image, (352, int(352 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
            out[html.escape(clip_id)] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return out


def run_report(filtered: str, output: str | None, config: Config) -> Path:
    """Write the report (default ``FILTERED/report.html``); returns its path."""
    folder = Path(filtered)
    for name in (CLIPS_FILE, THRESHOLDS_FILE, BUCKETS_FILE, SUMMARY_FILE):
        if not (folder / name).is_file():
            raise ConfigError(f"{folder}: not a filter output (no {name})")
    thresholds, _ = load_thresholds(folder / THRESHOLDS_FILE)
    buckets = MotionBuckets.load(folder / BUCKETS_FILE)
    available = pq.read_schema(folder / CLIPS_FILE).names
    df = pq.read_table(folder / CLIPS_FILE, columns=columns_needed(thresholds, buckets, available)).to_pandas()
    annotations = Path(json.loads((folder / SUMMARY_FILE).read_text())["annotations"])
    page, _ = build(df, thresholds, buckets, config.report, title=f"Filtering report: {annotations.name}")
    page = fill_thumbnails(page, _thumbnails(annotations, THUMB.findall(page)).get)
    path = Path(output) if output else folder / "report.html"
    atomic_write(path, lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return path
