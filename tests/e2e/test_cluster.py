"""Annotate on a real local 2-node Ray cluster, a worker node killed mid-job; and two jobs on one output."""
import os
import signal
import subprocess
import time

import pytest

from curation.annotate.store import read_annotations
from curation.testing.synthetic import Shot, write_video
from tests.e2e.test_annotate import CURATE, ROOT, curate

pytestmark = pytest.mark.slow
SCAN = ["--stages", "cuts,motion,keyframes"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for i in range(24):
        write_video(root / f"v{i:02d}.mp4", [Shot(50, seed=300 + i), Shot(60, (0.8, 0.0), seed=400 + i)],
                    width=160, height=96)
    return root


def _parts(out):
    return list((out / "annotations").glob("part-*.parquet"))


def _wait_for_parts(out, proc, n=1, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(_parts(out)) < n and proc.poll() is None:
        time.sleep(0.2)
    assert len(_parts(out)) >= n, "the job should have committed something by now"


def _check_complete(out, n_videos):
    table = read_annotations(str(out)).to_pandas()
    assert table.video_id.nunique() == n_videos
    clips = table[table.row_kind == "clip"]
    assert not clips.duplicated(["video_id", "clip_index"]).any()
    assert not table.duplicated(["video_id", "row_kind", "start_frame"]).any()
    return table


def test_a_worker_node_killed_mid_job_loses_and_duplicates_nothing(videos, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "out"
        proc = subprocess.Popen([*CURATE, "annotate", str(videos), "--output", str(out), "-q", *SCAN,
                                 "--ray-address", cluster.address, "--set", "annotate.output.commit_videos=2"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_parts(out, proc)
        committed_at_kill = len(_parts(out))
        cluster.remove_node(worker)  # kills the node's raylet and every worker on it
        assert committed_at_kill < 12, "the kill came too late: the job had committed all 12 parts"
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        assert "done: 24 videos" in stdout
        _check_complete(out, 24)
    finally:
        cluster.shutdown()


def test_a_second_job_on_a_held_output_is_refused_and_takes_over_a_killed_one(videos, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([*CURATE, "annotate", str(videos), "--output", str(out), "-q", *SCAN,
                              "--set", "annotate.output.commit_videos=1", "--set", "annotate.ray.num_cpus=1"],
                             cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        _wait_for_parts(out, first)
        second = curate("annotate", videos, "--output", out, "-q", *SCAN)
        assert second.returncode == 2, second.stderr
        assert "being written by another job" in second.stderr and "Traceback" not in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    # The killed job's lease is taken over at once (same host, dead pid) and the rerun completes the output.
    run = curate("annotate", videos, "--output", out, "-q", *SCAN)
    assert run.returncode == 0, run.stderr
    _check_complete(out, 24)
    # In the other order: a finished output is free; a job started on it while none runs just skips.
    run = curate("annotate", videos, "--output", out, "-q", *SCAN)
    assert run.returncode == 0 and "24 already done" in run.stdout, run.stderr
