"""The ``curate`` command."""
from __future__ import annotations

import argparse
import logging
import sys

from curation.annotate.config import STAGE_NAMES
from curation.core.errors import ConfigError
from curation.config import load_config


def _config_args(p) -> None:
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config (default: built-in defaults, "
                                                          "see configs/default.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set filter.min_duration_s=3 (repeatable)")


def _annotate_parser(sub) -> None:
    p = sub.add_parser(
        "annotate",
        help="split videos into clips and annotate every clip (cuts, motion, keyframes, OCR, aesthetic, "
             "captions) into Parquet",
        description="Split every input video into clips by shot detection and annotate each clip. Results go "
                    "to DIR/annotations/*.parquet, one table with every column (one row per clip, skipped shot "
                    "and transition; a video with no clip gets one row with its error), and "
                    "DIR/keyframes/*.parquet. DIR and the inputs may be local, s3:// or gs:// URIs. Rerunning the "
                    "same command resumes: videos already written are skipped; a rerun with more --stages adds their "
                    "columns without recomputing the others. One job writes an output at a time. Model weights "
                    "must be on this machine (see `curate models`); configs/offline.yaml needs none.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, directories, s3:// or gs:// prefixes (searched recursively by video "
                        "extension) or .txt files listing one path or URI per line")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="output directory, s3:// or gs:// prefix")
    _config_args(p)
    p.add_argument("--stages", metavar="NAME,...",
                   help=f"stages to run, comma-separated from {','.join(STAGE_NAMES)} (cuts is always needed; "
                        "the model stages ocr, aesthetic, caption need keyframes)")
    p.add_argument("--overwrite", action="store_true", help="delete earlier results in DIR and start over")
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (default: RAY_ADDRESS, else a new "
                                                         "local Ray)")


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="write a small synthetic corpus (cuts, dissolve, motion, text) to DIR",
                       description="Write synthetic H.264 videos with known cuts, a dissolve, static and moving "
                                   "shots and text overlays, for trying the pipeline without data.")
    p.add_argument("directory", metavar="DIR")


def _models_parser(sub) -> None:
    p = sub.add_parser("models", help="check or download the model weights a config needs",
                       description="`check`: say for each enabled model stage whether its weights are on this "
                                   "machine (no network). `download`: fetch them into the Hugging Face cache and "
                                   "the curation cache ($CURATION_CACHE, default ~/.cache/curation); run it on a "
                                   "machine with internet and copy the caches to offline machines.")
    p.add_argument("action", choices=["check", "download"])
    _config_args(p)


