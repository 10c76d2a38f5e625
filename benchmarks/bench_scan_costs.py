"""Where a scan's CPU time goes, per frame: what limits `curate annotate --stages cuts,motion,keyframes`.

In process (not what a user runs: the cold-start job is `bench_shots.py`), one thread everywhere (decoder,
OpenCV, torch; no prefetch thread), so the scan's thread time is what each step costs. One scan with the
default (``hybrid``) detector per input, each step's calls timed as they run (thread CPU time, exclusive of the
steps they call), so the shares come from the same run and the machine's noise does not move them apart:

- analysis pictures: the 128-px BGR frame and grey frame from the decoder's planes;
- cascade: the detector's per-frame features (HSV content scores, aligned 64-px luma) and its decisions;
- TransNetV2 on the doubtful windows (model loaded before timing);
- motion: Farnebäck on ``motion.sample_fps`` pairs a second, with their grey frames;
- keyframe candidates: conversion and JPEG;
- decoding and the loop: the rest (PyAV's decode, the 48x27 TransNetV2 picture, per-frame bookkeeping);

and, as a reference, decoding alone (one thread, the same frames). Then, in fresh processes, the fixed costs of
a job: Python with our imports, and torch's import plus the TransNetV2 load that a scan process pays when it
first judges a candidate. Inputs are `bench_shots.py`'s, built once into ``--work``: a slice of (a), the 720p
H.264 file, and the first clips of (b), the 640x360 clips. Prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_scan_costs.py [--work DIR] [--a-seconds 120] [--b-clips 40]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported

from bench_shots import PY, build_inputs  # noqa: E402

REST = "decoding and the loop (the rest)"


class StepTimer:
    """Thread CPU time per step, each exclusive of the timed steps it calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list] = []  # [step, start, time spent in timed callees]
        self._originals: list[tuple] = []  # (owner, name, original), for restore()

    def wrap(self, owner, name: str, step: str) -> None:
        original = getattr(owner, name)
        self._originals.append((owner, name, original))
        timer = self

        def timed(*args, **kwargs):
            timer._stack.append([step, time.thread_time(), 0.0])
            try:
                return original(*args, **kwargs)
            finally:
                label, begun, inner = timer._stack.pop()
                spent = time.thread_time() - begun
                timer.seconds[label] = timer.seconds.get(label, 0.0) + spent - inner
                if timer._stack:
                    timer._stack[-1][2] += spent

        setattr(owner, name, timed)

    def restore(self) -> None:
        """Put back every wrapped function."""
        for owner, name, original in reversed(self._originals):
            setattr(owner, name, original)
        self._originals.clear()


def _units(paths: list[Path], seconds: float | None):
    from curation.annotate.scan.unit import WorkUnit
    from curation.video import probe

    units = []
    for i, path in enumerate(paths):
        info = probe(path)
        end = min(seconds, info.duration_s) if seconds else None
        units.append(WorkUnit(f"v{i}", str(path), 0, 1, 0.0, end, info.width, info.height, info.fps))
    return units


def _decode_cpu(units) -> tuple[float, int]:
    from curation.video import iter_frames

    start, frames = time.thread_time(), 0
    for unit in units:
        for _ in iter_frames(unit.path, start_s=0.0, end_s=unit.end_s, threads=1, prefetch=0):
            frames += 1
    return time.thread_time() - start, frames


def costs(units, model) -> tuple[int, float, float, dict[str, float]]:
    """(frames, decode-only CPU s, whole scan CPU s, CPU s per step) for one hybrid scan of ``units``."""
    import curation.annotate.scan.unit as scan
    from curation.annotate.shots.cascade import CascadeDetector
    from curation.config import load_config
    from curation.video.decode import DecodedFrame

    decode, frames = _decode_cpu(units)
    config = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.decode.prefetch=0"]).annotate
    timer = StepTimer()
    timer.wrap(DecodedFrame, "bgr", "analysis pictures (128-px BGR and grey)")
    timer.wrap(DecodedFrame, "gray", "analysis pictures (128-px BGR and grey)")
    timer.wrap(CascadeDetector, "push", "cascade features and decisions")
    timer.wrap(CascadeDetector, "finish", "cascade features and decisions")
    timer.wrap(type(model), "predict_windows", "TransNetV2 on the doubtful windows")
    timer.wrap(scan._MotionSampler, "push", "motion (Farnebäck and its grey frames)")
    timer.wrap(scan._KeyframeKeeper, "push", "keyframe candidates (conversion and JPEG)")
    timer.wrap(scan._KeyframeKeeper, "keep_last", "keyframe candidates (conversion and JPEG)")
    timer.wrap(scan._KeyframeKeeper, "finish", "keyframe candidates (conversion and JPEG)")
    try:
        start = time.thread_time()
        for unit in units:
            result = scan.scan_unit(unit, config, model, decode_threads=1)
            if result.error_kind is not None:
                raise RuntimeError(f"{unit.path}: {result.error_kind}: {result.error}")
        total = time.thread_time() - start
    finally:
        timer.restore()
    steps = dict(timer.seconds)
    steps[REST] = total - sum(steps.values())
    return frames, decode, total, steps


