"""``curate shard``: the kept clips of a filter output as WebDataset tar shards, with an index."""
from __future__ import annotations

import json
import shutil
import tarfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import atomic_write
from curation.config import Config, ConfigError
from curation.runtime.ray_runner import StageSpec, run_graph
from pipelines.filter import CLIPS_FILE

INDEX_FILE = "index.json"


def _keys_in(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return {m.name.rsplit(".", 1)[0] for m in tar.getmembers() if m.name.endswith(".json")}


def _shard_stream(specs: list[dict], config: Config, directory: str):
    """Write shards ({name, rows}) on Ray, one per call; yields each shard's record as it is written."""
    from dataclasses import replace

    from curation.stages.shard import ShardStage

    stage = StageSpec("shard", ShardStage, {"config": config.shard, "directory": directory},
                      replace(config.shard.workers, batch_size=1), min_workers=1)
    for row in run_graph(specs, [stage], config.annotate.ray.address, config.annotate.ray.num_cpus):
        yield json.loads(row["record"])


def run_shard(filtered: str, output: str, config: Config, progress: bool = True) -> dict:
    """Write every shard not yet present; returns the index ({shards, samples, failed})."""
    started = time.monotonic()
    clips_file = Path(filtered) / CLIPS_FILE
    if not clips_file.is_file():
        raise ConfigError(f"{filtered}: not a filter output (no {CLIPS_FILE})")
    table = pq.read_table(clips_file)
    kept = table.filter(pc.field("keep")).sort_by([("video_id", "ascending"), ("clip_index", "ascending")])
    rows = kept.drop_columns([c for c in ("clip_embedding", "drop_reasons") if c in kept.column_names]).to_pylist()
    per = config.shard.samples_per_shard
    dest = Path(output)
    dest.mkdir(parents=True, exist_ok=True)
    for tmp in dest.glob(".*.tmp"):
        tmp.unlink()
    specs, records = [], {}
    for i in range(0, len(rows), per):
        name = f"shard-{i // per:06d}.tar"
        members = {r["clip_id"] for r in rows[i:i + per]}
        # A shard from an earlier run is kept only if it holds exactly these clips (the same filter output).
        if (dest / name).is_file() and _keys_in(dest / name) == members:
            records[name] = {"name": name, "samples": len(members), "bytes": (dest / name).stat().st_size,
                             "failed": [], "reused": True}
        else:
            specs.append({"name": name, "rows": json.dumps(rows[i:i + per], default=str)})
    for record in _shard_stream(specs, config, str(dest)) if specs else []:
        records[record["name"]] = record
        if progress:
            print(f"[shard] {record['name']}: {record['samples']} samples, {record['bytes'] / 2**20:.1f} MiB",
                  flush=True)
    shards = [records[k] for k in sorted(records)]
    index = {"shards": [{k: r[k] for k in ("name", "samples", "bytes")} for r in shards],
             "samples": sum(r["samples"] for r in shards), "kept_clips": len(rows),
             "failed": [f for r in shards for f in r["failed"]],
             "pattern": f"{dest.resolve()}/shard-{{000000..{max(0, len(shards) - 1):06d}}}.tar",
             "wall_s": round(time.monotonic() - started, 2)}
    # The bucket mapping travels with the shards so finetuned models (and generation) use the same one.
    buckets = Path(filtered) / "motion_buckets.json"
    if buckets.is_file():
        shutil.copy(buckets, dest / buckets.name)
    atomic_write(dest / INDEX_FILE, lambda tmp: tmp.write_text(json.dumps(index, indent=1)))
    return index
