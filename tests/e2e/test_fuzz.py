"""Fuzzed input never ends a job: seeded mutants of the synthetic videos, of every container the fixtures write
and every damage kind (:mod:`curation.testing.fuzz`), through one real `curate annotate` job. The job exits 0,
every file has its rows, none twice, none an internal error, within a bounded time. `--fuzz-mutants 600` runs the
long version (BENCHMARKS.md has its figures)."""
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from curation.testing.fuzz import CONTAINERS, MUTATIONS, fuzz_sources, make_mutants

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# A mutant's scan takes well under a second here; a hung decode is cut at the time limit set below, which a
# wall bound of this many seconds a mutant (plus start-up) would not absorb.
SECONDS_PER_MUTANT = 3.0
TIMEOUT_S = 60


def test_fuzzed_inputs_never_end_a_job_and_every_file_gets_its_rows_once(tmp_path, request):
    count = request.config.getoption("--fuzz-mutants")
    sources = fuzz_sources(tmp_path / "sources")
    mutants = make_mutants(sources, tmp_path / "mutants", count, seed=0)
    if count >= len(CONTAINERS) * len(MUTATIONS):
        assert {(m.source.suffix, m.kind) for m in mutants} == {(s.suffix, k) for s in sources for k in MUTATIONS}
    out = tmp_path / "out"
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "curation.cli", "annotate", str(tmp_path / "mutants"), "--output",
                          str(out), "--stages", "cuts,motion,keyframes", "--set",
                          f"annotate.decode.timeout_s={TIMEOUT_S}", "-q"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600 + 10 * count)
    wall = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    table = f"read_parquet('{out}/annotations/*.parquet')"
    files = {Path(p).name for (p,) in duckdb.sql(f"SELECT DISTINCT video_path FROM {table}").fetchall()}
    assert files == {m.path.name for m in mutants}
    # one video id per file, and no row twice: clips by id, the other rows by what they are
    assert duckdb.sql(f"SELECT count(DISTINCT video_id) FROM {table}").fetchall()[0][0] == len(mutants)
    assert duckdb.sql(f"SELECT count(*) - count(DISTINCT clip_id) FROM {table} WHERE row_kind = 'clip'"
                      ).fetchall()[0][0] == 0
    assert duckdb.sql(f"""SELECT count(*) FROM (SELECT video_id, row_kind, start_frame, end_frame, count(*) AS n
                          FROM {table} GROUP BY ALL HAVING n > 1)""").fetchall()[0][0] == 0
    internal = duckdb.sql(f"SELECT video_path, error FROM {table} WHERE error_kind = 'internal_error'").fetchall()
    assert internal == []
    timeouts = duckdb.sql(f"SELECT video_path FROM {table} WHERE error_kind = 'timeout'").fetchall()
    assert timeouts == []
    # the damage is real: most mutants are reported, and some still give clips
    kinds = dict(duckdb.sql(f"""SELECT coalesce(error_kind, 'clips'), count(DISTINCT video_id) FROM {table}
                                WHERE error_kind IS NOT NULL OR row_kind = 'clip' GROUP BY ALL""").fetchall())
    assert kinds.get("clips", 0) > 0 and sum(v for k, v in kinds.items() if k != "clips") > 0, kinds
    assert wall < 60 + SECONDS_PER_MUTANT * count, wall
