"""`curate finetune` on two processes: ``accelerate launch --multi_gpu --num_processes 2`` with
``ACCELERATE_USE_CPU=1`` (two CPU processes, gloo, DDP) on the tiny SVD. The ranks see disjoint samples, the
output has one checkpoint folder and one loss log (the mean over the ranks), and a run stopped after its
checkpoint and resumed ends bit-identical to an uninterrupted two-process run.

The launches go through ``python -m accelerate.commands.launch``, the module behind the ``accelerate`` command:
the command itself imports timm (for ``accelerate estimate-memory``), which imports torchvision, which cannot load
beside CPU torch here. ``accelerate launch --cpu --num_processes 2`` starts one process, not two (accelerate runs
several CPU processes through mpirun only, with ``--mpirun_hostfile``); ``--multi_gpu`` starts them with torchrun
and ``ACCELERATE_USE_CPU=1`` makes each a gloo CPU process."""
import csv
import json
import os
import subprocess
import sys
import tarfile
from itertools import islice
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from curation.core import storage
from curation.train.tiny import save_tiny_svd
from curation.testing.synthetic import tiny_shards
from tests.local_server import free_port
from tests.s3_server import SECRET, s3_bucket, s3_server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["finetune.num_frames=4", "finetune.width=64", "finetune.height=64", "finetune.learning_rate=1e-3",
         "finetune.validate_every=0", "finetune.log_every=1", "finetune.gradient_checkpointing=false"]
SHARDS, PER_SHARD = 6, 2


def launch(*args: str, processes: int = 2, env: dict | None = None) -> subprocess.CompletedProcess:
    """``accelerate launch`` of ``python -m ARGS`` on ``processes`` CPU processes."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--num_cpu_threads_per_process", "1", "--main_process_port", str(free_port()), "-m", *args]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "CUDA_VISIBLE_DEVICES": "", **(env or {})}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def trainer_run(shards, base, out, *sets: str, **options) -> list[dict]:
    """Two processes running :mod:`curation.testing.finetune_launch`; their result lines, by rank."""
    spec = {"shards": str(shards), "model": str(base), "output": str(out), "sets": [*SMALL, *sets],
            "options": options}
    run = launch("curation.testing.finetune_launch", json.dumps(spec))
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    results = sorted((json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")),
                     key=lambda r: r["rank"])
    assert [(r["rank"], r["processes"]) for r in results] == [(0, 2), (1, 2)]
    return results


def rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Six shards of two clips each (clip i of video v{i}, motion bucket 20 * i), by our shard writer."""
    return tiny_shards(tmp_path_factory.mktemp("shards"), SHARDS, PER_SHARD)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_svd(tmp_path_factory.mktemp("base") / "tiny")


def shard_keys(shards) -> dict[str, set[str]]:
    """shard name -> the sample keys in it."""
    out = {}
    for path in sorted(Path(shards).glob("shard-*.tar")):
        with tarfile.open(path) as tar:
            out[path.name] = {m.name.rsplit(".", 1)[0] for m in tar.getmembers()}
    return out


def test_ranks_and_workers_read_their_own_shards_and_resume_in_step(shards):
    """The data side alone, in this process: each (rank, worker) streams its own shards, steps come in order
    whatever the workers, and a stream started at a later step yields what an uninterrupted one does there."""
    from curation.train.data import ClipDataset, clip_loader, split_shards
    from curation.train.train import shard_urls

    urls = shard_urls(str(shards))
    keys = shard_keys(shards)

    def batches(rank, workers, start, count):
        dataset = ClipDataset(urls, 1, 4, 12.5, 64, 64, 0, start, rank, 2, workers)
        return list(islice(clip_loader(dataset), count))

    seen = {}
    for workers in (0, 3):
        for rank in (0, 1):
            straight = batches(rank, workers, 0, 7)
            assert [b.step for b in straight] == list(range(7))
            resumed = batches(rank, workers, 4, 3)  # 4 % 3 = 1: the workers swap roles
            assert [b.step for b in resumed] == [4, 5, 6]
            for a, b in zip(straight[4:], resumed):
                assert [c.key for c in a.clips] == [c.key for c in b.clips]
                assert all(torch.equal(x.frames, y.frames) for x, y in zip(a.clips, b.clips))
            own = {k for u in split_shards(urls, rank, 2) for k in keys[Path(u).name]}
            seen[workers, rank] = {c.key for b in straight for c in b.clips}
            assert seen[workers, rank] <= own
        assert not seen[workers, 0] & seen[workers, 1]
    with pytest.raises(ValueError, match="at least 8 are needed"):
        ClipDataset(urls, 1, 4, 12.5, 64, 64, 0, 0, 0, 2, 4)


