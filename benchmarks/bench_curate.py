"""Curate-step benchmark: `curate filter` and `curate report` on a large generated annotation table (default 1M
clips) with their peak memory, and shard writing against a plain PyAV loop (a user's cut-and-encode script)
on the same clips, in one run. Prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_curate.py [--rows 1000000] [--shard-clips 24]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


PY = str(ROOT / ".venv" / "bin" / "python")


def synthetic_annotations(out: Path, rows: int, parts: int = 10) -> None:
    """An annotate output with ``rows`` clips of plausible, independent random scores (no keyframes), in
    ``parts`` parts (:func:`curation.testing.tables.synthetic_annotations`, without skipped shots or errors)."""
    from curation.testing.tables import synthetic_annotations as generate

    generate(out, rows, rows_per_part=-(-rows // parts), extras=False)


def measured(code: str) -> tuple[float, float, str]:
    """Run ``code`` in a fresh interpreter: (seconds, peak RSS in MiB, its stdout)."""
    wrapper = ("import resource, time, sys\nsys.path.insert(0, %r)\nt = time.perf_counter()\n%s\n"
               "print('BENCH', time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
               % (str(ROOT), code))
    run = subprocess.run([PY, "-c", wrapper], capture_output=True, text=True, cwd=ROOT)
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    line = [x for x in run.stdout.splitlines() if x.startswith("BENCH")][-1].split()
    return float(line[1]), float(line[2]) / 1024, run.stdout


def plain_pyav(rows: list[dict], out_dir: Path) -> None:
    """What a user writes by hand: for each clip, seek, decode the span, encode libx264 (same crf/preset)."""
    import av

    out_dir.mkdir(parents=True, exist_ok=True)
    for row in rows:
        with av.open(row["video_path"]) as inp, av.open(str(out_dir / f"{row['clip_id']}.mp4"), "w") as out:
            src = inp.streams.video[0]
            src.thread_type = "AUTO"
            dst = out.add_stream("libx264", rate=Fraction(row["fps"]).limit_denominator(1001))
            dst.width, dst.height, dst.pix_fmt = src.codec_context.width, src.codec_context.height, "yuv420p"
            dst.options = {"crf": "20", "preset": "veryfast"}
            inp.seek(int(row["start_s"] / src.time_base), stream=src, backward=True)
            k = 0
            for frame in inp.decode(src):
                t = float(frame.pts * src.time_base)
                if t < row["start_s"] - 1e-6:
                    continue
                if t >= row["end_s"]:
                    break
                new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                new.pts = k
                k += 1
                for packet in dst.encode(new):
                    out.mux(packet)
            for packet in dst.encode():
                out.mux(packet)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--demo", help="an existing `curate demo` output to take shard clips from")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-curate-"))
    synthetic_annotations(work / "annotated", args.rows)
    cfg = "from curation.config import load_config\nc = load_config(None)\n"
    t_filter, mem_filter, _ = measured(cfg + "from curation.curate.filter_job import FilterJob, run_filter\n"
                                       f"run_filter({str(work / 'annotated')!r}, {str(work / 'filtered')!r}, FilterJob.of(c))")
    t_report, mem_report, _ = measured(cfg + "from curation.curate.report_job import ReportJob, run_report\n"
                                       f"run_report({str(work / 'filtered')!r}, None, ReportJob.of(c))")
    t_read, mem_read, _ = measured("from curation.annotate.store import read_annotations\n"
                                   f"read_annotations({str(work / 'annotated')!r})")
    size = (work / "filtered" / "report.html").stat().st_size / 2**20

    demo = Path(args.demo) if args.demo else work / "demo"
    if not args.demo:
        subprocess.run([str(ROOT / ".venv/bin/curate"), "demo", "--output", str(demo), "-q"], check=True,
                       capture_output=True)
    table = pq.read_table(demo / "filtered" / "clips.parquet")
    rows = [r for r in table.drop_columns(["drop_reasons"]).to_pylist() if r["clip_index"] is not None]
    from curation.config import load_config
    from curation.curate.shards import write_shard

    start = time.perf_counter()
    write_shard(work / "one-process.tar", rows, load_config(None).shard)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    plain_pyav(rows, work / "plain")
    t_plain = time.perf_counter() - start
    frames = sum(int(r["num_frames"]) for r in rows)
    filtered = work / "filtered-demo"
    filtered.mkdir()
    kept_all = table.set_column(table.schema.get_field_index("keep"), "keep",
                                pa.array(np.asarray(table["clip_index"].is_valid())))
    pq.write_table(kept_all, filtered / "clips.parquet")
    start = time.perf_counter()
    run = subprocess.run([str(ROOT / ".venv/bin/curate"), "shard", str(filtered), "--output", str(work / "shards"),
                          "-q", "--set", "shard.samples_per_shard=4"], capture_output=True, text=True)
    t_ray = time.perf_counter() - start

    n = args.rows
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print(f"| step | {n:,} clips | clips/s | peak RSS |")
    print("| --- | --- | --- | --- |")
    print(f"| read_annotations (the one clip table) | {t_read:.1f} s | {n / t_read:,.0f} | "
          f"{mem_read:,.0f} MiB |")
    print(f"| curate filter (4 rules + duration, exact percentiles, buckets, write) | {t_filter:.1f} s | "
          f"{n / t_filter:,.0f} | {mem_filter:,.0f} MiB |")
    print(f"| curate report (all plots; thumbnails absent in this table) | {t_report:.1f} s | {n / t_report:,.0f} | "
          f"{mem_report:,.0f} MiB |")
    print(f"\nReport size {size:.1f} MiB.\n")
    print(f"Shard writing, {len(rows)} demo clips ({frames} frames, 320x180, H.264 crf 20 veryfast):\n")
    print("| method | seconds | clips/s | x plain loop |")
    print("| --- | --- | --- | --- |")
    print(f"| plain PyAV loop (seek, decode span, encode, one process) | {t_plain:.2f} | {len(rows) / t_plain:.1f} | 1.00x |")
    print(f"| ours, write_shard in one process (+ JSON, thumbnail, tar) | {t_ours:.2f} | {len(rows) / t_ours:.1f} | "
          f"{t_plain / t_ours:.2f}x |")
    print(f"| ours, `curate shard` (Ray, {os.cpu_count()} workers, incl. Ray start-up; rc {run.returncode}) | "
          f"{t_ray:.2f} | {len(rows) / t_ray:.1f} | {t_plain / t_ray:.2f}x |")


if __name__ == "__main__":
    main()
