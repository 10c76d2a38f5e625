"""``curate filter``: annotations in, ``keep`` + every drop reason + motion buckets out, with the resolved
thresholds and the bucket mapping saved so the same cut and mapping apply to new data.

The annotations, the output folder and a ``--thresholds`` file may be local paths or object-store URIs
(:mod:`curation.core.storage`); every output file is written as one complete object (atomic on local disk too).
"""
from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from curation.core import storage
from curation.curate.buckets import MotionBuckets
from curation.config import Config
from curation.core.errors import ConfigError
from curation.curate.filters import FootageLost, apply, footage_lost, load_thresholds, resolve, save_thresholds
from curation.annotate.store import ANNOTATIONS, read_annotations
from curation.core.layout import BUCKETS_FILE, CLIPS_FILE, SUMMARY_FILE, THRESHOLDS_FILE


T = TypeVar("T")


def load_via_local(uri: str, load: Callable[[Path], T]) -> T:
    """``load(path)`` on the file at ``uri``: a local file directly, an object through a temporary local copy
    (the loaders of thresholds and bucket mappings read local paths; one format definition stays with them)."""
    local = storage.local_path(uri)
    if local is not None:
        return load(Path(local))
    with tempfile.TemporaryDirectory(prefix="curate-") as tmp:
        path = Path(tmp) / storage.name(uri)
        path.write_bytes(storage.read_bytes(uri))
        return load(path)


def save_via_local(uri: str, save: Callable[[Path], None]) -> None:
    """``save(path)`` into a temporary local file, then written to ``uri`` as one complete object."""
    with tempfile.TemporaryDirectory(prefix="curate-") as tmp:
        path = Path(tmp) / storage.name(uri)
        save(path)
        storage.write_bytes(uri, path.read_bytes())


def is_file(uri: str) -> bool:
    """True for an existing file/object (not a folder/prefix)."""
    return storage.exists(uri) and not storage.is_dir(uri)


def absolute(uri: str) -> str:
    """A local path made absolute with symlinks resolved (as recorded in job files), a URI unchanged."""
    local = storage.local_path(uri)
    return uri if local is None else str(Path(local).resolve())


@dataclass
class FilterSummary:
    clips: int = 0
    kept: int = 0
    status_rows: int = 0
    reasons: Counter = field(default_factory=Counter)
    lost: FootageLost | None = None
    wall_s: float = 0.0

    def text(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.reasons.most_common()) or "none"
        lost = f"\nbefore the rules: {self.lost.text()}" if self.lost else ""
        return (f"kept {self.kept} of {self.clips} clips ({self.status_rows} status rows of failed videos); "
                f"dropped by: {reasons}; wall {self.wall_s:.1f} s{lost}")


def run_filter(annotations: str, output: str, config: Config, thresholds_file: str | None = None) -> FilterSummary:
    """Filter the annotate output ``annotations`` into ``output`` (folders or object-store prefixes)."""
    started = time.monotonic()
    storage.configure(config.storage)
    source = str(annotations)
    if not storage.is_dir(storage.join(source, ANNOTATIONS)):
        raise ConfigError(f"{source}: not an annotate output (no annotations/ folder)")
    if thresholds_file is not None and not is_file(thresholds_file):
        raise ConfigError(f"--thresholds {thresholds_file}: no such file")
    table = read_annotations(source)
    cfg = config.filter
    if thresholds_file is not None:
        thresholds, exclude_errors = load_via_local(thresholds_file, load_thresholds)
    else:
        try:
            thresholds = resolve(table, cfg)
        except KeyError as exc:
            raise ConfigError(f"filter.rules: {exc.args[0]}") from None
        exclude_errors = cfg.exclude_errors
    try:
        out = apply(table, thresholds, exclude_errors)
    except KeyError as exc:
        raise ConfigError(f"thresholds refer to column {exc.args[0]!r}, which the table lacks") from None

    keep = out["keep"].to_numpy(zero_copy_only=False)
    buckets = _buckets(out, keep, config, thresholds_file)
    motion = out[buckets.column].to_numpy(zero_copy_only=False).astype(np.float64)
    ids = buckets.bucket(motion)
    out = out.append_column("motion_bucket_id", pa.array(np.where(ids >= 0, ids, 0), pa.int16(), mask=ids < 0))

    dest = str(output)
    storage.makedirs(dest)
    storage.write_parquet(out, storage.join(dest, CLIPS_FILE), compression="zstd")
    save_via_local(storage.join(dest, THRESHOLDS_FILE), lambda p: save_thresholds(p, thresholds, cfg))
    save_via_local(storage.join(dest, BUCKETS_FILE), buckets.save)
    summary = FilterSummary(clips=int(np.asarray(out["clip_index"].is_valid()).sum()), kept=int(keep.sum()),
                            lost=_lost(out))
    summary.status_rows = out.num_rows - summary.clips - sum(summary.lost.shots.values()) - summary.lost.transitions
    for reasons, is_clip in zip(out["drop_reasons"].to_pylist(), np.asarray(out["clip_index"].is_valid())):
        if is_clip:
            summary.reasons.update(reasons)
    summary.wall_s = time.monotonic() - started
    record = {"annotations": absolute(source), "clips": summary.clips, "kept": summary.kept,
              "reasons": dict(summary.reasons), "thresholds_from": thresholds_file or "computed",
              "skipped_shots": summary.lost.shots, "skipped_shot_seconds": summary.lost.shot_seconds,
              "transitions": summary.lost.transitions, "transition_seconds": summary.lost.transition_seconds}
    storage.write_text(storage.join(dest, SUMMARY_FILE), json.dumps(record, indent=1))
    return summary


def _lost(table: pa.Table) -> FootageLost:
    """Footage lost before the rules (none in tables written before such rows were recorded)."""
    if "row_kind" not in table.column_names:
        return FootageLost()
    return footage_lost(*(table[c].to_pylist() for c in ("row_kind", "skip_reason", "duration_s")))


def _buckets(table: pa.Table, keep: np.ndarray, config: Config, thresholds_file: str | None) -> MotionBuckets:
    """The mapping saved next to reused thresholds, else a new one (quantile: fitted on the kept clips)."""
    if thresholds_file is not None:
        saved = storage.join(storage.parent(thresholds_file), BUCKETS_FILE)
        if is_file(saved):
            return load_via_local(saved, MotionBuckets.load)
    b = config.buckets
    if b.column not in table.column_names:
        raise ConfigError(f"buckets.column: the table has no column {b.column!r}")
    if b.mapping == "fixed":
        return MotionBuckets.fixed(b.column, b.fixed_m0, b.fixed_m_max)
    values = table[b.column].to_numpy(zero_copy_only=False).astype(np.float64)
    fit_on = values[keep] if keep.any() else values
    if not np.isfinite(fit_on).any():
        raise ConfigError(f"buckets.column: no clip has a finite {b.column} to fit the quantile mapping on")
    return MotionBuckets.fit_quantile(fit_on, b.column)
