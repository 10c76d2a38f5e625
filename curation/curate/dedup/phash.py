"""Near-exact duplicates from perceptual hashes of the keyframes.

The hash (a DCT hash, as pHash): the image in grey, reduced to 32 x 32 pixels by area averaging, its 2-D DCT-II,
and the 64 lowest-frequency coefficients but the constant term (diagonal by diagonal from the top-left corner);
bit k is 1 where coefficient k exceeds the median of the 64. The constant term (the mean brightness) is left out:
in the usual pHash it is one bit that is always 1. A clip has three hashes, of its first, middle and last
keyframe, stored as unsigned 64-bit integers; an undecodable or missing keyframe gives a null hash (data, not an
exception).

Measured on frames of real videos (``benchmarks/bench_dedup.py``): the same separation of copies from distinct
pictures as ``imagehash.phash`` (the same algorithm), about 5x faster (the JPEG is decoded at half size inside the
JPEG decoder, and OpenCV does the rest). Re-encoding and resizing move 0-2 bits of 64 (90th percentile), a crop of
3 % a side 6-14, of 5 % 10-18, of 10 % 20-30; frames of different videos are 22 bits apart or more in 99 % of
pairs; on the synthetic test corpus two framings of one grey subject are 20-28 bits apart. So hashes find
re-encodes, resizes, trims and crops of a few percent; larger crops are the semantic path's.

Two clips are near-duplicates when the mean Hamming distance of their hashes over the keyframe positions both
have is at most ``max_distance`` bits. :func:`near_pairs` finds those pairs among millions of clips without
comparing every pair: banded locality-sensitive hashing on the hash bits (each band: a random subset of one
position's 64 bits; clips whose subsets agree are candidates, and every candidate is checked exactly), after
clips with identical hashes are joined directly.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pyarrow as pa

POSITIONS = ("first", "middle", "last")
HASH_COLUMNS = tuple(f"phash_{p}" for p in POSITIONS)
SIZE = 32  # the picture is reduced to SIZE x SIZE pixels before the DCT
BITS = 64

# The 64 lowest frequencies without the constant term: by diagonal (row + column), then nearest the diagonal's
# middle, so horizontal and vertical frequencies are treated alike.
_ORDER = sorted(((r, c) for r in range(12) for c in range(12) if (r, c) != (0, 0)),
                key=lambda rc: (rc[0] + rc[1], abs(rc[0] - rc[1]), rc[0]))[:BITS]
_ROWS = np.array([r for r, _ in _ORDER])
_COLS = np.array([c for _, c in _ORDER])
_WEIGHTS = np.left_shift(np.uint64(1), np.arange(BITS, dtype=np.uint64))


def hash_grey(image: np.ndarray) -> int:
    """The 64-bit DCT hash of a grey image (a 2-D array of any size and numeric type)."""
    small = cv2.resize(np.asarray(image, np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(small)[_ROWS, _COLS]
    return int(_WEIGHTS[coefficients > np.median(coefficients)].sum(dtype=np.uint64))


def hash_image(data: bytes | None) -> int | None:
    """The DCT hash of an encoded image (JPEG, or anything OpenCV decodes); None when ``data`` is empty or does
    not decode. The image is decoded at half size (the JPEG decoder's own scaling) unless it is small."""
    if not data:
        return None
    buffer = np.frombuffer(data, np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_GRAYSCALE_2)
        if image is not None and min(image.shape) < SIZE:
            image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    return hash_grey(image)


def hash_images(images: Sequence[bytes | None], workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of encoded images: (uint64 array, bool array valid). ``workers`` threads (OpenCV releases the GIL
    while decoding; default: one per CPU)."""
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(images) > 64:
        with ThreadPoolExecutor(workers) as pool:
            hashes = list(pool.map(hash_image, images, chunksize=64))
    else:
        hashes = [hash_image(image) for image in images]
    valid = np.array([h is not None for h in hashes], bool)
    return np.array([h or 0 for h in hashes], np.uint64), valid


def hash_keyframes(clip_ids: Sequence[str | None], keyframes: pa.Table,
                   workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The three hashes of every clip: ``keyframes`` has columns clip_id, position (first/middle/last) and jpeg
    (the annotate output's keyframe table, or part of it). Returns (n, 3) uint64 hashes and a (n, 3) bool valid
    mask, rows in the order of ``clip_ids``; a clip without a keyframe at a position, or whose keyframe does
    not decode, has valid False there."""
    row = {clip_id: i for i, clip_id in enumerate(clip_ids) if clip_id is not None}
    column = {p: k for k, p in enumerate(POSITIONS)}
    hashes = np.zeros((len(clip_ids), len(POSITIONS)), np.uint64)
    valid = np.zeros(hashes.shape, bool)
    ids, positions = keyframes["clip_id"].to_pylist(), keyframes["position"].to_pylist()
    where = [(row.get(c, -1), column.get(p, -1)) for c, p in zip(ids, positions)]
    wanted = [k for k, (r, c) in enumerate(where) if r >= 0 and c >= 0]
    jpegs = keyframes["jpeg"]
    values, ok = hash_images([jpegs[k].as_py() for k in wanted], workers)
    for k, value, good in zip(wanted, values, ok):
        r, c = where[k]
        hashes[r, c], valid[r, c] = value, good
    return hashes, valid


def hash_columns(hashes: np.ndarray, valid: np.ndarray) -> dict[str, pa.Array]:
    """The hashes as the table's uint64 columns ``phash_first`` / ``phash_middle`` / ``phash_last`` (null where
    not valid)."""
    return {name: pa.array(hashes[:, k], pa.uint64(), mask=~valid[:, k]) for k, name in enumerate(HASH_COLUMNS)}


def read_hash_columns(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) hashes and valid mask from a table's ``phash_*`` columns."""
    hashes = np.zeros((table.num_rows, len(POSITIONS)), np.uint64)
    valid = np.zeros(hashes.shape, bool)
    for k, name in enumerate(HASH_COLUMNS):
        column = table[name]
        valid[:, k] = np.asarray(column.is_valid())
        hashes[:, k] = column.fill_null(0).to_numpy(zero_copy_only=False)
    return hashes, valid


def distances(hashes: np.ndarray, valid: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Hamming distance (bits, 0-64) between the hashes of rows ``a`` and rows ``b`` over the positions both
    have; NaN where they have none in common."""
    total, count = _bit_sums(np.ascontiguousarray(hashes.T), np.ascontiguousarray(valid.T), a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _bit_sums(hashes: np.ndarray, valid: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Differing bits summed over the positions rows a and b both have, and how many positions that is;
    ``hashes`` and ``valid`` position-major, (3, n) (gathers from 1-D arrays are several times faster)."""
    total = np.zeros(len(a), np.int32)
    if valid.all():  # the usual case: every keyframe hashed
        for h in hashes:
            total += np.bitwise_count(h[a] ^ h[b])
        return total, np.full(len(a), len(hashes), np.int32)
    count = np.zeros(len(a), np.int32)
    for h, v in zip(hashes, valid):
        both = v[a] & v[b]
        total += np.where(both, np.bitwise_count(h[a] ^ h[b]), 0)
        count += both
    return total, count


def near_pairs(hashes: np.ndarray, valid: np.ndarray, max_distance: float = 12.0, bands: int = 64,
               band_bits: int | None = None, max_bucket: int = 2000,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of near-duplicate rows: (a, b, distance) with a < b and mean Hamming distance <= ``max_distance``
    bits (default 12 of 64) over the positions both rows have.

    hashes, valid: (n, 3) uint64 hashes and their valid mask (:func:`hash_keyframes`).
    bands: how many random bit subsets are tried (default 64, cycling over the three positions).
    band_bits: bits per subset (default: log2(rows) - 2, at least 12; about 2 random candidates per row and
        band); rows agreeing on all of them are candidates, and each candidate is checked exactly. A pair whose
        hashes differ in d of one position's 64 bits is a candidate in a band of that position with probability
        C(64 - d, band_bits) / C(64, band_bits), so more bands find more of the far pairs and fewer bits give
        more candidates to check. With the defaults, a pair d bits apart at every position is found with
        probability 1.0 / 0.97 / 0.84 (d = 8 / 10 / 12) among 100,000 clips and 0.98 / 0.83 / 0.53 among
        1,000,000 (``benchmarks/bench_dedup.py`` measures it). Rows with identical hashes are always found.
    max_bucket: a bucket of more rows than this is split by more bits (bounds the work on low-entropy hashes).
    seed: the bit subsets are drawn from it (the result is deterministic).

    Time about bands x n log n plus the candidates; memory O(n + pairs).
    """
    n = len(hashes)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if n < 2:
        return empty
    by_position, valid_by_position = np.ascontiguousarray(hashes.T), np.ascontiguousarray(valid.T)
    # Rows with identical hashes (and the same valid positions) are joined to the first of their kind directly;
    # only that one takes part in the bands.
    usable = np.flatnonzero(valid.any(axis=1))
    signature = np.take(np.where(valid_by_position, by_position, np.uint64(0)), usable, axis=1)
    flags = np.take(valid_by_position, usable, axis=1).astype(np.uint64)
    flags = (flags << np.arange(3, dtype=np.uint64)[:, None]).sum(axis=0)
    fingerprint = _mix(signature[0]) ^ _mix(signature[1] ^ _GOLDEN) ^ _mix(signature[2] + _GOLDEN) ^ _mix(flags)
    _, first, inverse = np.unique(fingerprint, return_index=True, return_inverse=True)
    leader = first[inverse.ravel()]
    copy = (leader != np.arange(len(usable))) & (signature == np.take(signature, leader, axis=1)).all(axis=0)
    a_parts, b_parts = [usable[leader[copy]]], [usable[copy]]
    reps = usable[~copy]
    bits = min(BITS, band_bits or max(12, math.ceil(math.log2(max(len(reps), 2))) - 2))
    rng = np.random.default_rng(seed)
    for band in range(bands if len(reps) > 1 else 0):
        position = band % len(POSITIONS)
        rows = reps[valid_by_position[position][reps]]
        order = rng.permutation(BITS)
        for members, i, j in _band_runs(by_position[position][rows], order, bits, max_bucket):
            # Rows in key order: the pairs (i, j) are near each other in it, so the checks read memory in order.
            r = rows[members]
            ordered = np.take(by_position, r, axis=1), np.take(valid_by_position, r, axis=1)
            total, count = _bit_sums(*ordered, i, j)
            good = (count > 0) & (total <= max_distance * count)
            a_parts.append(r[i[good]])
            b_parts.append(r[j[good]])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = np.unique(lo.astype(np.int64) * n + hi)
    a, b = key // n, key % n
    return a, b, distances(hashes, valid, a, b)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit mixing function (splitmix64's finaliser): equal inputs give equal outputs, others rarely."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _band_runs(values: np.ndarray, order: np.ndarray, bits: int, max_bucket: int):
    """Candidate pairs of one band: yields (members, i, j): ``members`` indexes ``values`` in key order, and
    (i, j) with i < j are positions in it whose values agree on bits ``order[:bits]`` (and rarely a few that do
    not: keys are 32-bit fingerprints of the chosen bits; every pair is checked anyway). A bucket over
    ``max_bucket`` rows is split by the next 4 bits of ``order``, until all 64 are used."""
    members = np.arange(len(values))
    while len(members) > 1:
        mask = _WEIGHTS[order[:bits]].sum(dtype=np.uint64)
        key = (_mix(values[members] & mask) >> np.uint64(32)).astype(np.uint32)  # 32-bit keys sort faster
        sort = np.argsort(key)
        key, members = key[sort], members[sort]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        lengths = np.diff(np.r_[starts, len(key)])
        big = lengths > max_bucket if bits < BITS else np.zeros(len(lengths), bool)
        ends = np.repeat(starts + lengths, lengths)
        small = ~np.repeat(big, lengths)
        i = np.flatnonzero(small & (ends - np.arange(len(key)) > 1))
        out_i, out_j = [], []
        offset = 1
        while i.size:
            out_i.append(i)
            out_j.append(i + offset)
            offset += 1
            i = i[i + offset < ends[i]]
        if out_i:
            yield members, np.concatenate(out_i), np.concatenate(out_j)
        members = members[~small]
        bits = min(BITS, bits + 4)
