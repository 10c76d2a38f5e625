"""What the model stages share: the clip rows they read, per-clip failures as data, batching.

A model-stage batch has one row per clip: ``clip_id``, the three keyframes as JPEG bytes (``jpeg_first``,
``jpeg_middle``, ``jpeg_last``; empty when missing), ``text`` (an existing caption, or ""), and
``need_<stage>`` flags (a rerun computes only what is missing). Each stage adds its columns and
``<stage>_error`` ("" when fine); a row it does not need to compute gets NaN / "" and is not stored.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from curation.config import AnnotateConfig, StageResources
from curation.stages.base import Batch, Stage

log = logging.getLogger(__name__)

POSITIONS = ("first", "middle", "last")
INPUT_COLUMNS = ("clip_id", "jpeg_first", "jpeg_middle", "jpeg_last", "text", "caption")
# A failure of the model on some input (bad image, out of memory, numerical trouble) is a per-clip error;
# anything else (TypeError, AttributeError, ...) is a bug and stops the job.
ROW_ERRORS = (RuntimeError, ValueError, OSError, cv2.error)


class ClipFailure(Exception):
    """One clip cannot be processed (e.g. a missing or undecodable keyframe)."""


def decode_rgb(jpeg: bytes, what: str) -> np.ndarray:
    if not jpeg:
        raise ClipFailure(f"missing {what} keyframe")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ClipFailure(f"undecodable {what} keyframe")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_guarded(fn: Callable[[list[Any]], list[dict]], items: list[Any]) -> list[dict | str]:
    """``fn`` on the whole batch; when the model fails on it, again one item at a time, so one bad clip costs
    only its own row. Returns a result dict, or the error text, per item."""
    if not items:
        return []
    try:
        return list(fn(items))
    except ROW_ERRORS as exc:
        if len(items) == 1:
            return [f"{type(exc).__name__}: {exc}"]
        log.warning("batch of %d failed (%s); retrying one by one", len(items), exc)
        return [run_guarded(fn, [item])[0] for item in items]


class ModelStage(Stage):
    """Subclasses set ``name`` and ``columns`` ({column: missing value}), load their model in ``__init__``
    and implement ``prepare(row) -> item`` (may raise ClipFailure) and ``compute(items) -> [dict]``."""

    columns: dict[str, Any] = {}

    def __init__(self, config: AnnotateConfig, resources: StageResources, gpu_fraction: float = 0.0):
        super().__init__(resources)
        self.config = config
        if gpu_fraction > 0:
            import torch

            if torch.cuda.is_available():
                # The share of the GPU Ray granted this worker is all its allocator may take.
                torch.cuda.set_per_process_memory_fraction(min(1.0, gpu_fraction))

    def prepare(self, row: dict) -> Any:
        raise NotImplementedError

    def compute(self, items: list[Any]) -> list[dict]:
        raise NotImplementedError

    def __call__(self, batch: Batch) -> Batch:
        n = len(batch["clip_id"])
        need = batch.get(f"need_{self.name}", np.ones(n, bool))
        out: dict[str, list] = {c: [v] * n for c, v in self.columns.items()}
        errors = [""] * n
        todo, items = [], []
        for i in range(n):
            if not need[i]:
                continue
            row = {c: batch[c][i] for c in INPUT_COLUMNS if c in batch}
            try:
                items.append(self.prepare(row))
                todo.append(i)
            except ClipFailure as exc:
                errors[i] = str(exc)
        for i, result in zip(todo, run_guarded(self.compute, items)):
            if isinstance(result, str):
                errors[i] = result
            else:
                for column, value in result.items():
                    out[column][i] = value
        result_batch = {k: v for k, v in batch.items()}
        for column, values in out.items():
            result_batch[column] = _column(values, self.columns[column])
        result_batch[f"{self.name}_error"] = np.array(errors, dtype=object)
        return result_batch


def _column(values: Sequence[Any], missing: Any) -> np.ndarray:
    if isinstance(missing, float):
        return np.asarray(values, dtype=np.float64)
    if isinstance(missing, int) and not isinstance(missing, bool):
        return np.asarray(values, dtype=np.int64)
    return np.array(values, dtype=object)
