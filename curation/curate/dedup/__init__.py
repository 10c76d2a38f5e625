"""Duplicate clips: near-exact copies from perceptual hashes of the keyframes (:mod:`.phash`, no model weights)
and semantic duplicates from the CLIP image embeddings (:mod:`.semantic`), joined into groups (:mod:`.groups`);
each group keeps one clip by a rule and every other member is ``duplicate_of`` it.

Everything here takes plain arrays (one row per row of the clip table) and returns arrays; reading the table and
the keyframes, and writing the result, is the caller's (``curate filter``).
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from curation.curate.dedup.groups import KEEP_RULES, choose_keepers, connected_groups
from curation.curate.dedup.phash import CROP_COLUMNS, HASH_COLUMNS, hash_columns, hash_keyframes, near_pairs
from curation.curate.dedup.semantic import semantic_pairs

DUPLICATE_PREFIX = "duplicate_of:"  # the drop reason: duplicate_of:<clip_id of the kept clip>
DUPLICATE_REASON = "duplicate"      # how funnels count those reasons (one rule)

__all__ = ["Duplicates", "find_duplicates", "hash_keyframes", "hash_columns", "near_pairs", "semantic_pairs",
           "KEEP_RULES", "HASH_COLUMNS", "CROP_COLUMNS", "DUPLICATE_PREFIX", "DUPLICATE_REASON"]


@dataclass
class Duplicates:
    """The result, one entry per row of the input.

    group: int64 group id (0..groups-1, numbered by each group's first row); -1 for a clip with no duplicate.
    keeper: int64 row the group keeps (a keeper points to itself); -1 outside groups.
    duplicate_of: (string array) clip id of the group's kept clip for every other member; null for keepers and
        unique clips.
    hash_pairs, semantic_pairs: pairs found by each method (a pair both find counts in both).
    """

    group: np.ndarray
    keeper: np.ndarray
    duplicate_of: pa.Array
    hash_pairs: int = 0
    semantic_pairs: int = 0

    @property
    def groups(self) -> int:
        return int(self.group.max()) + 1 if len(self.group) else 0

    @property
    def duplicates(self) -> int:
        """Rows that are a duplicate of another (dropped by dedup)."""
        return len(self.duplicate_of) - self.duplicate_of.null_count

    def columns(self) -> dict[str, pa.Array]:
        """``dedup_group`` (int64, null outside groups) and ``duplicate_of`` (string, null for kept clips)."""
        return {"dedup_group": pa.array(self.group, pa.int64(), mask=self.group < 0),
                "duplicate_of": self.duplicate_of}


def find_duplicates(clip_ids: Sequence[str | None] | pa.Array | pa.ChunkedArray, hashes: np.ndarray | None = None,
                    hash_valid: np.ndarray | None = None, embeddings: np.ndarray | None = None,
                    embedding_valid: np.ndarray | None = None, *, max_distance: float = 12.0,
                    crop_distance: float | None = 8.0, threshold: float = 0.95, clusters: int | None = None,
                    probes: int = 1, keep: str = "aesthetic",
                    aesthetic: np.ndarray | None = None, duration: np.ndarray | None = None,
                    eligible: np.ndarray | None = None, bands: int = 64, seed: int = 0) -> Duplicates:
    """Group duplicate clips and choose the one each group keeps.

    clip_ids: one per row, a sequence or an Arrow string array (rows without a clip id take no part).
    hashes, hash_valid: (n, 3, LEVELS) keyframe hashes at every crop level, or (n, 3) whole-picture ones, and the
        (n, 3) valid mask (:func:`.phash.hash_keyframes`); None skips the hash path. max_distance: mean Hamming
        distance in bits (0-64, default 12) of the whole pictures at or under which two clips are
        near-duplicates; crop_distance: the same for one clip's crops against the other's whole picture (default
        8; None: no crop test); bands: see :func:`.phash.near_pairs`.
    embeddings, embedding_valid: (n, D) CLIP image embeddings and which rows have one; None skips the semantic
        path. threshold: cosine similarity (default 0.95) at or over which two clips are semantic duplicates;
        clusters: k-means clusters (default about 1,000 clips each); probes: clusters each clip joins (default
        1; 2 finds the pairs k-means split, at about four times the cost).
    keep, aesthetic, duration, eligible: the keeper rule (:func:`.groups.choose_keepers`; default
        ``aesthetic``, falling back to the longest, then the first row).
    seed: the hash bands and k-means start from it (deterministic result).
    """
    ids = clip_ids.combine_chunks() if isinstance(clip_ids, pa.ChunkedArray) else pa.array(clip_ids, pa.string())
    n = len(ids)
    has_id = np.asarray(ids.is_valid())
    a_parts, b_parts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    hash_count = semantic_count = 0
    if hashes is not None:
        valid = (np.ones(hashes.shape[:2], bool) if hash_valid is None else hash_valid) & has_id[:, None]
        a, b, _ = near_pairs(hashes, valid, max_distance, crop_distance, bands=bands, seed=seed)
        a_parts.append(a), b_parts.append(b)
        hash_count = len(a)
    if embeddings is not None:
        valid = (np.ones(n, bool) if embedding_valid is None else embedding_valid) & has_id
        a, b, _ = semantic_pairs(embeddings, valid, threshold, clusters, probes, seed=seed)
        a_parts.append(a), b_parts.append(b)
        semantic_count = len(a)
    group = connected_groups(n, np.concatenate(a_parts), np.concatenate(b_parts))
    keeper = choose_keepers(group, keep, aesthetic, duration, eligible)
    is_duplicate = (keeper >= 0) & (keeper != np.arange(n))
    duplicate_of = ids.take(pa.array(np.where(is_duplicate, keeper, 0), pa.int64(), mask=~is_duplicate)) if n \
        else pa.array([], pa.string())
    return Duplicates(group, keeper, duplicate_of, hash_count, semantic_count)


def embedding_matrix(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list<float16> embedding column as a (n, D) float16 matrix and a valid mask (rows with a null, an
    empty or a wrong-length list are not valid)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = column.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    dims = np.bincount(lengths[lengths > 0]) if (lengths > 0).any() else np.zeros(1, np.int64)
    d = int(dims.argmax()) if dims.any() else 0
    valid = lengths == d if d else np.zeros(len(column), bool)
    out = np.zeros((len(column), d), np.float16)
    if d and valid.any():
        values = column.filter(pa.array(valid)).flatten().to_numpy(zero_copy_only=False)
        out[valid] = np.asarray(values, np.float16).reshape(-1, d)
    return out, valid
