"""Duplicate pairs to groups, and the one clip each group keeps.

Groups are the connected components of the pairs (union-find: a chain of near pairs is one group, so two
members of a group need not be near each other). In each group one clip is kept by a rule; every other member
is a duplicate of it.
"""
from __future__ import annotations

import numpy as np

KEEP_RULES = ("aesthetic", "longest", "first")


def connected_groups(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Group id of each of ``n`` rows given pairs (a, b): int64, 0..groups-1 numbered by each group's first
    row; -1 for a row in no pair."""
    group = np.full(n, -1, np.int64)
    if len(a) == 0:
        return group
    root = union_find(n, np.asarray(a, np.int64), np.asarray(b, np.int64))  # root = the group's lowest row
    sizes = np.bincount(root, minlength=n)
    in_group = sizes[root] > 1
    leaders = np.flatnonzero(sizes > 1)  # ascending: ids numbered by each group's first row
    number = np.full(n, -1, np.int64)
    number[leaders] = np.arange(len(leaders))
    group[in_group] = number[root[in_group]]
    return group


def union_find(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over all pairs at once: the lowest row of each row's component. Every round hooks each root
    under the lowest root it is paired with, then flattens the trees by pointer jumping; rounds repeat until
    every pair has one root (a few rounds; each is O(n + pairs))."""
    parent = np.arange(n, dtype=np.int64)
    while True:
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        if not apart.any():
            return parent
        ra, rb = ra[apart], rb[apart]
        low = np.minimum(ra, rb)
        np.minimum.at(parent, ra, low)
        np.minimum.at(parent, rb, low)
        while True:  # pointer jumping: every row to its root
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up


def choose_keepers(group: np.ndarray, rule: str = "aesthetic", aesthetic: np.ndarray | None = None,
                   duration: np.ndarray | None = None, eligible: np.ndarray | None = None) -> np.ndarray:
    """The row each row's group keeps (int64; -1 for rows in no group; a keeper points to itself).

    rule: ``aesthetic`` (highest aesthetic score; clips without one after those with one; ties: the longest,
    then the first), ``longest`` (largest duration, ties: the first) or ``first`` (first seen: the lowest row).
    aesthetic, duration: per-row scores and seconds (NaN = missing).
    eligible: rows the other filter rules keep (default all): a group keeps an eligible row when it has one, so a
    duplicate is never dropped in favour of a clip that another rule drops.
    """
    if rule not in KEEP_RULES:
        raise ValueError(f"keep rule {rule!r}: expected one of {', '.join(KEEP_RULES)}")
    n = len(group)
    keeper = np.full(n, -1, np.int64)
    rows = np.flatnonzero(group >= 0)
    if not len(rows):
        return keeper

    def score(values: np.ndarray | None) -> np.ndarray:  # higher first, missing last
        if values is None:
            return np.zeros(len(rows))
        v = np.asarray(values, np.float64)[rows]
        return np.where(np.isfinite(v), -v, np.inf)

    keys = [rows]  # np.lexsort: the last key is the primary one
    if rule in ("aesthetic", "longest"):
        keys.append(score(duration))
    if rule == "aesthetic":
        keys.append(score(aesthetic))
    if eligible is not None:
        keys.append(~np.asarray(eligible, bool)[rows])
    keys.append(group[rows])
    order = rows[np.lexsort(keys)]
    g = group[order]
    leaders = order[np.r_[True, g[1:] != g[:-1]]]
    best = np.full(g.max() + 1, -1, np.int64)
    best[group[leaders]] = leaders
    keeper[rows] = best[group[rows]]
    return keeper
