"""``curate report``: the filter output as one self-contained HTML page.

The filter output, the annotate output it names (for the keyframe thumbnails) and the report may be local paths
or object-store URIs (:mod:`curation.core.storage`); the page is written as one complete object."""
from __future__ import annotations

import html
import json

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.core import storage
from curation.core.layout import REPORT_FILE
from curation.annotate.store import KEYFRAMES, PART_SUFFIX
from curation.curate.buckets import MotionBuckets
from curation.config import Config
from curation.core.errors import ConfigError
from curation.curate.filters import load_thresholds
from curation.curate.report.page import THUMB, build, columns_needed, fill_thumbnails
from curation.curate.filter_job import BUCKETS_FILE, CLIPS_FILE, SUMMARY_FILE, THRESHOLDS_FILE, is_file, load_via_local


def _thumbnails(annotations: str, clip_ids: list[str]) -> dict[str, bytes]:
    """Middle keyframes of ``clip_ids``, shrunk for the page (352 px wide JPEG). Each keyframe part is read
    with a filter on its rows, so only the wanted images are decoded into memory."""
    import cv2
    import numpy as np

    out: dict[str, bytes] = {}
    wanted = sorted(set(html.unescape(c) for c in clip_ids))
    parts = [u for u in storage.list_files(storage.join(annotations, KEYFRAMES), PART_SUFFIX)
             if storage.name(u).startswith("part-")] if wanted else []
    for part in parts:
        with storage.open_input(part) as fh:
            kf = pq.read_table(fh, columns=["clip_id", "position", "jpeg"],
                               filters=(pc.field("position") == "middle") & pc.field("clip_id").isin(wanted))
        for clip_id, jpeg in zip(kf.column("clip_id").to_pylist(), kf.column("jpeg").to_pylist()):
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            small = cv2.resize(image, (352, int(352 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
            out[html.escape(clip_id)] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return out


def run_report(filtered: str, output: str | None, config: Config) -> str:
    """Write the report (default ``FILTERED/report.html``); returns its path or URI."""
    storage.configure(config.storage)
    folder = str(filtered)
    for name in (CLIPS_FILE, THRESHOLDS_FILE, BUCKETS_FILE, SUMMARY_FILE):
        if not is_file(storage.join(folder, name)):
            raise ConfigError(f"{folder}: not a filter output (no {name})")
    thresholds, _ = load_via_local(storage.join(folder, THRESHOLDS_FILE), load_thresholds)
    buckets = load_via_local(storage.join(folder, BUCKETS_FILE), MotionBuckets.load)
    clips = storage.join(folder, CLIPS_FILE)
    with storage.open_input(clips) as fh:
        available = pq.read_schema(fh).names
    df = storage.read_parquet(clips, columns=columns_needed(thresholds, buckets, available)).to_pandas()
    annotations = json.loads(storage.read_text(storage.join(folder, SUMMARY_FILE)))["annotations"]
    page, _ = build(df, thresholds, buckets, config.report, title=f"Filtering report: {storage.name(annotations)}")
    page = fill_thumbnails(page, _thumbnails(annotations, THUMB.findall(page)).get)
    path = str(output) if output else storage.join(folder, REPORT_FILE)
    storage.write_text(path, page)
    return path
