"""``curate shard``: the kept clips of a filter output as WebDataset tar shards, with an index.

The filter output, the clips' source videos and the shard folder may be local paths or object-store URIs
(:mod:`curation.core.storage`). Every shard, the index and the bucket mapping are written as complete objects; the
index is written last."""
from __future__ import annotations

import itertools
import json
import tarfile
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from curation.core import storage
from curation.core.section import JobSections
from curation.core.storage import StorageOptions
from curation.curate.config import ShardConfig
from curation.core.errors import ConfigError
from curation.core.lease import Lease
from curation.runtime.ray_runner import StageSpec, run_graph
from curation.curate.filter_job import BUCKETS_FILE, CLIPS_FILE, absolute, is_file
from curation.core.layout import INDEX_FILE, SHARD_NAME



def _keys_in(uri: str) -> set[str]:
    """Sample keys of the tar at ``uri`` (its headers; the reader seeks past the members' data)."""
    with storage.open_input(uri) as fh, tarfile.open(fileobj=fh) as tar:
        return {m.name.rsplit(".", 1)[0] for m in tar.getmembers() if m.name.endswith(".json")}


def _shard_stream(specs: pa.Table, config: ShardJob, directory: str):
    """Write shards (rows of ``specs``: name, rows) on Ray, one per call; yields each shard's record as it is
    written."""
    from curation.curate.shard_stage import ShardStage

    stage = StageSpec("shard", ShardStage,
                      {"config": config.shard, "directory": directory, "storage_options": config.storage},
                      config.shard.workers.model_copy(update={"batch_size": 1}), min_workers=1)
    for row in run_graph(specs, [stage], config.shard.ray.address, config.shard.ray.num_cpus):
        yield row


@dataclass(frozen=True)
class ShardJob(JobSections):
    """The sections ``curate shard`` reads: ``shard`` (its cluster: ``shard.ray``) and ``storage``."""

    shard: ShardConfig = field(default_factory=ShardConfig)
    storage: StorageOptions = field(default_factory=StorageOptions)


def run_shard(filtered: str, output: str, config: ShardJob, progress: bool = True) -> dict:
    """Write every shard not yet present into ``output``; returns the index ({shards, samples, failed})."""
    started = time.monotonic()
    storage.configure(config.storage)
    clips_file = storage.join(str(filtered), CLIPS_FILE)
    if not is_file(clips_file):
        raise ConfigError(f"{filtered}: not a filter output (no {CLIPS_FILE})")
    table = storage.read_parquet(clips_file)
    kept = table.filter(pc.field("keep")).sort_by([("video_id", "ascending"), ("clip_index", "ascending")])
    kept = kept.drop_columns([c for c in ("image_embedding", "drop_reasons") if c in kept.column_names])
    dest = str(output)
    # One writer per shard folder: a second job is refused at once (it would also delete this one's temporary
    # files below); a crashed job's rerun takes over and reuses its finished shards.
    with Lease(dest, "curate shard") as lease:
        return _shard(kept, dest, str(filtered), config, progress, started, lease)


def _shard(kept: pa.Table, dest: str, filtered: str, config: ShardJob, progress: bool, started: float,
           lease: Lease) -> dict:
    clip_ids = kept["clip_id"].to_pylist()
    per = config.shard.samples_per_shard
    storage.makedirs(dest)
    if not storage.is_remote(dest):
        # Temporary files of a killed local run (object stores have none: uploads are visible only when done).
        for tmp in storage.list_files(dest, ".tmp", include_hidden=True):
            if storage.name(tmp).startswith("."):
                storage.delete(tmp)
    existing = set(storage.list_files(dest, ".tar"))
    names, slices, records = [], [], {}
    for i in range(0, len(clip_ids), per):
        name = SHARD_NAME.format(i // per)
        uri = storage.join(dest, name)
        members = set(clip_ids[i:i + per])
        # A shard from an earlier run is kept only if it holds exactly these clips (the same filter output).
        if uri in existing and _keys_in(uri) == members:
            records[name] = {"name": name, "samples": len(members), "bytes": storage.size(uri),
                             "failed": [], "reused": True}
        else:
            names.append(name)
            slices.append(kept.slice(i, per))
    # Typed specs (a list of clip-row structs per shard): the workers get the rows as they are in clips.parquet.
    specs = None
    if names:
        offsets = pa.array([0, *itertools.accumulate(s.num_rows for s in slices)], pa.int32())
        values = pa.concat_arrays([s.to_struct_array().combine_chunks() for s in slices])
        specs = pa.table({"name": pa.array(names, pa.string()), "rows": pa.ListArray.from_arrays(offsets, values)})
    for record in _shard_stream(specs, config, dest) if names else []:
        records[record["name"]] = record
        if progress:
            print(f"[shard] {record['name']}: {record['samples']} samples, {record['bytes'] / 2**20:.1f} MiB",
                  flush=True)
    shards = [records[k] for k in sorted(records)]
    index = {"shards": [{k: r[k] for k in ("name", "samples", "bytes")} for r in shards],
             "samples": sum(r["samples"] for r in shards), "kept_clips": len(clip_ids),
             "failed": [f for r in shards for f in r["failed"]],
             "pattern": f"{absolute(dest)}/shard-{{000000..{max(0, len(shards) - 1):06d}}}.tar",
             "wall_s": round(time.monotonic() - started, 2)}
    # The bucket mapping travels with the shards so finetuned models (and generation) use the same one.
    buckets = storage.join(filtered, BUCKETS_FILE)
    if is_file(buckets):
        storage.write_bytes(storage.join(dest, BUCKETS_FILE), storage.read_bytes(buckets))
    lease.check()  # the index last: it marks the shards complete
    storage.write_text(storage.join(dest, INDEX_FILE), json.dumps(index, indent=1))
    return index
