"""The last stage of the annotate graph: records in, committed parts out, small completion records back.

New videos are committed together, one part per call (``annotate.output.commit_videos`` records); a record of
a committed part (a rerun adding a model stage) replaces that part whole, under its name. The driver gets only
what it needs for progress and the summary, never rows or images.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curation.core import storage
from curation.annotate.nested import flat
from curation.annotate.records import COUNTERS
from curation.annotate.store import AnnotateOutput, part_name
from curation.annotate.table import STAGE_COLUMNS
from curation.contract.schema import ROW_CLIP, ROW_SHOT, ROW_TRANSITION

COMPLETION_SCHEMA = pa.schema(
    [("key", pa.string()), ("part", pa.string()), ("new_video", pa.bool_()), ("clips", pa.int32()),
     ("video_seconds", pa.float64()), ("warned", pa.bool_()), ("error_kinds", pa.list_(pa.string())),
     # the rows that never became a clip: their kind, skip reason and duration (see curation.contract.footage.footage_lost)
     ("lost_kinds", pa.list_(pa.string())), ("lost_reasons", pa.list_(pa.string())),
     ("lost_seconds", pa.list_(pa.float64())),
     # the reports (tracebacks) of internal errors met by this record's inputs in this job, for the job's log
     ("internal_errors", pa.list_(pa.string()))]
    + [(f"{kind}_{stage}", pa.int32()) for stage in STAGE_COLUMNS for kind in COUNTERS])


class CommitStage:
    batch_format = "pyarrow"

    def __init__(self, output: str, options: storage.StorageOptions):
        storage.configure(options)
        self._output = AnnotateOutput(output)

    def __call__(self, records: pa.Table) -> pa.Table:
        is_new = pc.is_null(records["part"])
        new, old = records.filter(is_new), records.filter(pc.invert(is_new))
        out = []
        if new.num_rows:
            part = part_name(new["video_id"].to_pylist())
            self._output.write_part(part, flat(new, "rows"), flat(new, "keyframes"))
            out += [_completion(record, part, True) for record in new.to_batches(max_chunksize=1) if record.num_rows]
        for record in old.to_batches(max_chunksize=1):
            if record.num_rows:
                part = record["part"][0].as_py()
                self._output.write_part(part, flat(pa.Table.from_batches([record]), "rows"), None)
                out.append(_completion(record, part, False))
        return pa.Table.from_pylist(out, schema=COMPLETION_SCHEMA)


def _completion(record: pa.RecordBatch, part: str, new_video: bool) -> dict:
    rows = flat(pa.Table.from_batches([record]), "rows")
    kinds = rows["row_kind"].to_pylist()
    lost = [i for i, k in enumerate(kinds) if k in (ROW_SHOT, ROW_TRANSITION)]
    reasons, seconds = rows["skip_reason"].to_pylist(), rows["duration_s"].to_pylist()
    counters = {name: record[name][0].as_py() for name in COMPLETION_SCHEMA.names if name in record.schema.names
                and name.split("_", 1)[0] in COUNTERS}
    return {"key": record["video_id"][0].as_py() or part, "part": part, "new_video": new_video,
            "clips": kinds.count(ROW_CLIP), "video_seconds": rows["video_duration_s"][0].as_py() or 0.0,
            "warned": rows["warning"][0].as_py() is not None,
            "error_kinds": [k for k in rows["error_kind"].to_pylist() if k is not None],
            "lost_kinds": [kinds[i] for i in lost], "lost_reasons": [reasons[i] for i in lost],
            "lost_seconds": [seconds[i] for i in lost],
            "internal_errors": record["internal_errors"][0].as_py() or [], **counters}
