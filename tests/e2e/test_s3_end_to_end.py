"""Every phase with every input and output on a real S3 API (moto's server on 127.0.0.1, :mod:`tests.s3_server`),
through the real CLI: annotate -> filter -> report -> shard -> finetune, read back from the store; and annotate
killed with ``kill -9`` while it commits to S3, then rerun."""
import csv
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from curation.core import storage
from curation.annotate.store import read_annotations, read_keyframes
from curation.config import load_config
from curation.train.tiny import RANDOM_MARKER, save_tiny_svd
from curation.testing.synthetic import Shot, write_video
from tests.e2e.test_annotate import CURATE, ROOT, curate
from tests.s3_server import SECRET, s3_bucket, s3_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
# A tiny, fast finetune (as tests/svd/test_finetune.py).
SMALL = ["finetune.num_frames=4", "finetune.width=64", "finetune.height=64", "finetune.learning_rate=1e-3",
         "finetune.validate_every=0", "finetune.log_every=1", "finetune.gradient_checkpointing=false"]


def _sets(*items):
    return [a for item in items for a in ("--set", item)]


def _upload_videos(tmp_path, prefix, specs):
    """Write synthetic videos locally and put them under ``prefix``; returns their URIs."""
    uris = []
    for name, shots in specs.items():
        local = tmp_path / "videos" / name
        write_video(local, shots)
        uris.append(storage.join(prefix, name))
        storage.write_bytes(uris[-1], local.read_bytes())
    return uris


def _ok(run):
    assert run.returncode == 0, run.stderr[-3000:]
    assert SECRET not in run.stdout + run.stderr  # the secret key never reaches a log or a message
    return run


def test_every_phase_reads_and_writes_s3(s3_bucket, tmp_path):
    b = s3_bucket
    videos = _upload_videos(tmp_path, f"{b}/videos", {
        "a.mp4": [Shot(60, seed=1), Shot(70, (1.0, 0.0), seed=2)],
        "b.mp4": [Shot(80, (0.5, 0.5), seed=3)],
        "c.mp4": [Shot(70, (0.0, 0.8), seed=4), Shot(60, seed=5)],
    })
    env = dict(os.environ)  # the fixture's AWS_ENDPOINT_URL and keys reach the CLI (and its Ray workers) here

    _ok(curate("annotate", f"{b}/videos", "--output", f"{b}/annotated", "--config", "configs/offline.yaml", "-q",
               env=env))
    table = read_annotations(f"{b}/annotated").to_pandas()
    assert sorted(table.video_path.unique()) == videos and table.video_id.nunique() == 3
    clips = table[table.row_kind == "clip"]
    assert len(clips) >= 4 and not clips.duplicated(["video_id", "clip_index"]).any()
    assert clips.caption.notna().all()

    _ok(curate("filter", f"{b}/annotated", "--output", f"{b}/filtered", env=env))
    names = {storage.name(u) for u in storage.list_files(f"{b}/filtered")}
    assert {"clips.parquet", "thresholds.json", "motion_buckets.json", "filter.json"} <= names
    filtered = storage.read_parquet(f"{b}/filtered/clips.parquet").to_pandas()
    kept = filtered[filtered.keep]
    assert 0 < len(kept) < len(clips)
    assert json.loads(storage.read_text(f"{b}/filtered/filter.json"))["annotations"] == f"{b}/annotated"
    # the saved thresholds apply to the same data from the store, with the same result
    _ok(curate("filter", f"{b}/annotated", "--output", f"{b}/refiltered", "--thresholds",
               f"{b}/filtered/thresholds.json", env=env))
    again = storage.read_parquet(f"{b}/refiltered/clips.parquet").to_pandas()
    assert again.keep.tolist() == filtered.keep.tolist()

    run = _ok(curate("report", f"{b}/filtered", env=env))
    assert run.stdout.strip() == f"report: {b}/filtered/report.html"
    page = storage.read_text(f"{b}/filtered/report.html")
    assert "Filtering report: annotated" in page and page.count("data:image/jpeg") >= 2  # keyframes from S3

    shard_args = ["shard", f"{b}/filtered", "--output", f"{b}/shards", "-q", *_sets("shard.short_side=64",
                                                                                    "shard.samples_per_shard=2")]
    _ok(curate(*shard_args, env=env))
    index = json.loads(storage.read_text(f"{b}/shards/index.json"))
    assert index["samples"] == len(kept) and not index["failed"]
    assert index["pattern"].startswith(f"{b}/shards/shard-")
    keys = set()
    for shard in index["shards"]:
        uri = f"{b}/shards/{shard['name']}"
        assert storage.size(uri) == shard["bytes"]
        with storage.open_input(uri) as fh, tarfile.open(fileobj=fh) as tar:
            for member in tar.getmembers():
                key, ext = member.name.rsplit(".", 1)
                keys.add(key)
                if ext == "json":
                    assert json.load(tar.extractfile(member))["source"].startswith(f"{b}/videos/")
    assert keys == set(kept.clip_id)
    assert storage.exists(f"{b}/shards/motion_buckets.json")
    # a rerun keeps the shards already on the store (read back through the store to check their clips)
    before = {u: storage.read_bytes(u) for u in storage.list_files(f"{b}/shards", ".tar")}
    _ok(curate(*shard_args, env=env))
    assert {u: storage.read_bytes(u) for u in storage.list_files(f"{b}/shards", ".tar")} == before

    base = save_tiny_svd(tmp_path / "tiny")
    run = _ok(curate("finetune", "--shards", f"{b}/shards", "--model", base, "--output", f"{b}/model", "-q",
                     *_sets(*SMALL, "finetune.max_steps=2", "finetune.checkpoint_every=2"), env=env))
    assert run.stdout.strip().endswith(f": {b}/model")
    model = {u[len(b) + len("/model/"):] for u in storage.list_files(f"{b}/model", recursive=True)}
    assert {"model_index.json", "unet/diffusion_pytorch_model.safetensors", "finetune.json", "motion_buckets.json",
            RANDOM_MARKER, "loss.csv", "checkpoints/latest",
            "checkpoints/step-0000002/unet.safetensors"} <= model, sorted(model)
    assert json.loads(storage.read_text(f"{b}/model/finetune.json"))["steps"] == 2

    # resume from the store: the checkpoint `latest` names is downloaded and training goes on from it
    from curation.train.train import Trainer

    trainer = Trainer(f"{b}/shards", str(base), f"{b}/model",
                      load_config(None, [*SMALL, "finetune.max_steps=3", "finetune.checkpoint_every=0",
                                         "finetune.validate_every=3"]).finetune)
    assert trainer.step == 2
    assert trainer.run(progress=False)["output"] == f"{b}/model"
    rows = list(csv.DictReader(io.StringIO(storage.read_text(f"{b}/model/loss.csv"))))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert json.loads(storage.read_text(f"{b}/model/finetune.json"))["steps"] == 3
    assert storage.size(f"{b}/model/validation/step-0000003.mp4") > 0


