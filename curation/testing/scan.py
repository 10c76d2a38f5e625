"""The scan as `curate annotate` runs it on one file, in process (decode, detection, signals, assembly into rows),
for tests and benchmarks of what the scan computes; and a writer of given frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def clip_rows(path: str | Path, stages: str, detector: str = "fast") -> list[dict]:
    """The clip rows of ``path`` scanned with ``annotate.stages=[stages]`` (one unit, no Ray, no TransNetV2 with
    the default ``fast`` detector)."""
    from curation.annotate.scan.assemble import assemble_video
    from curation.annotate.scan.unit import WorkUnit, scan_unit
    from curation.config import load_config
    from curation.contract.schema import ROW_CLIP
    from curation.video import probe

    cfg = load_config(None, [f"annotate.cuts.detector={detector}", f"annotate.stages=[{stages}]"]).annotate
    info = probe(str(path))
    unit = scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, None)
    return [r for r in assemble_video("v", info, [unit], cfg).rows if r["row_kind"] == ROW_CLIP]


def write_frames(path: str | Path, frames: list[np.ndarray], fps: int = 25, crf: int = 16) -> Path:
    """Encode BGR ``frames`` (all one even size) as H.264 at ``path``."""
    from curation.video.encode import H264Writer

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with H264Writer(str(path), w, h, fps, crf=crf) as writer:
        for f in frames:
            writer.write_array(f, "bgr24")
    return path
