"""The report's numbers, out of core: clips.parquet is read one row group (or batch) at a time and every figure
of the page is a sum over the pieces, so memory is bounded by a piece, not by the table.

Passes over the table (each reads only the columns it needs):

1. everything that adds up: cards, errors by kind, the reason combinations behind the funnel, per-rule counts
   and the overlap matrix, footage lost, motion buckets, resolutions, the finite min/max of every histogram's
   column, the galleries (a bounded heap of the lowest/highest clips per score across pieces, the first clips
   dropped by each rule) and the first duplicate groups;
2. exact percentiles (:func:`curation.curate.percentiles.percentiles`, streaming selection when a column is
   larger than ``in_memory`` values): the median kept duration and, for the cut table, the 12.5 / 25 / 50 %
   cut of every percentile rule's column;
3. the histograms' counts on fixed edges, what each cut keeps (:mod:`curation.curate.report.cuts`) and the
   rows of the duplicate groups' kept clips.

A video never spans two row groups of the filter output (one row group per annotations part); rows of one
video split across two consecutive pieces are still counted once (the previous row group's ids are kept).
"""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.core import storage
from curation.contract.footage import FootageLost, footage_lost
from curation.curate.filters import Threshold
from curation.curate.percentiles import percentiles
from curation.curate.report.cuts import CUT_LEVELS, CutCounter, CutTable, cut_thresholds, percentile_rules
from curation.contract.schema import ROW_SHOT, ROW_TRANSITION

# A source of the filter output in pieces: ``source(columns)`` yields (row group index, table of those of
# ``columns`` the file has), one piece at a time; it may be called again (each pass is one call).
Source = Callable[[list[str]], Iterator[tuple[int, pa.Table]]]

DUPLICATE_PREFIX = "duplicate_of:"  # the dedup step's drop reason: duplicate_of:<clip_id of the kept clip>
DUPLICATE_REASON = "duplicate"      # how those reasons are counted in the funnel and the overlap (one rule)
BATCH_ROWS = 1 << 17                # rows per piece read from a row group


def parquet_source(uri: str, batch_rows: int = BATCH_ROWS) -> Source:
    """``uri`` (local or object store, :func:`curation.core.storage.open_input`) read one row group at a time,
    in batches of at most ``batch_rows`` rows."""
    def source(columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
        with storage.open_input(uri) as fh:
            pf = pq.ParquetFile(fh)
            names = set(pf.schema_arrow.names)
            wanted = [c for c in dict.fromkeys(columns) if c in names]
            for group in range(pf.num_row_groups):
                for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[group], columns=wanted):
                    yield group, pa.Table.from_batches([batch])
    return source


def columns_of(uri: str) -> list[str]:
    with storage.open_input(uri) as fh:
        return pq.read_schema(fh).names


@dataclass
class ClipRef:
    """One clip shown in the page: enough to label it, find its keyframe and cut its preview."""

    clip_id: str
    video_path: str | None = None
    clip_index: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    fps: float | None = None
    value: float | None = None
    reasons: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``video.mp4 #3``: the source file and the clip's index in it."""
        index = "?" if self.clip_index is None else int(self.clip_index)
        return f"{str(self.video_path).rsplit('/', 1)[-1]} #{index}"


@dataclass
class Histogram:
    """Kept and dropped clips per bin of ``edges`` (``bins`` + 1 edges over the column's finite range)."""

    edges: np.ndarray
    kept: np.ndarray
    dropped: np.ndarray

    @property
    def total(self) -> int:
        return int(self.kept.sum() + self.dropped.sum())


@dataclass
class DuplicateGroups:
    """Clips dropped as ``duplicate_of:<kept clip>``: how many, and the first groups (by their first duplicate
    in the table), each with its kept clip and up to ``thumbnails`` of its duplicates."""

    duplicates: int = 0
    groups: list[tuple[ClipRef, list[ClipRef]]] = field(default_factory=list)
    more_groups: bool = False
    total_groups: int | None = None  # from ``dedup_group`` (numbered 0..groups-1) when the table has it


