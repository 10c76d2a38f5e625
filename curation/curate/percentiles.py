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
    lo, hi = math.inf, -math.inf
    for c in chunks():
        c = _finite(c)
        if len(c):
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    below = 0  # values known to be smaller than every value in [lo, hi]
    while True:
        inside = [c[(c >= lo) & (c <= hi)] for c in map(_finite, chunks())]
        n_inside = sum(len(c) for c in inside)
        if n_inside <= in_memory or lo == hi:
            values = np.sort(np.concatenate(inside)) if n_inside else np.array([lo])
            return float(values[k - below])
        edges = np.linspace(lo, hi, BINS + 1)
        if np.any(np.diff(edges) <= 0):
            # So narrow a range holds few distinct floats (ties): count each distinct value exactly.
            tally: dict[float, int] = {}
            for c in inside:
                for value, n in zip(*np.unique(c, return_counts=True)):
                    tally[float(value)] = tally.get(float(value), 0) + int(n)
            distinct = sorted(tally)
            cum = np.cumsum([tally[v] for v in distinct])
            return distinct[int(np.searchsorted(cum, k - below, side="right"))]
        counts = np.zeros(BINS, np.int64)
        for c in inside:
            counts += np.histogram(c, bins=edges)[0]
        cum = np.cumsum(counts)
        b = int(np.searchsorted(cum, k - below, side="right"))
        below += int(cum[b - 1]) if b > 0 else 0
        new_lo, new_hi = float(edges[b]), float(edges[b + 1])
        # np.histogram's last bin is closed; the others are half-open [edge, next edge).
        lo = new_lo
        hi = new_hi if b == BINS - 1 else float(np.nextafter(new_hi, -np.inf))
        if hi < lo:
            hi = lo


def percentiles(chunks: Chunks, qs: Sequence[float], in_memory: int = 1 << 24) -> list[float]:
    """``numpy.percentile(values, qs)`` (qs in 0..100, method linear) over the finite values of ``chunks``.
    NaN for every q when there is no value."""
    n = count(chunks)
    if n == 0:
        return [float("nan")] * len(qs)
    if n <= in_memory:
        values = np.concatenate([_finite(c) for c in chunks()])
        return [float(v) for v in np.percentile(values, qs)]
    out = []
    cache: dict[int, float] = {}
    for q in qs:
        h = (n - 1) * q / 100.0
        k = int(math.floor(h))
        for r in (k, min(k + 1, n - 1)):
            if r not in cache:
                cache[r] = order_statistic(chunks, r, in_memory=min(in_memory, 1 << 20))
        out.append(_lerp(cache[k], cache[min(k + 1, n - 1)], h - k))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's own interpolation formula, so results are bit-identical to ``numpy.percentile``."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
