"""Filtering is a pure function over the clip table: rules in, ``keep`` and every reason out.

A rule drops the bottom and/or top percent of one annotation (percentiles computed exactly over every clip
without an error, :mod:`curation.curate.percentiles`) or values outside absolute bounds; duration, resolution and
frame-rate bounds are rules too. Rules are independent and combine with AND: a clip is kept when no rule drops
it, and ``drop_reasons`` lists every rule that did. :func:`resolve` turns the rules into absolute thresholds
(saved as JSON); :func:`apply` applies thresholds, so the same cut can be applied to new data.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.curate.config import FilterConfig
from curation.curate.percentiles import percentiles
from curation.schema import ROW_SHOT, ROW_TRANSITION


@dataclass(frozen=True)
class Threshold:
    """Keep ``keep_min <= value <= keep_max`` (None = unbounded); ``reason`` names the rule in drop_reasons."""

    column: str
    keep_min: float | None
    keep_max: float | None
    reason: str
    origin: str  # how it was set: "bottom 12.5 % of 1234 clips", "absolute", ...


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        raise KeyError(name)
    return table[name].to_numpy(zero_copy_only=False).astype(np.float64)


def _eligible(table: pa.Table) -> np.ndarray:
    """Clips (not status rows) without an error."""
    is_clip = np.asarray(table["clip_index"].is_valid())
    no_error = np.asarray(table["error"].is_null())
    return is_clip & no_error


def resolve(table: pa.Table, config: FilterConfig) -> list[Threshold]:
    """The rules of ``config`` as absolute thresholds on ``table`` (percentiles over eligible clips)."""
    eligible = _eligible(table)
    out: list[Threshold] = []
    for rule in config.rules:
        if rule.column not in table.column_names:
            raise KeyError(f"filter rule on {rule.column!r}: the table has no such column "
                           f"(was its stage run? columns: {', '.join(table.column_names)})")
        values = _column(table, rule.column)[eligible]
        n = int(np.isfinite(values).sum())
        qs = [rule.drop_bottom, 100.0 - rule.drop_top]
        low, high = percentiles(lambda: [values], qs)
        if rule.drop_bottom > 0:
            out.append(Threshold(rule.column, low, None, f"{rule.column}: bottom {rule.drop_bottom:g}%",
                                 f"percentile {rule.drop_bottom:g} of {n} clips"))
        if rule.drop_top > 0:
            out.append(Threshold(rule.column, None, high, f"{rule.column}: top {rule.drop_top:g}%",
                                 f"percentile {100 - rule.drop_top:g} of {n} clips"))
        if rule.min is not None:
            out.append(Threshold(rule.column, rule.min, None, f"{rule.column}: below {rule.min:g}", "absolute"))
        if rule.max is not None:
            out.append(Threshold(rule.column, None, rule.max, f"{rule.column}: above {rule.max:g}", "absolute"))
    bounds = [("duration_s", config.min_duration_s, config.max_duration_s),
              ("short_side", config.min_short_side, None),
              ("fps", config.min_fps, config.max_fps)]
    for column, lo, hi in bounds:
        if lo is not None:
            out.append(Threshold(column, lo, None, f"{column}: below {lo:g}", "absolute"))
        if hi is not None:
            out.append(Threshold(column, None, hi, f"{column}: above {hi:g}", "absolute"))
    return out


def _values(table: pa.Table, column: str) -> np.ndarray:
    if column == "short_side":
        return np.minimum(_column(table, "width"), _column(table, "height"))
    return _column(table, column)


def apply(table: pa.Table, thresholds: list[Threshold], exclude_errors: bool = True) -> pa.Table:
    """``table`` with ``keep`` (bool) and ``drop_reasons`` (list of every rule that dropped the row; a row
    with an error gets ``error: <kind>``; a status row (no clip) is never kept). A missing value (null/NaN)
    fails its rule."""
    n = table.num_rows
    reasons: list[list[str]] = [[] for _ in range(n)]
    is_clip = np.asarray(table["clip_index"].is_valid())
    kinds = table["error_kind"].to_pylist()
    for i in range(n):
        if not is_clip[i]:
            reasons[i].append("no clip")
        elif kinds[i] is not None and exclude_errors:
            reasons[i].append(f"error: {kinds[i]}")
    for t in thresholds:
        values = _values(table, t.column)
        ok = np.isfinite(values)
        if t.keep_min is not None:
            ok &= values >= t.keep_min
        if t.keep_max is not None:
            ok &= values <= t.keep_max
        for i in np.nonzero(~ok & is_clip)[0]:
            reasons[i].append(t.reason if np.isfinite(values[i]) else f"{t.column}: missing")
    keep = np.array([not r for r in reasons], dtype=bool)
    return table.append_column("keep", pa.array(keep)).append_column(
        "drop_reasons", pa.array(reasons, pa.list_(pa.string())))


@dataclass(frozen=True)
class FootageLost:
    """What never became a clip, before any rule: detected shots that gave no clip (by reason) and detected
    gradual transitions, as row counts and seconds of footage. Adds up across videos or parts."""

    shots: dict[str, int] = field(default_factory=dict)
    shot_seconds: dict[str, float] = field(default_factory=dict)
    transitions: int = 0
    transition_seconds: float = 0.0

    def __add__(self, other: "FootageLost") -> "FootageLost":
        reasons = set(self.shots) | set(other.shots)
        return FootageLost({k: self.shots.get(k, 0) + other.shots.get(k, 0) for k in reasons},
                           {k: self.shot_seconds.get(k, 0.0) + other.shot_seconds.get(k, 0.0) for k in reasons},
                           self.transitions + other.transitions, self.transition_seconds + other.transition_seconds)

    def text(self) -> str:
        shots = ", ".join(f"{n} {k} ({self.shot_seconds[k]:.1f} s)" for k, n in sorted(self.shots.items()))
        return (f"shots without a clip: {shots or 'none'}; gradual transitions: {self.transitions} "
                f"({self.transition_seconds:.1f} s)")


def footage_lost(row_kinds, skip_reasons, durations) -> FootageLost:
    """Count the ``skipped_shot`` and ``transition`` rows among parallel sequences of ``row_kind``,
    ``skip_reason`` and ``duration_s`` values (seconds; a missing duration counts 0)."""
    shots: dict[str, int] = {}
    seconds: dict[str, float] = {}
    transitions, transition_seconds = 0, 0.0
    for kind, reason, duration in zip(row_kinds, skip_reasons, durations):
        duration = float(duration) if duration is not None and duration == duration else 0.0
        if kind == ROW_SHOT:
            shots[reason] = shots.get(reason, 0) + 1
            seconds[reason] = seconds.get(reason, 0.0) + duration
        elif kind == ROW_TRANSITION:
            transitions += 1
            transition_seconds += duration
    return FootageLost(shots, seconds, transitions, transition_seconds)


def save_thresholds(path: str | Path, thresholds: list[Threshold], config: FilterConfig) -> None:
    data = {"exclude_errors": config.exclude_errors, "thresholds": [asdict(t) for t in thresholds],
            "rules": [r.model_dump() for r in config.rules]}
    Path(path).write_text(json.dumps(data, indent=1))


def load_thresholds(path: str | Path) -> tuple[list[Threshold], bool]:
    data = json.loads(Path(path).read_text())
    return [Threshold(**t) for t in data["thresholds"]], bool(data.get("exclude_errors", True))