@dataclass
class ReportData:
    """Every figure of the page."""

    rows: int = 0
    videos: int = 0
    clips: int = 0
    kept: int = 0
    video_seconds: float = 0.0
    clip_seconds: float = 0.0
    kept_seconds: float = 0.0
    errors: Counter = field(default_factory=Counter)
    random_weights: list[str] = field(default_factory=list)
    # funnel and overlap, over every reason name (errors, the rules in order, then the rest)
    reasons: list[str] = field(default_factory=list)
    funnel: list[tuple[str, int]] = field(default_factory=list)
    per_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    only_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    overlap: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    lost: FootageLost | None = None  # None: a table written before skipped shots and transitions were rows
    histograms: dict[str, Histogram] = field(default_factory=dict)
    motion_buckets: np.ndarray = field(default_factory=lambda: np.zeros(16, np.int64))
    resolutions: Counter = field(default_factory=Counter)
    # label column (camera_motion) -> (clips by label, kept clips by label)
    labels: dict[str, tuple[Counter, Counter]] = field(default_factory=dict)
    kept_duration_median: float = float("nan")
    lowest: dict[str, list[ClipRef]] = field(default_factory=dict)
    highest: dict[str, list[ClipRef]] = field(default_factory=dict)
    dropped: dict[str, list[ClipRef]] = field(default_factory=dict)
    cuts: CutTable | None = None
    duplicates: DuplicateGroups = field(default_factory=DuplicateGroups)

    @property
    def used_reasons(self) -> list[int]:
        """Indices of the reasons that dropped at least one clip."""
        return [j for j in range(len(self.reasons)) if self.per_reason[j]]

    def shown(self) -> list[ClipRef]:
        """Every clip the page shows, once each, in page order."""
        out: dict[str, ClipRef] = {}
        for refs in [*self.lowest.values(), *self.highest.values(), *self.dropped.values()]:
            for r in refs:
                out.setdefault(r.clip_id, r)
        for keeper, members in self.duplicates.groups:
            for r in [keeper, *members]:
                out.setdefault(r.clip_id, r)
        return list(out.values())


def canonical(reason: str) -> str:
    """The name a drop reason is counted under: every ``duplicate_of:<id>`` is one reason."""
    return DUPLICATE_REASON if reason.startswith(DUPLICATE_PREFIX) else reason


