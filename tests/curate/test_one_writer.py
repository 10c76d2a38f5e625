"""One writer per output for `curate filter`, `report` and `shard`: while another live process holds the output's
lease, the command is refused at once with one line naming the holder; once that process is killed (`kill -9`),
the rerun takes the output over and finishes. The holder is a separate process holding the same lease class the
jobs take (a real job would hold it for seconds only, which makes the timing of a two-job test a matter of luck;
`tests/e2e/test_cluster.py` runs two real annotate jobs)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from curation.testing.tables import synthetic_annotations
from tests.e2e.test_annotate import CURATE, ROOT, curate

HOLD = """
import sys, time
from curation.core.lease import Lease
with Lease(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


class Holder:
    """A process holding ``output``'s lease as ``description`` until killed."""

    def __init__(self, output: Path, description: str):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(output), description], stdout=subprocess.PIPE,
                                     text=True, start_new_session=True)
        assert self.proc.stdout.readline().strip() == "held"

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _refused(result, holder: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "is being written by another job" in lines[0] and f"({holder}: host " in lines[0], lines[0]


@pytest.fixture(scope="module")
def annotations(tmp_path_factory):
    root = tmp_path_factory.mktemp("ann")
    synthetic_annotations(root, 400, rows_per_part=100, seed=5)
    return root


def test_filter_and_report_refuse_a_held_output_and_take_over_a_killed_holder(annotations, tmp_path):
    filtered = tmp_path / "filtered"
    holder = Holder(filtered, "curate filter")
    try:
        _refused(curate("filter", annotations, "--output", filtered), "curate filter")
        assert not (filtered / "clips.parquet").exists()
    finally:
        holder.kill()
    done = curate("filter", annotations, "--output", filtered)
    assert done.returncode == 0, done.stderr
    assert duckdb.sql(f"SELECT count(*) FROM '{filtered}/clips.parquet'").fetchall() == [(400,)]
    assert not (filtered / "_lease.json").exists()  # released at the end

    # The report writes into the filter output: refused while a filter job holds it.
    holder = Holder(filtered, "curate filter")
    try:
        _refused(curate("report", filtered, "--set", "report.previews=false"), "curate filter")
        assert not (filtered / "report.html").exists()
    finally:
        holder.kill()
    report = curate("report", filtered, "--set", "report.previews=false")
    assert report.returncode == 0, report.stderr
    assert (filtered / "report.html").stat().st_size > 0

    # Another output's lease does not block this one, and a rerun over a complete output succeeds.
    holder = Holder(tmp_path / "other", "curate filter")
    try:
        again = curate("filter", annotations, "--output", filtered)
        assert again.returncode == 0, again.stderr
    finally:
        holder.kill()


def test_shard_refuses_a_held_output(annotations, tmp_path):
    filtered = tmp_path / "filtered"
    assert curate("filter", annotations, "--output", filtered).returncode == 0
    shards = tmp_path / "shards"
    holder = Holder(shards, "curate shard")
    try:
        _refused(curate("shard", filtered, "--output", shards, "-q"), "curate shard")
        assert not list(shards.glob("*.tar")) and not (shards / "index.json").exists()
    finally:
        holder.kill()


def test_a_filter_rerun_killed_halfway_leaves_no_completion_marker(tmp_path):
    """filter.json (its summary) marks a complete filter output: a rerun killed after it started rewriting the
    output leaves none (so `curate report` refuses the folder instead of reading a half-written clips.parquet),
    and the next rerun takes the dead job's lease over and completes it."""
    source = tmp_path / "ann"
    synthetic_annotations(source, 300_000, rows_per_part=50_000, seed=1)
    filtered = tmp_path / "filtered"
    assert curate("filter", source, "--output", filtered).returncode == 0
    summary = filtered / "filter.json"
    assert summary.is_file()
    for _ in range(3):  # the rerun takes a few seconds; one that finishes before the kill is run again
        proc = subprocess.Popen([*CURATE, "filter", str(source), "--output", str(filtered)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while summary.exists() and proc.poll() is None:
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            break
    else:
        pytest.fail("the filter rerun finished before it could be killed, three times")
    assert not summary.exists()
    refused = curate("report", filtered, "--set", "report.previews=false")
    assert refused.returncode == 2 and "not a filter output (no filter.json)" in refused.stderr, refused.stderr
    done = curate("filter", source, "--output", filtered)
    assert done.returncode == 0, done.stderr
    assert json.loads(summary.read_text())["clips"] > 0
    assert duckdb.sql(f"SELECT count(*) FROM '{filtered}/clips.parquet'").fetchall() == [(300_000,)]
