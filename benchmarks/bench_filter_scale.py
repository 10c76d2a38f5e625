"""`curate filter` and `curate report` at scale: wall time and peak RSS of the CLI (fresh process) on generated
annotate outputs of 1M and 10M (and optionally 30M) clips, for this tree and, with ``--old-tree``, another
checkout of the project (e.g. ``git worktree add /tmp/old <rev>``) run with the same interpreter. Prints
Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_filter_scale.py --rows 1000000,10000000 [--old-tree /tmp/old] [--report]
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
    args = ap.parse_args()
    from curation.testing.tables import synthetic_annotations

    work = Path(args.work)
    trees = [("new", ROOT)] + ([("old", Path(args.old_tree))] if args.old_tree else [])
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print("| clips | tree | filter s | filter peak RSS MiB | report s | report peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rows in [int(r) for r in args.rows.split(",")]:
        data = work / f"ann-{rows}"
        if not (data / "annotations").is_dir():
            t = time.perf_counter()
            synthetic_annotations(data, rows)
            print(f"generated {rows} rows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for label, tree in trees:
            out = work / f"filtered-{rows}-{label}"
            # One fresh process per command, reporting its own peak RSS (ru_maxrss of RUSAGE_SELF).
            code = ("import resource, sys, runpy; sys.argv = ['curate'] + sys.argv[1:]\n"
                    "try:\n    runpy.run_module('curation.cli', run_name='__main__')\n"
                    "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
                    "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
                    "sys.exit(code)")
            cells = []
            for cmd in (["filter", str(data), "--output", str(out), "--set", RULES],
                        ["report", str(out)] if args.report else None):
                if cmd is None:
                    cells += ["-", "-"]
                    continue
                env = {**os.environ, "PYTHONPATH": str(tree)}
                start = time.perf_counter()
                run = subprocess.run([PY, "-c", code, *cmd], cwd=tree, env=env, capture_output=True, text=True)
                wall = time.perf_counter() - start
                if run.returncode:
                    cells += [f"failed ({run.stderr.strip().splitlines()[-1][:80]})", "-"]
                    continue
                peak = int([x for x in run.stderr.splitlines() if x.startswith("PEAK")][-1].split()[1]) / 1024
                cells += [f"{wall:.1f}", f"{peak:.0f}"]
                print(f"{rows} {label} {cmd[0]}: {wall:.1f} s, {peak:.0f} MiB", file=sys.stderr)
            print(f"| {rows:,} | {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
