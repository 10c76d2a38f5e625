"""``curate annotate``: videos in, the clip table out, in one streaming Ray graph; resumable, one writer.

The graph: source (probe and scan a video in an isolated child, or read back a committed part that lacks a
model stage) -> the model stages (caption before aesthetic, which compares with the caption) -> commit (workers
write their own parts). Records travel between the stages through Ray's object store, scanning and inference
run at the same time, and the driver gets only small completion records. A video is done when its part is
committed, so a job killed anywhere (even between a video's scan and its model stages) redoes at most the
uncommitted videos and never writes a row twice.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from curation.core import storage
from curation.core.errors import ConfigError, log_internal
from curation.core.section import JobSections, to_dict
from curation.core.storage import StorageOptions
from curation.annotate.commit import CommitStage
from curation.annotate.source import PART, REFUSED, VIDEO, SourceStage
from curation.annotate.store import AnnotateOutput
from curation.annotate.scan.assemble import video_id_for
from curation.annotate.config import MODEL_STAGES, SCAN_STAGES, SIGNAL_STAGES, AnnotateConfig
from curation.runtime.stage import StageResources
from curation.contract.footage import FootageLost, footage_lost
from curation.annotate.inputs import discover, shown_path
from curation.core.lease import Lease
from curation.annotate.enrich.registry import BY_NAME, EnrichStage, enabled, stage_weights
from curation.runtime.ray_logs import terminal
from curation.runtime.ray_runner import StageSpec, run_graph

log = logging.getLogger("curate.annotate")

# The exit status of a job that completed, every input with its rows, but met internal errors (bugs) on some.
EXIT_INTERNAL_ERRORS = 3
# Records (videos) per model-stage call: resources.batch_size / this. Short videos hold a few clips each;
# gathering several keeps a model call near its batch size (the stage splits what it gets into batches).
CLIPS_PER_VIDEO = 2


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
    internal_errors: int = 0  # inputs (videos, clips) whose handling met a bug; each report is in the job's log

    @property
    def exit_code(self) -> int:
        """The command's exit status: 0, or :data:`EXIT_INTERNAL_ERRORS` when the job completed with internal
        errors (every input still has its rows)."""
        return EXIT_INTERNAL_ERRORS if self.internal_errors else 0

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
        if self.internal_errors:
            out += (f"\nINTERNAL ERRORS: {self.internal_errors} inputs (videos or clips) met a bug in curation; "
                    "their rows have error_kind internal_error, their tracebacks are in the job's log; every other "
                    "input was annotated. Please report them.")
        return out

    def add(self, done: dict) -> None:
        """Count one completion record (see :data:`curation.annotate.commit.COMPLETION_SCHEMA`); its internal
        errors' reports go to the job's log."""
        for report in done["internal_errors"] or ():
            self.internal_errors += 1
            log_internal(report)
        for stage in MODEL_STAGES:
            if done[f"computed_{stage}"]:
                self.model_clips[stage] += done[f"computed_{stage}"]
                self.model_errors[stage] += done[f"failed_{stage}"] or 0
        if not done["new_video"]:
            return
        self.videos += 1
        self.clips += done["clips"]
        self.video_seconds += done["video_seconds"]
        self.warnings += bool(done["warned"])
        self.errors.update(done["error_kinds"])
        self.lost += footage_lost(done["lost_kinds"], done["lost_reasons"], done["lost_seconds"])


class Progress:
    """One status line on stderr: videos and clips committed, rate, ETA."""

    def __init__(self, total: int, stream=None, every_s: float = 1.0):
        # The terminal, also while Ray's output (on fd 2 and sys.stderr) goes to a log file.
        self.total, self.stream, self.every_s = total, stream or terminal(), every_s
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


@dataclass(frozen=True)
class AnnotateJob(JobSections):
    """The sections ``curate annotate`` reads: ``annotate`` and ``storage``."""

    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    storage: StorageOptions = field(default_factory=StorageOptions)


def run_annotate(inputs: list[str], output: str, config: AnnotateJob, overwrite: bool = False,
                 progress: bool = True) -> Summary:
    """Run the whole job; raises ConfigError (before any work) for bad inputs, configs, missing weights, or an
    output that another live job is writing."""
    started = time.monotonic()
    cfg = config.annotate
    # Workers get the endpoint and region resolved here, so cluster nodes need no AWS_ENDPOINT_URL of their own
    # (credentials still come from each node's environment, profile or instance role unless set in the config).
    options = config.storage.resolved()
    storage.configure(options)
    paths = discover(inputs)
    weights = stage_weights(cfg)  # every model's weights are found (or the job stops) before any video
    out = AnnotateOutput(output)
    with Lease(output, "curate annotate") as lease:
        out.prepare(overwrite)
        parts = out.parts()
        stages = [s.name for s in enabled(cfg)]
        # A rerun skips the videos done, and with a model stage completes every clip of the output that lacks it.
        state = out.state(parts, stages)
        done, completing, started_stages = state.done, state.incomplete, state.started
        # A file whose name is not valid UTF-8 is reported under its escaped name, not opened (REFUSED).
        shown = [(shown_path(p), p) for p in paths]
        videos = [(video_id_for(name), name, name == p) for name, p in shown]
        todo = [(v, p, ok) for v, p, ok in videos if v not in done]
        _check_scan_config(out, cfg, bool(todo), bool(parts))
        for stage in stages:
            out.check_section(stage, to_dict(getattr(cfg, stage)), f"annotate.{stage}",
                              has_results=stage in started_stages, ignore=BY_NAME[stage].transport_keys)
        summary = Summary(skipped=len(videos) - len(todo))
        log.info("%d videos, %d already done, %d to annotate, %d parts to complete", len(videos), summary.skipped,
                 len(todo), len(completing))
        models = [_model_spec(stage, cfg, weights[stage.name]) for stage in enabled(cfg)]
        described = {s.name: s.label(**weights[s.name]) for s in enabled(cfg)}
        summary.random_models = [f"{name}: {label}" for name, (label, random) in described.items() if random]
        for line in summary.random_models:
            log.warning("RANDOM WEIGHTS: %s; its rows are flagged in the output", line)
        items = [{"kind": PART, "key": p, "source": output} for p in completing]
        items += [{"kind": VIDEO if ok else REFUSED, "key": v, "source": p} for v, p, ok in todo]
        if items:
            bar = Progress(len(todo)) if progress else None
            # A Ray scan worker given several CPUs caps its libraries' threads at them and splits a long video
            # among them (decode.split_min_s); the in-process path sets its own share below.
            scan_cpus = int(cfg.ray.scan.num_cpus)
            graph = [StageSpec("scan", SourceStage, {"config": cfg, "options": options,
                                                     "threads": scan_cpus if scan_cpus >= 2 else 0}, cfg.ray.scan,
                               batch_size=1, min_workers=len(items)),
                     *models,
                     StageSpec("commit", CommitStage, {"output": output, "options": options}, cfg.ray.commit,
                               batch_size=cfg.output.commit_videos)]
            for record in _run(items, graph, cfg, scan_only=not models):
                lease.check()  # stops this job if another one took the output over (it must have found us dead)
                summary.add(record)
                if bar:
                    bar.update(summary)
            if bar:
                bar.update(summary, force=True)
                bar.stream.write("\n")
    summary.wall_s = time.monotonic() - started
    return summary


def _run(items: list[dict], graph: list[StageSpec], cfg: AnnotateConfig, scan_only: bool):
    """The graph's records, on Ray or in this process. ``scan_only``: no model stage (the work then happens in
    the scan's child processes, which need no Ray)."""
    address = cfg.ray.address or os.environ.get("RAY_ADDRESS")
    if cfg.executor == "local" or (cfg.executor == "auto" and not address and (len(items) == 1 or scan_only)):
        from dataclasses import replace

        from curation.runtime.local_runner import run_local

        cpus = cfg.ray.num_cpus or os.cpu_count() or 1
        workers = max(1, min(len(items), cfg.ray.scan.pool_size or cpus))
        log.info("running in this process (executor %s, %d items, %d scan workers)", cfg.executor, len(items),
                 workers)
        # Each scan child gets its share of the cores for OpenCV's threads (the scan copies share one
        # TransNetV2 process, started with the job so the model is loaded before the first doubtful candidate).
        source = replace(graph[0], kwargs={**graph[0].kwargs, "threads": max(1, cpus // workers)})
        return run_local(items, [source, *graph[1:]], workers=workers)
    return run_graph(items, graph, cfg.ray.address, cfg.ray.num_cpus)


def _model_spec(stage: EnrichStage, cfg: AnnotateConfig, weights: dict) -> StageSpec:
    resources: StageResources = getattr(cfg.ray, stage.name)
    return StageSpec(stage.name, stage.load(), {"config": cfg, **weights}, resources,
                     batch_size=max(1, resources.batch_size // CLIPS_PER_VIDEO))


# Scan settings that change how fast, not what: a rerun may change them on an output with results.
SCAN_RESOURCE_KEYS = ("decode.threads", "decode.prefetch", "decode.split_min_s", "keyframes.pending_mb")


def _scan_record(cfg: AnnotateConfig) -> dict:
    """The config that decides the scan's results (resources and commit sizes do not)."""
    signals = tuple(s for s in SIGNAL_STAGES if s in cfg.stages)
    sections = ("decode", "cuts", "clips", "motion", "keyframes", *signals)
    record = {name: to_dict(getattr(cfg, name)) for name in sections}
    record["stages"] = [s for s in cfg.stages if s in SCAN_STAGES + SIGNAL_STAGES]
    return record


def _check_scan_config(out: AnnotateOutput, cfg: AnnotateConfig, scan_work: bool, has_results: bool) -> None:
    from curation.annotate.store import differences

    record = _scan_record(cfg)
    previous = out.job().get("scan")
    added = [s for s in record["stages"] if previous and has_results and s not in previous["stages"]]
    if added:
        # A scan stage's columns come from the one decode: the videos already scanned would stay without them.
        raise ConfigError(f"{out.root} was scanned without the {', '.join(added)} stage: its columns come from the "
                          "scan; rerun with --overwrite to scan again, or leave it out of --stages")
    if previous and not scan_work \
            and differences(previous, record, SCAN_RESOURCE_KEYS) == ["stages"] \
            and set(record["stages"]) <= set(previous["stages"]):
        return  # e.g. `--stages cuts,keyframes,ocr` on a finished table: nothing to scan, nothing differs
    out.check_section("scan", record, "annotate", has_results, ignore=SCAN_RESOURCE_KEYS)
