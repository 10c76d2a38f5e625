"""Near-exact duplicates from keyframe hashes, on real keyframes: synthetic videos and their copies go through
the real ``curate annotate`` scan (cuts, motion, keyframes, in this process); the copies (cropped, letterboxed and
pillarboxed ones included) are grouped with their original, distinct clips (two shots of one scene included) are
not."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa
import pytest

from curation.curate.dedup import find_duplicates
from curation.curate.dedup.phash import (CROP_COLUMNS, CROPS, HASH_COLUMNS, LEVELS, crop_distances, distances,
                                         hash_columns, hash_grey, hash_image, hash_keyframes, hash_levels,
                                         near_pairs, read_hash_columns)
from tests.curate.dedup.corpus import COPIES, DISTINCT, FRAMING_COPIES, FRAMING_DISTINCT


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


def test_cropped_and_boxed_copies_are_grouped_and_distinct_framings_are_not(annotated_framings):
    _, names, table, keyframes = annotated_framings
    ids = table["clip_id"].to_pylist()
    hashes, valid = hash_keyframes(ids, keyframes)
    assert valid.all() and hashes.shape == (len(ids), 3, LEVELS)
    group = dict(zip(names, find_duplicates(ids, hashes, valid, keep="first").group.tolist()))
    for copy, original in FRAMING_COPIES.items():
        assert group[copy] >= 0 and group[copy] == group[original], (copy, group)
    for name in FRAMING_DISTINCT:
        assert group[name] == -1, (name, group)
    assert group["scene"] != group["grey"]
    # Whole pictures alone find the boxed copies (their bars are cut) but not the cropped ones.
    plain = dict(zip(names, find_duplicates(ids, hashes, valid, crop_distance=None).group.tolist()))
    assert plain["scene_letterbox"] == plain["scene_pillarbox"] == plain["scene"] >= 0
    for copy in ("scene_crop10", "grey_crop10"):
        assert plain[copy] == -1 or plain[copy] != plain[FRAMING_COPIES[copy]], copy


@pytest.mark.parametrize("corpus", ["annotated", "annotated_framings"])
def test_copies_are_near_and_other_shots_of_the_scene_far(corpus, request):
    """The margins behind the default thresholds (mean 12 bits of 64 over the three keyframes for whole
    pictures, 8 for a crop level against a whole picture), at the best crop pairing."""
    _, names, table, keyframes = request.getfixturevalue(corpus)
    hashes, valid = hash_keyframes(table["clip_id"].to_pylist(), keyframes)
    at = {n: i for i, n in enumerate(names)}
    copies, distinct = (COPIES, DISTINCT) if corpus == "annotated" else (FRAMING_COPIES, FRAMING_DISTINCT)

    def distance(a: str, b: str, crops: bool = False) -> float:
        measure = crop_distances if crops else distances
        return float(measure(hashes, valid, np.array([at[a]]), np.array([at[b]]))[0])

    for copy, original in copies.items():
        assert min(distance(copy, original), distance(copy, original, crops=True) + 4) <= 10, copy
    for name in distinct:
        for original in {n for n in (*copies, *copies.values()) if n.split("_")[0] == name.split("_")[0]}:
            assert distance(name, original) >= 15 and distance(name, original, crops=True) >= 10, (name, original)


def test_black_bars_are_cut_before_hashing_and_a_dark_picture_is_not():
    picture = (np.random.default_rng(1).random((90, 160)) * 255).astype(np.uint8)
    letterbox = np.pad(picture, ((15, 15), (0, 0)))
    pillarbox = np.pad(picture, ((0, 0), (30, 30)))
    assert (hash_levels(letterbox) == hash_levels(picture)).all()
    assert (hash_levels(pillarbox) == hash_levels(picture)).all()
    # Level k is the centre crop without CROPS[k - 1] of each side.
    dy, dx = int(round(CROPS[-1] * 90)), int(round(CROPS[-1] * 160))
    assert hash_levels(picture)[-1] == hash_grey(picture[dy:90 - dy, dx:160 - dx])
    dark = picture // 5  # mean about 25, deviation about 15: dark, not flat, so no bar
    assert (hash_levels(dark) == hash_levels(np.pad(dark, ((15, 15), (0, 0))))).all()
    assert hash_levels(dark)[0] == hash_grey(dark)
    night = picture // 40  # dark and flat all over: a picture, not bars, and hashed whole
    assert hash_levels(night)[0] == hash_grey(night)


def test_hashing_survives_bad_images_and_stores_uint64_columns():
    rng = np.random.default_rng(0)
    image = (rng.random((90, 160)) * 255).astype(np.uint8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    assert (hash_image(jpeg) == hash_levels(decoded)).all() and hash_image(jpeg)[0] == hash_grey(decoded)
    assert bin(int(hash_image(jpeg)[0])).count("1") == 32  # median split: half the bits
    assert hash_image(b"") is None and hash_image(None) is None and hash_image(b"not a jpeg") is None
    keyframes = pa.table({"clip_id": ["a", "a", "a", "b", "b"],
                          "position": ["first", "middle", "last", "first", "last"],
                          "jpeg": [jpeg, jpeg, b"\xff\xd8broken", jpeg, jpeg]})
    hashes, valid = hash_keyframes(["a", "b", None, "c"], keyframes)
    assert valid.tolist() == [[True, True, False], [True, False, True], [False] * 3, [False] * 3]
    columns = hash_columns(hashes, valid)
    assert list(columns) == [*HASH_COLUMNS, *CROP_COLUMNS]
    assert all(columns[c].type == pa.uint64() for c in HASH_COLUMNS)
    assert all(columns[c].type == pa.list_(pa.uint64(), len(CROPS)) for c in CROP_COLUMNS)
    levels = hash_image(jpeg)
    assert columns["phash_middle"].to_pylist() == [int(levels[0]), None, None, None]
    assert columns["phash_middle_crops"].to_pylist() == [[int(v) for v in levels[1:]], None, None, None]
    back, back_valid = read_hash_columns(pa.table(columns))
    assert (back_valid == valid).all() and (back[valid] == hashes[valid]).all()
    # A table written before the crop levels: whole-picture hashes only.
    old, old_valid = read_hash_columns(pa.table({c: columns[c] for c in HASH_COLUMNS}))
    assert old.shape == (4, 3, 1) and (old[valid, 0] == hashes[valid, 0]).all() and (old_valid == valid).all()


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


def test_near_pairs_find_planted_cropped_copies_through_the_crop_levels():
    rng = np.random.default_rng(4)
    n, planted = 5000, 200
    hashes = rng.integers(0, 2 ** 63, (n, 3, LEVELS), dtype=np.int64).astype(np.uint64) * np.uint64(2)
    valid = np.ones((n, 3), bool)
    level = rng.integers(1, LEVELS, planted)
    for k in range(planted):  # row k: the whole picture 0-6 bits off row planted + k's crop at one level
        far = int(rng.integers(0, 4)) * 2
        hashes[k, :, 0] = [flip(int(h), rng, far) for h in hashes[planted + k, :, level[k]]]
    want = {(k, planted + k) for k in range(planted)}
    a, b, d = near_pairs(hashes, valid)
    found = set(zip(a.tolist(), b.tolist()))
    assert found <= want and len(found) >= 0.98 * planted and (d <= 8).all()
    assert crop_distances(hashes, valid, a, b).max() <= 8
    # Without the crop test, none of them: their whole pictures are random to each other.
    a, _, _ = near_pairs(hashes, valid, crop_distance=None)
    assert len(a) == 0
