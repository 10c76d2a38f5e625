"""Run a graph of stages in this process, one batch at a time: the same stage classes as on Ray, no cluster.

For work with nothing to run in parallel (one video), where starting Ray and its worker pools would cost more
than the work itself. Resources are not enforced; each stage is built once and closed at the end.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from curation.runtime.ray_runner import StageSpec


def _batches(tables: Iterable[pa.Table], size: int) -> Iterator[pa.Table]:
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        pending.append(table)
        rows += table.num_rows
        while rows >= size:
            merged = pa.concat_tables(pending)
            yield merged.slice(0, size)
            rest = merged.slice(size)
            pending, rows = ([rest] if rest.num_rows else []), rest.num_rows
    if rows:
        yield pa.concat_tables(pending)


def _apply(stage, batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
    for batch in batches:
        yield stage(batch)


def run_local(items: list[dict] | pa.Table, stages: list[StageSpec]) -> Iterator[dict]:
    """Run ``stages`` in order over ``items`` (dicts or the rows of an Arrow table) in this process; yields the
    last stage's rows (pyarrow-format stages only)."""
    built = []
    try:
        for spec in stages:
            kwargs = dict(spec.kwargs)
            if "gpu_fraction" in getattr(spec.cls, "runner_arguments", ()):
                kwargs["gpu_fraction"] = 0.0
            built.append((spec, spec.cls(**kwargs)))
        stream: Iterable[pa.Table] = ((items.slice(i, 1) for i in range(items.num_rows)) if isinstance(items, pa.Table)
                                      else (pa.Table.from_pylist([item]) for item in items))
        for spec, stage in built:
            stream = _apply(stage, _batches(stream, spec.batch_size or spec.resources.batch_size))
        for table in stream:
            yield from table.to_pylist()
    finally:
        for _, stage in built:
            close = getattr(stage, "close", None)
            if close is not None:
                close()