def _curate_parsers(sub) -> None:
    p = sub.add_parser("filter", help="percentile/absolute filters and motion buckets over an annotate output",
                       description="Drop the bottom/top percent of annotations (exact percentiles over all clips "
                                   "without errors) or values outside bounds, plus duration/resolution/fps bounds; "
                                   "rules combine with AND and every dropped clip lists all rules that dropped it. "
                                   "Writes DIR/clips.parquet (keep, drop_reasons, motion_bucket_id and all scores), "
                                   "DIR/thresholds.json (reuse with --thresholds) and DIR/motion_buckets.json.")
    p.add_argument("annotations", metavar="ANNOTATIONS", help="output folder of `curate annotate`")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    p.add_argument("--thresholds", metavar="FILE", help="apply these saved thresholds (and the motion_buckets.json "
                                                        "beside them) instead of computing new ones")
    _config_args(p)
    p.add_argument("--ray-address", metavar="ADDR", help="run the passes over the table on this Ray cluster, one task "
                                                         "per annotations part (= filter.executor ray, "
                                                         "filter.ray.address ADDR)")
    p = sub.add_parser("report", help="the HTML filtering report of a filter output",
                       description="Write a self-contained HTML report (plots and thumbnails inline).")
    p.add_argument("filtered", metavar="FILTERED", help="output folder of `curate filter`")
    p.add_argument("--output", "-o", metavar="FILE", help="default FILTERED/report.html")
    _config_args(p)
    p = sub.add_parser("shard", help="WebDataset shards of the kept clips of a filter output",
                       description="Cut every kept clip, encode it as H.264 mp4 (PyAV), and write tar shards with "
                                   "its JSON metadata and a thumbnail, plus DIR/index.json. Reruns skip shards "
                                   "already written.")
    p.add_argument("filtered", metavar="FILTERED", help="output folder of `curate filter`")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    _config_args(p)
    p = sub.add_parser("run", help="annotate -> filter -> report -> shard from one config",
                       description="The whole job: DIR/annotated, DIR/filtered (with report.html), DIR/shards.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="as for `curate annotate`")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    _config_args(p)
    p.add_argument("--overwrite", action="store_true", help="start the annotate step over")
    p = sub.add_parser("demo", help="generate a synthetic corpus and run the whole chain offline",
                       description="Writes synthetic videos (static and moving shots, cuts, a fade from black, "
                                   "a dissolve, text overlays) to DIR/videos and runs `curate run` on them with "
                                   "configs/offline.yaml (tiny random CLIP/CoCa, flagged); ends with the report path.")
    p.add_argument("--output", "-o", default="out/demo", metavar="DIR", help="default out/demo")


def _svd_parsers(sub) -> None:
    p = sub.add_parser("finetune", help="finetune Stable Video Diffusion on our shards",
                       description="Stream WebDataset shards from `curate shard`, take finetune.num_frames frames "
                                   "at finetune.fps from each clip, and train SVD's UNet with the EDM objective, "
                                   "conditioned on each clip's motion_bucket_id and fps. Resumes from "
                                   "DIR/checkpoints. The output loads with StableVideoDiffusionPipeline. "
                                   "Several GPUs/nodes: `accelerate launch -m curation.cli finetune ...`.")
    p.add_argument("--shards", required=True, metavar="PATTERN",
                   help="shard folder (with index.json), brace pattern shard-{000000..000009}.tar, or one tar")
    p.add_argument("--model", required=True, metavar="DIR_OR_HUB_ID", help="a diffusers SVD folder or hub id "
                                                                          "(in the local cache)")
    p.add_argument("--output", "-o", required=True, metavar="DIR")
    _config_args(p)
    p = sub.add_parser("generate", help="image-to-video with an SVD folder",
                       description="Generate a video from an image. --motion converts a motion in px/s@256 to a "
                                   "bucket with the mapping saved at filter time (MODEL/motion_buckets.json).")
    p.add_argument("--model", required=True, metavar="DIR")
    p.add_argument("--image", required=True, metavar="IMG")
    p.add_argument("--output", "-o", required=True, metavar="OUT.mp4")
    motion = p.add_mutually_exclusive_group()
    motion.add_argument("--motion-bucket", type=int, metavar="N", help="0..255 (default 127)")
    motion.add_argument("--motion", type=float, metavar="VALUE", help="motion in px/s@256")
    p.add_argument("--buckets", metavar="FILE", help="bucket mapping (default MODEL/motion_buckets.json)")
    p.add_argument("--fps", type=float, default=7.0)
    p.add_argument("--num-frames", type=int, metavar="K", help="default: the model's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=25, help="denoising steps (default 25)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--decode-chunk-size", type=int, default=8, help="frames decoded by the VAE at once")
    p.add_argument("--forward-chunking", action="store_true", help="UNet feed-forward in chunks (less memory)")
    p.add_argument("--cpu-offload", action="store_true", help="keep models on CPU until used (GPU memory)")
    p.add_argument("--interpolate", type=int, default=1, metavar="N",
                   help="N - 1 motion-compensated frames (Farnebäck flow) between every two; the video plays at N "
                        "x --fps for the same duration (default 1: none; SVD at 6 fps with 4 gives 24 fps)")


def _global_args(p, defaults: bool) -> None:
    """The flags every command takes, before or after its name (``curate -q filter ...`` and ``curate filter -q
    ...`` alike). On the commands their default is "not given", so a flag given before the command name is not
    reset by the command's parser."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--quiet", "-q", action="store_true", default=default(False),
                   help="no progress lines (the result lines are still printed)")
    p.add_argument("--verbose", "-v", action="store_true", default=default(False),
                   help="show the traceback of an error, and Ray's own output on the terminal")
    p.add_argument("--log-level", default=default("WARNING"), help="Python logging level (default WARNING)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Video data curation for video diffusion training.")
    _global_args(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True)
    _annotate_parser(sub)
    _sample_parser(sub)
    _models_parser(sub)
    _curate_parsers(sub)
    _svd_parsers(sub)
    for command in sub.choices.values():
        _global_args(command, defaults=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "annotate":
            return _annotate(args)
        if args.command == "models":
            return _models(args)
        if args.command == "finetune":
            from curation.train.train import Trainer

            config = load_config(args.config, args.overrides)
            f = config.finetune
            trainer = Trainer(args.shards, args.model, args.output, f, storage_options=config.storage,
                              checkpoints_total_limit=f.checkpoints_total_limit, num_workers=f.num_workers)
            result = trainer.run(progress=not args.quiet)
            if trainer.is_main:  # one line, not one per process
                print(f"finetuned {result['steps']} steps, last loss {result['last_loss']:.4f}: {result['output']}")
            return 0
        if args.command == "generate":
            from curation.train.generate import generate, motion_to_bucket

            bucket = args.motion_bucket if args.motion_bucket is not None else 127
            if args.motion is not None:
                bucket = motion_to_bucket(args.model, args.motion, args.buckets)
            path = generate(args.model, args.image, args.output, bucket, args.fps, args.num_frames, args.seed,
                            args.steps, args.width, args.height, args.decode_chunk_size, args.forward_chunking,
                            args.cpu_offload, interpolate=args.interpolate)
            print(f"motion bucket {bucket}: {path}")
            return 0
        if args.command in ("filter", "report", "shard", "run", "demo"):
            from curation.cli.run import main as curate_main

            return curate_main(args)
        if args.command == "sample":
            from curation.testing.synthetic import sample_corpus

            for name, truth in sample_corpus(args.directory).items():
                print(f"{args.directory}/{name}: {truth.frames} frames, cuts {truth.cuts}, dissolves {truth.gradual}")
            return 0
    except ConfigError as exc:
        if args.verbose:
            raise
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    return 1


def _annotate(args) -> int:
    from curation.annotate.job import AnnotateJob, run_annotate
    from curation.runtime.ray_logs import ray_output_to
    from curation.runtime.ray_runner import shutdown_ray

    overrides = list(args.overrides)
    if args.stages:
        overrides.append(f"annotate.stages=[{args.stages}]")
    if args.ray_address:
        overrides.append(f"annotate.ray.address={args.ray_address}")
    config = load_config(args.config, overrides)
    with ray_output_to(None if args.verbose else args.output) as log:
        try:
            summary = run_annotate(args.inputs, args.output, AnnotateJob.of(config), overwrite=args.overwrite,
                                   progress=not args.quiet)
        finally:
            shutdown_ray()
    print(summary.text())
    print(f"annotations: {args.output}/annotations/", flush=True)
    if log.kept:
        print(f"ray log: {log.path}")
    if summary.internal_errors:
        print(f"curate: the job completed with {summary.internal_errors} internal errors (exit status "
              f"{summary.exit_code}); tracebacks: {log.path if log.kept else 'above'}", file=sys.stderr)
    return summary.exit_code


def _models(args) -> int:
    from curation.annotate.enrich.registry import enabled, stage_weights
    from curation.models import weights

    cfg = load_config(args.config, args.overrides).annotate
    missing = 0
    for entry in enabled(cfg):
        stage = entry.name
        if args.action == "download":
            for line in entry.download(cfg):
                print(f"{stage}: {line}")
        try:
            found = stage_weights(cfg.model_copy(update={"stages": ("cuts", "keyframes", stage)}))[stage]
        except weights.WeightsUnavailable as exc:
            missing += 1
            print(f"{stage}: MISSING: {exc}")
            continue
        print(f"{stage}: ok: " + ", ".join(f"{k}={getattr(v, 'label', v)}" for k, v in found.items()))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
