"""Parquet output with atomic commits and resume.

Results go to ``DIR/annotations/part-*.parquet`` (clip rows), ``DIR/keyframes/part-*.parquet`` (images) and,
for the model stages, ``DIR/<stage>/part-*.parquet`` (their columns, keyed by ``clip_id``). An annotation part
holds whole videos only. Each part is written to a hidden temporary file and renamed into place, the keyframe
part before its annotation part, so a killed job (even ``kill -9``) leaves only complete parts; a keyframe part
without its annotation part is an orphan and is removed on the next start. What is done is read back from the
committed parts (videos for the scan, clips for each model stage), so a rerun skips it and writes no
duplicate row.

``DIR/job.json`` records, per section (``scan`` and each model stage), the config that decided its results; a
rerun with a different one is refused, naming the key, so one output never mixes two configs.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import atomic_write
from curation.config import MODEL_STAGES, ConfigError
from curation.schema import CLIP_SCHEMA, KEYFRAME_SCHEMA, STAGE_SCHEMAS

JOB_FILE = "job.json"


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differences(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two nested records."""
    a, b = _flatten(json.loads(json.dumps(old))), _flatten(json.loads(json.dumps(new)))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _part_name() -> str:
    return f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"


class AnnotationStore:
    def __init__(self, out_dir: str | Path, overwrite: bool = False):
        self.root = Path(out_dir)
        self.annotations = self.root / "annotations"
        self.keyframes = self.root / "keyframes"
        self.stage_dirs = {stage: self.root / stage for stage in MODEL_STAGES}
        if overwrite:
            for path in (self.annotations, self.keyframes, *self.stage_dirs.values()):
                shutil.rmtree(path, ignore_errors=True)
            (self.root / JOB_FILE).unlink(missing_ok=True)
        for path in (self.annotations, self.keyframes, *self.stage_dirs.values()):
            path.mkdir(parents=True, exist_ok=True)
        self._clean()

    # -- job record --------------------------------------------------------------------------------------
    def job(self) -> dict:
        path = self.root / JOB_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def check_section(self, section: str, record: dict, prefix: str) -> None:
        """Refuse ``record`` when ``section`` has results made with another config; record it otherwise.
        ``prefix`` is the config key the section's keys live under (for the message)."""
        job = self.job()
        has_results = (any(self.annotations.glob("part-*.parquet")) if section == "scan"
                       else any(self.stage_dirs[section].glob("part-*.parquet")))
        if section in job and has_results:
            changed = differences(job[section], record)
            if changed:
                k = changed[0]
                old, new = _flatten(job[section]).get(k), _flatten(json.loads(json.dumps(record))).get(k)
                raise ConfigError(
                    f"{self.root} holds {section} results made with another config ({prefix}.{k}: {old!r} then, "
                    f"{new!r} now{', and more' if len(changed) > 1 else ''}); rerun with --overwrite or "
                    "choose another --output")
            return
        job[section] = record
        atomic_write(self.root / JOB_FILE, lambda tmp: tmp.write_text(json.dumps(job, indent=2, sort_keys=True)))

    # -- scan results ------------------------------------------------------------------------------------
    def _clean(self) -> None:
        for folder in (self.annotations, self.keyframes, *self.stage_dirs.values()):
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        committed = {p.name for p in self.annotations.glob("part-*.parquet")}
        for part in self.keyframes.glob("part-*.parquet"):
            if part.name not in committed:
                part.unlink()

    def done_video_ids(self) -> set[str]:
        done: set[str] = set()
        for part in sorted(self.annotations.glob("part-*.parquet")):
            done.update(pq.read_table(part, columns=["video_id"]).column("video_id").to_pylist())
        return done

    def commit(self, rows: list[dict], keyframe_rows: list[dict]) -> str | None:
        """Write one part (whole videos) atomically; returns its name."""
        if not rows:
            return None
        name = _part_name()
        if keyframe_rows:
            self._write(pa.Table.from_pylist(keyframe_rows, schema=KEYFRAME_SCHEMA), self.keyframes / name)
        self._write(pa.Table.from_pylist(rows, schema=CLIP_SCHEMA), self.annotations / name)
        return name

    def scan_parts(self) -> list[str]:
        """Names of the committed annotation parts (each has its keyframe part of the same name)."""
        return sorted(p.name for p in self.annotations.glob("part-*.parquet"))

    # -- model stages ------------------------------------------------------------------------------------
    def done_clip_ids(self, stage: str) -> set[str]:
        done: set[str] = set()
        for part in sorted(self.stage_dirs[stage].glob("part-*.parquet")):
            done.update(pq.read_table(part, columns=["clip_id"]).column("clip_id").to_pylist())
        return done

    def commit_stage(self, stage: str, rows: list[dict], metadata: dict[str, str]) -> str | None:
        if not rows:
            return None
        schema = STAGE_SCHEMAS[stage]
        schema = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}})
        name = _part_name()
        self._write(pa.Table.from_pylist(rows, schema=schema), self.stage_dirs[stage] / name)
        return name

    @staticmethod
    def _write(table: pa.Table, path: Path) -> None:
        atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def _read_parts(folder: Path, schema: pa.Schema) -> pa.Table:
    parts = sorted(folder.glob("part-*.parquet"))
    if not parts:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])


def read_stage(out_dir: str | Path, stage: str) -> pa.Table:
    """One model stage's rows (``clip_id`` + its columns)."""
    return _read_parts(Path(out_dir) / stage, STAGE_SCHEMAS[stage])


def read_annotations(out_dir: str | Path) -> pa.Table:
    """The whole clip table of an output directory: the scan columns, and the columns of every model stage
    that has results, joined on ``clip_id`` (null where a stage has not run on a clip). A model-stage failure
    also fills ``error_kind`` (``<stage>_failed``) and ``error`` of a row that had none."""
    table = _read_parts(Path(out_dir) / "annotations", CLIP_SCHEMA)
    for stage in MODEL_STAGES:
        if not any((Path(out_dir) / stage).glob("part-*.parquet")):
            continue
        columns = read_stage(out_dir, stage).drop_columns(["video_id"])
        # A lookup rather than a hash join: it keeps the row order and takes every column type.
        index = pc.index_in(table["clip_id"], value_set=columns["clip_id"])
        for name in columns.column_names[1:]:
            table = table.append_column(columns.schema.field(name), columns[name].take(index))
        failed = pc.and_(pc.is_null(table["error"]), pc.is_valid(table[f"{stage}_error"]))
        table = table.set_column(table.schema.get_field_index("error_kind"), "error_kind",
                                 pc.if_else(failed, pa.scalar(f"{stage}_failed"), table["error_kind"]))
        table = table.set_column(table.schema.get_field_index("error"), "error",
                                 pc.if_else(failed, pc.binary_join_element_wise(
                                     pa.scalar(f"{stage}: "), table[f"{stage}_error"], ""), table["error"]))
    return table


def read_keyframes(out_dir: str | Path) -> pa.Table:
    return _read_parts(Path(out_dir) / "keyframes", KEYFRAME_SCHEMA)
