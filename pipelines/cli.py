"""The ``curate`` command."""
from __future__ import annotations

import argparse
import logging
import sys

from curation.config import STAGE_NAMES, ConfigError, load_config


def _annotate_parser(sub) -> None:
    p = sub.add_parser(
        "annotate",
        help="split videos into clips and annotate every clip (cuts, motion, keyframes) into Parquet",
        description="Split every input video into clips by shot detection and annotate each clip. Results go "
                    "to DIR/annotations/*.parquet (one row per clip; a video with no clip gets one row with "
                    "its error) and DIR/keyframes/*.parquet. Rerunning the same command resumes: videos "
                    "already written are skipped.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, directories (searched recursively by video extension) or .txt files "
                        "listing one path per line")
    p.add_argument("--output", "-o", required=True, metavar="DIR", help="output directory")
    p.add_argument("--config", "-c", metavar="FILE", help="YAML config (default: built-in defaults, "
                                                          "see configs/default.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set annotate.cuts.detector=fast (repeatable)")
    p.add_argument("--stages", metavar="NAME,...",
                   help=f"stages to run, comma-separated from {','.join(STAGE_NAMES)} (cuts is always needed)")
    p.add_argument("--overwrite", action="store_true", help="delete earlier results in DIR and start over")
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")


def _sample_parser(sub) -> None:
    p = sub.add_parser("sample", help="write a small synthetic corpus (cuts, dissolve, motion, text) to DIR",
                       description="Write synthetic H.264 videos with known cuts, a dissolve, static and moving "
                                   "shots and text overlays, for trying the pipeline without data.")
    p.add_argument("directory", metavar="DIR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curate", description="Video data curation for video diffusion training.")
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)
    _annotate_parser(sub)
    _sample_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "annotate":
            return _annotate(args)
        if args.command == "sample":
            from curation.synthetic import sample_corpus

            for name, truth in sample_corpus(args.directory).items():
                print(f"{args.directory}/{name}: {truth.frames} frames, cuts {truth.cuts}, dissolves {truth.gradual}")
            return 0
    except ConfigError as exc:
        print(f"curate: error: {exc}", file=sys.stderr)
        return 2
    return 1


def _annotate(args) -> int:
    from pipelines.annotate import run_annotate

    overrides = list(args.overrides)
    if args.stages:
        overrides.append(f"annotate.stages=[{args.stages}]")
    if args.ray_address:
        overrides.append(f"annotate.ray.address={args.ray_address}")
    config = load_config(args.config, overrides)
    summary = run_annotate(args.inputs, args.output, config, overwrite=args.overwrite, progress=not args.quiet)
    print(summary.text())
    print(f"annotations: {args.output}/annotations/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
