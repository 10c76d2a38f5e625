"""The annotate output: one clip table in Parquet parts, keyframe parts beside it, a job record; local or on an
object store (every access goes through :mod:`curation.core.storage`).

Layout of ``OUTPUT`` (names in this module only):

- ``annotations/part-*.parquet``: the clip table. Every part has every column (:data:`TABLE_SCHEMA`) and whole
  videos only, so ``OUTPUT/annotations/*.parquet`` read by DuckDB, polars or pandas is the whole table. A model
  stage's columns are null on clips it has not computed.
- ``keyframes/part-*.parquet``: the keyframe images of the annotation part of the same name.
- ``job.json``: per section (``scan`` and each model stage), the config that decided its results, and the
  table's schema version; a rerun with another config is refused, naming the key.
- ``_lease.json``: held by the one job writing the output (:mod:`curation.core.lease`).

Commits never rename (object stores cannot): a part is written as one complete object, the keyframe part before
its annotation part, and the annotation part is the commit. A keyframe part without its annotation part is an
orphan of a killed job and is removed by the next one. A rerun that adds a model stage rewrites each part whole
under the same name (one atomic object replacement), so a reader sees the old part or the new one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from curation.core import storage
from curation.core.errors import ConfigError
from curation.annotate.table import TABLE_SCHEMA
from curation.contract.output import AnnotationParts
from curation.contract.schema import KEYFRAME_SCHEMA, ROW_CLIP, SCHEMA_VERSION
from curation.core.layout import ANNOTATIONS, JOB_FILE, KEYFRAMES, PART_PREFIX, PART_SUFFIX



def part_name(video_ids: list[str]) -> str:
    """The name of the part holding exactly these videos. Derived from its content, so a commit that Ray
    retries (its worker's node died after the write but before it reported back) rewrites the same part
    instead of adding a second copy of its videos."""
    digest = hashlib.blake2b("\n".join(sorted(video_ids)).encode(), digest_size=10).hexdigest()
    return f"{PART_PREFIX}{digest}{PART_SUFFIX}"


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differences(old: dict, new: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Dotted keys whose values differ between two nested records, except those in ``ignore``."""
    a, b = _flatten(json.loads(json.dumps(old))), _flatten(json.loads(json.dumps(new)))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and k not in ignore)


@dataclass
class ResumeState:
    """done: video ids with rows in the output; incomplete: parts (sorted) with a clip some model stage has not
    computed; started: the model stages with results somewhere."""

    done: set[str] = field(default_factory=set)
    incomplete: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)


