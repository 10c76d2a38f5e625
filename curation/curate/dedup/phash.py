"""Near-exact duplicates from perceptual hashes of the keyframes.

The hash (a DCT hash, as pHash): the image in grey, reduced to 32 x 32 pixels by area averaging, its 2-D DCT-II,
and the 64 lowest-frequency coefficients but the constant term (diagonal by diagonal from the top-left corner);
bit k is 1 where coefficient k exceeds the median of the 64. The constant term (the mean brightness) is left out:
in the usual pHash it is one bit that is always 1. A clip has three hashes, of its first, middle and last
keyframe, stored as unsigned 64-bit integers; an undecodable or missing keyframe gives a null hash (data, not an
exception).

Before hashing, black bars (letterbox, pillarbox) are cut off the keyframe (:mod:`.borders`), so a copy with bars
added hashes as the picture does. Each keyframe is also hashed at three centre crops, ``CROPS`` = 3.3, 6.7 and
10 % of each side (its "crop levels"; level 0 is the whole picture): a copy cropped c % a side and scaled back
shows what the original's crop at about c % shows, so its whole-picture hash is near the original's hash at the
nearest level (at most 1.7 % a side off).

Measured on frames of real videos (``benchmarks/bench_dedup.py``): the same separation of copies from distinct
pictures as ``imagehash.phash`` (the same algorithm), about 5x faster (the JPEG is decoded at half size inside the
JPEG decoder, and OpenCV does the rest). Re-encoding and resizing move 0-2 bits of 64 (90th percentile), a crop of
3 % a side 6-14, of 5 % 10-18, of 10 % 20-30 at level 0; frames of different videos are 22 bits apart or more in
99 % of pairs; on the synthetic test corpus two framings of one grey subject are 20-28 bits apart at level 0, and
a framing 14 % a side tighter comes to 10.7-12.7 bits of the grey subject's crops, while copies cropped 4-10 %
come within 1.3-6.7 bits at their level.

Two clips are near-duplicates when either
- the mean Hamming distance of their whole-picture hashes over the keyframe positions both have is at most
  ``max_distance`` bits (default 12), or
- for one crop level, the mean distance of one clip's crops to the other's whole-picture hashes is at most
  ``crop_distance`` bits (default 8; one level for all keyframes, as a crop is the same all through a copy).
The crop test is tighter because it gives every pair six more chances (3 levels, either way round) and a
tighter framing of one subject (another shot) is, to the hash, a crop: 8 bits keeps the 14 %-tighter framing
of the test corpus out (10.7 bits at best) and the cropped copies in (6.7 at most).

:func:`near_pairs` finds those pairs among millions of clips without comparing every pair: banded
locality-sensitive hashing on the hash bits (each band: a random subset of one position's 64 bits; the items of a
band are every clip's hash at every level, and items whose subsets agree are candidates, each checked exactly),
after clips with identical hashes are joined directly.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pyarrow as pa

from curation.curate.dedup.borders import strip_borders

POSITIONS = ("first", "middle", "last")
HASH_COLUMNS = tuple(f"phash_{p}" for p in POSITIONS)
CROP_COLUMNS = tuple(f"phash_{p}_crops" for p in POSITIONS)
CROPS = (1 / 30, 2 / 30, 3 / 30)  # crop levels 1-3: the share of each side cut off
LEVELS = 1 + len(CROPS)
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
    """The 64-bit DCT hash of a grey image (a 2-D array of any size and numeric type), as it is: no bars cut."""
    small = cv2.resize(np.asarray(image, np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    coefficients = cv2.dct(small)[_ROWS, _COLS]
    return int(_WEIGHTS[coefficients > np.median(coefficients)].sum(dtype=np.uint64))


def hash_levels(image: np.ndarray) -> np.ndarray:
    """The hashes of a grey image at every crop level: (LEVELS,) uint64, level 0 the whole picture, level k the
    centre crop without ``CROPS[k - 1]`` of each side; black bars are cut first (:func:`.borders.strip_borders`)."""
    picture = strip_borders(image)
    h, w = picture.shape
    out = np.empty(LEVELS, np.uint64)
    for k, share in enumerate((0.0, *CROPS)):
        dy, dx = int(round(share * h)), int(round(share * w))
        out[k] = hash_grey(picture[dy:h - dy, dx:w - dx])
    return out


def hash_image(data: bytes | None) -> np.ndarray | None:
    """The hashes of an encoded image (JPEG, or anything OpenCV decodes) at every crop level
    (:func:`hash_levels`); None when ``data`` is empty or does not decode. The image is decoded at half size (the
    JPEG decoder's own scaling) unless it is small."""
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
    return hash_levels(image)


def hash_images(images: Sequence[bytes | None], workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of encoded images at every crop level: ((m, LEVELS) uint64, (m,) bool valid). ``workers`` threads
    (OpenCV releases the GIL while decoding; default: one per CPU)."""
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(images) > 64:
        with ThreadPoolExecutor(workers) as pool:
            hashes = list(pool.map(hash_image, images, chunksize=64))
    else:
        hashes = [hash_image(image) for image in images]
    valid = np.array([h is not None for h in hashes], bool)
    out = np.zeros((len(hashes), LEVELS), np.uint64)
    if valid.any():
        out[valid] = np.stack([h for h in hashes if h is not None])
    return out, valid


def hash_keyframes(clip_ids: Sequence[str | None], keyframes: pa.Table,
                   workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The hashes of every clip: ``keyframes`` has columns clip_id, position (first/middle/last) and jpeg (the
    annotate output's keyframe table, or part of it). Returns (n, 3, LEVELS) uint64 hashes (position, crop
    level) and a (n, 3) bool valid mask, rows in the order of ``clip_ids``; a clip without a keyframe at a
    position, or whose keyframe does not decode, has valid False there."""
    row = {clip_id: i for i, clip_id in enumerate(clip_ids) if clip_id is not None}
    column = {p: k for k, p in enumerate(POSITIONS)}
    hashes = np.zeros((len(clip_ids), len(POSITIONS), LEVELS), np.uint64)
    valid = np.zeros(hashes.shape[:2], bool)
    ids, positions = keyframes["clip_id"].to_pylist(), keyframes["position"].to_pylist()
    where = [(row.get(c, -1), column.get(p, -1)) for c, p in zip(ids, positions)]
    wanted = [k for k, (r, c) in enumerate(where) if r >= 0 and c >= 0]
    jpegs = keyframes["jpeg"]
    values, ok = hash_images([jpegs[k].as_py() for k in wanted], workers)
    if wanted:
        r, c = np.array([where[k] for k in wanted]).T
        hashes[r, c], valid[r, c] = values, ok
    return hashes, valid


def hash_columns(hashes: np.ndarray, valid: np.ndarray) -> dict[str, pa.Array]:
    """The hashes as the table's columns: ``phash_first`` / ``phash_middle`` / ``phash_last`` (uint64, the whole
    picture) and, for (n, 3, LEVELS) hashes, ``phash_first_crops`` / ... (fixed-size list of the crop levels'
    uint64 hashes, ``CROPS`` order); null where not valid."""
    hashes = _with_levels(hashes)
    out = {name: pa.array(hashes[:, k, 0], pa.uint64(), mask=~valid[:, k]) for k, name in enumerate(HASH_COLUMNS)}
    if hashes.shape[2] == LEVELS:
        for k, name in enumerate(CROP_COLUMNS):
            values = pa.array(hashes[:, k, 1:].ravel(), pa.uint64())
            out[name] = pa.FixedSizeListArray.from_arrays(values, len(CROPS), mask=pa.array(~valid[:, k]))
    return out


def read_hash_columns(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and valid mask from a table's ``phash_*`` columns: (n, 3, LEVELS) with the crop columns, (n, 3, 1)
    from a table written before there were crop levels (its pairs are then found on whole pictures only)."""
    crops = all(name in table.column_names for name in CROP_COLUMNS)
    hashes = np.zeros((table.num_rows, len(POSITIONS), LEVELS if crops else 1), np.uint64)
    valid = np.zeros(hashes.shape[:2], bool)
    for k, name in enumerate(HASH_COLUMNS):
        column = table[name]
        valid[:, k] = np.asarray(column.is_valid())
        hashes[:, k, 0] = column.fill_null(0).to_numpy(zero_copy_only=False)
        if crops:
            lists = table[CROP_COLUMNS[k]].combine_chunks()
            if lists.type != pa.list_(pa.uint64(), len(CROPS)):
                raise ValueError(f"{CROP_COLUMNS[k]}: expected fixed_size_list<uint64>[{len(CROPS)}], "
                                 f"got {lists.type}")
            values = lists.values.fill_null(0).to_numpy(zero_copy_only=False).reshape(-1, len(CROPS))
            hashes[:, k, 1:] = values[lists.offset:lists.offset + len(lists)]
            valid[:, k] &= np.asarray(lists.is_valid())
    return hashes, valid


def _with_levels(hashes: np.ndarray) -> np.ndarray:
    """(n, 3) whole-picture hashes as (n, 3, 1); (n, 3, L) as they are."""
    return hashes[:, :, None] if hashes.ndim == 2 else hashes


def distances(hashes: np.ndarray, valid: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Hamming distance (bits, 0-64) between the whole-picture hashes of rows ``a`` and rows ``b`` over the
    positions both have; NaN where they have none in common. hashes: (n, 3) or (n, 3, L)."""
    levels = _position_major(hashes)
    zero = np.zeros(len(a), np.int64)
    return _mean(*_pair_bits(levels, np.ascontiguousarray(valid.T), zero, a, zero, b))


def crop_distances(hashes: np.ndarray, valid: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The least, over crop levels and both ways round, mean Hamming distance (bits) between one row's crops and
    the other's whole-picture hashes (rows ``a`` against rows ``b``); NaN where they have no position in common
    or ``hashes`` has no crop levels."""
    levels, by_position = _position_major(hashes), np.ascontiguousarray(valid.T)
    best = np.full(len(a), np.nan)
    zero = np.zeros(len(a), np.int64)
    for level in range(1, levels.shape[1]):
        at = np.full(len(a), level, np.int64)
        for one in (_pair_bits(levels, by_position, at, a, zero, b), _pair_bits(levels, by_position, zero, a, at, b)):
            best = np.fmin(best, _mean(*one))
    return best


def _position_major(hashes: np.ndarray) -> np.ndarray:
    """(n, 3[, L]) hashes as a contiguous (3, L, n) array (gathers from it read one position and level at a
    time)."""
    return np.ascontiguousarray(_with_levels(hashes).transpose(1, 2, 0))


def _mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _pair_bits(levels: np.ndarray, valid: np.ndarray, la: np.ndarray, a: np.ndarray, lb: np.ndarray,
               b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Differing bits between the hashes at level ``la`` of rows ``a`` and at level ``lb`` of rows ``b``, summed
    over the positions both rows have, and how many positions that is; ``levels`` (3, L, n) and ``valid`` (3, n)
    position-major (gathers from 1-D arrays are several times faster)."""
    n = levels.shape[2]
    ia, ib = la * n + a, lb * n + b
    total = np.zeros(len(a), np.int32)
    if valid.all():  # the usual case: every keyframe hashed
        for h in levels.reshape(len(levels), -1):
            total += np.bitwise_count(h[ia] ^ h[ib])
        return total, np.full(len(a), len(levels), np.int32)
    count = np.zeros(len(a), np.int32)
    for h, v in zip(levels.reshape(len(levels), -1), valid):
        both = v[a] & v[b]
        total += np.where(both, np.bitwise_count(h[ia] ^ h[ib]), 0)
        count += both
    return total, count


def near_pairs(hashes: np.ndarray, valid: np.ndarray, max_distance: float = 12.0,
               crop_distance: float | None = 8.0, bands: int = 64, band_bits: int | None = None,
               max_bucket: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of near-duplicate rows: (a, b, distance) with a < b whose whole-picture hashes are at most
    ``max_distance`` bits apart (mean Hamming distance over the positions both rows have; default 12 of 64), or
    one of whose crops is at most ``crop_distance`` bits (default 8) from the other's whole picture; distance is
    the whole-picture one where that is in reach, else the crop one.

    hashes, valid: (n, 3, LEVELS) uint64 hashes and the (n, 3) valid mask (:func:`hash_keyframes`); (n, 3)
        whole-picture hashes only (or ``crop_distance`` None) leave the crop test out.
    bands: how many random bit subsets are tried (default 64, cycling over the three positions); each band
        holds every row's hash at every crop level, and a pair of items is a candidate when one of them is a
        whole picture.
    band_bits: bits per subset (default: log2(rows) - 2 without crop levels, log2(rows) - 1 with them, at least
        12; about 2 random candidates a row and band without, 16 with, 4 an item); items agreeing on all of them
        are candidates, and each candidate is checked exactly. A pair whose hashes differ in d of one position's
        64 bits is a candidate in a band of that position with probability C(64 - d, band_bits) /
        C(64, band_bits), so more bands find more of the far pairs and fewer bits give more candidates to
        check. Without crop levels and with the defaults, a pair d bits apart at every position is found with
        probability 1.0 / 0.97 / 0.84 (d = 8 / 10 / 12) among 100,000 clips and 0.98 / 0.83 / 0.53 among
        1,000,000; with them 1.0 / 0.94 / 0.74 among 100,000, and a cropped copy 8 bits off its level 0.995
        (``benchmarks/bench_dedup.py`` measures it). Rows with identical hashes are always found.
    max_bucket: a bucket of more items than this is split by more bits (bounds the work on low-entropy hashes).
    seed: the bit subsets are drawn from it (the result is deterministic).

    Time about bands x m log m plus the candidates, m = n x crop levels (with 4: about 7x the time without,
    13,000 against 92,000 clips/s at 100,000 clips); memory O(m + pairs).
    """
    levels = _position_major(hashes)
    if crop_distance is None:
        levels = levels[:, :1]
    n, depth = levels.shape[2], levels.shape[1]
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if n < 2:
        return empty
    by_position, valid_by_position = levels[:, 0], np.ascontiguousarray(valid.T)
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
    # log2(rows) - 2 bits: about 2 random candidates a row and band. With crop levels a band holds 4 items a row;
    # log2(items) - 2 bits would keep the candidates per item, but find fewer whole-picture pairs near
    # max_distance (0.63 against 0.83 at 12 bits among 100,000 clips); log2(rows) - 1 finds 0.74 at 1.7x its time.
    bits = min(BITS, band_bits or max(12, math.ceil(math.log2(max(len(reps), 2))) - (1 if depth > 1 else 2)))
    rng = np.random.default_rng(seed)
    for band in range(bands if len(reps) > 1 else 0):
        position = band % len(POSITIONS)
        rows = reps[valid_by_position[position][reps]]
        count = len(rows)
        order = rng.permutation(BITS)
        # Item k of the band: row rows[k % count] at level k // count.
        for members, i, j in _band_runs(levels[position][:, rows].ravel(), order, bits, max_bucket):
            ki, kj = members[i], members[j]
            li, lj = ki // count, kj // count
            ri, rj = rows[ki % count], rows[kj % count]
            # A pairing is one row's crop against the other's whole picture: two crops, or a row and its own
            # crop, are none.
            pairing = (ri != rj) & ((li == 0) | (lj == 0))
            li, lj, ri, rj = li[pairing], lj[pairing], ri[pairing], rj[pairing]
            total, common = _pair_bits(levels, valid_by_position, li, ri, lj, rj)
            limit = np.where((li == 0) & (lj == 0), max_distance, crop_distance or 0.0)
            good = (common > 0) & (total <= limit * common)
            a_parts.append(ri[good])
            b_parts.append(rj[good])
    a, b = np.concatenate(a_parts), np.concatenate(b_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = np.unique(lo.astype(np.int64) * n + hi)
    a, b = key // n, key % n
    d = distances(hashes, valid, a, b)
    if depth > 1:
        d = np.where(d <= max_distance, d, crop_distances(hashes, valid, a, b))
    return a, b, d


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
