"""Probe stage: one input video in, its work units out (several for a long video, so it is scanned in
parallel), or a single row carrying the error."""
from __future__ import annotations

import json
import math

from curation.config import AnnotateConfig
from curation.isolation import IsolatedWorker
from curation.stages.base import Batch, Stage
from curation.video import VideoError, probe

# Probing reads a header and one frame; a minute is generous and still catches a stuck file.
PROBE_TIMEOUT_S = 60.0

# Columns of a unit row. No None travels through Ray Data (an all-None column changes type between blocks):
# end_s is OPEN_END for the last unit, and error_kind / error / info_json are "" when not applicable.
UNIT_COLUMNS = ("video_id", "path", "unit_index", "n_units", "start_s", "end_s", "info_json", "error_kind", "error")
OPEN_END = -1.0


def segment_bounds(duration_s: float, segment_s: float) -> list[tuple[float, float | None]]:
    """Time ranges of the work units of a video; the last one is open-ended (frames past the declared
    duration still belong to it)."""
    n = max(1, math.ceil(duration_s / segment_s - 1e-9)) if duration_s > 0 else 1
    bounds = [(k * segment_s, (k + 1) * segment_s) for k in range(n)]
    bounds[-1] = (bounds[-1][0], None)
    return bounds


def probe_video(path: str) -> dict:
    return probe(path).to_dict()


class ProbeStage(Stage):
    name = "probe"

    def __init__(self, config: AnnotateConfig):
        super().__init__(config.ray.probe)
        self._config = config
        self._worker = IsolatedWorker()
        self._worker.start()  # its start-up overlaps the worker's

    def __call__(self, batch: Batch) -> Batch:
        out: dict[str, list] = {c: [] for c in UNIT_COLUMNS}
        for video_id, path in zip(batch["video_id"], batch["path"]):
            try:
                info = self._worker.call(probe_video, (str(path),), min(PROBE_TIMEOUT_S, self._config.decode.timeout_s))
            except VideoError as exc:
                rows = [(0, 1, 0.0, OPEN_END, "", exc.kind, exc.message)]
            else:
                bounds = segment_bounds(info["duration_s"], self._config.decode.segment_s)
                rows = [(k, len(bounds), start, OPEN_END if end is None else end, json.dumps(info), "", "")
                        for k, (start, end) in enumerate(bounds)]
            for unit_index, n_units, start, end, info_json, kind, message in rows:
                for column, value in zip(UNIT_COLUMNS, (video_id, str(path), unit_index, n_units, start, end,
                                                        info_json, kind, message)):
                    out[column].append(value)
        return out

    def close(self) -> None:
        self._worker.close()
