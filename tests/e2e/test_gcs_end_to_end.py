"""``curate annotate`` through the real CLI with its output on a real GCS API (fake-gcs-server on 127.0.0.1,
:mod:`tests.gcs_server`): input on local disk, output ``gs://BUCKET/x``, the table read back with DuckDB from a
local copy of the objects; a rerun resumes from the store, and a job on an output whose lease another job
holds is refused. One video, in process (no Ray): about 15 s."""
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
