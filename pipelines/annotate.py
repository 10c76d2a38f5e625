"""``curate annotate``: videos in, a Parquet clip table out, on Ray, resumable.

Two phases: the scan (one decode per video: cuts, motion, keyframes) for videos not yet in the output, then the
model stages (caption, OCR, CLIP) for clips that lack their columns, reading the stored keyframes.
"""
from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import pyarrow.parquet as pq

from curation.assemble import VideoOutput, assemble_video, error_output, video_id_for
from curation.config import MODEL_STAGES, SCAN_STAGES, AnnotateConfig, Config, to_dict
from curation.execution import annotate_stream, model_stream
from curation.filters import FootageLost, footage_lost
from curation.inputs import discover
from curation.models.weights import stage_weights
from curation.store import AnnotationStore, differences, read_stage
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
    model_clips: Counter = field(default_factory=Counter)
    model_errors: Counter = field(default_factory=Counter)
    random_models: list[str] = field(default_factory=list)
    lost: FootageLost = field(default_factory=FootageLost)

    def text(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())) or "none"
        out = (f"done: {self.videos} videos ({self.skipped} already done, skipped), {self.clips} clips, "
               f"{self.video_seconds / 3600:.3f} h of video, errors: {errors}, warnings: {self.warnings}, "
               f"wall {self.wall_s:.1f} s")
        if self.lost.shots or self.lost.transitions:
            out += f"\n{self.lost.text()}"
        if self.model_clips:
            stages = ", ".join(f"{k} {v} clips ({self.model_errors[k]} failed)" for k, v in self.model_clips.items())
            out += f"\nmodel stages: {stages}"
        if self.random_models:
            out += f"\nRANDOM WEIGHTS (not for real curation): {', '.join(self.random_models)}"
        return out


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
    """Run the whole job; raises ConfigError (before any work) for bad inputs, configs or missing weights."""
    started = time.monotonic()
    cfg = config.annotate
    paths = discover(inputs)
    weights = stage_weights(cfg)  # every model's weights are found (or the job stops) before any video
    store = AnnotationStore(output, overwrite=overwrite)
    done = store.done_video_ids()
    items = [{"video_id": video_id_for(p), "path": p} for p in paths]
    todo = [it for it in items if it["video_id"] not in done]
    _check_scan_config(store, cfg, bool(todo))
    model_stages = [s for s in MODEL_STAGES if s in cfg.stages]
    for stage in model_stages:
        store.check_section(stage, to_dict(getattr(cfg, stage)), f"annotate.{stage}")
    summary = Summary(skipped=len(items) - len(todo))
    log.info("%d videos, %d already done, %d to annotate", len(items), summary.skipped, len(todo))
    if todo:
        bar = Progress(len(todo)) if progress else None
        _annotate(todo, cfg, store, summary, bar)
        if bar:
            bar.update(summary, force=True)
            sys.stderr.write("\n")
    if model_stages:
        _run_model_stages(cfg, store, weights, {it["video_id"] for it in items}, summary, progress)
    summary.wall_s = time.monotonic() - started
    return summary


def _scan_record(cfg: AnnotateConfig) -> dict:
    """The config that decides the scan's results (resources and commit sizes do not)."""
    record = {name: to_dict(getattr(cfg, name)) for name in ("decode", "cuts", "clips", "motion", "keyframes")}
    record["stages"] = [s for s in cfg.stages if s in SCAN_STAGES]
    return record


def _check_scan_config(store: AnnotationStore, cfg: AnnotateConfig, scan_work: bool) -> None:
    record = _scan_record(cfg)
    previous = store.job().get("scan")
    if previous and not scan_work and differences(previous, record) == ["stages"] \
            and set(record["stages"]) <= set(previous["stages"]):
        return  # e.g. `--stages cuts,keyframes,ocr` on a finished table: nothing to scan, nothing differs
    store.check_section("scan", record, "annotate")


