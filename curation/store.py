"""Parquet output with atomic commits and resume.

Results go to ``DIR/annotations/part-*.parquet`` (clip rows) and ``DIR/keyframes/part-*.parquet`` (images),
a part holding whole videos only. Each part is written to a hidden temporary file and renamed into place, the
keyframe part before its annotation part, so a killed job (even ``kill -9``) leaves only complete parts; a
keyframe part without its annotation part is an orphan and is removed on the next start. The set of done
videos is read back from the committed annotation parts, so a rerun skips them and writes no duplicate row.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.config import ConfigError
from curation.schema import CLIP_SCHEMA, KEYFRAME_SCHEMA

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


class AnnotationStore:
    def __init__(self, out_dir: str | Path, job: dict, overwrite: bool = False):
        """``job`` is the resolved config that decides results (recorded; a rerun must match it)."""
        self.root = Path(out_dir)
        self.annotations = self.root / "annotations"
        self.keyframes = self.root / "keyframes"
        if overwrite:
            for path in (self.annotations, self.keyframes):
                shutil.rmtree(path, ignore_errors=True)
            (self.root / JOB_FILE).unlink(missing_ok=True)
        self._check_job(job)
        self.annotations.mkdir(parents=True, exist_ok=True)
        self.keyframes.mkdir(parents=True, exist_ok=True)
        self._clean()

    def _check_job(self, job: dict) -> None:
        path = self.root / JOB_FILE
        if path.exists():
            previous = _flatten(json.loads(path.read_text()))
            current = _flatten(json.loads(json.dumps(job)))
            changed = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
            if changed:
                k = changed[0]
                raise ConfigError(
                    f"{self.root} holds results made with another config ({k}: {previous.get(k)!r} then, "
                    f"{current.get(k)!r} now{', and more' if len(changed) > 1 else ''}); "
                    "rerun with --overwrite or choose another --output")
        else:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{JOB_FILE}.tmp")
            tmp.write_text(json.dumps(job, indent=2, sort_keys=True))
            os.replace(tmp, path)

    def _clean(self) -> None:
        for folder in (self.annotations, self.keyframes):
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
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        if keyframe_rows:
            self._write(pa.Table.from_pylist(keyframe_rows, schema=KEYFRAME_SCHEMA), self.keyframes / name)
        self._write(pa.Table.from_pylist(rows, schema=CLIP_SCHEMA), self.annotations / name)
        return name

    @staticmethod
    def _write(table: pa.Table, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def read_annotations(out_dir: str | Path) -> pa.Table:
    """The whole clip table of an output directory."""
    parts = sorted((Path(out_dir) / "annotations").glob("part-*.parquet"))
    if not parts:
        return CLIP_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=CLIP_SCHEMA) for p in parts])


def read_keyframes(out_dir: str | Path) -> pa.Table:
    parts = sorted((Path(out_dir) / "keyframes").glob("part-*.parquet"))
    if not parts:
        return KEYFRAME_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(p, schema=KEYFRAME_SCHEMA) for p in parts])
