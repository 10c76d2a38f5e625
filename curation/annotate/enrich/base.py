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
when it had no error), never a lost batch. An unexpected exception met by one clip's input (a bug, not a model
failure) is that clip's too: its row's ``error_kind`` is ``internal_error``, its traceback goes to the job's
log, and the stage's ``internal_<stage>`` counter tells the summary.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.annotate.nested import flat, with_rows
from curation.core.errors import INTERNAL_ERROR, internal_report
from curation.core.faults import inject
from curation.runtime.stage import Batch, Stage, StageResources
from curation.contract.schema import ROW_CLIP, model_columns

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig


log = logging.getLogger(__name__)

POSITIONS = ("first", "middle", "last")
INPUT_COLUMNS = ("clip_id", "jpeg_first", "jpeg_middle", "jpeg_last", "text")
# The key of annotate_clips' output holding each clip's internal-error report (not a table column).
INTERNAL_REPORTS = "internal_reports"
# A failure of the model on some input (bad image, out of memory, numerical trouble) is a per-clip error;
# anything else (TypeError, AttributeError, ...) is a bug: met by one clip alone, it is that clip's internal
# error (InternalFailure).
ROW_ERRORS = (RuntimeError, ValueError, OSError, cv2.error)


class ClipFailure(Exception):
    """One clip cannot be processed (e.g. a missing or undecodable keyframe)."""


class InternalFailure(ClipFailure):
    """An unexpected exception (a bug) met by one clip's input alone; ``report`` holds its traceback for the
    job's log (:func:`~curation.core.errors.internal_report`)."""

    def __init__(self, message: str, report: str):
        super().__init__(message)
        self.report = report


def _internal(what: str, exc: Exception) -> InternalFailure:
    """The InternalFailure of ``exc``, being handled now, met while handling ``what``."""
    return InternalFailure(f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}",
                           internal_report(what, traceback.format_exc()))


def decode_rgb(jpeg: bytes, what: str) -> np.ndarray:
    if not jpeg:
        raise ClipFailure(f"missing {what} keyframe")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ClipFailure(f"undecodable {what} keyframe")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_guarded(fn: Callable[[list[Any]], list[dict]], items: list[Any],
                names: list[str] | None = None) -> list[dict | str | ClipFailure]:
    """``fn`` on the whole batch; when it fails, again one item at a time, so one bad clip costs only its own
    row. Returns per item a result dict, the error text of a model failure (:data:`ROW_ERRORS`), or an
    :class:`InternalFailure` for any other exception met by that item alone (its report names the item by
    ``names``, one per item; default "an item")."""
    if not items:
        return []
    names = names or ["an item"] * len(items)
    try:
        return list(fn(items))
    except Exception as exc:  # noqa: BLE001 - per item below: a model failure or an internal error
        if len(items) == 1:
            return [f"{type(exc).__name__}: {exc}" if isinstance(exc, ROW_ERRORS) else _internal(names[0], exc)]
        log.warning("batch of %d failed (%s: %s); retrying one by one", len(items), type(exc).__name__, exc)
        return [run_guarded(fn, [item], [name])[0] for item, name in zip(items, names)]


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
    # The stage's declaration (curation.annotate.enrich.stage.EnrichStage, the STAGE of its file); its name is
    # the stage's name.
    declaration: Any = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.declaration is not None:
            cls.name = cls.declaration.name
    # What the generic runner passes in: the share of a GPU Ray granted each worker.
    runner_arguments = ("gpu_fraction",)

    def __init__(self, config: AnnotateConfig, resources: StageResources, gpu_fraction: float = 0.0):
        super().__init__(resources)
        self.config = config
        self.label, self.random_weights = "", False
        self.columns: tuple[str, ...] = tuple(name for name, _, _ in self.declaration.columns)
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
        values: None where a clip failed (its error says why) or a value does not exist; and under
        :data:`INTERNAL_REPORTS` the report of each clip's internal error (None where it had none)."""
        n = len(batch["clip_id"])
        out: dict[str, list] = {c: [None] * n for c in self.columns}
        errors: list[str | None] = [None] * n
        reports: list[str | None] = [None] * n
        todo, items = [], []
        for i in range(n):
            row = {c: batch[c][i] for c in INPUT_COLUMNS + self.extra_columns if c in batch}
            try:
                inject("clip", str(row.get("clip_id")))
                items.append(self.prepare(row))
                todo.append(i)
            except ClipFailure as exc:
                errors[i] = str(exc)
            except Exception as exc:  # noqa: BLE001 - this clip's internal error, reported with its traceback
                failure = _internal(f"clip {row.get('clip_id')} in stage {self.name}", exc)
                errors[i], reports[i] = str(failure), failure.report
        chunk = max(1, self.resources.batch_size)
        names = [f"clip {batch['clip_id'][i]} in stage {self.name}" for i in todo]
        results = [r for s in range(0, len(items), chunk)
                   for r in run_guarded(self.compute, items[s:s + chunk], names[s:s + chunk])]
        for i, result in zip(todo, results):
            if isinstance(result, InternalFailure):
                errors[i], reports[i] = str(result), result.report
            elif isinstance(result, (str, ClipFailure)):
                errors[i] = str(result)
            else:
                for column in self.columns:
                    out[column][i] = _value(result[column])  # a column the stage left out is a bug: KeyError
        out[f"{self.name}_error"] = errors
        out[INTERNAL_REPORTS] = reports
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
        reports = out.pop(INTERNAL_REPORTS)
        columns = {name: rows[name].to_pylist() for name in self.columns
                   + tuple(name for name, _, _ in model_columns(self.name))}
        error_kind, error = rows["error_kind"].to_pylist(), rows["error"].to_pylist()
        failed = np.zeros(rows.num_rows, bool)
        internal = np.zeros(rows.num_rows, bool)
        for j, i in enumerate(index):
            message = out[f"{self.name}_error"][j]
            columns[f"{self.name}_model"][i] = self.label
            columns[f"{self.name}_random_weights"][i] = self.random_weights
            columns[f"{self.name}_error"][i] = message
            for column in self.columns:
                columns[column][i] = out[column][j]
            if message:
                failed[i] = True
                internal[i] = reports[j] is not None
                if internal[i] and error_kind[i] in (None, f"{self.name}_failed"):
                    # An internal error outranks a model failure: the summary and the exit status look for it.
                    error_kind[i], error[i] = INTERNAL_ERROR, f"{self.name}: {message}"
                elif error_kind[i] is None:
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
        if internal.any():
            # Each record carries its inputs' internal-error reports to the driver (the job's log).
            new = records["internal_errors"].to_pylist()
            for j, i in enumerate(index):
                if reports[j] is not None:
                    new[owner[i]] = [*(new[owner[i]] or []), reports[j]]
            records = records.set_column(records.schema.get_field_index("internal_errors"), "internal_errors",
                                         pa.array(new, pa.list_(pa.string())))
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
