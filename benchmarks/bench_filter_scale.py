"""`curate filter` and `curate report` at scale: wall time and peak RSS of the CLI (fresh process) on generated
annotate outputs of 1M and 10M (and optionally 30M) clips, for this tree and, with ``--old-tree``, another
checkout of the project (e.g. ``git worktree add /tmp/old <rev>``) run with the same interpreter. Prints
Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_filter_scale.py --rows 1000000,10000000 [--old-tree /tmp/old] [--report]

``--ray-nodes 0,1,2`` instead times `curate filter` of this tree by executor: 0 = local (in the process), N > 0 =
``--ray-address`` of a local Ray cluster of N nodes (``ray.cluster_utils.Cluster``, ``--node-cpus`` CPUs each,
started before the clock starts, so the time includes joining it and starting its workers). Peak RSS is the
driver's (the CLI process) only; the load average before and after each run is printed with it.

    .venv/bin/python benchmarks/bench_filter_scale.py --rows 1000000 --ray-nodes 0,1,2
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PY = str(ROOT / ".venv" / "bin" / "python")
# Rules on columns every version of the table has, so an older tree filters the same table the same way.
RULES = ("filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 12.5}, "
         "{column: ocr_area_max, max: 0.05}]")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="1000000,10000000")
    ap.add_argument("--old-tree", default=None)
    ap.add_argument("--report", action="store_true", help="also time curate report")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "bench-filter-scale"))
    ap.add_argument("--ray-nodes", default=None, help="e.g. 0,1,2: local executor, Ray cluster of 1 and 2 nodes")
    ap.add_argument("--node-cpus", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="more config overrides for every filter run (e.g. filter.in_memory_values=65536)")
    args = ap.parse_args()
    if args.ray_nodes is not None:
        return by_executor(args)
    work = Path(args.work)
    trees = [("new", ROOT)] + ([("old", Path(args.old_tree))] if args.old_tree else [])
    for rows, data in tables(args, "| clips | tree | filter s | filter peak RSS MiB | report s | report peak RSS MiB |"):
        for label, tree in trees:
            out = work / f"filtered-{rows}-{label}"
            cells = []
            for cmd in (["filter", str(data), "--output", str(out), "--set", RULES],
                        ["report", str(out)] if args.report else None):
                if cmd is None:
                    cells += ["-", "-"]
                    continue
                wall, peak, error = timed(cmd, tree)
                if error:
                    cells += [f"failed ({error})", "-"]
                    continue
                cells += [f"{wall:.1f}", f"{peak:.0f}"]
                print(f"{rows} {label} {cmd[0]}: {wall:.1f} s, {peak:.0f} MiB", file=sys.stderr)
            print(f"| {rows:,} | {label} | " + " | ".join(cells) + " |", flush=True)


# One fresh process per command, reporting its own peak RSS (ru_maxrss of RUSAGE_SELF).
PEAK_CODE = ("import resource, sys, runpy; sys.argv = ['curate'] + sys.argv[1:]\n"
             "try:\n    runpy.run_module('curation.cli', run_name='__main__')\n"
             "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
             "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
             "sys.exit(code)")


def timed(cmd: list[str], tree: Path = ROOT) -> tuple[float, float, str | None]:
    """Wall seconds, peak RSS MiB of the CLI process, and the last error line (None when it succeeded)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    run = subprocess.run([PY, "-c", PEAK_CODE, *cmd], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode:
        return wall, 0.0, (run.stderr.strip().splitlines() or ["?"])[-1][:80]
    peak = int([x for x in run.stderr.splitlines() if x.startswith("PEAK")][-1].split()[1]) / 1024
    return wall, peak, None


def tables(args, header: str):
    """Print the machine and the Markdown table's header; yield (rows, folder) of each generated annotate output
    of ``--rows`` (generated under ``--work`` when absent)."""
    from curation.testing.tables import synthetic_annotations

    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print(header)
    print("|" + " --- |" * header.count(" | ") + " --- |")
    for rows in [int(r) for r in args.rows.split(",")]:
        data = Path(args.work) / f"ann-{rows}"
        if not (data / "annotations").is_dir():
            t = time.perf_counter()
            synthetic_annotations(data, rows)
            print(f"generated {rows} rows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        yield rows, data


def by_executor(args) -> None:
    """`curate filter` in this process vs on local Ray clusters of N nodes (``--ray-nodes``)."""
    from ray.cluster_utils import Cluster

    work = Path(args.work)
    for rows, data in tables(args, "| clips | executor | wall s | driver peak RSS MiB | load avg (1 min) before / after |"):
        for nodes in [int(n) for n in args.ray_nodes.split(",")]:
            for _ in range(args.repeat):
                out = work / f"filtered-{rows}-nodes{nodes}"
                cmd = ["filter", str(data), "--output", str(out), "--set", RULES]
                cmd += [a for o in args.overrides for a in ("--set", o)]
                cluster = None
                if nodes:
                    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.node_cpus})
                    for _ in range(nodes - 1):
                        cluster.add_node(num_cpus=args.node_cpus)
                    cluster.wait_for_nodes()
                    cmd += ["--ray-address", cluster.address]
                try:
                    before = os.getloadavg()[0]
                    wall, peak, error = timed(cmd)
                    after = os.getloadavg()[0]
                finally:
                    if cluster is not None:
                        cluster.shutdown()
                label = "local" if not nodes else f"Ray, {nodes} node{'s' if nodes > 1 else ''} x {args.node_cpus} CPU"
                result = f"failed ({error}) | -" if error else f"{wall:.1f} | {peak:.0f}"
                print(f"| {rows:,} | {label} | {result} | {before:.1f} / {after:.1f} |", flush=True)


if __name__ == "__main__":
    main()
