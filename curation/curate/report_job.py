"""``curate report``: the filter output as report.html plus a folder of preview videos beside it
(``report_files/``), which together open offline.

The page's numbers are a streaming aggregation over clips.parquet, read one row group at a time
(:mod:`curation.curate.report.aggregate`): memory is bounded by a row group, not by the table. The filter output,
the annotate output it names (for the keyframe thumbnails), the clips' sources (for the previews) and the report
may be local paths or object-store URIs (:mod:`curation.core.storage`); every file is written as one complete
object."""
from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.core import storage
from curation.core.layout import KEYFRAMES, PART_SUFFIX, REPORT_FILE
from curation.curate.buckets import MotionBuckets
from dataclasses import dataclass, field

from curation.core.section import JobSections
from curation.core.storage import StorageOptions
from curation.curate.config import FilterConfig, ReportConfig
from curation.core.errors import ConfigError
from curation.core.lease import Lease
from curation.curate.filters import load_thresholds
from curation.curate.report.aggregate import columns_of, parquet_source
from curation.curate.report.page import build, collect, fill_thumbnails
from curation.curate.report.previews import write_previews
from curation.curate.filter_job import BUCKETS_FILE, CLIPS_FILE, SUMMARY_FILE, THRESHOLDS_FILE, is_file, load_via_local


def _thumbnails(annotations: str, clip_ids: list[str]) -> dict[str, bytes]:
    """Middle keyframes of ``clip_ids``, shrunk for the page (352 px wide JPEG). Each keyframe part is read
    with a filter on its rows, so only the wanted images are decoded into memory."""
    import cv2
    import numpy as np

    out: dict[str, bytes] = {}
    wanted = sorted(set(clip_ids))
    parts = [u for u in storage.list_files(storage.join(annotations, KEYFRAMES), PART_SUFFIX)
             if storage.name(u).startswith("part-")] if wanted else []
    for part in parts:
        with storage.open_input(part) as fh:
            kf = pq.read_table(fh, columns=["clip_id", "position", "jpeg"],
                               filters=(pc.field("position") == "middle") & pc.field("clip_id").isin(wanted))
        for clip_id, jpeg in zip(kf.column("clip_id").to_pylist(), kf.column("jpeg").to_pylist()):
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            small = cv2.resize(image, (352, int(352 * image.shape[0] / image.shape[1])), interpolation=cv2.INTER_AREA)
            out[clip_id] = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return out


@dataclass(frozen=True)
class ReportJob(JobSections):
    """The sections ``curate report`` reads: ``report``, ``filter`` (its ``in_memory_values``) and ``storage``."""

    report: ReportConfig = field(default_factory=ReportConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    storage: StorageOptions = field(default_factory=StorageOptions)


def run_report(filtered: str, output: str | None, config: ReportJob) -> str:
    """Write the report (default ``FILTERED/report.html``, previews in ``FILTERED/report_files/``); returns the
    page's path or URI."""
    storage.configure(config.storage)
    folder = str(filtered)
    for name in (CLIPS_FILE, THRESHOLDS_FILE, BUCKETS_FILE, SUMMARY_FILE):
        if not is_file(storage.join(folder, name)):
            raise ConfigError(f"{folder}: not a filter output (no {name})")
    path = str(output) if output else storage.join(folder, REPORT_FILE)
    # One writer per report folder (the page and report_files/ beside it); by default that is the filter output,
    # which a filter job rewriting it holds too.
    with Lease(storage.parent(path), "curate report") as lease:
        return _report(folder, path, config, lease)


def _report(folder: str, path: str, config: ReportJob, lease: Lease) -> str:
    thresholds, exclude_errors = load_via_local(storage.join(folder, THRESHOLDS_FILE), load_thresholds)
    buckets = load_via_local(storage.join(folder, BUCKETS_FILE), MotionBuckets.load)
    clips = storage.join(folder, CLIPS_FILE)
    in_memory = config.filter.in_memory_values
    data = collect(parquet_source(clips), thresholds, config.report, columns_of(clips), exclude_errors, in_memory)
    annotations = json.loads(storage.read_text(storage.join(folder, SUMMARY_FILE)))["annotations"]
    page, _ = build(data, thresholds, buckets, config.report, title=f"Filtering report: {storage.name(annotations)}")
    links, _ = write_previews(path, data.shown(), config.report.preview_max_s, config.report.preview_short_side) \
        if config.report.previews else ({}, {})
    page = fill_thumbnails(page, _thumbnails(annotations, [r.clip_id for r in data.shown()]).get, links.get)
    lease.check()
    storage.write_text(path, page)
    return path
