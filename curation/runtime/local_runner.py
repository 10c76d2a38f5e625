"""Run a graph of stages in this process: the same stage classes as on Ray, no cluster.

For one machine's work, where starting Ray and its worker pools would cost more than they give: one video, or a
scan-only job whose heavy work runs in child processes anyway (the annotate scan stage drives an isolated child
process per copy). The first stage may run as several copies in threads (``workers``), each holding its own
child; the later stages run one batch at a time in the calling thread, overlapping the copies' work. Resources
are not enforced; each stage copy is built once and closed at the end.
"""
from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import pyarrow as pa

from curation.core.arrow import skip_pandas_probe
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


def _parallel(copies: list, batches: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Each batch through one of the stage ``copies`` (one thread each), results in completion order, at most
    two batches per copy in flight (so a slow input does not hold the others back, and memory stays bounded)."""
    free: queue.SimpleQueue = queue.SimpleQueue()
    for copy in copies:
        free.put(copy)

    def call(batch: pa.Table) -> pa.Table:
        stage = free.get()
        try:
            return stage(batch)
        finally:
            free.put(stage)

    pool = ThreadPoolExecutor(max_workers=len(copies), thread_name_prefix="stage")
    pending: set[Future] = set()
    try:
        for batch in batches:
            pending.add(pool.submit(call, batch))
            while len(pending) >= 2 * len(copies):
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        # Stopped early (an error, Ctrl-C, a consumer that stops reading): do not wait for the calls running;
        # the caller closes the copies next, which ends them (the scan stage kills its child process).
        pool.shutdown(wait=not pending, cancel_futures=True)


def _build(spec: StageSpec):
    kwargs = dict(spec.kwargs)
    if "gpu_fraction" in getattr(spec.cls, "runner_arguments", ()):
        kwargs["gpu_fraction"] = 0.0
    return spec.cls(**kwargs)


def run_local(items: list[dict] | pa.Table, stages: list[StageSpec], workers: int = 1) -> Iterator[dict]:
    """Run ``stages`` in order over ``items`` (dicts or the rows of an Arrow table) in this process; yields the
    last stage's rows (pyarrow-format stages only). ``workers``: copies of the first stage, each called from
    its own thread (default 1: everything in the calling thread, in input order); with more, the last stage's
    rows come in completion order."""
    skip_pandas_probe()
    built: list = []
    try:
        first = [_build(stages[0]) for _ in range(max(1, workers))]
        built.extend(first)
        rest = [(spec, _build(spec)) for spec in stages[1:]]
        built.extend(stage for _, stage in rest)
        stream: Iterable[pa.Table] = ((items.slice(i, 1) for i in range(items.num_rows)) if isinstance(items, pa.Table)
                                      else (pa.Table.from_pylist([item]) for item in items))
        head = _batches(stream, stages[0].batch_size or stages[0].resources.batch_size)
        stream = _apply(first[0], head) if len(first) == 1 else _parallel(first, head)
        for spec, stage in rest:
            stream = _apply(stage, _batches(stream, spec.batch_size or spec.resources.batch_size))
        for table in stream:
            yield from table.to_pylist()
    finally:
        for stage in built:
            close = getattr(stage, "close", None)
            if close is not None:
                close()