def _floats(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64, null = NaN (all NaN when the piece lacks it)."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return table[name].to_numpy(zero_copy_only=False).astype(np.float64)


def _bools(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.fill_null(table[name], False).to_numpy(zero_copy_only=False), dtype=bool)


def _valid(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, bool)
    return np.asarray(table[name].is_valid().to_numpy(zero_copy_only=False), dtype=bool)


REF_COLUMNS = ["clip_id", "video_path", "clip_index", "start_s", "end_s", "fps", "drop_reasons"]


def _refs(table: pa.Table, rows: Sequence[int], values: np.ndarray | None = None) -> list[ClipRef]:
    """ClipRefs of ``rows`` of a piece (few rows: converted through Python)."""
    if not len(rows):
        return []
    taken = table.take(pa.array(np.asarray(rows, np.int64))).select(
        [c for c in REF_COLUMNS if c in table.column_names]).to_pylist()
    out = []
    for k, row in enumerate(taken):
        out.append(ClipRef(row.get("clip_id"), row.get("video_path"), row.get("clip_index"), row.get("start_s"),
                           row.get("end_s"), row.get("fps"),
                           None if values is None else float(values[k]), tuple(row.get("drop_reasons") or ())))
    return out


class _Extremes:
    """The ``n`` lowest and ``n`` highest values of one column across pieces, ties broken by table order (as a
    stable sort): a bounded heap, so memory holds ``2 n`` rows whatever the table's size."""

    def __init__(self, n: int):
        self.n = n
        self.low: list[tuple[float, int, ClipRef]] = []   # (value, row, ref)
        self.high: list[tuple[float, int, ClipRef]] = []

    def add(self, table: pa.Table, offset: int, values: np.ndarray, mask: np.ndarray) -> None:
        if not self.n or not mask.any():
            return
        rows = np.flatnonzero(mask)
        v = values[rows]
        n = min(self.n, len(v))
        for side in ("low", "high"):
            if side == "low":
                bound = np.partition(v, n - 1)[n - 1]
                cand = np.flatnonzero(v <= bound)
                order = np.lexsort((rows[cand], v[cand]))[:n]  # value up, then row up
            else:
                bound = np.partition(v, len(v) - n)[len(v) - n]
                cand = np.flatnonzero(v >= bound)
                order = np.lexsort((-rows[cand], -v[cand]))[:n]  # value down, then row down
            pick = cand[order]
            refs = _refs(table, rows[pick], v[pick])
            items = [(float(v[p]), offset + int(rows[p]), ref) for p, ref in zip(pick, refs)]
            if side == "low":
                self.low = heapq.nsmallest(self.n, self.low + items, key=lambda t: (t[0], t[1]))
            else:
                self.high = heapq.nlargest(self.n, self.high + items, key=lambda t: (t[0], t[1]))


class _Reasons:
    """Drop reasons of clip rows as bit sets: every piece adds the count of each combination of reasons (few
    distinct ones), from which per-rule counts, only-this-rule counts, the overlap matrix and the funnel in
    any order follow exactly."""

    def __init__(self, thresholds: list[Threshold], thumbnails: int):
        self.index: dict[str, int] = {}
        for t in thresholds:
            self._register(t.reason)
        self.combos: Counter = Counter()  # bit set (Python int) -> clips
        self.first: dict[int, list[ClipRef]] = {}
        self.n = thumbnails
        self.rule_order = list(dict.fromkeys(t.reason for t in thresholds))

    def _register(self, name: str) -> int:
        return self.index.setdefault(name, len(self.index))

    def add(self, table: pa.Table, is_clip: np.ndarray) -> None:
        n = table.num_rows
        reasons = table["drop_reasons"].combine_chunks() if isinstance(table["drop_reasons"], pa.ChunkedArray) \
            else table["drop_reasons"]
        flat = pc.list_flatten(reasons)
        parents = np.asarray(pc.list_parent_indices(reasons).to_numpy(zero_copy_only=False), np.int64)
        distinct = pc.unique(flat)
        codes = np.array([self._register(canonical(r)) for r in distinct.to_pylist()], np.int64)
        width = max(1, (len(self.index) + 63) // 64)
        words = np.zeros((n, width), np.uint64)
        if len(flat):
            code = codes[np.asarray(pc.index_in(flat, value_set=distinct).to_numpy(zero_copy_only=False), np.int64)]
            np.bitwise_or.at(words, (parents, code // 64), np.left_shift(np.uint64(1), (code % 64).astype(np.uint64)))
        clip_words = words[is_clip]
        if len(clip_words):
            if width == 1:
                unique, counts = np.unique(clip_words[:, 0], return_counts=True)
                unique = unique[:, None]
            else:
                unique, counts = np.unique(clip_words, axis=0, return_counts=True)
            for row, c in zip(unique, counts):
                key = sum(int(w) << (64 * k) for k, w in enumerate(row))
                self.combos[key] += int(c)
        if self.n:
            for j in range(len(self.index)):
                got = self.first.setdefault(j, [])
                if len(got) >= self.n:
                    continue
                hit = np.flatnonzero(is_clip & ((words[:, j // 64] >> np.uint64(j % 64)) & np.uint64(1)).astype(bool))
                got.extend(_refs(table, hit[:self.n - len(got)]))

    def names(self) -> list[str]:
        """Errors first, then the rules in their order, then the rest (as the page always ordered them)."""
        seen = [r for r in self.index if self._seen(r)]
        return (sorted(r for r in seen if r.startswith("error")) + self.rule_order
                + sorted(r for r in seen if not r.startswith("error") and r not in self.rule_order))

    def _seen(self, name: str) -> bool:
        bit = 1 << self.index[name]
        return any(key & bit for key in self.combos) or name in self.rule_order

    def finish(self, data: ReportData) -> None:
        names = self.names()
        position = {self.index[r]: p for p, r in enumerate(names)}
        m = len(names)
        per, only, matrix = np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros((m, m), np.int64)
        remaining = np.zeros(m + 1, np.int64)  # clips whose first reason (in page order) is at position p
        total = 0
        for key, c in self.combos.items():
            total += c
            bits = [position[j] for j in range(key.bit_length()) if key >> j & 1]
            for p in bits:
                per[p] += c
            for p in bits:
                matrix[p, bits] += c
            if len(bits) == 1:
                only[bits[0]] += c
            remaining[min(bits) if bits else m] += c
        after = total - np.cumsum(remaining[:m])  # clips left after the rules up to position p
        data.reasons, data.per_reason, data.only_reason, data.overlap = names, per, only, matrix
        data.funnel = [("all clips", total)] + [(r, int(after[p])) for p, r in enumerate(names)]
        data.dropped = {names[position[j]]: refs for j, refs in self.first.items() if refs}


class _Duplicates:
    """The first ``groups`` duplicate groups in table order, each with up to ``n`` duplicates."""

    def __init__(self, groups: int, n: int):
        self.limit, self.n = groups, n
        self.count = 0
        self.groups: dict[str, list[ClipRef]] = {}
        self.more = False

    def add(self, table: pa.Table, is_clip: np.ndarray) -> None:
        reasons = table["drop_reasons"]
        flat = pc.list_flatten(reasons)
        if not len(flat):
            return
        hit = np.asarray(pc.starts_with(flat, DUPLICATE_PREFIX).to_numpy(zero_copy_only=False), bool)
        if not hit.any():
            return
        parents = np.asarray(pc.list_parent_indices(reasons).to_numpy(zero_copy_only=False), np.int64)[hit]
        keepers = [k[len(DUPLICATE_PREFIX):] for k in flat.filter(pa.array(hit)).to_pylist()]
        rows = np.unique(parents)
        self.count += int(is_clip[rows].sum())
        for row, keeper in zip(parents, keepers):
            if keeper not in self.groups:
                if len(self.groups) >= self.limit:
                    self.more = True
                    continue
                self.groups[keeper] = []
            members = self.groups[keeper]
            if len(members) < self.n and is_clip[row]:
                members.extend(_refs(table, [int(row)]))


def hist_edges(lo: float, hi: float, bins: int) -> np.ndarray:
    """The page's fixed bin edges over a column's finite range [lo, hi] (one unit wide when lo == hi)."""
    return np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)


def aggregate(source: Source, thresholds: list[Threshold], *, hist_columns: Sequence[str],
              gallery_columns: Sequence[str], bins: int = 40, thumbnails: int = 6, exclude_errors: bool = True,
              in_memory: int = 1 << 22, levels: Sequence[float] = CUT_LEVELS,
              available: Sequence[str] | None = None, label_columns: Sequence[str] = ()) -> ReportData:
    """Every figure of the report from ``source`` (the filter output in pieces). ``hist_columns``: the score
    columns histogrammed (``duration_s`` is always); ``gallery_columns``: the columns whose lowest and highest
    ``thumbnails`` clips are shown; ``label_columns``: the label columns counted, over clips and kept clips. At most
    ``in_memory`` values of one column are held for a percentile."""
    data = ReportData()
    names = list(available) if available is not None else None

    def has(c: str) -> bool:
        return names is None or c in names

    hist_columns = list(dict.fromkeys([*(c for c in hist_columns if has(c)), "duration_s"]))
    gallery_columns = [c for c in gallery_columns if has(c)]
    label_columns = [c for c in label_columns if has(c)]
    data.labels = {c: (Counter(), Counter()) for c in label_columns}
    cut_rules = percentile_rules(thresholds) if levels else []
    cut_columns = list(dict.fromkeys(r.column for r in cut_rules))
    random_columns = [c for c in (names or []) if c.endswith("_random_weights")]

    # -- pass 1 -----------------------------------------------------------------------------------------
    base = ["video_id", "clip_index", "keep", "drop_reasons", "duration_s", "video_duration_s", "width",
            "height", "error_kind", "error", "motion_bucket_id", "row_kind", "skip_reason", "dedup_group",
            *REF_COLUMNS]
    reasons = _Reasons(thresholds, thumbnails)
    extremes = {c: _Extremes(thumbnails) for c in gallery_columns}
    duplicates = _Duplicates(max(thumbnails, 1), thumbnails)
    lo = dict.fromkeys(hist_columns, np.inf)
    hi = dict.fromkeys(hist_columns, -np.inf)
    cut_counts = dict.fromkeys(cut_columns, 0)
    random = set()
    lost, has_kinds = FootageLost(), False
    group, previous, current, offset = None, set(), set(), 0
    groups_seen: int | None = None  # the highest dedup_group (None: no such column)
    for g, t in source([*base, *hist_columns, *gallery_columns, *cut_columns, *random_columns, *label_columns]):
        if g != group:
            group, previous, current = g, current, set()
        n = t.num_rows
        is_clip = _valid(t, "clip_index")
        keep = _bools(t, "keep") & is_clip
        data.rows += n
        # videos: the first row of each video not seen in this row group or the one before
        vid = t["video_id"].combine_chunks()
        distinct = pc.unique(vid)
        first = np.asarray(pc.index_in(distinct, value_set=vid).to_numpy(zero_copy_only=False), np.int64)
        vdur = _floats(t, "video_duration_s")[first]
        for v, d in zip(distinct.to_pylist(), vdur):
            if v in current or v in previous:
                continue
            current.add(v)
            data.videos += 1
            data.video_seconds += 0.0 if np.isnan(d) else float(d)
        dur = _floats(t, "duration_s")
        data.clips += int(is_clip.sum())
        data.kept += int(keep.sum())
        data.clip_seconds += float(np.nansum(dur[is_clip]))
        data.kept_seconds += float(np.nansum(dur[keep]))
        if "error_kind" in t.column_names:
            for item in pc.value_counts(t["error_kind"].drop_null()).to_pylist():
                data.errors[item["values"]] += item["counts"]
        for c in random_columns:
            if c not in random and _bools(t, c).any():
                random.add(c)
        reasons.add(t, is_clip)
        duplicates.add(t, is_clip)
        if "dedup_group" in t.column_names:
            top = pc.max(t["dedup_group"]).as_py()
            groups_seen = max(-1 if groups_seen is None else groups_seen, -1 if top is None else int(top))
        if "row_kind" in t.column_names:
            has_kinds = True
            lost_rows = t.filter(pc.fill_null(pc.is_in(t["row_kind"], pa.array([ROW_SHOT, ROW_TRANSITION])), False))
            if lost_rows.num_rows:
                lost = lost + footage_lost(*(lost_rows[c].to_pylist() for c in ("row_kind", "skip_reason",
                                                                                 "duration_s")))
        ids = _floats(t, "motion_bucket_id")
        ids = ids[keep & ~np.isnan(ids)].astype(np.int64)
        data.motion_buckets += np.bincount(np.clip(ids // 16, 0, 15), minlength=16)
        w = np.nan_to_num(_floats(t, "width")[is_clip], nan=-1).astype(np.int64)
        h = np.nan_to_num(_floats(t, "height")[is_clip], nan=-1).astype(np.int64)
        if len(w):
            pairs, counts = np.unique(((w + 1) << 32) | (h + 1), return_counts=True)
            for pair, c in zip(pairs, counts):
                pw, ph = int(pair >> 32) - 1, int(pair & 0xFFFFFFFF) - 1
                data.resolutions["unknown" if pw < 0 or ph < 0 else f"{pw}x{ph}"] += int(c)
        for c in label_columns:
            values = np.asarray(t[c].to_pylist(), dtype=object)
            data.labels[c][0].update(v for v in values[is_clip] if v is not None)
            data.labels[c][1].update(v for v in values[keep] if v is not None)
        for c in hist_columns:
            v = _floats(t, c)[is_clip]
            v = v[np.isfinite(v)]
            if len(v):
                lo[c], hi[c] = min(lo[c], float(v.min())), max(hi[c], float(v.max()))
        no_error = ~_valid(t, "error")
        for c in gallery_columns:
            v = _floats(t, c)
            extremes[c].add(t, offset, v, is_clip & no_error & ~np.isnan(v))
        for c in cut_columns:
            cut_counts[c] += int(np.isfinite(_floats(t, c)[is_clip & no_error]).sum())
        offset += n
    data.random_weights = [c.replace("_random_weights", "") for c in random_columns if c in random]
    data.lost = lost if has_kinds else None
    reasons.finish(data)
    for c in gallery_columns:
        if extremes[c].low:
            data.lowest[c] = [ref for _, _, ref in extremes[c].low]
            data.highest[c] = [ref for _, _, ref in extremes[c].high]
    data.duplicates = DuplicateGroups(duplicates.count, [(ClipRef(k), m) for k, m in duplicates.groups.items()],
                                      duplicates.more, None if groups_seen is None else groups_seen + 1)

    # -- pass 2: exact percentiles ----------------------------------------------------------------------
    def kept_durations() -> Iterator[np.ndarray]:
        for _, t in source(["clip_index", "keep", "duration_s"]):
            yield _floats(t, "duration_s")[_bools(t, "keep") & _valid(t, "clip_index")]

    data.kept_duration_median = percentiles(kept_durations, [50.0], in_memory=in_memory)[0]
    cut_values: dict[str, dict[float, float]] = {}
    for c in cut_columns:
        qs = sorted({q for r in cut_rules if r.column == c for q in r.percents(levels)})

        def chunks(column: str = c) -> Iterator[np.ndarray]:
            for _, t in source([column, "clip_index", "error"]):
                yield _floats(t, column)[_valid(t, "clip_index") & ~_valid(t, "error")]

        cut_values[c] = dict(zip(qs, percentiles(chunks, qs, in_memory=in_memory, n=cut_counts[c])))

    # -- pass 3: histogram counts, cut counts, the kept clips of duplicate groups -------------------------
    edges = {c: hist_edges(lo[c], hi[c], bins) for c in hist_columns if lo[c] <= hi[c]}
    hists = {c: Histogram(e, np.zeros(bins, np.int64), np.zeros(bins, np.int64)) for c, e in edges.items()}
    counter = CutCounter(thresholds, cut_rules, cut_thresholds(cut_rules, cut_values, levels), levels,
                         exclude_errors) if cut_rules else None
    keepers = {ref.clip_id: k for k, (ref, _) in enumerate(data.duplicates.groups)}
    if hists or counter or keepers:
        from curation.curate.filters import columns_read
        cols = ["clip_index", "keep", *edges, *(columns_read(thresholds) + ["drop_reasons", "duration_s"]
                                                if counter else []), *(REF_COLUMNS if keepers else [])]
        for _, t in source(cols):
            is_clip = _valid(t, "clip_index")
            keep = _bools(t, "keep")
            for c, hist in hists.items():
                v = _floats(t, c)
                ok = is_clip & np.isfinite(v)
                hist.kept += np.histogram(v[ok & keep], bins=hist.edges)[0]
                hist.dropped += np.histogram(v[ok & ~keep], bins=hist.edges)[0]
            if counter:
                counter.add(t)
            if keepers:
                hit = np.flatnonzero(np.asarray(pc.fill_null(pc.is_in(t["clip_id"], pa.array(list(keepers))),
                                                             False).to_numpy(zero_copy_only=False), bool))
                for ref in _refs(t, hit):
                    k = keepers[ref.clip_id]
                    data.duplicates.groups[k] = (ref, data.duplicates.groups[k][1])
    empty = Histogram(np.array([0.0, 1.0]), np.zeros(1, np.int64), np.zeros(1, np.int64))  # no finite value
    data.histograms = {c: hists.get(c, empty) for c in hist_columns}
    data.cuts = counter.table(data.kept) if counter else None
    return data
