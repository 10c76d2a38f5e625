"""Map a function over items on Ray, one task per item, results in item order with a bounded number in flight.

The generic runner of per-part passes (``curate filter`` reads the annotations one Parquet part per task): it
knows nothing of what ``fn`` does. The cluster is the one :func:`~curation.runtime.ray_runner.init_ray` starts
or joins (an address, ``RAY_ADDRESS``, else a new embedded local Ray). Tasks are spread over the nodes
(``SPREAD``), at most ``in_flight`` are submitted and not yet consumed, and results are fetched one at a time
in item order, so the caller holds one result at a time and the others wait in the object store.
"""
from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from curation.runtime.ray_runner import init_ray

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def _run_on_node(fn: Callable[[T], R], item: T) -> tuple[str, R]:
    """``fn(item)`` and the id of the node that ran it."""
    import ray

    return ray.get_runtime_context().get_node_id(), fn(item)


def map_parts(fn: Callable[[T], R], items: Sequence[T], address: str | None = None, num_cpus: int = 0,
              in_flight: int = 0, task_cpus: float = 1.0, nodes: Counter | None = None) -> Iterator[R]:
    """``fn(item)`` for every item as Ray tasks (``task_cpus`` CPUs each); yields the results in item order.

    ``address``/``num_cpus``: the cluster to join, or the CPUs of a new embedded local Ray (0 = all), as in
    :func:`~curation.runtime.ray_runner.init_ray`. ``in_flight``: tasks submitted and not yet consumed
    (default twice the cluster's CPUs). ``nodes``: a Counter that gets one count per task, keyed by the id of
    the node that ran it. A task's exception is raised here as itself (as if ``fn`` had run in this process,
    the worker's traceback in the log), and the remaining tasks are cancelled."""
    import ray

    cluster = init_ray(address, num_cpus)
    limit = max(1, in_flight or 2 * int(cluster.get("CPU", 1)))
    remote = ray.remote(num_cpus=task_cpus, scheduling_strategy="SPREAD", max_retries=3)(_run_on_node)
    fn_ref = ray.put(fn)  # shipped once, not with every task
    todo = iter(items)
    pending: deque = deque()

    def submit() -> None:
        for item in todo:
            pending.append(remote.remote(fn_ref, item))
            if len(pending) >= limit:
                return

    submit()
    try:
        while pending:
            try:
                node, result = ray.get(pending.popleft())
            except ray.exceptions.RayTaskError as exc:
                if not isinstance(exc.cause, Exception):
                    raise
                log.info("a task failed: %s", exc)
                raise exc.cause from None
            log.debug("map_parts: task on node %s", node)
            if nodes is not None:
                nodes[node] += 1
            submit()
            yield result
    finally:
        for ref in pending:
            ray.cancel(ref)
