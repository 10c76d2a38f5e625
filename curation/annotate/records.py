"""The typed record that crosses processes in the annotate graph: one Arrow row per video (or per committed part
being completed by a rerun), holding its clip-table rows and keyframe images as nested lists.

A record row is never split by Ray Data, so a video's rows stay together from the scan to the commit. Values are
Arrow values with real nulls (the table schema of :mod:`curation.annotate.table`); a scan child hands its record to its
worker as Arrow IPC bytes, never as a pickle.
"""
from __future__ import annotations

import pyarrow as pa

from curation.annotate.table import STAGE_COLUMNS, TABLE_COLUMNS, TABLE_SCHEMA
from curation.contract.schema import KEYFRAME_SCHEMA, ROW_STATUS

ROW_TYPE = pa.struct(list(TABLE_SCHEMA))
KEYFRAME_TYPE = pa.struct(list(KEYFRAME_SCHEMA))
# video_id: the video of a new record (null for a part record); part: the committed part a record rewrites (null
# for a new video); computed_/failed_<stage> (COUNTERS): clips the stage computed in this job, and how many of them
# failed; internal_errors: the traceback of each internal error met by this record's inputs in this job (the video,
# a clip), carried to the driver, which writes them to the job's log (a Ray worker's own output stays on its node).
COUNTERS = ("computed", "failed")
RECORD_SCHEMA = pa.schema(
    [pa.field("video_id", pa.string()), pa.field("part", pa.string()),
     pa.field("rows", pa.list_(ROW_TYPE)), pa.field("keyframes", pa.list_(KEYFRAME_TYPE)),
     pa.field("internal_errors", pa.list_(pa.string()))]
    + [pa.field(f"{kind}_{stage}", pa.int32()) for stage in STAGE_COLUMNS for kind in COUNTERS])


def empty_row(video_id: str, path: str, row_kind: str = ROW_STATUS) -> dict:
    """A row of the clip table with every column null except the video and the row kind."""
    row = dict.fromkeys((name for name, _, _ in TABLE_COLUMNS))
    row.update(video_id=video_id, video_path=path, row_kind=row_kind)
    return row


def make_record(rows: list[dict], keyframes: list[dict], video_id: str | None = None,
                part: str | None = None, internal_errors: list[str] | None = None) -> pa.Table:
    """One record row from table rows (dicts; missing columns are null) and keyframe rows; ``internal_errors``:
    tracebacks of internal errors met by its inputs (default none)."""
    counters = {f"{kind}_{stage}": [0] for stage in STAGE_COLUMNS for kind in COUNTERS}
    return pa.Table.from_pydict(
        {"video_id": [video_id], "part": [part], "rows": [rows], "keyframes": [keyframes],
         "internal_errors": [internal_errors or []], **counters}, schema=RECORD_SCHEMA)


def part_record(part: str, rows: pa.Table, keyframes: pa.Table) -> pa.Table:
    """The record of a committed part (its whole annotation and keyframe tables) for a rerun to complete."""
    rows = rows.cast(TABLE_SCHEMA)
    record = make_record([], [], part=part)
    return record.set_column(2, "rows", pa.chunked_array([_one_list(rows.to_struct_array(), ROW_TYPE)])) \
                 .set_column(3, "keyframes", pa.chunked_array([_one_list(
                     keyframes.cast(KEYFRAME_SCHEMA).to_struct_array(), KEYFRAME_TYPE)]))


def _one_list(values: pa.ChunkedArray, item_type: pa.DataType) -> pa.ListArray:
    values = values.combine_chunks() if values.num_chunks else pa.array([], item_type)
    return pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values, type=pa.list_(item_type))


def to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
