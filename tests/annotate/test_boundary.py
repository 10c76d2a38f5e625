"""The per-file boundary of the scan stage: nothing in one file's bytes ends a job. Hostile headers get a clear
error row or a bounded scan; an unexpected exception met while one file is probed or scanned (here injected,
through CURATION_INJECT_FAULT, in the child processes and in the stage's own) makes that file an internal_error
row whose record carries its traceback, and the stage goes on with the next file."""
import sys
import time

import pyarrow as pa
import pytest

from curation.annotate.scan.assemble import video_id_for
from curation.annotate.source import VIDEO, SourceStage
from curation.config import load_config
from curation.core.faults import ENV
from curation.core.isolation import WorkerCrashed
from curation.testing.hostile import hostile_corpus
from curation.testing.synthetic import Shot, write_video


def _stage(threads: int = 1) -> SourceStage:
    cfg = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.cuts.detector=fast"])
    return SourceStage(cfg.annotate, cfg.storage.resolved(), load_model=False, threads=threads)


def _scan(stage: SourceStage, path) -> tuple[list[dict], list[str]]:
    record = stage(pa.Table.from_pylist([{"kind": VIDEO, "key": video_id_for(str(path)), "source": str(path)}]))
    return record.column("rows").to_pylist()[0], record.column("internal_errors").to_pylist()[0]


def test_hostile_headers_give_a_clear_error_or_a_bounded_scan(tmp_path):
    corpus = hostile_corpus(tmp_path)
    stage = _stage()
    try:
        for path, expect in corpus.items():
            started = time.monotonic()
            rows, internal = _scan(stage, path)
            took = time.monotonic() - started
            assert internal == [], (path.name, internal)
            status = [r for r in rows if r["row_kind"] == "status"]
            kinds = [r["error_kind"] for r in status]
            assert kinds == ([expect.error_kind] if expect.error_kind else []), (path.name, status)
            clips = [r for r in rows if r["row_kind"] == "clip"]
            assert bool(clips) == expect.clips, (path.name, rows)
            for clip in clips:  # the repaired clocks give clips of the frames' length, not hours or nothing
                assert 2.0 <= clip["duration_s"] <= 10.0, (path.name, clip["duration_s"])
            assert took < 30, (path.name, took)
        assert stage._workers[0].starts == 1  # no file killed the scan child
    finally:
        stage.close()


@pytest.mark.parametrize("point", ["probe", "scan", "source"])
def test_an_exception_met_by_one_file_is_its_internal_error_and_the_stage_goes_on(tmp_path, monkeypatch, point):
    good = tmp_path / "good.mp4"
    write_video(good, [Shot(60, seed=1), Shot(60, (1.0, 0.0), seed=2)], 128, 72)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good.read_bytes())
    monkeypatch.setenv(ENV, f"{point}:bad.mp4")
    stage = _stage()
    try:
        rows, internal = _scan(stage, bad)
        assert [(r["row_kind"], r["error_kind"]) for r in rows] == [("status", "internal_error")]
        assert rows[0]["error"] == f"InjectedFault: fault injected at {point} for {bad}"
        assert len(internal) == 1 and str(bad) in internal[0] and "Traceback" in internal[0]
        assert "InjectedFault" in internal[0]
        rows, internal = _scan(stage, good)  # the same stage, the same child: the next file is annotated
        assert internal == [] and sum(r["row_kind"] == "clip" for r in rows) == 2
    finally:
        stage.close()


def test_a_split_video_whose_part_fails_is_one_internal_error(tmp_path, monkeypatch):
    path = tmp_path / "split.mp4"
    write_video(path, [Shot(700, (0.5, 0.0), seed=1)], 128, 72)  # 28 s: two parts of 14 s
    monkeypatch.setenv(ENV, "scan:split.mp4")
    cfg = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.cuts.detector=fast",
                             "annotate.decode.split_min_s=12"])
    stage = SourceStage(cfg.annotate, cfg.storage.resolved(), load_model=False, threads=2)
    try:
        rows, internal = _scan(stage, path)
        assert [r["error_kind"] for r in rows] == ["internal_error"] and len(internal) == 1
    finally:
        stage.close()


def test_a_child_that_cannot_start_is_no_files_doing_and_raises(tmp_path, monkeypatch):
    path = tmp_path / "v.mp4"
    write_video(path, [Shot(60, seed=1)], 128, 72)
    # Scan children that cannot import this package (they get this process's sys.path): every child would
    # fail so, whatever the file.
    monkeypatch.setattr(sys, "path", [str(tmp_path / "nothing-here")])
    stage = _stage()
    try:
        with pytest.raises(WorkerCrashed):
            _scan(stage, path)
    finally:
        stage.close()
