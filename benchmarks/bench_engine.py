"""The annotate engine as a user runs it (the `curate annotate` CLI, cold start, one run each), on synthetic
short videos built once into ``--work``:

1. one node vs two nodes of a local Ray cluster (``ray.cluster_utils.Cluster``, ``--node-cpus`` each) on 200+
   short clips: throughput ratio;
2. the driver's peak RSS and CPU share over a 1,000-video run (read from /proc while it runs);
3. model stages (configs/offline.yaml) overlapping the scan in one graph vs the scan first and the model
   stages in a second run on the stored keyframes;
4. the same scan job with input and output on a local S3 server (moto) vs local disk.

Prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_engine.py [--work DIR] [--only 1,2,3,4] [--videos N] [--node-cpus C]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CURATE = [str(ROOT / ".venv" / "bin" / "python"), "-m", "curation.cli"]
SCAN = ["--stages", "cuts,motion,keyframes"]
# The figures are of the Ray engine: a scan-only job without an address would otherwise run without Ray
# (annotate.executor auto), which is a different engine.
RAY = ["--set", "annotate.executor=ray"]


def corpus(directory: Path, n: int) -> Path:
    """``n`` 5.2-s 320x180 videos with two shots each (one cut; each shot long enough for a clip), written once."""
    from curation.testing.synthetic import Shot, write_video

    done = directory / f".done-{n}-v2"
    if not done.exists():
        shutil.rmtree(directory, ignore_errors=True)
        for i in range(n):
            write_video(directory / f"v{i:04d}.mp4", [Shot(60, seed=i), Shot(70, (0.8, 0.0), seed=10_000 + i)])
        done.touch()
    return directory


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return dict(line.split(":", 1) for line in fh if ":" in line)


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args: list[str], env: dict | None = None) -> dict:
    """Run the CLI; wall seconds, the driver's peak RSS (MiB) and CPU seconds (sampled until it exits)."""
    started = time.monotonic()
    proc = subprocess.Popen([*CURATE, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak, cpu = 0.0, 0.0
    while proc.poll() is None:
        try:
            peak = max(peak, int(_status(proc.pid)["VmHWM"].split()[0]) / 1024)
            cpu = _cpu_s(proc.pid)
        except (OSError, KeyError, ValueError, IndexError):
            pass
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"curate {' '.join(args)} failed:\n{err[-3000:]}")
    return {"wall": time.monotonic() - started, "rss": peak, "cpu": cpu, "stdout": out}


def nodes(videos: Path, work: Path, cpus: int) -> list[str]:
    from ray.cluster_utils import Cluster

    rows = []
    walls = {}
    for n_nodes in (1, 2):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus})
        try:
            for _ in range(n_nodes - 1):
                cluster.add_node(num_cpus=cpus)
            cluster.wait_for_nodes()
            out = work / f"nodes{n_nodes}"
            shutil.rmtree(out, ignore_errors=True)
            r = run(["annotate", str(videos), "--output", str(out), "-q", *SCAN, "--ray-address", cluster.address])
        finally:
            cluster.shutdown()
        walls[n_nodes] = r["wall"]
        rows.append(f"| {n_nodes} node(s) x {cpus} CPU | {r['wall']:.1f} s | "
                    f"{len(list(videos.glob('*.mp4'))) / r['wall']:.2f} videos/s |")
    return (["| cluster | wall | throughput |", "| --- | --- | --- |"] + rows
            + [f"\n2 nodes / 1 node throughput: **{walls[1] / walls[2]:.2f}x**"])


def driver(videos: Path, work: Path) -> list[str]:
    out = work / "driver"
    shutil.rmtree(out, ignore_errors=True)
    r = run(["annotate", str(videos), "--output", str(out), "-q", *SCAN, *RAY])
    n = len(list(videos.glob("*.mp4")))
    return [f"{n} videos: wall {r['wall']:.1f} s, driver peak RSS **{r['rss']:.0f} MiB**, driver CPU "
            f"{r['cpu']:.1f} s = **{100 * r['cpu'] / r['wall']:.1f} %** of one core over the run"]


def overlap(videos: Path, work: Path) -> list[str]:
    offline = ["--config", "configs/offline.yaml", "-q"]
    one = work / "overlap-one"
    two = work / "overlap-two"
    for d in (one, two):
        shutil.rmtree(d, ignore_errors=True)
    together = run(["annotate", str(videos), "--output", str(one), *offline])
    scan = run(["annotate", str(videos), "--output", str(two), *offline, *SCAN, *RAY])
    models = run(["annotate", str(videos), "--output", str(two), *offline])
    apart = scan["wall"] + models["wall"]
    return ["| mode | wall |", "| --- | --- |",
            f"| one graph (scan and model stages overlap) | {together['wall']:.1f} s |",
            f"| scan, then model stages in a second run | {scan['wall']:.1f} + {models['wall']:.1f} = "
            f"{apart:.1f} s |", f"\noverlap saves **{100 * (1 - together['wall'] / apart):.0f} %**"]


def s3(videos: Path, work: Path) -> list[str]:
    import socket

    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                              aws_secret_access_key="bench-secret", region_name="us-east-1")
        client.create_bucket(Bucket="curation-bench")
        for path in sorted(videos.glob("*.mp4")):
            client.upload_file(str(path), "curation-bench", f"videos/{path.name}")
        local = work / "s3-local"
        shutil.rmtree(local, ignore_errors=True)
        on_disk = run(["annotate", str(videos), "--output", str(local), "-q", *SCAN, *RAY])
        on_s3 = run(["annotate", "s3://curation-bench/videos", "--output", "s3://curation-bench/annotated", "-q",
                     *SCAN, *RAY], env)
    finally:
        server.kill()
    return ["| storage | wall |", "| --- | --- |", f"| local disk | {on_disk['wall']:.1f} s |",
            f"| local S3 server (moto), input and output | {on_s3['wall']:.1f} s |",
            f"\nS3 / local: **{on_s3['wall'] / on_disk['wall']:.2f}x**"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-engine"))
    parser.add_argument("--only", default="1,2,3,4")
    parser.add_argument("--videos", type=int, default=1000, help="videos of the driver run (default 1000)")
    parser.add_argument("--node-cpus", type=int, default=1)
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          "`curate annotate` CLI, cold start, one run each.\n")
    small = corpus(args.work / "videos240", 240)
    if "1" in only:
        print("### 1. One node vs two nodes (240 videos, scan stages)\n")
        print("\n".join(nodes(small, args.work, args.node_cpus)) + "\n")
    if "2" in only:
        print(f"### 2. Driver over {args.videos} videos (scan stages)\n")
        print("\n".join(driver(corpus(args.work / f"videos{args.videos}", args.videos), args.work)) + "\n")
    if "3" in only:
        overlap_videos = corpus(args.work / "videos40", 40)
        print("### 3. Model stages overlapping the scan (40 videos, configs/offline.yaml)\n")
        print("\n".join(overlap(overlap_videos, args.work)) + "\n")
    if "4" in only:
        print("### 4. Local S3 server vs local disk (240 videos, scan stages)\n")
        print("\n".join(s3(small, args.work)) + "\n")


if __name__ == "__main__":
    main()