class AnnotateOutput(AnnotationParts):
    """One annotate output location (a local folder or an object-store prefix), to write: the read side is
    :class:`~curation.contract.output.AnnotationParts`."""

    def prepare(self, overwrite: bool) -> None:
        """Start a job here (the caller holds the lease): with ``overwrite`` remove every result; remove the
        orphan keyframe parts of a killed job."""
        if overwrite:
            for folder in (self.annotations, self.keyframes):
                storage.delete_dir(folder)
            storage.delete(storage.join(self.root, JOB_FILE))
        storage.makedirs(self.annotations)
        storage.makedirs(self.keyframes)
        committed = set(self.parts())
        for uri in storage.list_files(self.keyframes, PART_SUFFIX):
            if storage.name(uri) not in committed:
                storage.delete(uri)

    # -- job record --------------------------------------------------------------------------------------
    def job(self) -> dict:
        uri = storage.join(self.root, JOB_FILE)
        return json.loads(storage.read_text(uri)) if storage.exists(uri) else {}

    def check_section(self, section: str, record: dict, prefix: str, has_results: bool,
                      ignore: tuple[str, ...] = ()) -> None:
        """Refuse ``record`` when ``section`` has results (``has_results``) made with another config; record it
        otherwise. ``prefix`` is the config key the section's keys live under (for the message); ``ignore``:
        dotted keys recorded but not compared (settings that do not change results)."""
        job = self.job()
        version = job.get("schema_version")
        if has_results and version != SCHEMA_VERSION:
            raise ConfigError(f"{self.root} holds a clip table of schema version {version or '1-2'} (this version "
                              f"writes {SCHEMA_VERSION}); rerun with --overwrite or choose another --output")
        if section in job and has_results:
            changed = differences(job[section], record, ignore)
            if changed:
                k = changed[0]
                old, new = _flatten(job[section]).get(k), _flatten(json.loads(json.dumps(record))).get(k)
                raise ConfigError(
                    f"{self.root} holds {section} results made with another config ({prefix}.{k}: {old!r} then, "
                    f"{new!r} now{', and more' if len(changed) > 1 else ''}); rerun with --overwrite or "
                    "choose another --output")
            return
        job[section] = record
        job["schema_version"] = SCHEMA_VERSION
        storage.write_text(storage.join(self.root, JOB_FILE), json.dumps(job, indent=2, sort_keys=True))

    # -- results -----------------------------------------------------------------------------------------
    def read_columns(self, part: str, columns: list[str]) -> pa.Table:
        return storage.read_parquet(self.annotation_uri(part), columns=columns)

    def state(self, parts: list[str], stages: list[str], threads: int = 16) -> ResumeState:
        """What a rerun needs from the committed ``parts``, in one read of a few columns per part, ``threads``
        parts at a time (default 16: on an object store each part costs a few round trips, which overlap):
        the videos done, and for the model ``stages`` the parts holding a clip some stage has not computed (a
        rerun completes them) and the stages that have results somewhere."""
        from concurrent.futures import ThreadPoolExecutor

        columns = ["video_id", "row_kind"] + [f"{s}_model" for s in stages]
        state = ResumeState()
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for part, table in zip(parts, pool.map(lambda p: self.read_columns(p, columns), parts)):
                state.done.update(table.column("video_id").to_pylist())
                if not stages:
                    continue
                clips = table.filter(pc.equal(table["row_kind"], ROW_CLIP))
                state.started.update(s for s in stages if clips[f"{s}_model"].null_count < clips.num_rows)
                if any(clips[f"{s}_model"].null_count for s in stages):
                    state.incomplete.append(part)
        return state

    def write_part(self, part: str, rows: pa.Table, keyframes: pa.Table | None) -> None:
        """Commit one part: its keyframes (when given) first, then its rows, each one complete object."""
        if keyframes is not None:
            storage.write_parquet(keyframes.cast(KEYFRAME_SCHEMA), self.keyframe_uri(part), compression="zstd")
        storage.write_parquet(rows.cast(TABLE_SCHEMA), self.annotation_uri(part), compression="zstd")

    def read_part(self, part: str) -> tuple[pa.Table, pa.Table]:
        rows = storage.read_parquet(self.annotation_uri(part), schema=TABLE_SCHEMA)
        uri = self.keyframe_uri(part)
        keyframes = storage.read_parquet(uri, schema=KEYFRAME_SCHEMA) if storage.exists(uri) \
            else KEYFRAME_SCHEMA.empty_table()
        return rows, keyframes


def _read_all(folder: str, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    parts = [u for u in storage.list_files(folder, PART_SUFFIX) if storage.name(u).startswith(PART_PREFIX)]
    if not parts:
        table = schema.empty_table()
        return table.select(columns) if columns else table
    return pa.concat_tables([storage.read_parquet(u, columns=columns, schema=schema) for u in parts])


def read_annotations(root: str, columns: list[str] | None = None) -> pa.Table:
    """The whole clip table of an annotate output (``columns``: only these)."""
    return _read_all(storage.join(root, ANNOTATIONS), TABLE_SCHEMA, columns)


def read_keyframes(root: str) -> pa.Table:
    return _read_all(storage.join(root, KEYFRAMES), KEYFRAME_SCHEMA)

