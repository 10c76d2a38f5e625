"""Finetune throughput on one process vs two (``accelerate launch``, DDP over gloo), tiny random SVD, CPU.

Each configuration trains ``--steps`` steps of 4 frames at 64x64 on its own output folder, from the same shards,
without checkpoints or validation; the figure is clips trained per second over the whole ``Trainer.run`` (clip
decoding included, in the training process: num_workers 0; model loading and process start-up excluded), the
slower rank's time for two processes.

    .venv/bin/python benchmarks/bench_finetune_multiproc.py [--steps 40] [--repeat 3]

The configurations run in turn, ``--repeat`` rounds; each row gives the median round (a shared machine's load
moves every figure; the rounds interleave so that it moves them alike) and the range of the rounds.

Configurations: one process with one thread, one process with a thread per core, and two processes with
``cores / 2`` threads each; batch 1 per process (the two-process step trains two clips), then one process with
one thread and batch 2 (the two-process global batch).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMALL = ["finetune.num_frames=4", "finetune.width=64", "finetune.height=64", "finetune.learning_rate=1e-3",
         "finetune.validate_every=0", "finetune.log_every=1", "finetune.gradient_checkpointing=false",
         "finetune.checkpoint_every=0"]


def make_data(root: Path, shards: int = 4, per_shard: int = 4) -> tuple[Path, Path]:
    from curation.testing.synthetic import tiny_shards
    from curation.train.tiny import save_tiny_svd

    return tiny_shards(root / "shards", shards, per_shard), save_tiny_svd(root / "tiny")


def run(processes: int, threads: int, batch: int, steps: int, shards: Path, model: Path, out: Path) -> dict:
    spec = json.dumps({"shards": str(shards), "model": str(model), "output": str(out),
                       "sets": [*SMALL, f"finetune.max_steps={steps}", f"finetune.batch_size={batch}"]})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}
    if processes == 1:
        cmd = [sys.executable, "-m", "curation.testing.finetune_launch", spec]
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env["ACCELERATE_USE_CPU"] = "1"
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--num_cpu_threads_per_process", str(threads), "--main_process_port", str(port),
               "-m", "curation.testing.finetune_launch", spec]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(done.stderr[-4000:])
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    seconds = max(r["run_seconds"] for r in results)
    clips = steps * batch * processes
    return {"processes": processes, "threads_each": threads, "batch_each": batch, "steps": steps, "clips": clips,
            "seconds": round(seconds, 2), "clips_per_s": round(clips / seconds, 2),
            "last_loss": results[0]["last_loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    cores = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {cores} logical CPUs; torch {torch.__version__}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    configs = [(1, 1, 1), (1, cores, 1), (2, max(1, cores // 2), 1), (1, 1, 2)]
    runs: dict[tuple, list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        shards, model = make_data(Path(tmp))
        for round_ in range(args.repeat):
            for c in configs:
                runs[c].append(run(*c, args.steps, shards, model, Path(tmp) / f"r{round_}-p{c[0]}t{c[1]}b{c[2]}"))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("| processes | threads each | batch each | clips per run | clips/s (median) | range |")
    print("|---|---|---|---|---|---|")
    for c, rs in runs.items():
        rates = sorted(r["clips_per_s"] for r in rs)
        print(f"| {c[0]} | {c[1]} | {c[2]} | {rs[0]['clips']} | {rates[len(rates) // 2]} | "
              f"{rates[0]}-{rates[-1]} |")
    print(json.dumps({f"p{c[0]}t{c[1]}b{c[2]}": rs for c, rs in runs.items()}))


if __name__ == "__main__":
    main()
