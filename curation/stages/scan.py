"""Scan stage: one work unit in, its :class:`~curation.scan.UnitResult` out (cuts, motion, keyframes from a
single decode), run in an isolated child process under the per-video time limit.

The worker itself stays light: decoding, detectors and torch are imported only in its child, which starts (and
loads TransNetV2 when the detector needs it) when the worker is created and serves every unit after that.
The result travels as pickled bytes, so the worker never unpickles a ``UnitResult``.
"""
from __future__ import annotations

import json
import pickle
import time

from curation.config import AnnotateConfig
from curation.isolation import IsolatedWorker
from curation.stages.base import Batch, Stage
from curation.stages.probe import OPEN_END
from curation.video.errors import VideoError

_MODEL = None


def _transnetv2(config: AnnotateConfig):
    """Runs in the child: the TransNetV2 model (loaded once per child) when the detector needs it."""
    global _MODEL
    from curation.detectors import TransNetV2Model, needs_transnetv2

    if not needs_transnetv2(config.cuts):
        return None
    if _MODEL is None:
        import torch

        # A scan worker given a GPU (annotate.ray.scan.num_gpus) sees it; Ray hides GPUs from the others.
        _MODEL = TransNetV2Model("cuda" if torch.cuda.is_available() else "cpu")
    return _MODEL


def warm_child(config: AnnotateConfig) -> None:
    """Runs in a new child before its first unit: imports the scan and loads the model."""
    import curation.scan  # noqa: F401

    _transnetv2(config)


def scan_in_child(unit: tuple, config: AnnotateConfig, timeout_s: float) -> bytes:
    """Runs in the child: ``unit`` holds the fields of a :class:`~curation.scan.WorkUnit`; returns the pickled
    :class:`~curation.scan.UnitResult`."""
    from curation.scan import WorkUnit, scan_unit

    result = scan_unit(WorkUnit(*unit), config, _transnetv2(config), deadline=time.monotonic() + timeout_s)
    # Our own dataclass, produced and consumed inside this job.
    return pickle.dumps(result, protocol=5)


def unit_error(video_id: str, unit_index: int, n_units: int, kind: str, message: str):
    """The ``UnitResult`` of a unit that failed in the worker (timeout, crashed child); called on unpickling."""
    from curation.scan import UnitResult

    return UnitResult(video_id, unit_index, n_units, error_kind=kind, error=message)


class _UnitError:
    """Pickles as ``unit_error(...)``, so the worker needs no ``curation.scan`` (and no torch) to report one."""

    def __init__(self, *args):
        self.args = args

    def __reduce__(self):
        return unit_error, self.args


class ScanStage(Stage):
    name = "scan"

    def __init__(self, config: AnnotateConfig):
        super().__init__(config.ray.scan)
        self._config = config
        self._worker = IsolatedWorker(warmup=(warm_child, (config,)))
        self._worker.start()

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
            unit = (video_id, str(batch["path"][i]), unit_index, n_units, float(batch["start_s"][i]),
                    None if float(end) == OPEN_END else float(end), info["width"], info["height"], info["fps"])
            try:
                # The child stops itself at the deadline and returns what it has; the parent's limit adds a
                # margin for that (start-up and warm-up are not counted).
                result = self._worker.call(scan_in_child, (unit, self._config, timeout), timeout + 30)
            except VideoError as exc:
                result = pickle.dumps(_UnitError(video_id, unit_index, n_units, exc.kind, exc.message), protocol=5)
            results.append(result)
        return {**{k: list(v) for k, v in batch.items()}, "result": results}

    def close(self) -> None:
        self._worker.close()
