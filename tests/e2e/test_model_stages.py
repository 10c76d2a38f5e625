"""`curate annotate --config configs/offline.yaml`: every column in one table, and a rerun adding stages
recomputes nothing else."""
import pytest

from curation.annotate.store import read_annotations
from curation.testing.synthetic import Shot, write_video
from tests.e2e.test_annotate import curate

pytestmark = pytest.mark.slow
OFFLINE = ["--config", "configs/offline.yaml", "-q"]
SCORES = ("motion_mean", "ocr_area_max", "ocr_area_mean", "ocr_boxes", "aesthetic", "text_sim_mean",
          "text_sim_min", "caption")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "text.mp4", [Shot(70, seed=8, text="SUBTITLE TEXT"), Shot(70, (1.0, 0.0), seed=9)])
    write_video(root / "plain.mp4", [Shot(70, seed=1), Shot(70, (0.0, 0.5), seed=2)])
    return root


def parts(folder):
    return {p.name: p.read_bytes() for p in folder.glob("part-*.parquet")}


def test_offline_config_fills_every_column_and_a_rerun_adds_stages(videos, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    out = tmp_path / "out"
    run = curate("annotate", videos, "--output", out, *OFFLINE, "--stages", "cuts,motion,keyframes,ocr")
    assert run.returncode == 0, run.stderr
    # A scan stage cannot be added afterwards (its columns come from the one decode): refused before any work.
    refused = curate("annotate", videos, "--output", out, *OFFLINE, "--stages", "cuts,motion,keyframes,camera,ocr")
    assert refused.returncode == 2 and "without the camera stage" in refused.stderr, refused.stderr
    first = read_annotations(str(out)).to_pandas()
    assert first.caption.isna().all() and first.caption_model.isna().all() and first.ocr_area_max.notna().all()
    by_video = first.groupby(first.video_path.str.endswith("text.mp4")).ocr_area_max.max()
    assert by_video[True] > 0.02 and by_video[False] < 0.005, by_video
    names, keyframes = set(parts(out / "annotations")), parts(out / "keyframes")

    run = curate("annotate", videos, "--output", out, *OFFLINE, "--stages",
                 "cuts,motion,keyframes,ocr,aesthetic,caption")
    assert run.returncode == 0, run.stderr
    assert "2 already done" in run.stdout and "RANDOM WEIGHTS" in run.stdout
    assert "ocr" not in run.stdout.split("model stages:")[1].split("\n")[0]  # OCR was not run again
    # the parts were completed in place: same names, keyframes untouched, OCR values as computed the first time
    assert set(parts(out / "annotations")) == names and parts(out / "keyframes") == keyframes
    # One table: a plain SQL engine sees every column of every stage, with no help from our library.
    table = duckdb.sql(f"SELECT * FROM '{out}/annotations/*.parquet' ORDER BY clip_id").df()
    assert len(table) == len(first) and table.error.isna().all()
    for column in SCORES:
        assert table[column].notna().all(), column
    again = first.sort_values("clip_id").reset_index(drop=True)
    assert list(table.ocr_area_max) == list(again.ocr_area_max) and list(table.ocr_model) == list(again.ocr_model)
    assert table.aesthetic_random_weights.all() and table.caption_random_weights.all()
    assert not table.ocr_random_weights.any()
    assert "RANDOM WEIGHTS" in table.aesthetic_model.iloc[0]

    run = curate("annotate", videos, "--output", out, *OFFLINE, "--stages", "cuts,motion,keyframes,ocr", "--set",
                 "annotate.ocr.min_size=5")
    assert run.returncode == 2 and "annotate.ocr.min_size" in run.stderr
