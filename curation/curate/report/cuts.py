"""The cut table: what the 12.5 / 25 / 50 % cut of each percentile rule would keep, alone and combined, without
rerunning ``curate filter``.

A percentile rule of the filter (``drop_bottom`` / ``drop_top`` of a column; its threshold's origin says
``percentile ...``) is re-resolved at each level exactly as :func:`curation.curate.filters.resolve` does: the
percentile over every clip without an error, then a clip passes when its value is present and within the bound.
The counts come from :func:`curation.curate.filters.keep_mask` on each piece of the filter output, so "all
rules at 25 %" is the number of clips ``curate filter`` would keep with every percentile rule set to 25 %
(the absolute rules, the error exclusion and duplicate removal unchanged; exact without dedup, and with it a
lower bound: a rerun could keep another member of a group whose kept clip the new cut drops).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.curate.filters import Threshold, keep_mask

CUT_LEVELS = (12.5, 25.0, 50.0)  # the cuts the SVD study compared


@dataclass(frozen=True)
class CutRule:
    """One percentile threshold of the run: ``side`` is ``bottom`` (drops low values) or ``top``."""

    threshold: Threshold

    @property
    def column(self) -> str:
        return self.threshold.column

    @property
    def side(self) -> str:
        return "bottom" if self.threshold.keep_min is not None else "top"

    def percents(self, levels: Sequence[float]) -> list[float]:
        """The percentile (0..100) that is this rule's bound at each cut level."""
        return [float(q) if self.side == "bottom" else 100.0 - float(q) for q in levels]

    def at(self, level: float, value: float) -> Threshold:
        """This rule at cut ``level`` % with the percentile ``value`` as its bound."""
        t = self.threshold
        reason = f"{t.column}: {self.side} {level:g}%"
        if self.side == "bottom":
            return replace(t, keep_min=value, reason=reason, origin=f"percentile {level:g}")
        return replace(t, keep_max=value, reason=reason, origin=f"percentile {100 - level:g}")


def percentile_rules(thresholds: list[Threshold]) -> list[CutRule]:
    """The run's thresholds that came from a percentile (not absolute bounds)."""
    return [CutRule(t) for t in thresholds if t.origin.startswith("percentile")
            and (t.keep_min is None) != (t.keep_max is None)]


def cut_thresholds(rules: list[CutRule], values: dict[str, dict[float, float]],
                   levels: Sequence[float]) -> dict[tuple[int, float], Threshold]:
    """(rule index, level) -> the rule at that level, from ``values[column][percent]``."""
    return {(i, q): r.at(q, values[r.column][p]) for i, r in enumerate(rules)
            for q, p in zip(levels, r.percents(levels))}


@dataclass
class CutTable:
    """levels: the cut levels (%). candidates: clips that enter the rules (clips without an error when errors
    are excluded). rules: each percentile rule with its bound and the clips it alone keeps at each level.
    percentile_only[level]: clips every percentile rule at ``level`` keeps. kept[level] / kept_seconds[level]:
    clips (and their seconds) ``curate filter`` would keep with every percentile rule at ``level`` and the other
    rules unchanged. absolute: the reasons of those other rules. current: clips this run kept."""

    levels: tuple[float, ...]
    candidates: int = 0
    rules: list[tuple[CutRule, dict[float, float], dict[float, int]]] = field(default_factory=list)
    percentile_only: dict[float, int] = field(default_factory=dict)
    kept: dict[float, int] = field(default_factory=dict)
    kept_seconds: dict[float, float] = field(default_factory=dict)
    absolute: list[str] = field(default_factory=list)
    current: int = 0


def _duplicates(table: pa.Table) -> np.ndarray:
    """Rows dropped by duplicate removal (any reason ``duplicate_of:...``)."""
    out = np.zeros(table.num_rows, bool)
    if "drop_reasons" not in table.column_names:
        return out
    reasons = table["drop_reasons"].combine_chunks() if isinstance(table["drop_reasons"], pa.ChunkedArray) \
        else table["drop_reasons"]
    flat = pc.list_flatten(reasons)
    if len(flat):
        hit = np.asarray(pc.fill_null(pc.starts_with(flat, "duplicate_of:"), False).to_numpy(zero_copy_only=False))
        parents = np.asarray(pc.list_parent_indices(reasons).to_numpy(zero_copy_only=False), np.int64)
        out[parents[hit]] = True
    return out


class CutCounter:
    """Counts of the cut table, added up piece by piece."""

    def __init__(self, thresholds: list[Threshold], rules: list[CutRule], cuts: dict[tuple[int, float], Threshold],
                 levels: Sequence[float], exclude_errors: bool):
        self.levels = tuple(float(q) for q in levels)
        self.rules, self.cuts, self.exclude_errors = rules, cuts, exclude_errors
        percentile = {id(r.threshold) for r in rules}
        self.others = [t for t in thresholds if id(t) not in percentile]
        self.candidates = 0
        self.alone = {(i, q): 0 for i in range(len(rules)) for q in self.levels}
        self.combined = dict.fromkeys(self.levels, 0)
        self.kept = dict.fromkeys(self.levels, 0)
        self.seconds = dict.fromkeys(self.levels, 0.0)

    def add(self, table: pa.Table) -> None:
        base = keep_mask(table, [], self.exclude_errors)
        self.candidates += int(base.sum())
        others = keep_mask(table, self.others, self.exclude_errors) & ~_duplicates(table)
        duration = table["duration_s"].to_numpy(zero_copy_only=False).astype(np.float64)
        for q in self.levels:
            every = base.copy()
            for i in range(len(self.rules)):
                ok = keep_mask(table, [self.cuts[i, q]], self.exclude_errors)
                self.alone[i, q] += int(ok.sum())
                every &= ok
            self.combined[q] += int(every.sum())
            kept = every & others
            self.kept[q] += int(kept.sum())
            self.seconds[q] += float(np.nansum(duration[kept]))

    def table(self, current: int) -> CutTable:
        rows = [(r, {q: self.cuts[i, q].keep_min if r.side == "bottom" else self.cuts[i, q].keep_max
                     for q in self.levels}, {q: self.alone[i, q] for q in self.levels})
                for i, r in enumerate(self.rules)]
        return CutTable(self.levels, self.candidates, rows, dict(self.combined), dict(self.kept),
                        dict(self.seconds), [t.reason for t in self.others], current)
