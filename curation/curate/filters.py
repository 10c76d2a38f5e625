"""Filtering is a pure function over the clip table: rules in, ``keep`` and every reason out.

A rule drops the bottom and/or top percent of one annotation (percentiles computed exactly over every clip
without an error, :mod:`curation.curate.percentiles`) or values outside absolute bounds; duration, resolution and
frame-rate bounds are rules too. Rules are independent and combine with AND: a clip is kept when no rule drops
it, and ``drop_reasons`` lists every rule that did. :func:`resolve` turns the rules into absolute thresholds
(saved as JSON); :func:`apply` applies thresholds, so the same cut can be applied to new data.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.curate.config import FilterConfig
from curation.curate.percentiles import percentiles
from curation.curate.sources import PieceSource, Values, as_pieces


@dataclass(frozen=True)
class Threshold:
    """Keep ``keep_min <= value <= keep_max`` (None = unbounded); or, with ``drop_values`` (a label column),
    keep a label that is none of them. ``reason`` names the rule in drop_reasons."""

    column: str
    keep_min: float | None
    keep_max: float | None
    reason: str
    origin: str  # how it was set: "bottom 12.5 % of 1234 clips", "absolute", ...
    drop_values: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "drop_values", tuple(self.drop_values))  # a list when read back from JSON


# Columns every rule evaluation reads besides the rule's own.
ROW_COLUMNS = ["clip_index", "error", "error_kind"]


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        raise KeyError(name)
    # Through Arrow: a null becomes NaN, and a flag (bool) 0 or 1, so `{column: still, max: 0}` drops still clips.
    return table[name].cast(pa.float64()).to_numpy(zero_copy_only=False)


def _is_label(table: pa.Table, name: str) -> bool:
    if name not in table.column_names:
        raise KeyError(name)
    return pa.types.is_string(table.schema.field(name).type)


def _present(table: pa.Table, name: str) -> np.ndarray:
    """Where ``name`` has a value: not null for a label column, finite for a number."""
    if _is_label(table, name):
        return np.asarray(table[name].is_valid())
    return np.isfinite(_column(table, name))


def _passes(table: pa.Table, t: Threshold) -> tuple[np.ndarray, np.ndarray]:
    """(value present, value present and within the threshold) per row."""
    if t.drop_values:
        labels = table[t.column].to_numpy(zero_copy_only=False).astype(object)
        present = np.asarray(table[t.column].is_valid())
        return present, present & ~np.isin(labels, list(t.drop_values))
    values = _values(table, t.column)
    ok = np.isfinite(values)
    present = ok.copy()
    if t.keep_min is not None:
        ok &= values >= t.keep_min
    if t.keep_max is not None:
        ok &= values <= t.keep_max
    return present, ok


def _eligible(table: pa.Table) -> np.ndarray:
    """Clips (not status rows) without an error."""
    is_clip = np.asarray(table["clip_index"].is_valid())
    no_error = np.asarray(table["error"].is_null())
    return is_clip & no_error


def eligible_values(piece: pa.Table, column: str) -> np.ndarray:
    """``column`` of the eligible clips of ``piece`` (clips without an error; NaN = missing), the population of
    a percentile rule."""
    return _column(piece, column)[_eligible(piece)]


def eligible_counts(piece: pa.Table, columns: list[str]) -> Counter:
    """The finite values of each of ``columns`` among the eligible clips of ``piece``."""
    eligible = _eligible(piece)
    return Counter({c: int(_present(piece, c)[eligible].sum()) for c in columns})


def rule_counts(table: pa.Table | PieceSource, config: FilterConfig) -> dict[str, int]:
    """How many eligible clips have a value of each rule's column (one pass over those columns). A column the
    table lacks raises KeyError with one line naming it."""
    source = as_pieces(table)
    columns = list(dict.fromkeys(r.column for r in config.rules))
    try:
        counts = dict.fromkeys(columns, 0)
        for part in source.map(partial(eligible_counts, columns=columns), [*columns, *ROW_COLUMNS]):
            for c in columns:
                counts[c] += part[c]
    except KeyError as exc:
        raise KeyError(f"filter rule on {exc.args[0]!r}: the table has no such column (was its stage run?)") \
            from None
    return counts


def unfilled(counts: dict[str, int]) -> list[str]:
    """The rule columns no eligible clip has a value of (the stage that computes them did not run, or failed
    on every clip): :func:`resolve` leaves their rules out rather than drop every clip as missing."""
    return [column for column, n in counts.items() if n == 0]


def resolve(table: pa.Table | PieceSource, config: FilterConfig, in_memory: int = 1 << 24,
            counts: dict[str, int] | None = None) -> list[Threshold]:
    """The rules of ``config`` as absolute thresholds (percentiles over eligible clips). ``table``: the whole
    table, or a :class:`~curation.curate.sources.PieceSource` mapped piece by piece (where its pieces are),
    holding at most ``in_memory`` values of a column at once (exact either way): one pass counts every rule's
    values (unless ``counts`` from :func:`rule_counts` is given), then one pass per rule (more when a column
    holds over ``in_memory`` values). Rules on a column that no eligible clip has a value of
    (:func:`unfilled`) give no threshold; the caller says so."""
    source = as_pieces(table)
    counts = rule_counts(source, config) if counts is None else counts
    empty = set(unfilled(counts))
    applied = [r for r in config.rules if r.column not in empty]
    rules = [r for r in applied if r.drop_bottom > 0 or r.drop_top > 0]
    bounds: dict[str, tuple[float, float]] = {}
    for rule in rules:
        values = Values(source, (rule.column, *ROW_COLUMNS), partial(eligible_values, column=rule.column))
        low, high = percentiles(values, [rule.drop_bottom, 100.0 - rule.drop_top], in_memory=in_memory,
                                n=counts[rule.column])
        bounds[id(rule)] = (low, high)
    out: list[Threshold] = []
    for rule in applied:
        n = counts[rule.column]
        low, high = bounds.get(id(rule), (None, None))
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
        if rule.drop_values:
            out.append(Threshold(rule.column, None, None, f"{rule.column}: {'/'.join(rule.drop_values)}", "label",
                                 tuple(rule.drop_values)))
    bounds_rules = [("duration_s", config.min_duration_s, config.max_duration_s),
                    ("short_side", config.min_short_side, None),
                    ("fps", config.min_fps, config.max_fps)]
    for column, lo, hi in bounds_rules:
        if lo is not None:
            out.append(Threshold(column, lo, None, f"{column}: below {lo:g}", "absolute"))
        if hi is not None:
            out.append(Threshold(column, None, hi, f"{column}: above {hi:g}", "absolute"))
    return out


def columns_read(thresholds: list[Threshold]) -> list[str]:
    """The columns :func:`apply` reads for ``thresholds``."""
    out = list(ROW_COLUMNS)
    for t in thresholds:
        for c in (["width", "height"] if t.column == "short_side" else [t.column]):
            if c not in out:
                out.append(c)
    return out


def _values(table: pa.Table, column: str) -> np.ndarray:
    if column == "short_side":
        return np.minimum(_column(table, "width"), _column(table, "height"))
    return _column(table, column)


def keep_mask(table: pa.Table, thresholds: list[Threshold], exclude_errors: bool = True) -> np.ndarray:
    """The ``keep`` column of :func:`apply` alone (no reasons built): clips without an error (when
    ``exclude_errors``) whose every thresholded value is present and within bounds."""
    keep = np.asarray(table["clip_index"].is_valid())
    if exclude_errors:
        keep = keep & np.asarray(table["error_kind"].is_null())
    for t in thresholds:
        keep = keep & _passes(table, t)[1]
    return keep


def apply(table: pa.Table, thresholds: list[Threshold], exclude_errors: bool = True) -> pa.Table:
    """``table`` with ``keep`` (bool) and ``drop_reasons`` (list of every rule that dropped the row; a row
    with an error gets ``error: <kind>``; a status row (no clip) is never kept). A missing value (null/NaN)
    fails its rule. Vectorised: a piece of millions of rows takes seconds."""
    n = table.num_rows
    is_clip = np.asarray(table["clip_index"].is_valid())
    kinds = table["error_kind"].to_numpy(zero_copy_only=False).astype(object)
    first = np.full(n, None, dtype=object)
    if exclude_errors:
        has_error = is_clip & np.asarray(table["error_kind"].is_valid())
        first[has_error] = [f"error: {k}" for k in kinds[has_error]]
    first[~is_clip] = "no clip"
    columns = [first]
    for t in thresholds:
        finite, ok = _passes(table, t)
        reason = np.full(n, None, dtype=object)
        reason[~ok & is_clip & finite] = t.reason
        reason[~ok & is_clip & ~finite] = f"{t.column}: missing"
        columns.append(reason)
    matrix = np.stack(columns, axis=1) if n else np.empty((0, len(columns)), dtype=object)
    present = matrix != None  # noqa: E711  (elementwise on an object array)
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    reasons = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                       pa.array(list(matrix[present]), pa.string()))
    keep = ~present.any(axis=1)
    return table.append_column("keep", pa.array(keep, pa.bool_())).append_column("drop_reasons", reasons)


def save_thresholds(path: str | Path, thresholds: list[Threshold], config: FilterConfig) -> None:
    data = {"exclude_errors": config.exclude_errors, "thresholds": [asdict(t) for t in thresholds],
            "rules": [r.model_dump() for r in config.rules]}
    Path(path).write_text(json.dumps(data, indent=1))


def load_thresholds(path: str | Path) -> tuple[list[Threshold], bool]:
    data = json.loads(Path(path).read_text())
    return [Threshold(**t) for t in data["thresholds"]], bool(data.get("exclude_errors", True))