def _run_model_stages(cfg: AnnotateConfig, store: AnnotationStore, weights: dict[str, dict],
                      video_ids: set[str], summary: Summary, progress: bool) -> None:
    """Caption, OCR and CLIP on the clips of this job's videos that lack their columns."""
    stages = [s for s in ("caption", "ocr", "clip") if s in cfg.stages]  # CLIP compares with the caption
    done = {s: store.done_clip_ids(s) for s in stages}
    existing_captions: dict[str, str] = {}
    if "clip" in stages and cfg.clip.text == "caption" and done.get("caption"):
        table = read_stage(store.root, "caption")
        existing_captions = dict(zip(table.column("clip_id").to_pylist(),
                                     (c or "" for c in table.column("caption").to_pylist())))
    items, total, needed = [], 0, set()
    for part in store.scan_parts():
        rows = pq.read_table(store.annotations / part, columns=["clip_id", "video_id"]).to_pylist()
        needs = {r["clip_id"]: [s for s in stages if r["clip_id"] not in done[s]]
                 for r in rows if r["clip_id"] is not None and r["video_id"] in video_ids}
        needs = {k: v for k, v in needs.items() if v}
        if needs:
            texts = {k: existing_captions[k] for k, v in needs.items()
                     if "clip" in v and "caption" not in v and k in existing_captions}
            items.append({"part": str(store.keyframes / part), "needs": json.dumps(needs),
                          "texts": json.dumps(texts)})
            total += len(needs)
            needed.update(s for v in needs.values() for s in v)
    labels = {s: _model_label(s, weights[s]) for s in stages}
    summary.random_models = [f"{s}: {label}" for s, (label, random) in labels.items() if random]
    for line in summary.random_models:
        log.warning("RANDOM WEIGHTS: %s; its scores are flagged in the output", line)
    if not items:
        return
    from curation.stages.caption import CaptionStage
    from curation.stages.clip import ClipStage
    from curation.stages.ocr import OcrStage

    classes = {"caption": CaptionStage, "ocr": OcrStage, "clip": ClipStage}
    plan = [(s, classes[s], weights[s]) for s in stages if s in needed]
    buffers: dict[str, list[dict]] = defaultdict(list)
    last_commit, seen, start = time.monotonic(), 0, time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        for stage, rows in buffers.items():
            label, random = labels[stage]
            store.commit_stage(stage, rows, {"curation.model": label, "curation.random_weights": str(random)})
        buffers.clear()
        last_commit = time.monotonic()

    for row in model_stream(items, cfg, plan):
        seen += 1
        for stage, _, _ in plan:
            if not row[f"need_{stage}"]:
                continue
            buffers[stage].append(_stage_row(stage, row, labels[stage]))
            summary.model_clips[stage] += 1
            if row[f"{stage}_error"]:
                summary.model_errors[stage] += 1
        if sum(map(len, buffers.values())) >= 32 * cfg.output.commit_videos \
                or time.monotonic() - last_commit > cfg.output.commit_seconds:
            commit()
        if progress:
            rate = seen / max(time.monotonic() - start, 1e-9)
            sys.stderr.write(f"\r[models] clips {seen}/{total}  {rate:.2f} clips/s  "
                             f"ETA {(total - seen) / rate if rate else 0:.0f} s   ")
    commit()
    if progress:
        sys.stderr.write("\n")


def _model_label(stage: str, weights: dict) -> tuple[str, bool]:
    if stage == "ocr":
        return f"easyocr-craft:{weights['weights_dir']}", False
    source = weights["source"]
    if stage == "clip":
        head = weights["head"]
        return f"{source.label} + aesthetic head {head.label}", source.random or head.random
    return source.label, source.random


_STAGE_VALUES = {
    "ocr": ("ocr_area_max", "ocr_area_mean", "ocr_boxes", "ocr_text"),
    "clip": ("aesthetic", "clip_sim_mean", "clip_sim_min", "clip_embedding"),
    "caption": ("caption",),
}


def _stage_row(stage: str, row: dict, label: tuple[str, bool]) -> dict:
    import numpy as np

    error = str(row[f"{stage}_error"])
    out = {"clip_id": str(row["clip_id"]), "video_id": str(row["video_id"]),
           f"{stage}_model": label[0], f"{stage}_random_weights": label[1], f"{stage}_error": error or None}
    for column in _STAGE_VALUES[stage]:
        value = row[column]
        if error:
            value = None
        elif column == "clip_embedding":
            value = np.frombuffer(value, np.float16).tolist() if value else None
        elif column == "ocr_boxes":
            value = int(value)
        elif isinstance(value, (float, np.floating)):
            value = None if np.isnan(value) else float(value)
        else:
            value = str(value)
        out[column] = value
    return out


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
    summary.lost += footage_lost(*zip(*((r["row_kind"], r["skip_reason"], r["duration_s"]) for r in output.rows)))
    if output.rows[0].get("warning"):
        summary.warnings += 1
    duration = output.rows[0].get("video_duration_s")
    summary.video_seconds += float(duration or 0.0)
