"""Shard stage: shard specs in (a file name and its clip rows, typed Arrow), the written shards' records out."""
from __future__ import annotations

import pyarrow as pa

from curation.curate.config import ShardConfig
from curation.core import storage
from curation.core.storage import StorageOptions
from curation.curate.shards import write_shard
from curation.runtime.stage import Stage

RECORD_SCHEMA = pa.schema([("name", pa.string()), ("samples", pa.int64()), ("bytes", pa.int64()),
                           ("failed", pa.list_(pa.struct([("clip_id", pa.string()), ("error", pa.string())]))),
                           ("reused", pa.bool_())])


class ShardStage(Stage):
    """Input rows: ``name`` (the tar's file name) and ``rows`` (list of the kept clips' rows)."""

    name = "shard"
    batch_format = "pyarrow"

    def __init__(self, config: ShardConfig, directory: str, storage_options: StorageOptions | None = None):
        """``directory``: the shard folder, a local path or an object-store URI. ``storage_options``: the job's
        ``storage:`` section, applied in this worker process (default None: leave the process's options)."""
        super().__init__(config.workers)
        if storage_options is not None:
            storage.configure(storage_options)
        self._config = config
        self._directory = str(directory)

    def __call__(self, batch: pa.Table) -> pa.Table:
        records = []
        for i in range(batch.num_rows):
            name = batch["name"][i].as_py()
            rows = pa.Table.from_struct_array(batch["rows"][i].values).to_pylist()
            record = write_shard(storage.join(self._directory, name), rows, self._config)
            records.append({**record, "reused": False})
        return pa.Table.from_pylist(records, schema=RECORD_SCHEMA)
