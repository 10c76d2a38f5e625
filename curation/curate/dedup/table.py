"""The dedup step over the clip table, part by part: one pass collects what dedup needs from every part (clip
ids, scores, the keyframe hashes of that part's keyframes, the embeddings), the groups are found on all of it,
then a second pass over the same parts in the same order adds the result to each filtered part.

Columns it adds to ``clips.parquet``: ``phash_first`` / ``phash_middle`` / ``phash_last`` (uint64 keyframe
hashes, null without a decodable keyframe), ``phash_first_crops`` / ``phash_middle_crops`` / ``phash_last_crops``
(the same keyframe's hashes at crop levels 3.3, 6.7 and 10 % a side: fixed-size lists of 3 uint64, null with
the hash; :mod:`.phash`), ``dedup_group`` (int64, null for a clip without duplicates) and ``duplicate_of`` (the
clip id its group keeps; null for kept and unique clips). A duplicate is not kept and gets the drop reason
``duplicate_of:<clip_id>``. Memory: about 220 bytes per clip (150 measured at 1M clips before the crop levels,
which hold 72 more), plus the embeddings (n x D x 2 bytes) when the semantic path runs.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from curation.curate.dedup import DUPLICATE_PREFIX, Duplicates, embedding_matrix, find_duplicates
from curation.curate.dedup.phash import (CROP_COLUMNS, CROPS, HASH_COLUMNS, LEVELS, hash_columns,
                                         hash_keyframes)

# The CLIP image embedding column of the aesthetic stage (list<float16>; annotate.aesthetic.keep_embedding).
EMBEDDING = "image_embedding"
RESULT_FIELDS = [*(pa.field(c, pa.uint64()) for c in HASH_COLUMNS),
                 *(pa.field(c, pa.list_(pa.uint64(), len(CROPS))) for c in CROP_COLUMNS),
                 pa.field("dedup_group", pa.int64()), pa.field("duplicate_of", pa.string())]


class DedupPass:
    """hash_distance, crop_distance, semantic, cosine, clusters, probes, keep, bands, workers: see the ``dedup``
    config section (:class:`curation.curate.config.DedupConfig`)."""

    def __init__(self, hash_distance: float = 12.0, semantic: bool = True, cosine: float = 0.95,
                 clusters: int | None = None, probes: int = 1, keep: str = "aesthetic", bands: int = 64,
                 workers: int = 0, crop_distance: float | None = 8.0):
        self.hash_distance, self.crop_distance = hash_distance, crop_distance
        self.semantic, self.cosine = semantic, cosine
        self.clusters, self.probes, self.keep, self.bands = clusters, probes, keep, bands
        self.workers = workers or None
        self._ids: list[pa.Array] = []
        self._hashes: list[np.ndarray] = []
        self._valid: list[np.ndarray] = []
        self._aesthetic: list[np.ndarray] = []
        self._duration: list[np.ndarray] = []
        self._eligible: list[np.ndarray] = []
        self._embeddings: list[tuple[np.ndarray, np.ndarray]] = []
        self.result: Duplicates | None = None
        self.semantic_ran = False
        self._offset = 0

    @classmethod
    def from_config(cls, cfg) -> DedupPass:
        return cls(cfg.hash_distance, cfg.semantic, cfg.cosine, cfg.clusters, cfg.probes, cfg.keep, cfg.bands,
                   cfg.workers, cfg.crop_distance)

    def columns(self) -> list[str]:
        """The clip-table columns :meth:`add` reads."""
        return ["clip_id", "aesthetic", "duration_s"] + ([EMBEDDING] if self.semantic else [])

    def add(self, piece: pa.Table, keyframes: pa.Table | None, eligible: np.ndarray | None = None) -> None:
        """One part: its rows (at least :meth:`columns`), its keyframe table (columns clip_id, position, jpeg;
        None when it has none) and which of its rows the other rules keep."""
        ids = piece["clip_id"].combine_chunks()
        if keyframes is not None and keyframes.num_rows:
            hashes, valid = hash_keyframes(ids.to_pylist(), keyframes, self.workers)
        else:
            hashes, valid = np.zeros((len(ids), 3, LEVELS), np.uint64), np.zeros((len(ids), 3), bool)
        self._ids.append(ids)
        self._hashes.append(hashes)
        self._valid.append(valid)
        for name, out in (("aesthetic", self._aesthetic), ("duration_s", self._duration)):
            out.append(piece[name].to_numpy(zero_copy_only=False).astype(np.float64))
        self._eligible.append(np.ones(len(ids), bool) if eligible is None else np.asarray(eligible, bool))
        if self.semantic:
            self._embeddings.append(embedding_matrix(piece[EMBEDDING]))

    def resolve(self) -> Duplicates:
        """Find the groups over every part added."""
        ids = pa.concat_arrays(self._ids) if self._ids else pa.array([], pa.string())
        self._ids.clear()
        n = len(ids)
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros((0, 3, LEVELS), np.uint64)
        valid = np.concatenate(self._valid) if self._valid else np.zeros((0, 3), bool)
        embeddings = embedding_valid = None
        if self.semantic:
            dims = {m.shape[1] for m, ok in self._embeddings if ok.any()}
            if len(dims) > 1:
                raise ValueError(f"{EMBEDDING}: embeddings of different sizes {sorted(dims)} in one table")
            if dims:
                d = dims.pop()
                embedding_valid = np.concatenate([ok if m.shape[1] == d else np.zeros(len(ok), bool)
                                                  for m, ok in self._embeddings])
                embeddings = np.concatenate([m if m.shape[1] == d else np.zeros((len(m), d), np.float16)
                                             for m, _ in self._embeddings])
                self.semantic_ran = bool(embedding_valid.sum() > 1)
        concat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0))
        self.result = find_duplicates(ids, hashes, valid, embeddings if self.semantic_ran else None,
                                      embedding_valid, max_distance=self.hash_distance,
                                      crop_distance=self.crop_distance, threshold=self.cosine,
                                      clusters=self.clusters, probes=self.probes, keep=self.keep,
                                      aesthetic=concat(self._aesthetic), duration=concat(self._duration),
                                      eligible=concat(self._eligible).astype(bool), bands=self.bands)
        self._columns = {**hash_columns(hashes, valid), **self.result.columns()}
        self._embeddings.clear()
        assert len(self.result.group) == n
        return self.result

    def annotate(self, out: pa.Table) -> pa.Table:
        """The next filtered part (the parts in the order they were added): the result columns added, each
        duplicate not kept and ``duplicate_of:<clip_id>`` added to its drop reasons."""
        start, stop = self._offset, self._offset + out.num_rows
        self._offset = stop
        columns = {name: column[start:stop] for name, column in self._columns.items()}
        duplicate_of = columns["duplicate_of"].to_pylist()
        keep = out["keep"].to_numpy(zero_copy_only=False).copy()
        reasons = out["drop_reasons"].to_pylist()
        for i, kept_as in enumerate(duplicate_of):
            if kept_as is not None:
                keep[i] = False
                reasons[i] = list(reasons[i] or []) + [DUPLICATE_PREFIX + kept_as]
        out = out.set_column(out.schema.get_field_index("keep"), "keep", pa.array(keep, pa.bool_()))
        out = out.set_column(out.schema.get_field_index("drop_reasons"), "drop_reasons",
                             pa.array(reasons, pa.list_(pa.string())))
        for field in RESULT_FIELDS:
            out = out.append_column(field, columns[field.name])
        return out


def empty_columns(out: pa.Table) -> pa.Table:
    """``out`` with the result columns all null (dedup off)."""
    for field in RESULT_FIELDS:
        out = out.append_column(field, pa.nulls(out.num_rows, field.type))
    return out