@pytest.mark.slow  # launches two processes
def test_two_processes_resume_exactly_as_an_uninterrupted_run(shards, base, tmp_path):
    """Two processes, three dataloader workers each, EMA and warmup; the checkpoint is at step 4, one step is
    done after it (as a run killed before its next checkpoint), and the rerun resumes from step 4 to 8."""
    sets = ["finetune.ema_decay=0.5", "finetune.warmup_steps=3"]
    options = {"num_workers": 3, "sample_log": True, "checkpoints_total_limit": 1}
    straight = trainer_run(shards, base, tmp_path / "a", *sets, "finetune.max_steps=8",
                           "finetune.checkpoint_every=0", **options)
    first = trainer_run(shards, base, tmp_path / "b", *sets, "finetune.max_steps=5", "finetune.checkpoint_every=2",
                        **options)
    # one checkpoint folder (the limit kept the newest of steps 2 and 4), written once for both ranks
    checkpoints = tmp_path / "b" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest", "step-0000004"]
    assert (checkpoints / "latest").read_text() == "step-0000004"
    assert sorted(p.name for p in (checkpoints / "step-0000004").iterdir()) == [
        "ema.pt", "optimizer.bin", "random_states_0.pkl", "random_states_1.pkl", "scheduler.bin", "state.json",
        "unet.safetensors"]
    assert json.loads((checkpoints / "step-0000004" / "state.json").read_text())["processes"] == 2
    # one loss log: a row per step, the mean of the two ranks' losses
    log = rows(tmp_path / "b" / "loss.csv")
    assert [int(r["step"]) for r in log] == [1, 2, 3, 4, 5]
    per_rank = rows(tmp_path / "b" / "samples.csv")
    for r in log:
        losses = [float(s["rank_loss"]) for s in per_rank if s["step"] == r["step"]]
        assert len(losses) == 2 and abs(float(r["loss"]) - sum(losses) / 2) <= 1e-6
    assert first[0]["last_loss"] == first[1]["last_loss"] == pytest.approx(float(log[-1]["loss"]), abs=1e-6)

    resumed = trainer_run(shards, base, tmp_path / "b", *sets, "finetune.max_steps=8",
                          "finetune.checkpoint_every=2", **options)
    assert resumed[0]["last_loss"] == straight[0]["last_loss"]
    a = load_file(str(tmp_path / "a" / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base_weights = load_file(str(Path(base) / "unet" / "diffusion_pytorch_model.safetensors"))
    assert any(not torch.equal(a[k], base_weights[k]) for k in a)
    # the logs of the resumed run are the uninterrupted run's (step 5 of the stopped run was logged once)
    def same(r):
        return {k: r[k] for k in ("step", "loss", "lr")}

    assert [same(r) for r in rows(tmp_path / "b" / "loss.csv")] == [same(r) for r in rows(tmp_path / "a" / "loss.csv")]
    samples = rows(tmp_path / "a" / "samples.csv")
    assert rows(tmp_path / "b" / "samples.csv") == samples
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest", "step-0000008"]

    # disjoint samples: every step has one clip from each rank, each rank's from its own shards (0, 2, 4 / 1, 3, 5)
    assert [(int(s["step"]), int(s["rank"])) for s in samples] == [(k, r) for k in range(1, 9) for r in (0, 1)]
    keys = shard_keys(shards)
    names = sorted(keys)
    by_rank = {r: {s["key"] for s in samples if int(s["rank"]) == r} for r in (0, 1)}
    for r in (0, 1):
        assert by_rank[r] == set().union(*(keys[n] for n in names[r::2]))  # 8 steps cover all 6 of its clips
    assert not by_rank[0] & by_rank[1]
    finetune = json.loads((tmp_path / "b" / "finetune.json").read_text())
    assert finetune["steps"] == 8 and finetune["processes"] == 2


@pytest.mark.slow  # launches two processes
def test_the_cli_under_accelerate_launch(shards, base, tmp_path):
    """The README's command: `accelerate launch --multi_gpu --num_processes 2 -m curation.cli finetune ...`
    (with ACCELERATE_USE_CPU=1 here, no GPU); without it every process would train alone: refused."""
    out = tmp_path / "model"
    sets = [a for s in [*SMALL, "finetune.max_steps=2", "finetune.checkpoint_every=2"] for a in ("--set", s)]
    args = ["curation.cli", "finetune", "--shards", str(shards), "--model", str(base), "--output", str(out), "-q",
            *sets]
    run = launch(*args)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "finetuned 2 steps" in run.stdout
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["latest", "step-0000002"]
    assert [int(r["step"]) for r in rows(out / "loss.csv")] == [1, 2]
    assert json.loads((out / "finetune.json").read_text())["processes"] == 2

    refused = launch(*args, env={"ACCELERATE_USE_CPU": "0"})
    assert refused.returncode != 0
    assert "launched as 2 processes (WORLD_SIZE) but accelerate runs 1" in refused.stderr


@pytest.mark.slow  # launches two processes
def test_two_processes_to_an_object_store(shards, base, s3_bucket):
    """Only the main process uploads: one checkpoint on the store (the limit applies there), with the main
    process's RNG state only (the other's stays in its own staging folder), the loss log, finetune.json."""
    out = f"{s3_bucket}/model"
    results = trainer_run(shards, base, out, "finetune.max_steps=2", "finetune.checkpoint_every=1",
                          checkpoints_total_limit=1)
    assert results[0]["output"] == out
    names = {u[len(out) + 1:] for u in storage.list_files(out, recursive=True)}
    assert {n for n in names if n.startswith("checkpoints/")} == {
        "checkpoints/latest", "checkpoints/step-0000002/unet.safetensors",
        "checkpoints/step-0000002/optimizer.bin", "checkpoints/step-0000002/scheduler.bin",
        "checkpoints/step-0000002/random_states_0.pkl", "checkpoints/step-0000002/state.json"}
    assert {"finetune.json", "loss.csv", "unet/diffusion_pytorch_model.safetensors"} <= names
    assert storage.read_text(f"{out}/loss.csv").splitlines()[1:] and \
        [line.split(",")[0] for line in storage.read_text(f"{out}/loss.csv").splitlines()[1:]] == ["1", "2"]
    assert json.loads(storage.read_text(f"{out}/finetune.json"))["processes"] == 2
    assert SECRET not in json.dumps(results)
