"""The one place that turns declared stage resources into Ray Data arguments and runs a graph of stages.

A stage is a callable class (``__init__(**kwargs)``, ``__call__(batch) -> batch``, optional ``close()``) with a
``batch_format`` class attribute ("pyarrow" or "numpy"); it never imports Ray, so the same class runs in a plain
loop in tests. :func:`run_graph` chains the stages with ``map_batches`` over actor pools and streams the last
stage's rows back to the driver.
"""
from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from curation.runtime.stage import StageResources

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    """One stage of a graph: its class and constructor arguments, its resources, and how many rows each call
    gets (``batch_size``; None = ``resources.batch_size``). ``min_workers``: start the pool this small and let it
    grow when work queues up (a short job need not start, and load models in, idle workers)."""

    name: str
    cls: type
    kwargs: dict = field(default_factory=dict)
    resources: StageResources = field(default_factory=StageResources)
    batch_size: int | None = None
    min_workers: int | None = None


def init_ray(address: str | None, num_cpus: int = 0) -> dict:
    """Join ``address`` (or ``RAY_ADDRESS``), else always start a new embedded local Ray (never a stray cluster
    left behind by an earlier ``ray start``); returns the cluster's resources."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": True, "logging_level": logging.WARNING}
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), **kwargs)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    return ray.cluster_resources()


def shutdown_ray() -> None:
    """Stop the embedded Ray (or leave a joined cluster) now, if this process started one: quicker than Ray's
    own exit hook, which first sleeps to let worker logs print."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def pool_size(resources: StageResources, cluster: dict, reserved_cpus: float = 0.0) -> int:
    """Workers for a stage: the configured size, else as many as the cluster's CPUs (or GPUs) allow."""
    if resources.pool_size:
        return resources.pool_size
    if resources.num_gpus > 0:
        return max(1, int(cluster.get("GPU", 0) // resources.num_gpus))
    if resources.num_cpus <= 0:
        return 1
    return max(1, int((cluster.get("CPU", 1) - reserved_cpus) // resources.num_cpus))


def gpu_memory_gb(cluster: dict) -> float:
    """Memory of one GPU of the cluster, GiB (0 without GPUs). Asked of a GPU worker when the driver has none."""
    if cluster.get("GPU", 0) <= 0:
        return 0.0
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / 2**30
    import ray

    @ray.remote(num_gpus=1, num_cpus=0)
    def total() -> float:
        import torch

        return torch.cuda.get_device_properties(0).total_memory / 2**30

    return float(ray.get(total.remote()))


def plan_pools(stages: dict[str, StageResources], cluster: dict,
               gpu_gb: float | None = None) -> dict[str, tuple[StageResources, int, float]]:
    """Resources, pool size and GPU share per concurrently running stage.

    A stage's declared ``gpu_memory_gb`` raises its ``num_gpus`` to that share of a GPU, so Ray never packs
    more workers onto one GPU than its memory holds. Actor pools of one graph must all be placed at once: when
    the fixed-size CPU pools ask for more CPUs than the cluster has, their ``num_cpus`` are scaled down to fit
    (a logical share; each worker still gets at least one thread). A pool sized by the cluster (``pool_size``
    0, e.g. the scan) gets one worker per CPU (per ``num_cpus``), sharing the CPUs the fixed pools leave. ``gpu_gb``: memory of one GPU (asked of the cluster when None)."""
    if gpu_gb is None:
        gpu_gb = gpu_memory_gb(cluster) if any(r.gpu_memory_gb > 0 for r in stages.values()) else 0.0
    resolved: dict[str, StageResources] = {}
    for name, r in stages.items():
        if r.gpu_memory_gb > 0 and gpu_gb > 0:
            share = min(1.0, r.gpu_memory_gb / gpu_gb)
            if share > r.num_gpus:
                r = r.model_copy(update={"num_gpus": math.ceil(share * 10_000 - 1e-6) / 10_000})  # rounded up
        resolved[name] = r
    cpus = float(cluster.get("CPU", 1))
    fixed = {n: r for n, r in resolved.items() if r.pool_size or r.num_gpus > 0}
    wanted = sum(r.num_cpus * pool_size(r, cluster) for r in fixed.values())
    elastic = [n for n in resolved if n not in fixed and resolved[n].num_cpus > 0]
    if wanted > cpus - (0.5 * len(elastic)):
        # Fixed pools shrink so every elastic pool still gets at least half a CPU per worker.
        scale = max(0.05, (cpus - 0.5 * len(elastic)) / wanted) if wanted else 1.0
        log.info("fixed-size pools ask for %.1f CPUs, the cluster has %.1f: scaling their num_cpus by %.2f",
                 wanted, cpus, scale)
        fixed = {n: r.model_copy(update={"num_cpus": round(r.num_cpus * scale, 3)}) for n, r in fixed.items()}
        wanted = sum(r.num_cpus * pool_size(r, cluster) for r in fixed.values())
    resolved.update(fixed)
    left = max(0.5 * len(elastic), cpus - wanted)
    sizes = {}
    for name, r in resolved.items():
        if name in elastic:
            # As many workers as the cluster has CPUs for it (CPU model workers mostly wait, and work in
            # bursts); their logical share is scaled to what the fixed pools leave, so every pool is placed.
            share = left / len(elastic)
            sizes[name] = max(1, int(cpus / len(elastic) // r.num_cpus))
            if r.num_cpus * sizes[name] > share:
                resolved[name] = r.model_copy(update={"num_cpus": round(share / sizes[name], 3)})
        else:
            sizes[name] = pool_size(r, cluster)
    return {n: (r, sizes[n], r.num_gpus) for n, r in resolved.items()}


def map_batches_args(spec: StageSpec, resources: StageResources, size: int) -> dict:
    """Ray Data ``map_batches`` keyword arguments for one stage: an actor pool of ``size`` workers (starting at
    ``spec.min_workers`` when set)."""
    import ray

    low = spec.min_workers
    if low is not None and low < size:
        compute = ray.data.ActorPoolStrategy(min_size=max(1, low), max_size=size)
    else:
        compute = ray.data.ActorPoolStrategy(size=size)
    return dict(fn=spec.cls, fn_constructor_kwargs=spec.kwargs, compute=compute, num_cpus=resources.num_cpus,
                num_gpus=resources.num_gpus, batch_size=spec.batch_size or resources.batch_size,
                batch_format=getattr(spec.cls, "batch_format", "numpy"), zero_copy_batch=True)


def run_graph(items: list[dict] | pa.Table, stages: list[StageSpec], address: str | None = None,
              num_cpus: int = 0, blocks: int | None = None) -> Iterator[dict]:
    """Run ``stages`` in order over ``items`` (dicts, or the rows of an Arrow table: typed, with real nulls) as
    one streaming Ray Data execution; yields the last stage's rows as they finish, in any order. Every pool is
    sized together (:func:`plan_pools`); ``blocks``: input blocks (default one per item, so rows stream instead
    of arriving in bursts)."""
    import ray

    cluster = init_ray(address, num_cpus)
    plan = plan_pools({s.name: s.resources for s in stages}, cluster)
    n = blocks or len(items)
    if isinstance(items, pa.Table):
        step = max(1, -(-items.num_rows // max(1, n)))
        ds = ray.data.from_arrow([items.slice(i, step) for i in range(0, items.num_rows, step)] or [items])
    else:
        ds = ray.data.from_items(items, override_num_blocks=max(1, n))
    for spec in stages:
        resources, size, _ = plan[spec.name]
        if spec.min_workers is not None:
            size = max(size, 1)
        log.info("%s: %d workers, num_cpus %s, num_gpus %s, batch %s", spec.name, size, resources.num_cpus,
                 resources.num_gpus, spec.batch_size or resources.batch_size)
        kwargs = {**spec.kwargs}
        if "gpu_fraction" in getattr(spec.cls, "runner_arguments", ()):
            kwargs["gpu_fraction"] = resources.num_gpus
        ds = ds.map_batches(**map_batches_args(replace(spec, kwargs=kwargs), resources, size))
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=0):
        yield from batch.to_pylist()
