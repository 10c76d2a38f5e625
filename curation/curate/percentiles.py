"""Exact percentiles, equal to ``numpy.percentile`` (method ``linear``), over a column that may not fit in memory.

Small columns are concatenated and handed to numpy. Larger ones are read chunk by chunk (one Parquet part at a
time) and the needed order statistics are found by exact selection: a pass counts values per bin of a
histogram, the bin holding the wanted rank is narrowed down in further passes, and once few enough values
remain in it they are sorted. Memory stays bounded by one chunk plus the histogram. No sampling: the result is
exact.

Every pass is ``source.map(per-chunk function)`` followed by a reduction here: the per-chunk functions
(:func:`_finite`, :func:`_extent`, :class:`_Pass`) are plain picklable module-level callables, so a source may
run them wherever its chunks live (:class:`LocalChunks` in this process; the filter's table sources on Ray
workers, one task per Parquet part) and only their small results come back: a count and min/max, a
``BINS``-bin histogram per open range, the distinct values of a range narrowed to a few floats, or the values
of a range small enough to collect. Every reduction is a sum, a min/max or a sort, so the result does not
depend on where or in which order the chunks were processed.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

R = TypeVar("R")
BINS = 4096


class ChunkSource(Protocol):
    """A re-iterable source of float chunks (NaN = missing, skipped): ``map(fn)`` yields ``fn(chunk)`` for every
    chunk, once per call (several passes call it again). ``fn`` is a picklable module-level callable."""

    def map(self, fn: Callable[[np.ndarray], R]) -> Iterable[R]: ...


Chunks = Callable[[], Iterable[np.ndarray]]  # the plain form: a callable returning the chunks (see LocalChunks)


@dataclass(frozen=True)
class LocalChunks:
    """A :data:`Chunks` callable as a :class:`ChunkSource`: every chunk is read and mapped in this process."""

    chunks: Chunks

    def map(self, fn: Callable[[np.ndarray], R]) -> Iterator[R]:
        return (fn(c) for c in self.chunks())


def as_source(chunks: ChunkSource | Chunks) -> ChunkSource:
    """A :class:`ChunkSource` as it is; a :data:`Chunks` callable wrapped in :class:`LocalChunks`."""
    return chunks if hasattr(chunks, "map") else LocalChunks(chunks)


def _finite(chunk: np.ndarray) -> np.ndarray:
    chunk = np.asarray(chunk, dtype=np.float64)
    return chunk[np.isfinite(chunk)]


def _count(chunk: np.ndarray) -> int:
    return len(_finite(chunk))


def _extent(chunk: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite values; (inf, -inf) for none."""
    c = _finite(chunk)
    return (float(c.min()), float(c.max())) if len(c) else (math.inf, -math.inf)


def count(chunks: ChunkSource | Chunks) -> int:
    """The number of finite values (one pass)."""
    return sum(as_source(chunks).map(_count))


@dataclass(frozen=True)
class _Pass:
    """One selection pass over a chunk: the values of every ``collect`` range [lo, hi] (sorted), and for every
    ``split`` range either its histogram on ``edges`` or, when ``narrow``, the count of each distinct value."""

    collect: tuple[tuple[float, float], ...]
    split: tuple[tuple[float, float], ...]
    edges: tuple[np.ndarray, ...]
    narrow: tuple[bool, ...]

    def __call__(self, chunk: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray | tuple[np.ndarray, np.ndarray]]]:
        c = np.sort(_finite(chunk))
        values = [c[np.searchsorted(c, lo, "left"):np.searchsorted(c, hi, "right")] for lo, hi in self.collect]
        split: list[np.ndarray | tuple[np.ndarray, np.ndarray]] = []
        for (lo, hi), edges, narrow in zip(self.split, self.edges, self.narrow):
            inside = c[np.searchsorted(c, lo, "left"):np.searchsorted(c, hi, "right")]
            # So narrow a range holds few distinct floats (ties): count each distinct value exactly.
            split.append(np.unique(inside, return_counts=True) if narrow else np.histogram(inside, bins=edges)[0])
        return values, split


def order_statistic(chunks: ChunkSource | Chunks, k: int, in_memory: int = 1 << 20) -> float:
    """The ``k``-th smallest finite value (0-based), exactly."""
    return order_statistics(chunks, [k], in_memory)[k]


def order_statistics(chunks: ChunkSource | Chunks, ranks: Sequence[int], in_memory: int = 1 << 20) -> dict[int, float]:
    """The ``k``-th smallest finite value (0-based) for every ``k`` of ``ranks``, exactly, holding at most
    about ``in_memory`` values (plus one chunk and the histograms) at a time.

    Every pass maps all chunks once and serves every rank still open: the value range around each open rank
    is histogrammed (``BINS`` bins), and each rank narrows to the bin holding it. Ranges that hold few enough
    values are collected and sorted in one more pass; a range of one repeated value is resolved at once."""
    source = as_source(chunks)
    wanted = sorted(set(int(k) for k in ranks))
    lo, hi = math.inf, -math.inf
    for c_lo, c_hi in source.map(_extent):
        lo, hi = min(lo, c_lo), max(hi, c_hi)
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
        step = _Pass(tuple((r[0], r[1]) for r in collect), tuple((r[0], r[1]) for r in split), tuple(edges),
                     tuple(narrow))
        counts = [np.zeros(BINS, np.int64) for _ in split]
        values: list[list[np.ndarray]] = [[] for _ in collect]
        tallies: list[dict[float, int]] = [{} for _ in split]
        for chunk_values, chunk_split in source.map(step):
            for i, v in enumerate(chunk_values):
                values[i].append(v)
            for i, part in enumerate(chunk_split):
                if narrow[i]:
                    for value, n in zip(*part):
                        tallies[i][float(value)] = tallies[i].get(float(value), 0) + int(n)
                else:
                    counts[i] += part
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


def percentiles(chunks: ChunkSource | Chunks, qs: Sequence[float], in_memory: int = 1 << 24,
                n: int | None = None) -> list[float]:
    """``numpy.percentile(values, qs)`` (qs in 0..100, method linear) over the finite values of ``chunks``.
    NaN for every q when there is no value. At most about ``in_memory`` values are held at once: more, and
    the order statistics are found by streaming selection (:func:`order_statistics`), all in the same passes.
    ``n``: the number of finite values when the caller knows it (saves a pass)."""
    source = as_source(chunks)
    n = count(source) if n is None else n
    if n == 0:
        return [float("nan")] * len(qs)
    if n <= in_memory:
        values = np.concatenate(list(source.map(_finite)))
        return [float(v) for v in np.percentile(values, qs)]
    positions = [(n - 1) * q / 100.0 for q in qs]
    ranks = {r for h in positions for r in (int(math.floor(h)), min(int(math.floor(h)) + 1, n - 1))}
    stats = order_statistics(source, sorted(ranks), in_memory=in_memory)
    out = []
    for h in positions:
        k = int(math.floor(h))
        out.append(_lerp(stats[k], stats[min(k + 1, n - 1)], h - k))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's own interpolation formula, so results are bit-identical to ``numpy.percentile``."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
