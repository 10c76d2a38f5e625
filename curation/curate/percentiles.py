"""Exact percentiles, equal to ``numpy.percentile`` (method ``linear``), over a column that may not fit in memory.

Small columns are concatenated and handed to numpy. Larger ones are read chunk by chunk (one Parquet part at a
time) and the needed order statistics are found by exact selection: a pass counts values per bin of a
histogram, the bin holding the wanted rank is narrowed down in further passes, and once few enough values
remain in it they are sorted. Memory stays bounded by one chunk plus the histogram; every pass is a map over
chunks followed by a sum, so it spreads over workers as it is. No sampling: the result is exact.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

Chunks = Callable[[], Iterable[np.ndarray]]  # re-iterable source of float chunks (NaN = missing, skipped)
BINS = 4096


def _finite(chunk: np.ndarray) -> np.ndarray:
    chunk = np.asarray(chunk, dtype=np.float64)
    return chunk[np.isfinite(chunk)]


def count(chunks: Chunks) -> int:
    return sum(len(_finite(c)) for c in chunks())


def order_statistic(chunks: Chunks, k: int, in_memory: int = 1 << 20) -> float:
    """The ``k``-th smallest finite value (0-based), exactly."""
    return order_statistics(chunks, [k], in_memory)[k]


def order_statistics(chunks: Chunks, ranks: Sequence[int], in_memory: int = 1 << 20) -> dict[int, float]:
    """The ``k``-th smallest finite value (0-based) for every ``k`` of ``ranks``, exactly, holding at most
    about ``in_memory`` values (plus one chunk and the histograms) at a time.

    Every pass reads all chunks once and serves every rank still open: the value range around each open rank
    is histogrammed (``BINS`` bins), and each rank narrows to the bin holding it. Ranges that hold few enough
    values are collected and sorted in one more pass; a range of one repeated value is resolved at once."""
    wanted = sorted(set(int(k) for k in ranks))
    lo, hi = math.inf, -math.inf
    for c in chunks():
        c = _finite(c)
        if len(c):
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    result: dict[int, float] = {}
    if not wanted:
        return result
    if lo > hi:
        raise ValueError("no finite value")
    # An open range: values in [lo, hi], ``below`` values known to be smaller, the ranks inside it, its count.
    open_ranges = [(lo, hi, 0, wanted, None)]
    while open_ranges:
        budget = max(1, in_memory // len(open_ranges))
        collect = [r for r in open_ranges if r[4] is not None and (r[4] <= budget or r[0] == r[1])]
        split = [r for r in open_ranges if r not in collect]
        for r_lo, r_hi, _, ks, _ in collect:
            if r_lo == r_hi:  # one repeated value
                result.update({k: r_lo for k in ks})
        collect = [r for r in collect if r[0] != r[1]]
        edges = [np.linspace(r_lo, r_hi, BINS + 1) for r_lo, r_hi, *_ in split]
        narrow = [bool(np.any(np.diff(e) <= 0)) for e in edges]
        counts = [np.zeros(BINS, np.int64) for _ in split]
        values: list[list[np.ndarray]] = [[] for _ in collect]
        tallies: list[dict[float, int]] = [{} for _ in split]
        for c in chunks():
            c = np.sort(_finite(c))
            for i, (r_lo, r_hi, *_) in enumerate(collect):
                values[i].append(c[np.searchsorted(c, r_lo, "left"):np.searchsorted(c, r_hi, "right")])
            for i, (r_lo, r_hi, *_) in enumerate(split):
                inside = c[np.searchsorted(c, r_lo, "left"):np.searchsorted(c, r_hi, "right")]
                if narrow[i]:
                    # So narrow a range holds few distinct floats (ties): count each distinct value exactly.
                    for value, n in zip(*np.unique(inside, return_counts=True)):
                        tallies[i][float(value)] = tallies[i].get(float(value), 0) + int(n)
                else:
                    counts[i] += np.histogram(inside, bins=edges[i])[0]
        for (r_lo, r_hi, below, ks, _), vals in zip(collect, values):
            ordered = np.sort(np.concatenate(vals))
            result.update({k: float(ordered[k - below]) for k in ks})
        next_ranges = []
        for i, (r_lo, r_hi, below, ks, _) in enumerate(split):
            if narrow[i]:
                distinct = sorted(tallies[i])
                cum = np.cumsum([tallies[i][v] for v in distinct])
                result.update({k: distinct[int(np.searchsorted(cum, k - below, side="right"))] for k in ks})
                continue
            cum = np.cumsum(counts[i])
            by_bin: dict[int, list[int]] = {}
            for k in ks:
                by_bin.setdefault(int(np.searchsorted(cum, k - below, side="right")), []).append(k)
            for b, bin_ks in by_bin.items():
                # np.histogram's last bin is closed; the others are half-open [edge, next edge).
                b_lo = float(edges[i][b])
                b_hi = float(edges[i][b + 1]) if b == BINS - 1 else float(np.nextafter(edges[i][b + 1], -np.inf))
                next_ranges.append((b_lo, max(b_lo, b_hi), below + (int(cum[b - 1]) if b else 0), bin_ks,
                                    int(counts[i][b])))
        open_ranges = next_ranges
    return result


def percentiles(chunks: Chunks, qs: Sequence[float], in_memory: int = 1 << 24, n: int | None = None) -> list[float]:
    """``numpy.percentile(values, qs)`` (qs in 0..100, method linear) over the finite values of ``chunks``.
    NaN for every q when there is no value. At most about ``in_memory`` values are held at once: more, and
    the order statistics are found by streaming selection (:func:`order_statistics`), all in the same passes.
    ``n``: the number of finite values when the caller knows it (saves a pass)."""
    n = count(chunks) if n is None else n
    if n == 0:
        return [float("nan")] * len(qs)
    if n <= in_memory:
        values = np.concatenate([_finite(c) for c in chunks()])
        return [float(v) for v in np.percentile(values, qs)]
    positions = [(n - 1) * q / 100.0 for q in qs]
    ranks = {r for h in positions for r in (int(math.floor(h)), min(int(math.floor(h)) + 1, n - 1))}
    stats = order_statistics(chunks, sorted(ranks), in_memory=in_memory)
    out = []
    for h in positions:
        k = int(math.floor(h))
        out.append(_lerp(stats[k], stats[min(k + 1, n - 1)], h - k))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's own interpolation formula, so results are bit-identical to ``numpy.percentile``."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
