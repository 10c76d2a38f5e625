"""End to end through the real CLI, Ray and Parquet: bad inputs, resume after kill -9, long-video segments."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.annotate.source import segment_bounds
from curation.annotate.store import read_annotations, read_keyframes
from curation.annotate.scan.assemble import assemble_video
from curation.config import load_config
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.testing.hostile import HOSTILE, hostile_corpus
from curation.testing.synthetic import Shot, write_video
from curation.video import probe

pytestmark = pytest.mark.slow
CURATE = [sys.executable, "-m", "curation.cli"]
ROOT = Path(__file__).resolve().parents[2]


def curate(*args, **kwargs):
    return subprocess.run([*CURATE, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          **kwargs)


def _audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = (np.sin(np.arange(44100) / 10) * 0.3).astype(np.float32)[None, :]
        for start in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    good = root / "good"
    write_video(good / "a.mp4", [Shot(60, seed=1), Shot(70, (1.0, 0.0), seed=2)])
    write_video(good / "b.mkv", [Shot(80, (0.5, 0.5), seed=3)])
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "text.mp4").write_text("this is not a video\n" * 100)
    write_video(bad / "one_frame.mp4", [Shot(1, seed=4)])
    _audio_only(bad / "audio_only.m4a")
    os.symlink(bad / "missing-target.mp4", bad / "dangling.mp4")
    full = root / "full.mkv"
    write_video(full, [Shot(300, (1.0, 0.0), seed=5)])
    data = full.read_bytes()
    (bad / "truncated.mkv").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    rng = np.random.default_rng(0)
    corrupt[len(data) // 3: len(data) // 3 + 6000] = rng.integers(0, 256, 6000, dtype=np.uint8).tobytes()
    (bad / "corrupt_mid.mkv").write_bytes(bytes(corrupt))
    mp4 = root / "full.mp4"
    write_video(mp4, [Shot(100, seed=6)])
    (bad / "truncated_moov.mp4").write_bytes(mp4.read_bytes()[:3000])
    # A file name that is not UTF-8 (bytes a local file system allows): the table cannot name it.
    (bad / os.fsdecode(b"name\xff.mp4")).write_bytes(mp4.read_bytes())
    hostile_corpus(root / "hostile")
    return root


def test_bad_inputs_get_error_rows_and_the_job_finishes(corpus, tmp_path):
    out = tmp_path / "out"
    listing = tmp_path / "inputs.txt"
    listing.write_text(f"{corpus / 'good'}\n# a comment\n\n")
    # Every stage, with the offline models: bad videos must not trouble the model stages either.
    run = curate("annotate", listing, corpus / "bad" / "audio_only.m4a", corpus / "bad", corpus / "hostile",
                 "--output", out, "-q", "--config", "configs/offline.yaml")
    assert run.returncode == 0, run.stderr
    assert "errors:" in run.stdout
    # Quiet by default: Ray's loggers and its C++ worker lines go to the job's log file; our warnings stay.
    logs = list((out / "_logs").glob("ray-*.log"))
    assert len(logs) == 1 and f"ray log: {logs[0]}" in run.stdout
    assert "streaming_executor" in logs[0].read_text()
    for ray_says in ("streaming_executor", "core_worker", "Token authentication", "Progress bars"):
        assert ray_says not in run.stderr, run.stderr
    table = read_annotations(str(out)).to_pandas()
    by_name = {Path(p).name: g for p, g in table.groupby("video_path")}
    for name in ("a.mp4", "b.mkv"):
        clips = by_name[name]
        assert clips.error.isna().all() and len(clips) >= 1
    expected = {"empty.mp4": "empty_file", "text.mp4": "not_a_video", "one_frame.mp4": "too_short",
                "audio_only.m4a": "no_video_stream", "dangling.mp4": "unreadable",
                "truncated_moov.mp4": "not_a_video", "name\\xff.mp4": "unreadable"}
    for name, kind in expected.items():
        rows = by_name[name]
        status = rows[rows.row_kind == "status"]
        assert list(status.error_kind) == [kind], (name, rows[["row_kind", "error_kind", "error"]])
        assert status.error.iloc[0]
        assert rows.clip_index.isna().all()
    # the one frame is a detected shot too short for a clip: recorded, with its reason
    shot = by_name["one_frame.mp4"][lambda r: r.row_kind == "skipped_shot"]
    assert list(shot.skip_reason) == ["too_short"] and list(shot.start_frame) == [0]
    for name in ("truncated.mkv", "corrupt_mid.mkv"):
        rows = by_name[name]
        status = rows[rows.row_kind == "status"]
        assert len(status) == 1 and status.error_kind.iloc[0] in ("truncated", "corrupt_frames"), rows
        assert rows.clip_index.notna().any(), f"{name}: the decodable part must still give clips"
    # Hostile headers: a clear error, or clips from what the file holds (its clock repaired where needed).
    for name, (_, expect) in HOSTILE.items():
        rows = by_name[name]
        status = rows[rows.row_kind == "status"]
        assert list(status.error_kind) == ([expect.error_kind] if expect.error_kind else []), (name, status)
        assert rows.clip_index.notna().any() == expect.clips, name
    assert "internal_error" not in set(table.error_kind.dropna())
    keyframes = read_keyframes(str(out))
    assert keyframes.num_rows == 3 * int(table.clip_index.notna().sum())
    clips = table[table.clip_index.notna()]
    for column in ("ocr_area_max", "aesthetic", "text_sim_mean", "caption"):
        assert clips[column].notna().all(), column


def test_missing_input_and_bad_config_fail_before_work(tmp_path):
    run = curate("annotate", tmp_path / "nope.mp4", "--output", tmp_path / "o")
    assert run.returncode == 2 and "input does not exist" in run.stderr
    run = curate("annotate", tmp_path, "--output", tmp_path / "o", "--set", "annotate.cuts.thresold=3")
    assert run.returncode == 2 and "annotate.cuts.thresold" in run.stderr
    assert not (tmp_path / "o").exists()


def test_resume_after_kill_9(tmp_path):
    videos = tmp_path / "videos"
    n_videos = 16
    for i in range(n_videos):
        write_video(videos / f"v{i:02d}.mp4", [Shot(100, seed=100 + i), Shot(150, (0.5, 0.0), seed=200 + i)])
    out = tmp_path / "out"
    scan = ["--stages", "cuts,motion,keyframes"]
    args = [*CURATE, "annotate", str(videos), "--output", str(out), "-q", *scan,
            "--set", "annotate.output.commit_videos=1", "--set", "annotate.ray.num_cpus=1"]
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "annotations").glob("part-*.parquet"))) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    parts_before = {p.name: p.read_bytes() for p in (out / "annotations").glob("part-*.parquet")}
    assert parts_before, "the job should have committed some videos before the kill"
    done_before = set(read_annotations(str(out)).column("video_id").to_pylist())
    assert len(done_before) < n_videos, "kill came too late to test resume"
    # settings of speed, not of results, may change on resume
    run = curate("annotate", videos, "--output", out, "-q", *scan, "--set", "annotate.decode.prefetch=2",
                 "--set", "annotate.decode.split_min_s=0")
    assert run.returncode == 0, run.stderr
    assert f"{len(done_before)} already done" in run.stdout
    table = read_annotations(str(out)).to_pandas()
    assert table.video_id.nunique() == n_videos
    assert not table.duplicated(["video_id", "clip_index"]).any()
    for name, data in parts_before.items():  # nothing written before the kill was lost or rewritten
        assert (out / "annotations" / name).read_bytes() == data
    kf = read_keyframes(str(out)).to_pandas()
    assert not kf.duplicated(["clip_id", "position"]).any()
    # a different config on the same output is refused, naming the key
    run = curate("annotate", videos, "--output", out, *scan, "--set", "annotate.clips.min_s=1")
    assert run.returncode == 2 and "annotate.clips.min_s" in run.stderr


def _assemble(path, segment_s):
    cfg = load_config(None, [f"annotate.decode.segment_s={segment_s}", "annotate.decode.segment_overlap_s=3",
                             "annotate.cuts.detector=fast"]).annotate
    info = probe(path)
    bounds = segment_bounds(info.duration_s, cfg.decode.segment_s)
    units = [scan_unit(WorkUnit("v", str(path), k, len(bounds), s, e, info.width, info.height, info.fps), cfg, None)
             for k, (s, e) in enumerate(bounds)]
    return len(units), assemble_video("v", info, units, cfg)


def test_long_video_split_into_segments_gives_the_same_clips(tmp_path):
    path = tmp_path / "long.mp4"
    # 26 s: cuts at 246 (9.84 s, right before the 10 s segment edge), 252, and 500 (20 s: on the edge)
    truth = write_video(path, [Shot(246, (0.6, 0.0), seed=1), Shot(6, seed=2), Shot(248, (0.0, 0.6), seed=3),
                               Shot(150, seed=4)])
    n1, whole = _assemble(path, 600)
    n3, split = _assemble(path, 10)
    assert (n1, n3) == (1, 3)
    cols = ["row_kind", "shot_index", "shot_start_frame", "start_frame", "end_frame", "skip_reason"]
    assert [[r[c] for c in cols] for r in whole.rows] == [[r[c] for c in cols] for r in split.rows]
    assert {r["shot_start_frame"] for r in split.rows} >= {0, 246, 252, 500}
    # the 6-frame shot gives no clip but is a row
    assert [(r["shot_start_frame"], r["skip_reason"]) for r in split.rows if r["row_kind"] == "skipped_shot"] == \
        [(246, "too_short")]
    for a, b in zip(whole.rows, split.rows):
        if a["row_kind"] == "clip":
            assert b["motion_mean"] == pytest.approx(a["motion_mean"], rel=1e-6)
    assert truth.cuts == [246, 252, 500]
