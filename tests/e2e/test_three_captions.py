"""The SVD recipe's three captions end to end: `curate annotate --stages ...,caption,video_caption,caption_merge`
with tiny random models (CoCa from configs/offline.yaml, Qwen2-VL and Qwen2 written by save_pretrained and
given as local-dir:), the table read back by DuckDB, then filter and shard: the shards' JSON has the three."""
import json
import tarfile

import pytest

from curation.models.causal_lm import save_random_causal_lm
from curation.models.video_language import save_random_video_language
from curation.testing.synthetic import Shot, write_video
from tests.e2e.test_annotate import curate

pytestmark = pytest.mark.slow
CAPTIONS = ("caption", "video_caption", "caption_merged")


def test_three_captions_in_the_table_and_the_shards(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    write_video(tmp_path / "v.mp4", [Shot(70, seed=1), Shot(70, (1.0, 0.0), seed=2)])
    vlm = save_random_video_language(tmp_path / "vlm", seed=3)
    lm = save_random_causal_lm(tmp_path / "lm", seed=4)
    sets = ["--config", "configs/offline.yaml", "--set", f"annotate.video_caption.model=local-dir:{vlm}",
            "--set", f"annotate.caption_merge.model=local-dir:{lm}", "--set", "annotate.video_caption.weights=null",
            "--set", "annotate.caption_merge.weights=null"]
    stages = "cuts,motion,keyframes,caption,video_caption,caption_merge"
    check = curate("models", "check", *sets, "--set", f"annotate.stages={stages}")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"video_caption: ok: source=local-dir:{vlm} (RANDOM WEIGHTS)" in check.stdout

    out = tmp_path / "out"
    run = curate("annotate", tmp_path / "v.mp4", "--output", out, *sets, "--stages", stages, "-q")
    assert run.returncode == 0, run.stderr
    assert "video_caption 2 clips (0 failed), caption_merge 2 clips (0 failed)" in run.stdout
    table = duckdb.sql(f"SELECT * FROM '{out}/annotations/*.parquet' WHERE row_kind = 'clip' ORDER BY clip_id").df()
    assert len(table) == 2
    for column in CAPTIONS:
        assert table[column].map(lambda t: isinstance(t, str) and len(t) > 0).all(), column
    for stage in ("caption", "video_caption", "caption_merge"):
        assert table[f"{stage}_random_weights"].all() and table[f"{stage}_error"].isna().all()
        assert table[f"{stage}_model"].str.endswith("(RANDOM WEIGHTS)").all()
    assert table.aesthetic_model.isna().all()  # a stage not asked for did not run

    filtered, shards = tmp_path / "filtered", tmp_path / "shards"
    for command in (["filter", out, "-o", filtered, "--set", "filter.rules=[]"], ["shard", filtered, "-o", shards]):
        done = curate(*command, "-q")
        assert done.returncode == 0, done.stderr
    with tarfile.open(next(shards.glob("shard-*.tar"))) as tar:
        metas = [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    by_clip = table.set_index("clip_id")
    assert len(metas) == 2
    for meta in metas:
        assert {c: meta[c] for c in CAPTIONS} == {c: by_clip.loc[meta["clip_id"], c] for c in CAPTIONS}
        assert set(meta["random_weights"]) == {"caption", "video_caption", "caption_merge"}
