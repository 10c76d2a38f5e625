"""The long fuzz run: hundreds of seeded mutants (:mod:`curation.testing.fuzz`) through one cold-start
`curate annotate --stages cuts,motion,keyframes` job, as the CI fuzz test runs a few dozen. Reports whether the
job ended well (exit status, every file with rows, no duplicates, no internal error, no timeout), its wall time
and files/s, the outcome of each mutant (its status row's error kind, or "clips" / "no clips"), per damage kind,
and the peak memory of the job's processes. ``--sources DIR`` adds your own videos as sources (their mutants are
written to ``--work``; the files are read, never changed).

``--vs-pyscenedetect`` also runs, on the same mutants, the loop a user would write around PySceneDetect 0.7
(``scenedetect.detect(path, AdaptiveDetector())`` per file, in one process, each exception caught): how many
files raise, which exceptions, how many kill the process (the loop is then restarted after that file) or hang
past the time limit, and its wall time.

    .venv/bin/python benchmarks/bench_fuzz.py [--mutants 600] [--seed 0] [--work DIR] [--sources DIR]
                                              [--vs-pyscenedetect]
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.testing.fuzz import fuzz_sources, make_mutants  # noqa: E402

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".ts", ".m4v", ".mpg", ".flv"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="folder for sources, mutants and output (default: a temporary one)")
    parser.add_argument("--sources", help="a folder of your own videos to mutate as well")
    parser.add_argument("--timeout-s", type=int, default=60, help="annotate.decode.timeout_s (default 60)")
    parser.add_argument("--vs-pyscenedetect", action="store_true", help="also run a PySceneDetect loop on them")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-fuzz-"))
    sources = fuzz_sources(work / "sources")
    if args.sources:
        sources += sorted(p for p in Path(args.sources).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    mutants = make_mutants(sources, work / "mutants", args.mutants, seed=args.seed)
    out = work / "out"
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "curation.cli", "annotate", str(work / "mutants"), "--output",
                          str(out), "--overwrite", "--stages", "cuts,motion,keyframes", "--set",
                          f"annotate.decode.timeout_s={args.timeout_s}", "-q"],
                         cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"sources: {len(sources)} ({sum(1 for s in sources if s.parent == work / 'sources')} synthetic), "
          f"mutants: {len(mutants)}, seed {args.seed}")
    print(f"exit status {run.returncode}; wall {wall:.1f} s cold start, {len(mutants) / wall:.1f} files/s; "
          f"peak RSS of one process {peak_mb:.0f} MB")
    if run.returncode not in (0, 3):
        print(run.stdout[-3000:], run.stderr[-3000:])
        return
    table = f"read_parquet('{out}/annotations/*.parquet')"
    rows = duckdb.sql(f"""SELECT video_path, list(row_kind), list(error_kind) FROM {table} GROUP BY video_path
                      """).fetchall()
    by_name = {Path(p).name: (kinds, errors) for p, kinds, errors in rows}
    missing = [m.path.name for m in mutants if m.path.name not in by_name]
    duplicates = duckdb.sql(f"""SELECT count(*) FROM (SELECT video_id, row_kind, start_frame, end_frame, count(*) n
                                FROM {table} GROUP BY ALL HAVING n > 1)""").fetchall()[0][0]
    print(f"files without rows: {len(missing)}; duplicated rows: {duplicates}")
    outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for m in mutants:
        kinds, errors = by_name.get(m.path.name, ([], []))
        status = [e for k, e in zip(kinds, errors) if k == "status" and e]
        outcome = status[0] if status else ("clips" if "clip" in kinds else "no clips")
        if status and "clip" in kinds:
            outcome += " (+clips)"
        outcomes[m.kind][outcome] += 1
        outcomes["all"][outcome] += 1
    for kind, counts in outcomes.items():
        print(f"| {kind} | " + ", ".join(f"{k} {v}" for k, v in counts.most_common()) + " |")
    print(run.stdout.strip().splitlines()[0] if run.stdout.strip() else "")
    if args.vs_pyscenedetect:
        pyscenedetect_loop([m.path for m in mutants], args.timeout_s)


# The loop a user would write: one process, each file's exception caught and reported.
_LOOP = """
import sys
from scenedetect import AdaptiveDetector, detect
for path in sys.stdin.read().split("\\n"):
    print("start", path, flush=True)
    try:
        detect(path, AdaptiveDetector())
        print("ok", flush=True)
    except Exception as exc:
        print("raised", type(exc).__name__, flush=True)
"""


def pyscenedetect_loop(paths: list[Path], timeout_s: float) -> None:
    """Run :data:`_LOOP` over ``paths``, restarting it after a file that kills it or hangs past ``timeout_s``."""
    outcomes: collections.Counter = collections.Counter()
    raised: collections.Counter = collections.Counter()
    todo = [str(p) for p in paths]
    started = time.monotonic()
    while todo:
        process = subprocess.Popen([sys.executable, "-c", _LOOP], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        process.stdin.write("\n".join(todo))
        process.stdin.close()
        current, done = None, 0
        deadline = time.monotonic() + timeout_s
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                process.kill()
                outcomes["hung (killed)"] += 1
                done += 1
                break
            line = process.stdout.readline()
            if not line:
                if current is not None:
                    outcomes[f"killed the process (exit {process.wait()})"] += 1
                    done += 1
                break
            word, *rest = line.split()
            if word == "start":
                current, deadline = rest[0], time.monotonic() + timeout_s
                continue
            outcomes["ok" if word == "ok" else "raised"] += 1
            if word == "raised":
                raised[rest[0]] += 1
            current, done = None, done + 1
        process.wait()
        todo = todo[done:]
    wall = time.monotonic() - started
    print(f"PySceneDetect loop: {len(paths)} files in {wall:.1f} s ({len(paths) / wall:.1f} files/s): "
          + ", ".join(f"{k} {v}" for k, v in outcomes.most_common())
          + ("; raised: " + ", ".join(f"{k} {v}" for k, v in raised.most_common()) if raised else ""))


if __name__ == "__main__":
    main()
