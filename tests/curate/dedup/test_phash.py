"""Near-exact duplicates from keyframe hashes, on real keyframes: synthetic videos and their copies go through
the real ``curate annotate`` scan (cuts, motion, keyframes, in this process); the copies are grouped with their
original, distinct clips (two shots of one scene included) are not."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from curation.curate.dedup import find_duplicates
from curation.curate.dedup.phash import (HASH_COLUMNS, distances, hash_columns, hash_grey, hash_image,
                                         hash_keyframes, near_pairs, read_hash_columns)
from tests.curate.dedup.corpus import COPIES, DISTINCT


def test_copies_are_grouped_with_their_original_and_distinct_shots_are_not(annotated):
    _, names, table, keyframes = annotated
    ids = table["clip_id"].to_pylist()
    hashes, valid = hash_keyframes(ids, keyframes)
    assert valid.all()
    result = find_duplicates(ids, hashes, valid, keep="longest", duration=table["duration_s"].to_numpy())
    group = dict(zip(names, result.group.tolist()))
    for copy, original in COPIES.items():
        assert group[copy] >= 0 and group[copy] == group[original], (copy, group)
    for name in DISTINCT:
        assert group[name] == -1, (name, group)
    assert group["pan"] != group["grey"]
    # Each group keeps one clip (the longest: the trimmed copy is never kept); the others point to it.
    duplicate_of = result.duplicate_of.to_pylist()
    for original in ("pan", "grey"):
        members = [i for i, n in enumerate(names) if group[n] == group[original]]
        kept = [i for i in members if duplicate_of[i] is None]
        assert len(kept) == 1 and names[kept[0]] != "pan_trim"
        assert all(duplicate_of[i] == ids[kept[0]] for i in members if i != kept[0])
    assert result.duplicates == len(COPIES)


def test_copies_are_near_and_other_shots_of_the_scene_far(annotated):
    """The margins behind the default threshold (mean 12 bits of 64 over the three keyframes)."""
    _, names, table, keyframes = annotated
    hashes, valid = hash_keyframes(table["clip_id"].to_pylist(), keyframes)
    at = {n: i for i, n in enumerate(names)}

    def distance(a: str, b: str) -> float:
        return float(distances(hashes, valid, np.array([at[a]]), np.array([at[b]]))[0])

    for copy, original in COPIES.items():
        assert distance(copy, original) <= 10, copy
    for name in DISTINCT:
        original = "grey" if name.startswith("grey") else "pan"
        assert distance(name, original) >= 18, name


def test_hashing_survives_bad_images_and_stores_uint64_columns():
    rng = np.random.default_rng(0)
    image = (rng.random((90, 160)) * 255).astype(np.uint8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    assert hash_image(jpeg) == hash_grey(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2))
    assert bin(hash_image(jpeg)).count("1") == 32  # median split: half the bits
    assert hash_image(b"") is None and hash_image(None) is None and hash_image(b"not a jpeg") is None
    keyframes = pa.table({"clip_id": ["a", "a", "a", "b", "b"],
                          "position": ["first", "middle", "last", "first", "last"],
                          "jpeg": [jpeg, jpeg, b"\xff\xd8broken", jpeg, jpeg]})
    hashes, valid = hash_keyframes(["a", "b", None, "c"], keyframes)
    assert valid.tolist() == [[True, True, False], [True, False, True], [False] * 3, [False] * 3]
    columns = hash_columns(hashes, valid)
    assert list(columns) == list(HASH_COLUMNS) and all(c.type == pa.uint64() for c in columns.values())
    assert columns["phash_middle"].to_pylist() == [hash_image(jpeg), None, None, None]
    back, back_valid = read_hash_columns(pa.table(columns))
    assert (back_valid == valid).all() and (back[valid] == hashes[valid]).all()


def flip(value: int, rng, bits: int) -> int:
    for b in rng.choice(64, bits, replace=False):
        value ^= 1 << int(b)
    return value


def test_near_pairs_find_planted_copies_without_comparing_all_pairs():
    rng = np.random.default_rng(3)
    n, planted = 5000, 200
    hashes = rng.integers(0, 2 ** 63, (n, 3), dtype=np.int64).astype(np.uint64) * np.uint64(2) \
        + rng.integers(0, 2, (n, 3)).astype(np.uint64)
    valid = np.ones((n, 3), bool)
    far = rng.integers(0, 7, planted) * 2  # 0-12 bits apart at every position
    for k in range(planted):
        hashes[k] = [flip(int(h), rng, int(far[k])) for h in hashes[planted + k]]
    valid[5, 1] = False  # a missing keyframe: the pair is judged on the other two
    a, b, d = near_pairs(hashes, valid)
    found = set(zip(a.tolist(), b.tolist()))
    want = {(k, planted + k) for k in range(planted)}
    assert found <= want  # random 64-bit hashes are about 32 bits apart: no false pair
    assert len(found) >= 0.95 * planted and all((k, planted + k) in found for k in range(planted) if far[k] <= 8)
    assert (d <= 12).all()
    # Identical hashes are always joined, also with no bands and with a bucket limit of 2.
    hashes[10] = hashes[20] = hashes[30]
    a, b, _ = near_pairs(hashes, valid, bands=0)
    assert {(10, 20), (10, 30)} <= set(zip(a.tolist(), b.tolist()))
    a2, b2, _ = near_pairs(hashes, valid, max_bucket=2)
    assert len(a2) >= 0.95 * planted
