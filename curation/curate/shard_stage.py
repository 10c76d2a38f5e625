"""Shard stage: one shard spec in (its file name and its clips as JSON), the written shard's record out."""
from __future__ import annotations

import json

from curation.core import storage
from curation.config import ShardConfig
from curation.curate.shards import write_shard
from curation.runtime.stage import Batch, Stage
from curation.core.storage import StorageOptions


class ShardStage(Stage):
    name = "shard"

    def __init__(self, config: ShardConfig, directory: str, storage_options: StorageOptions | None = None):
        """``directory``: the shard folder, a local path or an object-store URI. ``storage_options``: the job's
        ``storage:`` section, applied in this worker process (default None: leave the process's options)."""
        super().__init__(config.workers)
        if storage_options is not None:
            storage.configure(storage_options)
        self._config = config
        self._directory = str(directory)

    def __call__(self, batch: Batch) -> Batch:
        records = []
        for name, rows_json in zip(batch["name"], batch["rows"]):
            record = write_shard(storage.join(self._directory, str(name)), json.loads(rows_json), self._config)
            records.append(json.dumps(record))
        return {"record": records}
