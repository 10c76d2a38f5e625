"""The one place that turns a stage's declared resources into Ray Data arguments and runs the graph."""
from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from curation.config import AnnotateConfig, StageResources

log = logging.getLogger(__name__)


def init_ray(address: str | None, num_cpus: int = 0) -> dict:
    """Join ``address`` or start an embedded local Ray; returns the cluster's resources."""
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": True, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count(), **kwargs)
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


def map_batches_args(stage_cls: type, resources: StageResources, constructor_kwargs: dict, size: int,
                     min_size: int | None = None) -> dict:
    """Ray Data ``map_batches`` keyword arguments for a callable-class stage: a pool of ``size`` workers, or one
    that starts with ``min_size`` and grows to ``size`` when work queues up (a small job need not pay for
    starting every worker)."""
    import ray

    if min_size is not None and min_size < size:
        compute = ray.data.ActorPoolStrategy(min_size=max(1, min_size), max_size=size)
    else:
        compute = ray.data.ActorPoolStrategy(size=size)
    return dict(
        fn=stage_cls,
        fn_constructor_kwargs=constructor_kwargs,
        compute=compute,
        num_cpus=resources.num_cpus,
        num_gpus=resources.num_gpus,
        batch_size=resources.batch_size,
        batch_format="numpy",
        zero_copy_batch=True,
    )


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
    more workers onto one GPU than its memory holds. Actor pools of one pipeline must all be placed at once:
    when the CPU-only pools ask for more CPUs than the cluster has, their ``num_cpus`` are scaled down to fit
    (a logical share; each worker still gets at least one thread). ``gpu_gb``: memory of one GPU (asked of
    the cluster when None)."""
    if gpu_gb is None:
        gpu_gb = gpu_memory_gb(cluster) if any(r.gpu_memory_gb > 0 for r in stages.values()) else 0.0
    resolved: dict[str, StageResources] = {}
    for name, r in stages.items():
        if r.gpu_memory_gb > 0 and gpu_gb > 0:
            share = min(1.0, r.gpu_memory_gb / gpu_gb)
            if share > r.num_gpus:
                r = replace(r, num_gpus=math.ceil(share * 10_000 - 1e-6) / 10_000)  # rounded up
        resolved[name] = r
    sizes = {name: pool_size(r, cluster) for name, r in resolved.items()}
    cpus = float(cluster.get("CPU", 1))
    wanted = sum(r.num_cpus * sizes[n] for n, r in resolved.items())
    if wanted > cpus:
        scale = cpus / wanted
        log.info("model stages ask for %.1f CPUs, the cluster has %.1f: scaling their num_cpus by %.2f",
                 wanted, cpus, scale)
        resolved = {n: replace(r, num_cpus=round(r.num_cpus * scale, 3)) for n, r in resolved.items()}
    return {n: (r, sizes[n], r.num_gpus) for n, r in resolved.items()}


def model_stream(items: list[dict], config: AnnotateConfig, stages: list[tuple[str, type, dict]]) -> Iterator[dict]:
    """Run the clip-inputs stage and the model ``stages`` ([(name, class, constructor kwargs)], in order)
    over ``items`` (one keyframe part each) on Ray; yields one result row per clip, in any order."""
    import ray

    from curation.stages.clip_inputs import ClipInputStage

    cluster = init_ray(config.ray.address, config.ray.num_cpus)
    wanted = {"clip_inputs": config.ray.clip_inputs, **{name: getattr(config.ray, name) for name, _, _ in stages}}
    plan = plan_pools(wanted, cluster)
    for name, (r, size, _) in plan.items():
        log.info("%s: %d workers, num_cpus %s, num_gpus %s, batch %d", name, size, r.num_cpus, r.num_gpus,
                 r.batch_size)
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    r, size, _ = plan["clip_inputs"]
    ds = ds.map_batches(**map_batches_args(ClipInputStage, r, {"config": config}, size))
    for name, cls, kwargs in stages:
        r, size, share = plan[name]
        ds = ds.map_batches(**map_batches_args(cls, r, {"config": config, "gpu_fraction": share, **kwargs}, size))
    # The images stay in the workers; the driver gets the annotations only.
    ds = ds.drop_columns(["jpeg_first", "jpeg_middle", "jpeg_last"])
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
        n = len(batch["clip_id"])
        for i in range(n):
            yield {k: v[i] for k, v in batch.items()}


def annotate_stream(items: list[dict], config: AnnotateConfig) -> Iterator[dict]:
    """Probe and scan ``items`` ({video_id, path}) on Ray; yields result rows as they finish, in any order."""
    import ray

    from curation.stages.probe import ProbeStage
    from curation.stages.scan import ScanStage

    cluster = init_ray(config.ray.address, config.ray.num_cpus)
    probe_size = pool_size(config.ray.probe, cluster)
    scan_size = pool_size(config.ray.scan, cluster, reserved_cpus=config.ray.probe.num_cpus * probe_size)
    log.info("probe workers %d, scan workers %d", probe_size, scan_size)
    # Small blocks keep results streaming to the driver (and into commits) instead of arriving in bursts.
    ds = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), max(64, 8 * scan_size))))
    ds = ds.map_batches(**map_batches_args(ProbeStage, config.ray.probe, {"config": config}, probe_size))
    # One worker per video to start with: a short job does not start (and load models in) idle workers; a
    # video split into several segments grows the pool.
    ds = ds.map_batches(**map_batches_args(ScanStage, config.ray.scan, {"config": config}, scan_size,
                                           min_size=min(scan_size, len(items))))
    for batch in ds.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=0):
        n = len(batch["video_id"])
        for i in range(n):
            yield {k: v[i] for k, v in batch.items()}


def shard_stream(specs: list[dict], config, directory: str) -> Iterator[dict]:
    """Write shards ({name, rows}) on Ray, one per task; yields each shard's record as it is written."""
    import json

    import ray

    from curation.stages.shard import ShardStage

    cluster = init_ray(config.annotate.ray.address, config.annotate.ray.num_cpus)
    resources = config.shard.workers
    size = min(pool_size(resources, cluster), max(1, len(specs)))
    ds = ray.data.from_items(specs, override_num_blocks=max(1, len(specs)))
    ds = ds.map_batches(**map_batches_args(ShardStage, replace(resources, batch_size=1),
                                           {"config": config.shard, "directory": directory}, size))
    for batch in ds.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=0):
        yield json.loads(batch["record"][0])