def per_video(units, model) -> tuple[float, float]:
    """CPU seconds per video, in the scan process, outside the scan itself: (probing, turning the scan's
    result into the video's record: assembly into rows, Arrow record, IPC bytes)."""
    import curation.annotate.scan.unit as scan
    from curation.annotate import source
    from curation.config import load_config

    config = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.decode.prefetch=0",
                                "annotate.decode.threads=1"]).annotate
    source._MODEL = model  # the child's lazily loaded model, already loaded
    inner = StepTimer()
    inner.wrap(scan, "scan_unit", "scan")
    probing = whole = 0.0
    unit = units[0]  # once untimed: the first call imports what assembly and the records need
    source.scan_in_child(unit.video_id, unit.path, source.probe_in_child(unit.path), config, 600.0, 1)
    inner.seconds.clear()
    try:
        for unit in units:
            start = time.thread_time()
            info = source.probe_in_child(unit.path)
            probing += time.thread_time() - start
            start = time.thread_time()
            source.scan_in_child(unit.video_id, unit.path, info, config, 600.0, 1)
            whole += time.thread_time() - start
    finally:
        inner.restore()
    return probing / len(units), (whole - inner.seconds["scan"]) / len(units)


def _fresh(code: str, repeats: int) -> float:
    """Best wall time of a fresh Python process running ``code`` (one thread for OpenMP)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([PY, "-c", code], check=True, env=env, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench-shots"))
    ap.add_argument("--a-seconds", type=float, default=120.0, help="seconds of input (a) scanned")
    ap.add_argument("--b-clips", type=int, default=40, help="clips of input (b) scanned")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each fresh-process timing (best kept)")
    args = ap.parse_args()

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    from curation.annotate.shots import TransNetV2Model

    sets = build_inputs(Path(args.work))
    model = TransNetV2Model("cpu")
    inputs = {
        f"(a) first {args.a_seconds:.0f} s of the 720p H.264 file": _units(sets["a"], args.a_seconds),
        f"(b) {args.b_clips} of the 5-s 640x360 clips": _units(sets["b"][:args.b_clips], None),
    }
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"in process, one thread\n")
    for label, units in inputs.items():
        frames, decode, total, steps = costs(units, model)
        print(f"{label}: {frames} frames, {len(units)} video(s); the whole scan {1000 * total / frames:.2f} ms "
              f"a frame = {total / decode:.2f}x decoding alone ({1000 * decode / frames:.2f} ms a frame)\n")
        print("| step | CPU ms a frame | x decoding alone |")
        print("| --- | --- | --- |")
        for name, cpu in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {1000 * cpu / frames:.2f} | {cpu / decode:.2f} |")
        print()
        if len(units) > 1:
            probing, record = per_video(units, model)
            print(f"Per video, outside the scan, in the scan process: probing {1000 * probing:.0f} ms, the "
                  f"record (assembly into rows, Arrow, IPC bytes) {1000 * record:.0f} ms.\n")
    start_up = _fresh("import curation.cli, curation.annotate.job, curation.annotate.scan.unit", args.repeats)
    torch_load = _fresh("import torch; from curation.models.transnetv2 import load_transnetv2; "
                        "load_transnetv2('cpu')", args.repeats)
    bare = _fresh("pass", args.repeats)
    print("| fixed cost, fresh process (wall s, best) | s |")
    print("| --- | --- |")
    print(f"| Python start-up alone | {bare:.2f} |")
    print(f"| + the CLI's and the scan's imports | {start_up:.2f} |")
    print("| import torch + load TransNetV2 (once per scan worker, in its TransNetV2 process, started with the job) "
          f"| {torch_load:.2f} |")


if __name__ == "__main__":
    main()
