"""``curate annotate``: videos in, a Parquet clip table out (cuts, motion, keyframes), on Ray, resumable."""
from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from curation.assemble import VideoOutput, assemble_video, error_output, video_id_for
from curation.config import Config, to_dict
from curation.execution import annotate_stream
from curation.inputs import discover
from curation.store import AnnotationStore
from curation.video import VideoInfo

log = logging.getLogger("curate.annotate")


@dataclass
class Summary:
    videos: int = 0
    skipped: int = 0
    clips: int = 0
    video_seconds: float = 0.0
    errors: Counter = field(default_factory=Counter)
    warnings: int = 0
    wall_s: float = 0.0

    def text(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        return (f"done: {self.videos} videos ({self.skipped} already done, skipped), {self.clips} clips, "
                f"{self.video_seconds / 3600:.3f} h of video, errors: {errors}, warnings: {self.warnings}, "
                f"wall {self.wall_s:.1f} s")


class Progress:
    """One status line on stderr: videos and clips done, rate, ETA."""

    def __init__(self, total: int, stream=sys.stderr, every_s: float = 1.0):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, summary: Summary, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.start
        rate = summary.videos / elapsed if elapsed > 0 else 0.0
        left = self.total - summary.videos
        eta = f"{left / rate:.0f} s" if rate > 0 else "?"
        self.stream.write(f"\r[annotate] videos {summary.videos}/{self.total}  clips {summary.clips}  "
                          f"{rate:.2f} videos/s  {summary.video_seconds / max(elapsed, 1e-9):.1f}x realtime  "
                          f"errors {sum(summary.errors.values())}  ETA {eta}   ")
        self.stream.flush()


def run_annotate(inputs: list[str], output: str, config: Config, overwrite: bool = False,
                 progress: bool = True) -> Summary:
    """Run the whole job; raises ConfigError (before any work) for bad inputs or configs."""
    started = time.monotonic()
    cfg = config.annotate
    paths = discover(inputs)
    # Resources and commit sizes do not change results, so a resume may change them.
    job = {"annotate": to_dict(replace(cfg, ray=type(cfg.ray)(), output=type(cfg.output)()))}
    store = AnnotationStore(output, job, overwrite=overwrite)
    done = store.done_video_ids()
    items = [{"video_id": video_id_for(p), "path": p} for p in paths]
    todo = [it for it in items if it["video_id"] not in done]
    summary = Summary(skipped=len(items) - len(todo))
    bar = Progress(len(todo)) if progress else None
    log.info("%d videos, %d already done, %d to annotate", len(items), summary.skipped, len(todo))
    if todo:
        _annotate(todo, cfg, store, summary, bar)
    summary.wall_s = time.monotonic() - started
    if bar:
        bar.update(summary, force=True)
        sys.stderr.write("\n")
    return summary


def _annotate(todo: list[dict], cfg, store: AnnotationStore, summary: Summary, bar: Progress | None) -> None:
    pending: dict[str, list] = defaultdict(list)
    rows: list[dict] = []
    key_rows: list[dict] = []
    buffered_videos = 0
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal rows, key_rows, buffered_videos, last_commit
        store.commit(rows, key_rows)
        rows, key_rows, buffered_videos, last_commit = [], [], 0, time.monotonic()

    for unit_row in annotate_stream(todo, cfg):
        video_id = str(unit_row["video_id"])
        pending[video_id].append(unit_row)
        if len(pending[video_id]) < int(unit_row["n_units"]):
            continue
        output = _video_output(video_id, pending.pop(video_id), cfg)
        rows += output.rows
        key_rows += output.keyframes
        buffered_videos += 1
        _count(summary, output)
        if (buffered_videos >= cfg.output.commit_videos
                or time.monotonic() - last_commit > cfg.output.commit_seconds):
            commit()
        if bar:
            bar.update(summary)
    commit()


def _video_output(video_id: str, unit_rows: list[dict], cfg) -> VideoOutput:
    first = unit_rows[0]
    path = str(first["path"])
    if first["error_kind"]:
        return error_output(video_id, path, str(first["error_kind"]), str(first["error"]))
    info = VideoInfo(**json.loads(first["info_json"]))
    units = [pickle.loads(r["result"]) for r in unit_rows]
    return assemble_video(video_id, info, units, cfg)


def _count(summary: Summary, output: VideoOutput) -> None:
    summary.videos += 1
    clips = [r for r in output.rows if r["clip_index"] is not None]
    summary.clips += len(clips)
    for r in output.rows:
        if r["error_kind"] is not None:
            summary.errors[r["error_kind"]] += 1
    if output.rows[0].get("warning"):
        summary.warnings += 1
    duration = output.rows[0].get("video_duration_s")
    summary.video_seconds += float(duration or 0.0)
