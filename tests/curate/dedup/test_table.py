"""The dedup step over a clip table given part by part: hashes from each part's keyframes, groups across parts,
the result added to each filtered part in order."""
from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa

from curation.curate.dedup.table import EMBEDDING, RESULT_FIELDS, DedupPass, empty_columns
from curation.testing.synthetic import texture


def jpeg(seed: int, crop: int = 0) -> bytes:
    image = texture(seed, 320, 180)
    if crop:
        image = cv2.resize(image[crop:180 - crop, crop:320 - crop], (320, 180), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


def part(ids, seeds, aesthetic, crops=None):
    rows = pa.table({"clip_id": ids, "aesthetic": aesthetic, "duration_s": [4.0] * len(ids),
                     EMBEDDING: pa.nulls(len(ids), pa.list_(pa.float16()))})
    frames = {"clip_id": [], "position": [], "jpeg": []}
    for k, (clip, seed) in enumerate(zip(ids, seeds)):
        if clip is None or seed is None:
            continue
        for position in ("first", "middle", "last"):
            frames["clip_id"].append(clip)
            frames["position"].append(position)
            frames["jpeg"].append(jpeg(seed, (crops or [0] * len(ids))[k]) if seed >= 0 else b"broken")
    return rows, pa.table(frames)


def filtered(rows: pa.Table) -> pa.Table:
    """What the rules made of the part: everything kept but a clip with reason ``x``."""
    keep = [c is not None and c != "b2" for c in rows["clip_id"].to_pylist()]
    reasons = [[] if k else ["x"] for k in keep]
    return rows.append_column("keep", pa.array(keep)).append_column("drop_reasons",
                                                                    pa.array(reasons, pa.list_(pa.string())))


def test_groups_span_parts_and_duplicates_get_their_reason():
    # Part 1: a1 (seed 1), a2 (seed 2), a status row; part 2: b1 = a1 re-encoded and slightly cropped with a
    # higher score, b2 = a2 but dropped by another rule, b3 unique, b4 with undecodable keyframes.
    p1 = part(["a1", "a2", None], [1, 2, None], [5.0, 5.0, None])
    p2 = part(["b1", "b2", "b3", "b4"], [1, 2, 3, -1], [6.0, 9.0, 5.0, 5.0], crops=[4, 0, 0, 0])
    dedup = DedupPass(keep="aesthetic")
    for rows, keyframes in (p1, p2):
        eligible = filtered(rows)["keep"].to_numpy(zero_copy_only=False)
        dedup.add(rows.select(dedup.columns()), keyframes, eligible)
    result = dedup.resolve()
    assert result.duplicates == 2 and not dedup.semantic_ran
    out1, out2 = (dedup.annotate(filtered(rows)) for rows, _ in (p1, p2))
    assert out1.schema.names[-len(RESULT_FIELDS):] == [f.name for f in RESULT_FIELDS]
    # a1 and b1: b1 scores higher and is kept; a2 and b2: b2 scores higher but another rule drops it, a2 kept.
    assert out1["duplicate_of"].to_pylist() == ["b1", None, None]
    assert out1["keep"].to_pylist() == [False, True, False]
    assert out1["drop_reasons"].to_pylist()[0] == ["duplicate_of:b1"]
    assert out2["duplicate_of"].to_pylist() == [None, "a2", None, None]
    assert out2["drop_reasons"].to_pylist()[1] == ["x", "duplicate_of:a2"]
    assert out2["dedup_group"].to_pylist()[2:] == [None, None]
    assert out1["dedup_group"][0] == out2["dedup_group"][0]
    # Hashes are kept as uint64; a clip whose keyframes do not decode (b4) and a status row have none.
    assert out2["phash_first"].to_pylist()[3] is None and out1["phash_middle"].to_pylist()[2] is None
    assert out1["phash_first"].type == pa.uint64() and out1["phash_first"][0].as_py() > 0


def test_semantic_path_reads_the_embedding_column_and_off_means_null_columns():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((6, 32)).astype(np.float32)
    vectors[5] = vectors[0] + 0.01 * rng.standard_normal(32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"c{i}" for i in range(6)]
    rows = pa.table({"clip_id": ids, "aesthetic": [1.0] * 6, "duration_s": [4.0] * 6,
                     EMBEDDING: pa.array([list(map(float, v.astype(np.float16))) for v in vectors],
                                                 pa.list_(pa.float16()))})
    dedup = DedupPass(keep="first")
    dedup.add(rows, None)
    assert dedup.resolve().duplicate_of.to_pylist() == [None] * 5 + ["c0"] and dedup.semantic_ran
    out = empty_columns(filtered(rows))
    assert all(out[f.name].null_count == 6 and out[f.name].type == f.type for f in RESULT_FIELDS)
