"""``curate annotate`` through the real CLI with its output on a real GCS API (fake-gcs-server on 127.0.0.1,
:mod:`tests.gcs_server`): input on local disk, output ``gs://BUCKET/x``, the table read back with DuckDB from a
local copy of the objects; a rerun resumes from the store, and a job on an output whose lease another job
holds is refused. Then filter, report, shard and finetune with every input and output on gs://. One video, in
process (no Ray): about 15 s and 70 s."""
import json

import duckdb

from curation.core import storage
from curation.core.lease import LEASE_FILE, Lease
from tests.e2e.test_annotate import curate
from tests.gcs_server import gcs_bucket, gcs_server  # noqa: F401  (fixtures)

SCAN = ["--stages", "cuts,motion,keyframes", "--set", "annotate.executor=local"]


def test_annotate_writes_its_table_to_gcs(gcs_bucket, videos, tmp_path):
    path, truth = videos["cuts"]
    out = f"{gcs_bucket}/x"
    run = curate("annotate", path, "--output", out, "-q", *SCAN)  # STORAGE_EMULATOR_HOST comes from the fixture
    assert run.returncode == 0, run.stderr[-3000:]

    names = sorted(u[len(out) + 1:] for u in storage.list_files(out, recursive=True, include_hidden=True))
    parts = [n for n in names if n.startswith("annotations/")]
    # one annotation part, its keyframe part, the job record; the lease is released (gone)
    assert len(parts) == 1 and names == sorted([*parts, parts[0].replace("annotations/", "keyframes/"), "job.json"])
    assert LEASE_FILE not in names
    assert json.loads(storage.read_text(f"{out}/job.json"))  # a readable job record

    # a local copy of the objects, read with DuckDB as a user would
    local = tmp_path / "copy"
    for name in names:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(storage.read_bytes(f"{out}/{name}"))
    rows = duckdb.sql(f"select row_kind, shot_start_frame, start_frame, end_frame, video_path, motion_mean "
                      f"from read_parquet('{local}/annotations/*.parquet') order by start_frame").fetchall()
    assert {r[4] for r in rows} == {str(path)}
    # one row per shot (clip or skipped); the shots start at frame 0 and at every true cut
    assert sorted({r[1] for r in rows}) == [0, *truth.cuts]
    clips = [r for r in rows if r[0] == "clip"]
    assert len(clips) >= 2 and all(r[5] is not None for r in clips)
    keyframes = duckdb.sql(f"select count(*) from read_parquet('{local}/keyframes/*.parquet')").fetchall()[0][0]
    assert keyframes == 3 * len(clips)  # first, middle, last of each clip

    # the same table straight from the store, through pyarrow
    table = storage.read_parquet(f"{out}/{parts[0]}")
    assert table.num_rows == len(rows)

    # a rerun finds every video done, reading the output back from the store
    again = curate("--log-level", "INFO", "annotate", path, "--output", out, "-q", *SCAN)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "1 already done, 0 to annotate" in again.stderr
    assert sorted(u[len(out) + 1:] for u in storage.list_files(out, recursive=True, include_hidden=True)) == names

    # while another job holds the output's lease, a job is refused in one line
    with Lease(out, "another annotate"):
        refused = curate("annotate", path, "--output", out, "-q", *SCAN)
    assert refused.returncode != 0
    message = [line for line in refused.stderr.splitlines() if "is being written by another job" in line]
    assert len(message) == 1 and f"{out} is being written by another job (another annotate: " in message[0]


def test_filter_report_shard_and_finetune_on_gcs(gcs_bucket, videos, tmp_path):
    """The curate half with every input and output on gs://: filter reads the table from the store, the report
    and the shards are written there, finetune trains from the shards there and saves its model there."""
    from curation.train.tiny import save_tiny_svd

    path, _ = videos["cuts"]
    b = gcs_bucket
    run = curate("annotate", path, "--output", f"{b}/annotated", "-q", *SCAN)
    assert run.returncode == 0, run.stderr[-3000:]
    clips = storage.read_parquet(f"{b}/annotated/annotations").to_pandas()
    clips = clips[clips.row_kind == "clip"]

    keep_all = ["--set", "filter.rules=[]"]  # no model columns in this table: keep every clip
    run = curate("filter", f"{b}/annotated", "--output", f"{b}/filtered", *keep_all)
    assert run.returncode == 0, run.stderr[-3000:]
    filtered = storage.read_parquet(f"{b}/filtered/clips.parquet").to_pandas()
    assert sorted(filtered[filtered.keep].clip_id) == sorted(clips.clip_id)
    assert json.loads(storage.read_text(f"{b}/filtered/filter.json"))["annotations"] == f"{b}/annotated"

    run = curate("report", f"{b}/filtered")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"report: {b}/filtered/report.html"
    assert storage.read_text(f"{b}/filtered/report.html").count("data:image/jpeg") >= len(clips)

    run = curate("shard", f"{b}/filtered", "--output", f"{b}/shards", "-q", "--set", "shard.short_side=64")
    assert run.returncode == 0, run.stderr[-3000:]
    index = json.loads(storage.read_text(f"{b}/shards/index.json"))
    assert index["samples"] == len(clips) and not index["failed"]
    assert all(storage.size(f"{b}/shards/{s['name']}") == s["bytes"] for s in index["shards"])

    base = save_tiny_svd(tmp_path / "tiny")
    small = ["finetune.num_frames=4", "finetune.width=64", "finetune.height=64", "finetune.validate_every=0",
             "finetune.gradient_checkpointing=false", "finetune.max_steps=1", "finetune.checkpoint_every=1"]
    run = curate("finetune", "--shards", f"{b}/shards", "--model", base, "--output", f"{b}/model", "-q",
                 *[a for s in small for a in ("--set", s)])
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(storage.read_text(f"{b}/model/finetune.json"))["steps"] == 1
    assert storage.exists(f"{b}/model/unet/diffusion_pytorch_model.safetensors")
