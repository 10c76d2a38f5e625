"""The one place that turns declared stage resources into Ray arguments."""
from curation.runtime.stage import StageResources
from curation.runtime.ray_runner import plan_pools


def test_declared_gpu_memory_becomes_a_gpu_share_that_never_overfills_a_gpu():
    stages = {"ocr": StageResources(num_gpus=0.1, gpu_memory_gb=20.0, pool_size=0),
              "aesthetic": StageResources(num_gpus=0.0, gpu_memory_gb=8.0, pool_size=2),
              "caption": StageResources(num_gpus=0.5, gpu_memory_gb=4.0, pool_size=1)}
    plan = plan_pools(stages, {"CPU": 64, "GPU": 4}, gpu_gb=80.0)
    assert plan["ocr"][0].num_gpus == 0.25 and plan["ocr"][1] == 16  # 4 GPUs / 0.25
    assert plan["aesthetic"][0].num_gpus == 0.1 and plan["aesthetic"][2] == 0.1
    assert plan["caption"][0].num_gpus == 0.5  # an explicit larger share is kept
    for resources, size, _ in plan.values():
        assert resources.gpu_memory_gb <= resources.num_gpus * 80.0 + 1e-6


def test_cpu_pools_are_scaled_to_fit_the_cluster():
    stages = {name: StageResources(num_cpus=1.0, pool_size=1) for name in ("inputs", "ocr", "aesthetic", "caption")}
    plan = plan_pools(stages, {"CPU": 2}, gpu_gb=0.0)
    assert sum(r.num_cpus * size for r, size, _ in plan.values()) <= 2.0 + 1e-6
    assert all(r.num_cpus > 0 for r, _, _ in plan.values())


def test_the_scan_keeps_a_worker_per_cpu_next_to_cpu_model_pools():
    stages = {"scan": StageResources(num_cpus=1.0, pool_size=0),
              **{name: StageResources(num_cpus=1.0, pool_size=1) for name in ("ocr", "aesthetic", "caption")},
              "commit": StageResources(num_cpus=0.0, pool_size=1)}
    plan = plan_pools(stages, {"CPU": 2}, gpu_gb=0.0)
    assert plan["scan"][1] == 2  # one scan worker per CPU
    assert sum(r.num_cpus * size for r, size, _ in plan.values()) <= 2.0 + 1e-6  # every pool can be placed
    assert all(r.num_cpus > 0 for n, (r, _, _) in plan.items() if n != "commit")
