"""Scan stage: one work unit in, its :class:`~curation.scan.UnitResult` out (cuts, motion, keyframes from a
single decode), run in an isolated child process under the per-video time limit."""
from __future__ import annotations

import json
import pickle
import time

from curation.config import AnnotateConfig
from curation.detectors import TransNetV2Model, needs_transnetv2
from curation.isolation import IsolatedWorker
from curation.scan import UnitResult, WorkUnit, scan_unit
from curation.stages.base import Batch, Stage
from curation.stages.probe import OPEN_END
from curation.video import VideoError

_MODEL: TransNetV2Model | None = None


def scan_in_child(unit: WorkUnit, config: AnnotateConfig, timeout_s: float) -> UnitResult:
    """Runs in the child process; the TransNetV2 model loads once per child."""
    global _MODEL
    model = None
    if needs_transnetv2(config.cuts):
        if _MODEL is None:
            _MODEL = TransNetV2Model("cpu")
        model = _MODEL
    return scan_unit(unit, config, model, deadline=time.monotonic() + timeout_s)


class ScanStage(Stage):
    name = "scan"

    def __init__(self, config: AnnotateConfig):
        super().__init__(config.ray.scan)
        self._config = config
        self._worker = IsolatedWorker()

    def __call__(self, batch: Batch) -> Batch:
        results = []
        timeout = self._config.decode.timeout_s
        for i in range(len(batch["video_id"])):
            video_id = str(batch["video_id"][i])
            unit_index, n_units = int(batch["unit_index"][i]), int(batch["n_units"][i])
            if batch["error_kind"][i]:
                results.append(b"")
                continue
            info = json.loads(batch["info_json"][i])
            end = batch["end_s"][i]
            unit = WorkUnit(video_id, str(batch["path"][i]), unit_index, n_units, float(batch["start_s"][i]),
                            None if float(end) == OPEN_END else float(end), info["width"], info["height"],
                            info["fps"])
            try:
                # The child stops itself at the deadline; the parent's limit adds a margin for start-up.
                result = self._worker.call(scan_in_child, (unit, self._config, timeout), timeout + 30)
            except VideoError as exc:
                result = UnitResult(video_id, unit_index, n_units, error_kind=exc.kind, error=exc.message)
            # Our own dataclass, produced and consumed inside this job.
            results.append(pickle.dumps(result, protocol=5))
        return {**{k: list(v) for k, v in batch.items()}, "result": results}

    def close(self) -> None:
        self._worker.close()
