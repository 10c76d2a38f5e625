"""No exception raised while handling one file ends a job, on either executor: a file whose probe or scan meets
a bug, or a clip whose input meets one in a model stage, becomes that input's internal_error row; the job
annotates everything else, names them in its summary, writes their tracebacks to its log and exits 3. The faults
are injected through CURATION_INJECT_FAULT (:mod:`curation.core.faults`), which the scan children and Ray's
workers inherit."""
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from curation.annotate.scan.assemble import video_id_for
from curation.core.faults import ENV
from curation.testing.synthetic import Shot, write_video

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _corpus(folder: Path, names: list[str]) -> Path:
    for seed, name in enumerate(names):
        write_video(folder / name, [Shot(60, seed=seed), Shot(60, (1.0, 0.0), seed=seed + 10)], 128, 72)
    return folder


def _annotate(videos: Path, out: Path, fault: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curation.cli", "annotate", str(videos), "--output", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env={**os.environ, ENV: fault})


def _rows(out: Path) -> dict[str, list[tuple]]:
    rows = duckdb.sql(f"""SELECT video_path, row_kind, error_kind, error FROM read_parquet('{out}/annotations/*.parquet')
                      ORDER BY video_path, clip_index""").fetchall()
    by_name: dict[str, list[tuple]] = {}
    for path, *rest in rows:
        by_name.setdefault(Path(path).name, []).append(tuple(rest))
    return by_name


def _job_log(out: Path) -> str:
    logs = list((out / "_logs").glob("*.log"))
    assert len(logs) == 1, logs
    return logs[0].read_text()


def test_a_file_meeting_a_bug_in_the_scan_is_its_row_and_the_job_exits_3(tmp_path):
    videos = _corpus(tmp_path / "videos", ["a.mp4", "b.mp4", "c.mp4"])
    out = tmp_path / "out"
    run = _annotate(videos, out, "scan:b.mp4", "--stages", "cuts,motion,keyframes", "-q")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "INTERNAL ERRORS: 1 inputs" in run.stdout
    assert "completed with 1 internal errors (exit status 3)" in run.stderr
    rows = _rows(out)
    assert rows["b.mp4"] == [("status", "internal_error", f"InjectedFault: fault injected at scan for {videos / 'b.mp4'}")]
    for name in ("a.mp4", "c.mp4"):
        assert [kind for kind, _, _ in rows[name]].count("clip") == 2 and all(e is None for _, e, _ in rows[name])
    log = _job_log(out)
    assert f"internal error on {videos / 'b.mp4'}" in log and "Traceback" in log and "InjectedFault" in log
    # A rerun has nothing left to do: the internal error is b.mp4's row, committed once.
    again = _annotate(videos, out, "", "--stages", "cuts,motion,keyframes", "-q")
    assert again.returncode == 0 and "3 already done" in again.stdout


def test_on_ray_a_probe_and_a_model_stages_clips_meeting_bugs_cost_only_themselves(tmp_path):
    videos = _corpus(tmp_path / "videos", ["a.mp4", "p.mp4", "c.mp4"])
    out = tmp_path / "out"
    clip_fault = video_id_for(str(videos / "c.mp4"))  # every clip id of c.mp4 starts with its video id
    run = _annotate(videos, out, f"probe:p.mp4,clip:{clip_fault}", "--config", "configs/offline.yaml",
                    "--stages", "cuts,motion,keyframes,aesthetic", "--set", "annotate.executor=ray",
                    "--set", "annotate.aesthetic.text=prompt", "--set", "annotate.aesthetic.prompt=a video", "-q")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "INTERNAL ERRORS: 3 inputs" in run.stdout  # p.mp4, and c.mp4's two clips
    rows = _rows(out)
    assert rows["p.mp4"] == [("status", "internal_error",
                              f"InjectedFault: fault injected at probe for {videos / 'p.mp4'}")]
    c = [r for r in rows["c.mp4"] if r[0] == "clip"]
    assert len(c) == 2 and all(kind == "internal_error" and error.startswith("aesthetic: internal_error: InjectedFault")
                               for _, kind, error in c), c
    a = duckdb.sql(f"""SELECT aesthetic, aesthetic_error FROM read_parquet('{out}/annotations/*.parquet')
                       WHERE video_path LIKE '%a.mp4' AND row_kind = 'clip'""").fetchall()
    assert len(a) == 2 and all(score is not None and error is None for score, error in a)
    log = _job_log(out)  # the tracebacks came from Ray's workers to the driver with their records
    assert log.count("Traceback") >= 3 and "in stage aesthetic" in log and str(videos / "p.mp4") in log
