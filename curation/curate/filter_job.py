"""``curate filter``: annotations in, ``keep`` + every drop reason + motion buckets out, with the resolved
thresholds and the bucket mapping saved so the same cut and mapping apply to new data. With ``dedup.enabled``,
duplicate clips are found after the rules (one more pass over the table and its keyframes) and each group's
other members are dropped as ``duplicate_of:<clip_id>`` (:mod:`curation.curate.dedup`).

The annotations, the output folder and a ``--thresholds`` file may be local paths or object-store URIs
(:mod:`curation.core.storage`); every output file is written as one complete object (atomic on local disk too).

Every pass over the table is a map over the annotations parts (:class:`curation.curate.sources.PartsSource`)
followed by a reduction here: in this process (``filter.executor: local``) or as one Ray task per part
(``ray``, :func:`curation.runtime.parts.map_parts`), where each worker reads its own part. The last pass applies
the thresholds and the bucket mapping per part (on the workers too, unless dedup is on) and this process
writes the filtered parts into clips.parquet in part order.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.core import storage
from curation.curate.buckets import MotionBuckets
from curation.curate.dedup import DUPLICATE_PREFIX, DUPLICATE_REASON
from curation.curate.dedup.table import RESULT_FIELDS, DedupPass, empty_columns
from curation.core.section import JobSections
from curation.core.storage import StorageOptions
from curation.core.errors import ConfigError
from curation.core.lease import Lease
from curation.curate.config import BucketsConfig, DedupConfig, FilterConfig
from curation.contract.footage import FootageLost, footage_lost
from curation.curate.filters import (Threshold, apply, columns_read, keep_mask, rule_counts, unfilled,
                                     load_thresholds, resolve, save_thresholds)
from curation.curate.percentiles import count
from curation.curate.sources import Mapper, PartsSource, Values, local_map
from curation.contract.output import AnnotationParts
from curation.contract.schema import stage_of
from curation.core.layout import BUCKETS_FILE, CLIPS_FILE, SUMMARY_FILE, THRESHOLDS_FILE

log = logging.getLogger(__name__)


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
    rows: int = 0
    clips: int = 0
    kept: int = 0
    status_rows: int = 0
    reasons: Counter = field(default_factory=Counter)
    lost: FootageLost | None = None
    dedup: dict | None = None  # groups, duplicates, hash_pairs, semantic_pairs, semantic (ran); None when off
    executor: dict | None = None  # kind (local | ray); on Ray: tasks, and tasks per node id
    skipped_rules: dict[str, str | None] = field(default_factory=dict)  # column -> the stage that computes it
    wall_s: float = 0.0

    def add(self, other: "FilterSummary") -> None:
        """Add the rows, clips, kept clips, reasons and footage lost of ``other`` (one part's) to these."""
        self.rows += other.rows
        self.clips += other.clips
        self.kept += other.kept
        self.reasons.update(other.reasons)
        self.lost = (self.lost or FootageLost()) + (other.lost or FootageLost())

    def text(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.reasons.most_common()) or "none"
        lost = f"\nbefore the rules: {self.lost.text()}" if self.lost else ""
        dedup = ""
        if self.dedup is not None:
            d = self.dedup
            semantic = f"{d['semantic_pairs']} semantic pairs" if d["semantic"] else "no embeddings: no semantic pass"
            dedup = (f"\ndedup: {d['duplicates']} duplicates in {d['groups']} groups ({d['hash_pairs']} hash pairs, "
                     f"{semantic})")
        ray = ""
        if self.executor and self.executor["kind"] == "ray":
            ray = f"\non Ray: {self.executor['tasks']} tasks on {len(self.executor['nodes'])} nodes"
        skipped = ""
        if self.skipped_rules:
            skipped = "\nrules skipped, no clip has a value (run the stage, then filter again): " + ", ".join(
                f"{column} (stage {stage})" if stage else column for column, stage in self.skipped_rules.items())
        return (f"kept {self.kept} of {self.clips} clips ({self.status_rows} status rows of failed videos); "
                f"dropped by: {reasons}; wall {self.wall_s:.1f} s{skipped}{lost}{dedup}{ray}")


@dataclass(frozen=True)
class FilterJob(JobSections):
    """The sections ``curate filter`` reads: ``filter``, ``dedup``, ``buckets`` and ``storage``."""

    filter: FilterConfig = field(default_factory=FilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    buckets: BucketsConfig = field(default_factory=BucketsConfig)
    storage: StorageOptions = field(default_factory=StorageOptions)


def run_filter(annotations: str, output: str, config: FilterJob, thresholds_file: str | None = None,
               in_memory: int | None = None) -> FilterSummary:
    """Filter the annotate output ``annotations`` into ``output`` (folders or object-store prefixes).

    Out of core: the table is read one annotations part at a time, a few columns per pass, and clips.parquet
    is written a part (one row group) at a time, so memory holds one part plus at most ``in_memory`` values
    of one column (default ``filter.in_memory_values``) for the exact percentiles and the bucket fit. With
    ``filter.executor: ray`` the parts are read and mapped by Ray tasks, one per part; the driver holds the
    same bounded state, plus the few filtered parts fetched for writing."""
    started = time.monotonic()
    storage.configure(config.storage)
    source = str(annotations)
    if not AnnotationParts(source).exists():
        raise ConfigError(f"{source}: not an annotate output (no annotations/ folder)")
    if thresholds_file is not None and not is_file(thresholds_file):
        raise ConfigError(f"--thresholds {thresholds_file}: no such file")
    dest = str(output)
    # One writer per output (a second job is refused at once; a crashed job's rerun takes over).
    with Lease(dest, "curate filter") as lease:
        return _filter(source, dest, config, thresholds_file, in_memory, started, lease)


def _filter(source: str, dest: str, config: FilterJob, thresholds_file: str | None, in_memory: int | None,
            started: float, lease: Lease) -> FilterSummary:
    cfg = config.filter
    limit = in_memory or cfg.in_memory_values
    store = AnnotationParts(source)
    parts = store.parts()
    # The table's own schema: its model stages' columns are tagged there (curation.contract.schema).
    schema = store.schema(parts)
    if schema is None:
        raise ConfigError(f"{source}: no committed part in annotations/ (an annotate job that committed nothing)")
    for rule in cfg.rules:
        if rule.column in schema.names:
            label = pa.types.is_string(schema.field(rule.column).type)
            if label != bool(rule.drop_values):
                raise ConfigError(f"filter.rules: {rule.column} is {'a label' if label else 'not a label'} column: "
                                  f"{'use drop_values' if label else 'drop_values is for labels'}")
    nodes: Counter = Counter()
    pieces = PartsSource(tuple(store.annotation_uri(p) for p in parts), schema, config.storage, _mapper(cfg, nodes))

    skipped: dict[str, str | None] = {}
    if thresholds_file is not None:
        thresholds, exclude_errors = load_via_local(thresholds_file, load_thresholds)
    else:
        try:
            counts = rule_counts(pieces, cfg)
        except KeyError as exc:
            raise ConfigError(f"filter.rules: {exc.args[0]}") from None
        # A rule on a stage that did not run would drop every clip as missing: it is left out, and said so.
        skipped = {column: stage_of(schema, column) for column in unfilled(counts)}
        for column, stage in skipped.items():
            log.warning("filter rule on %s skipped: no clip has a value%s", column,
                        f" (run the {stage} stage first)" if stage else "")
        thresholds = resolve(pieces, cfg, in_memory=limit, counts=counts)
        exclude_errors = cfg.exclude_errors
    read = columns_read(thresholds)
    unknown = [c for c in read if c not in schema.names]
    if unknown:
        raise ConfigError(f"thresholds refer to column {unknown[0]!r}, which the table lacks")
    buckets = _buckets(pieces, read, thresholds, exclude_errors, config, thresholds_file, limit, schema)
    dedup = _dedup(store, parts, pieces, read, thresholds, exclude_errors, config) if config.dedup.enabled else None

    storage.makedirs(dest)
    # The summary (filter.json) marks a complete output: an earlier run's goes first, so a run stopped
    # halfway leaves none.
    storage.delete(storage.join(dest, SUMMARY_FILE))
    summary = FilterSummary(lost=FootageLost(), skipped_rules=skipped)
    # Rules and buckets applied per part where the parts are read; dedup's columns (its groups live here) and
    # the writing in this process, one part at a time in part order.
    step = partial(filtered_part, thresholds=thresholds, exclude_errors=exclude_errors, buckets=buckets,
                   finish=dedup is None)
    out_schema = clips_schema(schema)
    with storage.parquet_writer(storage.join(dest, CLIPS_FILE), out_schema, compression="zstd") as writer:
        for out, tally in pieces.map(step, None):
            if dedup is not None:
                out = dedup.annotate(out).cast(out_schema)
                tally = _tally(out)
            writer.write_table(out)
            summary.add(tally)
    save_via_local(storage.join(dest, THRESHOLDS_FILE), lambda p: save_thresholds(p, thresholds, cfg))
    save_via_local(storage.join(dest, BUCKETS_FILE), buckets.save)
    summary.status_rows = summary.rows - summary.clips - sum(summary.lost.shots.values()) - summary.lost.transitions
    if dedup is not None:
        result = dedup.result
        summary.dedup = {"groups": result.groups, "duplicates": result.duplicates, "hash_pairs": result.hash_pairs,
                         "semantic_pairs": result.semantic_pairs, "semantic": dedup.semantic_ran,
                         "config": config.dedup.model_dump()}
    summary.executor = {"kind": cfg.executor}
    if cfg.executor == "ray":
        summary.executor.update(tasks=sum(nodes.values()), nodes=dict(sorted(nodes.items())))
    summary.wall_s = time.monotonic() - started
    record = {"annotations": absolute(source), "clips": summary.clips, "kept": summary.kept,
              "reasons": dict(summary.reasons), "skipped_rules": summary.skipped_rules, "dedup": summary.dedup,
              "executor": summary.executor,
              "thresholds_from": thresholds_file or "computed",
              "skipped_shots": summary.lost.shots, "skipped_shot_seconds": summary.lost.shot_seconds,
              "transitions": summary.lost.transitions, "transition_seconds": summary.lost.transition_seconds}
    lease.check()  # the summary last: it marks the output complete, and only the lease holder may write it
    storage.write_text(storage.join(dest, SUMMARY_FILE), json.dumps(record, indent=1))
    return summary


def clips_schema(table: pa.Schema) -> pa.Schema:
    """clips.parquet: every column of the annotation ``table``, then keep, drop_reasons, motion_bucket_id and the
    dedup columns (phash_first/middle/last, dedup_group, duplicate_of; null when dedup is off)."""
    return pa.schema([*table, pa.field("keep", pa.bool_()), pa.field("drop_reasons", pa.list_(pa.string())),
                      pa.field("motion_bucket_id", pa.int16()), *RESULT_FIELDS], metadata=table.metadata)


def _mapper(cfg: FilterConfig, nodes: Counter) -> Mapper:
    """What runs the per-part work: this process, or Ray tasks (``nodes`` counts the tasks per node id)."""
    if cfg.executor == "local":
        return local_map
    from curation.runtime.parts import map_parts

    return partial(map_parts, address=cfg.ray.address, num_cpus=cfg.ray.num_cpus, nodes=nodes)


def filtered_part(piece: pa.Table, thresholds: list[Threshold], exclude_errors: bool, buckets: MotionBuckets,
                  finish: bool) -> tuple[pa.Table, FilterSummary | None]:
    """One part with ``keep``, ``drop_reasons`` and ``motion_bucket_id``; with ``finish`` also the (empty) dedup
    columns, cast to the clips.parquet schema, and its counts for the summary (else both are left to the
    caller)."""
    out = apply(piece, thresholds, exclude_errors)
    ids = buckets.bucket(out[buckets.column].to_numpy(zero_copy_only=False).astype(np.float64))
    out = out.append_column("motion_bucket_id", pa.array(np.where(ids >= 0, ids, 0), pa.int16(), mask=ids < 0))
    if not finish:
        return out, None
    out = empty_columns(out).cast(clips_schema(piece.schema))
    return out, _tally(out)


def _tally(out: pa.Table) -> FilterSummary:
    """The counts of one filtered part: rows, clips, kept, reasons of clip rows, footage lost."""
    tally = FilterSummary()
    is_clip = out["clip_index"].is_valid()
    tally.rows = out.num_rows
    tally.clips = int(pc.sum(pc.cast(is_clip, pa.int64())).as_py() or 0)
    tally.kept = int(pc.sum(pc.cast(out["keep"], pa.int64())).as_py() or 0)
    flat = pc.list_flatten(out["drop_reasons"].filter(is_clip))
    if len(flat):
        for item in pc.value_counts(flat).to_pylist():
            # Every duplicate_of:<clip_id> is one reason in the funnel.
            reason = DUPLICATE_REASON if item["values"].startswith(DUPLICATE_PREFIX) else item["values"]
            tally.reasons[reason] += item["counts"]
    tally.lost = _lost(out)
    return tally


def _dedup(store: AnnotationParts, parts: list[str], pieces: PartsSource, read: list[str], thresholds,
           exclude_errors: bool, config: FilterJob) -> DedupPass:
    """The dedup pass, in this process: every part's clip ids, scores and embeddings with its keyframe hashes,
    and which clips the rules keep (a group keeps one of those when it has one); then the groups."""
    dedup = DedupPass.from_config(config.dedup)
    columns = list(dict.fromkeys(read + dedup.columns()))
    for part, piece in zip(parts, replace(pieces, mapper=local_map).map(lambda t: t, columns)):
        uri = store.keyframe_uri(part)
        keyframes = storage.read_parquet(uri, columns=["clip_id", "position", "jpeg"]) if storage.exists(uri) \
            else None
        dedup.add(piece, keyframes, keep_mask(piece, thresholds, exclude_errors))
    try:
        dedup.resolve()
    except ValueError as exc:
        raise ConfigError(f"dedup: {exc}") from None
    return dedup


def _lost(table: pa.Table) -> FootageLost:
    """Footage lost before the rules (none in tables written before such rows were recorded)."""
    if "row_kind" not in table.column_names:
        return FootageLost()
    return footage_lost(*(table[c].to_pylist() for c in ("row_kind", "skip_reason", "duration_s")))


def motion_values(piece: pa.Table, column: str, thresholds: list[Threshold], exclude_errors: bool,
                  kept_only: bool) -> np.ndarray:
    """The motion ``column`` of a part: of the clips the thresholds keep when ``kept_only``, else of every row."""
    values = piece[column].to_numpy(zero_copy_only=False).astype(np.float64)
    return values[keep_mask(piece, thresholds, exclude_errors)] if kept_only else values


def _buckets(pieces: PartsSource, read: list[str], thresholds, exclude_errors: bool, config: FilterJob,
             thresholds_file: str | None, in_memory: int, schema: pa.Schema) -> MotionBuckets:
    """The mapping saved next to reused thresholds, else a new one (quantile: fitted on the kept clips, read
    piece by piece)."""
    if thresholds_file is not None:
        saved = storage.join(storage.parent(thresholds_file), BUCKETS_FILE)
        if is_file(saved):
            return load_via_local(saved, MotionBuckets.load)
    b = config.buckets
    if b.column not in schema.names:
        raise ConfigError(f"buckets.column: the table has no column {b.column!r}")
    if b.mapping == "fixed":
        return MotionBuckets.fixed(b.column, b.fixed_m0, b.fixed_m_max)
    columns = tuple(read + ([b.column] if b.column not in read else []))

    def motion(kept_only: bool) -> Values:
        return Values(pieces, columns, partial(motion_values, column=b.column, thresholds=thresholds,
                                               exclude_errors=exclude_errors, kept_only=kept_only))

    # Fitted on the kept clips; on every clip when no clip is kept.
    source = motion(True)
    n = count(source)
    if not n:
        source = motion(False)
        n = count(source)
    if not n:
        raise ConfigError(f"buckets.column: no clip has a finite {b.column} to fit the quantile mapping on")
    return MotionBuckets.fit_quantile(source, b.column, in_memory=in_memory, n=n)
