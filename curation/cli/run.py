"""``curate filter | report | shard | run | demo``: the steps after annotation, alone or chained."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from curation.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_CONFIG = ROOT / "configs" / "offline.yaml"


def run_all(inputs: list[str], output: str, config: Config, overwrite: bool = False,
            progress: bool = True) -> tuple[str, int]:
    """annotate -> filter -> report -> shard under ``output`` (a folder or an object-store prefix); returns the
    report's path or URI, and the exit status (annotate's: non-zero when it met internal errors)."""
    from curation.annotate.job import AnnotateJob, run_annotate
    from curation.core import storage
    from curation.curate.filter_job import FilterJob, run_filter
    from curation.curate.report_job import ReportJob, run_report
    from curation.curate.shard_job import ShardJob, run_shard

    annotated, filtered = storage.join(output, "annotated"), storage.join(output, "filtered")
    summary = run_annotate(inputs, annotated, AnnotateJob.of(config), overwrite=overwrite, progress=progress)
    print(summary.text())
    print(run_filter(annotated, filtered, FilterJob.of(config)).text())
    report = run_report(filtered, None, ReportJob.of(config))
    shard = config.shard
    if shard.ray.address is None:
        # One chain, one cluster: the shard writers join the cluster the annotation ran on.
        shard = shard.model_copy(update={"ray": shard.ray.model_copy(
            update={"address": config.annotate.ray.address, "num_cpus": config.annotate.ray.num_cpus})})
    index = run_shard(filtered, storage.join(output, "shards"), ShardJob(shard, config.storage), progress=progress)
    print(f"shards: {len(index['shards'])} with {index['samples']} samples ({len(index['failed'])} failed): "
          f"{index['pattern']}")
    return report, summary.exit_code


def main(args) -> int:
    """Run one command; Ray's own output (annotate, shard and filter on Ray start Ray) goes to OUTPUT/_logs/
    unless ``--verbose``."""
    from curation.runtime.ray_logs import ray_output_to
    from curation.runtime.ray_runner import shutdown_ray

    ray = args.command in ("demo", "run", "shard") or (
        args.command == "filter" and load_config(args.config, _overrides(args)).filter.executor == "ray")
    output = args.output if ray and not args.verbose else None
    with ray_output_to(output) as log:
        try:
            code = _command(args)
        finally:
            shutdown_ray()
    if log.kept:
        # On stderr: the last line on stdout stays the command's result (the report's path for run and demo).
        print(f"ray log: {log.path}", file=sys.stderr)
    return code


def _overrides(args) -> list[str]:
    """The ``--set`` overrides, and for ``filter --ray-address ADDR``: ``filter.executor=ray`` on that cluster."""
    extra = []
    if getattr(args, "ray_address", None):
        extra = ["filter.executor=ray", f"filter.ray.address={args.ray_address}"]
    return [*args.overrides, *extra]


def _command(args) -> int:
    if args.command == "demo":
        from curation.testing.synthetic import demo_corpus

        out = Path(args.output)
        for name, truth in demo_corpus(out / "videos").items():
            print(f"{out / 'videos' / name}: {truth.frames} frames, cuts {truth.cuts}, transitions {truth.gradual}")
        report, code = run_all([str(out / "videos")], str(out), load_config(OFFLINE_CONFIG), progress=not args.quiet)
        print(f"report: {report}")
        return code
    config = load_config(args.config, _overrides(args))
    if args.command == "run":
        report, code = run_all(args.inputs, args.output, config, overwrite=args.overwrite, progress=not args.quiet)
        print(f"report: {report}")
        return code
    elif args.command == "filter":
        from curation.curate.filter_job import FilterJob, run_filter

        print(run_filter(args.annotations, args.output, FilterJob.of(config), args.thresholds).text())
        print(f"filtered: {args.output}/clips.parquet")
    elif args.command == "report":
        from curation.curate.report_job import ReportJob, run_report

        print(f"report: {run_report(args.filtered, args.output, ReportJob.of(config))}")
    elif args.command == "shard":
        from curation.curate.shard_job import ShardJob, run_shard

        index = run_shard(args.filtered, args.output, ShardJob.of(config), progress=not args.quiet)
        print(json.dumps({k: index[k] for k in ("samples", "kept_clips", "pattern")}))
        if index["failed"]:
            print(f"{len(index['failed'])} clips could not be re-read; see {args.output}/index.json")
    return 0