def test_bad_store_inputs_are_one_line_errors(s3_bucket):
    for args, message in [(["report", f"{s3_bucket}/nothing"], "not a filter output"),
                          (["filter", "s3://curation-no-such-bucket/annotated", "--output", f"{s3_bucket}/f"],
                           "not an annotate output"),
                          (["shard", f"{s3_bucket}/nothing", "--output", f"{s3_bucket}/s"], "not a filter output")]:
        run = curate(*args, env=dict(os.environ))
        assert run.returncode == 2 and message in run.stderr, run.stderr[-2000:]
        assert len(run.stderr.strip().splitlines()) == 1 and SECRET not in run.stderr


def test_annotate_on_s3_resumes_after_kill_9(s3_bucket, tmp_path):
    b = s3_bucket
    n_videos = 8
    _upload_videos(tmp_path, f"{b}/videos", {
        f"v{i:02d}.mp4": [Shot(100, seed=100 + i), Shot(150, (0.5, 0.0), seed=200 + i)] for i in range(n_videos)})
    out = f"{b}/out"
    scan = ["--stages", "cuts,motion,keyframes"]
    args = [*CURATE, "annotate", f"{b}/videos", "--output", out, "-q", *scan,
            *_sets("annotate.output.commit_videos=1", "annotate.ray.num_cpus=1")]
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not storage.list_files(f"{out}/annotations", ".parquet"):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    parts_before = {u: storage.read_bytes(u) for u in storage.list_files(f"{out}/annotations", ".parquet")}
    assert parts_before, "the job should have committed some videos before the kill"
    done_before = set(read_annotations(out).column("video_id").to_pylist())
    assert len(done_before) < n_videos, "kill came too late to test resume"
    assert storage.exists(f"{out}/_lease.json")  # the dead job's lease: the rerun takes it over (its pid is gone)

    run = _ok(curate("annotate", f"{b}/videos", "--output", out, "-q", *scan, env=dict(os.environ)))
    assert f"{len(done_before)} already done" in run.stdout
    table = read_annotations(out).to_pandas()
    assert table.video_id.nunique() == n_videos
    assert not table.duplicated(["video_id", "clip_index"]).any()
    for uri, data in parts_before.items():  # nothing committed before the kill was lost or rewritten
        assert storage.read_bytes(uri) == data
    kf = read_keyframes(out).to_pandas()
    assert not kf.duplicated(["clip_id", "position"]).any()
    assert set(kf.clip_id) == set(table[table.row_kind == "clip"].clip_id)
