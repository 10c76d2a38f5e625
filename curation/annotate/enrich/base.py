"""What the model stages share: records in and out, per-clip failures as data, batching.

In the annotate graph a model stage gets a batch of records (:mod:`curation.annotate.records`: a video's rows
and keyframes, or a committed part's) and fills its columns on every clip row it has not computed yet (its
``<stage>_model`` column is null), leaving every other row as it is. Inside, a stage works on clip batches: one
row per clip with ``clip_id``, the three keyframes as JPEG bytes (``jpeg_first``, ``jpeg_middle``,
``jpeg_last``; empty when missing), ``text`` (the clip's caption, or "") and the table columns a stage names in
``extra_columns`` (e.g. ``caption`` and ``video_caption``, None where absent); ``annotate_clips`` gives the
stage's columns (named once, in :mod:`curation.annotate.enrich.registry`) and ``<stage>_error``, one table value
per clip: None where there is no value (the clip failed, or e.g. a similarity without text), an error None when
fine. A failure on one clip is that clip's ``<stage>_error`` (and its row's ``error_kind`` ``<stage>_failed``
when it had no error), never a lost batch.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.annotate.config import AnnotateConfig
from curation.annotate.enrich.registry import BY_NAME
from curation.annotate.records import flat, with_rows
from curation.runtime.stage import Batch, Stage, StageResources
from curation.schema import ROW_CLIP, STAGE_COLUMNS

log = logging.getLogger(__name__)

POSITIONS = ("first", "middle", "last")
INPUT_COLUMNS = ("clip_id", "jpeg_first", "jpeg_middle", "jpeg_last", "text")
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
    """Subclasses set ``name`` (their entry in :mod:`curation.annotate.enrich.registry`, which also names their
    columns), load their model and set ``label`` / ``random_weights`` in ``__init__``, and implement
    ``prepare(row) -> item`` (may raise ClipFailure) and ``compute(items) -> [dict | ClipFailure]``: one dict per
    item with a value for each of the stage's columns (None where the value does not exist; NaN is taken as None,
    embedding bytes as float16 values), or a ClipFailure where the model gave nothing usable for that item (bad
    output). ``resources.batch_size`` clips go through ``compute`` at once. ``extra_columns``: table columns
    (of stages that run before) the rows carry besides INPUT_COLUMNS."""

    batch_format = "pyarrow"
    extra_columns: tuple[str, ...] = ()
    # What the generic runner passes in: the share of a GPU Ray granted each worker.
    runner_arguments = ("gpu_fraction",)

    def __init__(self, config: AnnotateConfig, resources: StageResources, gpu_fraction: float = 0.0):
        super().__init__(resources)
        self.config = config
        self.label, self.random_weights = "", False
        self.columns: tuple[str, ...] = tuple(name for name, _, _ in BY_NAME[self.name].columns)
        if gpu_fraction > 0:
            import torch

            if torch.cuda.is_available():
                # The share of the GPU Ray granted this worker is all its allocator may take.
                torch.cuda.set_per_process_memory_fraction(min(1.0, gpu_fraction))

    def prepare(self, row: dict) -> Any:
        raise NotImplementedError

    def compute(self, items: list[Any]) -> list[dict]:
        raise NotImplementedError

    def annotate_clips(self, batch: Batch) -> dict[str, list]:
        """The stage's columns and ``<stage>_error`` for a clip batch (every row is computed), as lists of table
        values: None where a clip failed (its error says why) or a value does not exist."""
        n = len(batch["clip_id"])
        out: dict[str, list] = {c: [None] * n for c in self.columns}
        errors: list[str | None] = [None] * n
        todo, items = [], []
        for i in range(n):
            row = {c: batch[c][i] for c in INPUT_COLUMNS + self.extra_columns if c in batch}
            try:
                items.append(self.prepare(row))
                todo.append(i)
            except ClipFailure as exc:
                errors[i] = str(exc)
        chunk = max(1, self.resources.batch_size)
        results = [r for s in range(0, len(items), chunk) for r in run_guarded(self.compute, items[s:s + chunk])]
        for i, result in zip(todo, results):
            if isinstance(result, (str, ClipFailure)):
                errors[i] = str(result)
            else:
                for column in self.columns:
                    out[column][i] = _value(result[column])  # a column the stage left out is a bug: KeyError
        out[f"{self.name}_error"] = errors
        return out

    def __call__(self, records: pa.Table) -> pa.Table:
        """Fill this stage's columns on the clips of ``records`` that lack them."""
        rows = flat(records, "rows")
        need = pc.and_(pc.equal(rows["row_kind"], ROW_CLIP), pc.is_null(rows[f"{self.name}_model"]))
        index = np.flatnonzero(need.to_numpy(zero_copy_only=False))
        if not len(index):
            return records
        keyframes = flat(records, "keyframes")
        images = {(c, p): j for c, p, j in zip(*(keyframes[k].to_pylist() for k in ("clip_id", "position", "jpeg")))}
        clip_ids = rows["clip_id"].take(index).to_pylist()
        captions = rows["caption"].take(index).to_pylist()
        batch = {"clip_id": clip_ids, "text": [c or "" for c in captions],
                 **{f"jpeg_{p}": [images.get((c, p), b"") for c in clip_ids] for p in POSITIONS},
                 **{c: rows[c].take(index).to_pylist() for c in self.extra_columns}}
        out = self.annotate_clips(batch)
        columns = {name: rows[name].to_pylist() for name, _, _ in STAGE_COLUMNS[self.name]}
        error_kind, error = rows["error_kind"].to_pylist(), rows["error"].to_pylist()
        failed = np.zeros(rows.num_rows, bool)
        for j, i in enumerate(index):
            message = out[f"{self.name}_error"][j]
            columns[f"{self.name}_model"][i] = self.label
            columns[f"{self.name}_random_weights"][i] = self.random_weights
            columns[f"{self.name}_error"][i] = message
            for column in self.columns:
                columns[column][i] = out[column][j]
            if message:
                failed[i] = True
                if error_kind[i] is None:
                    error_kind[i], error[i] = f"{self.name}_failed", f"{self.name}: {message}"
        for name, values in {**columns, "error_kind": error_kind, "error": error}.items():
            rows = rows.set_column(rows.schema.get_field_index(name), rows.schema.field(name),
                                   pa.array(values, rows.schema.field(name).type))
        # Per record: how many clips this stage computed here, and how many of those failed.
        lengths = pc.list_value_length(records.column("rows").combine_chunks()).fill_null(0).to_numpy()
        owner = np.repeat(np.arange(records.num_rows), lengths)
        computed = np.bincount(owner[index], minlength=records.num_rows)
        failures = np.bincount(owner[failed], minlength=records.num_rows)
        records = with_rows(records, rows)
        for kind, counts in (("computed", computed), ("failed", failures)):
            name = f"{kind}_{self.name}"
            total = pc.add(records[name], pa.array(counts, pa.int32()))
            records = records.set_column(records.schema.get_field_index(name), name, total.cast(pa.int32()))
        return records


def _value(value: Any) -> Any:
    """A computed value as its table value: NaN and empty bytes are null, embedding bytes float16 lists."""
    if isinstance(value, (bytes, bytearray)):
        return np.frombuffer(value, np.float16).tolist() if value else None
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
