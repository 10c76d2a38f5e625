"""The one place that turns a stage's declared resources into Ray Data arguments and runs the graph."""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
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


def pool_size(resources: StageResources, cluster: dict, reserved_cpus: float = 0.0) -> int:
    """Workers for a stage: the configured size, else as many as the cluster's CPUs (or GPUs) allow."""
    if resources.pool_size:
        return resources.pool_size
    if resources.num_gpus > 0:
        return max(1, int(cluster.get("GPU", 0) // resources.num_gpus))
    if resources.num_cpus <= 0:
        return 1
    return max(1, int((cluster.get("CPU", 1) - reserved_cpus) // resources.num_cpus))


def map_batches_args(stage_cls: type, resources: StageResources, constructor_kwargs: dict, size: int) -> dict:
    """Ray Data ``map_batches`` keyword arguments for a callable-class stage."""
    import ray

    return dict(
        fn=stage_cls,
        fn_constructor_kwargs=constructor_kwargs,
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=resources.num_cpus,
        num_gpus=resources.num_gpus,
        batch_size=resources.batch_size,
        batch_format="numpy",
        zero_copy_batch=True,
    )


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
    ds = ds.map_batches(**map_batches_args(ScanStage, config.ray.scan, {"config": config}, scan_size))
    for batch in ds.iter_batches(batch_size=1, batch_format="numpy", prefetch_batches=0):
        n = len(batch["video_id"])
        for i in range(n):
            yield {k: v[i] for k, v in batch.items()}
