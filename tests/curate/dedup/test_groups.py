"""Pairs to groups (union-find) and the keeper rules."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curation.curate.dedup import DUPLICATE_PREFIX, find_duplicates
from curation.curate.dedup.groups import choose_keepers, connected_groups


def components_by_search(n, a, b):
    neighbours = [[] for _ in range(n)]
    for x, y in zip(a, b):
        neighbours[x].append(y)
        neighbours[y].append(x)
    label = [-1] * n
    for start in range(n):
        if label[start] < 0:
            stack, label[start] = [start], start
            while stack:
                for m in neighbours[stack.pop()]:
                    if label[m] < 0:
                        label[m] = start
                        stack.append(m)
    return label


@pytest.mark.parametrize("seed", range(5))
def test_union_find_gives_the_connected_components(seed):
    rng = np.random.default_rng(seed)
    n = 500
    a, b = rng.integers(0, n, 300), rng.integers(0, n, 300)
    group = connected_groups(n, a, b)
    label = components_by_search(n, a.tolist(), b.tolist())
    sizes = np.bincount(label, minlength=n)
    for i in range(n):
        assert (group[i] == -1) == (sizes[label[i]] == 1)
        for j in range(i + 1, min(n, i + 40)):
            if group[i] >= 0:
                assert (group[i] == group[j]) == (label[i] == label[j])
    firsts = [int(np.flatnonzero(group == g)[0]) for g in range(group.max() + 1)]
    assert firsts == sorted(firsts)  # numbered by first row


def test_keeper_rules():
    group = np.array([0, 0, 0, -1, 1, 1])
    aesthetic = np.array([5.0, 7.0, np.nan, 9.0, np.nan, np.nan])
    duration = np.array([4.0, 2.0, 9.0, 1.0, 3.0, 3.0])
    assert choose_keepers(group, "aesthetic", aesthetic, duration).tolist() == [1, 1, 1, -1, 4, 4]
    assert choose_keepers(group, "longest", aesthetic, duration).tolist() == [2, 2, 2, -1, 4, 4]
    assert choose_keepers(group, "first", aesthetic, duration).tolist() == [0, 0, 0, -1, 4, 4]
    # Without scores the aesthetic rule falls back to the longest, then the first.
    assert choose_keepers(group, "aesthetic", None, duration).tolist() == [2, 2, 2, -1, 4, 4]
    # A clip another rule drops is not kept while its group has one that passes.
    eligible = np.array([True, False, True, True, False, False])
    assert choose_keepers(group, "aesthetic", aesthetic, duration, eligible).tolist() == [0, 0, 0, -1, 4, 4]
    with pytest.raises(ValueError, match="keep rule"):
        choose_keepers(group, "best")


def test_result_columns():
    ids = ["a", "b", "c", None]
    hashes = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]], np.uint64)
    hashes[2] = ~hashes[2]  # 62-63 bits away
    valid = np.ones((4, 3), bool)
    result = find_duplicates(ids, hashes, valid, keep="first")
    assert result.duplicate_of.to_pylist() == [None, "a", None, None]  # a row without a clip id takes no part
    columns = result.columns()
    assert columns["dedup_group"].to_pylist() == [0, 0, None, None]
    assert columns["dedup_group"].type == pa.int64() and columns["duplicate_of"].type == pa.string()
    assert DUPLICATE_PREFIX + result.duplicate_of[1].as_py() == "duplicate_of:a"
