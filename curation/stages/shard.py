"""Shard stage: one shard spec in (its file name and its clips as JSON), the written shard's record out."""
from __future__ import annotations

import json
from pathlib import Path

from curation.config import ShardConfig
from curation.shards import write_shard
from curation.stages.base import Batch, Stage


class ShardStage(Stage):
    name = "shard"

    def __init__(self, config: ShardConfig, directory: str):
        super().__init__(config.workers)
        self._config = config
        self._directory = Path(directory)

    def __call__(self, batch: Batch) -> Batch:
        records = []
        for name, rows_json in zip(batch["name"], batch["rows"]):
            record = write_shard(self._directory / str(name), json.loads(rows_json), self._config)
            records.append(json.dumps(record))
        return {"record": records}
