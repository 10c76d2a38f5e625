"""Semantic duplicates on CLIP image embeddings (k-means, then pairs inside a cluster over a cosine threshold).

The CLIP weights offline are random, so these tests use synthetic embeddings with a known structure instead:
topics (clips of one topic are similar, cosine about 0.6, like two shots of one scene), and planted duplicates
(a clip's embedding plus small noise, cosine about 0.98, like a re-encoded or cropped copy)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from curation.curate.dedup import embedding_matrix, find_duplicates
from curation.curate.dedup.semantic import default_clusters, semantic_pairs


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def corpus(n=3000, planted=150, dim=64, topics=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((topics, dim)))
    x = unit(centres[rng.integers(0, topics, n)] + rng.standard_normal((n, dim)) * 0.8 / np.sqrt(dim))
    sources = planted + rng.permutation(n - planted)[:planted]
    x[:planted] = unit(x[sources] + rng.standard_normal((planted, dim)) * 0.15 / np.sqrt(dim))
    return x.astype(np.float16), sources


def test_planted_duplicates_are_found_and_clips_of_one_topic_are_not_merged():
    x, sources = corpus()
    a, b, cos = semantic_pairs(x, threshold=0.95)
    found = set(zip(a.tolist(), b.tolist()))
    planted = {(k, int(s)) for k, s in enumerate(sources)}
    assert found <= planted, "a same-topic pair (cosine about 0.6) passed 0.95"
    assert len(found) >= 0.95 * len(planted)
    assert (cos >= 0.95).all() and (a < b).all()
    # Two probes per clip find the pairs k-means split between clusters too.
    a2, b2, _ = semantic_pairs(x, threshold=0.95, probes=2)
    assert found <= set(zip(a2.tolist(), b2.tolist())) <= planted


def test_rows_without_an_embedding_take_no_part_and_the_list_column_is_read():
    x, sources = corpus(n=400, planted=20)
    valid = np.ones(len(x), bool)
    valid[:10] = False
    a, b, _ = semantic_pairs(x, valid, threshold=0.95)
    assert not set(a.tolist()) & set(range(10))
    values = [list(map(float, row)) for row in x[:5]] + [None, []]
    column = pa.chunked_array([pa.array(values, pa.list_(pa.float16()))])
    matrix, ok = embedding_matrix(column)
    assert ok.tolist() == [True] * 5 + [False, False] and matrix.shape == (7, x.shape[1])
    assert np.array_equal(matrix[:5], x[:5])
    assert default_clusters(10) == 1 and default_clusters(100_000) == 100


def test_both_paths_join_into_one_grouping():
    x, sources = corpus(n=300, planted=3)
    ids = [f"c{i}" for i in range(len(x))]
    hashes = np.random.default_rng(1).integers(0, 2 ** 62, (len(x), 3)).astype(np.uint64)
    hashes[50] = hashes[int(sources[0])]  # one pair by hash, which is also a semantic pair
    hashes[60] = hashes[61]              # one pair by hash only
    result = find_duplicates(ids, hashes, None, x, None, keep="first")
    assert result.hash_pairs == 2 and result.semantic_pairs == 3
    group = result.group
    assert group[0] == group[50] == group[int(sources[0])] >= 0 and group[60] == group[61] >= 0
    assert result.duplicates == 5 - 1 + 1  # {0, 50, s0} keeps one, {60, 61} one, {1, s1}, {2, s2} one each
