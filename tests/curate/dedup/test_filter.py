"""Dedup inside ``curate filter``: the ``dedup`` config section, duplicates dropped as ``duplicate_of:<clip_id>``
and counted in the funnel, the result columns in clips.parquet."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.core.errors import ConfigError
from curation.curate.filter_job import FilterJob, run_filter
from tests.curate.dedup.corpus import COPIES

# No model stages ran on the corpus: rules on motion and duration only.
RULES = ["filter.rules=[{column: motion_mean, min: 0}]", "filter.min_duration_s=1"]


def test_filter_drops_duplicates_and_counts_them(annotated, tmp_path):
    source, names, table, _ = annotated
    config = load_config(None, RULES + ["dedup.enabled=true", "dedup.keep=longest"])
    summary = run_filter(str(source), str(tmp_path / "f"), FilterJob.of(config))
    assert summary.reasons["duplicate"] == len(COPIES) and summary.kept == summary.clips - len(COPIES)
    assert summary.dedup["groups"] == 2 and not summary.dedup["semantic"]
    assert "dedup: 5 duplicates in 2 groups" in summary.text()
    clips = pq.read_table(tmp_path / "f" / "clips.parquet").to_pylist()
    by_name = {Path(c["video_path"]).stem: c for c in clips if c["clip_id"]}
    for copy, original in COPIES.items():
        kept = [c for c in by_name.values() if c["dedup_group"] == by_name[original]["dedup_group"] and c["keep"]]
        assert len(kept) == 1 and by_name[copy]["dedup_group"] is not None
        member = by_name[copy] if by_name[copy]["duplicate_of"] else by_name[original]
        assert member["keep"] is False and member["drop_reasons"] == [f"duplicate_of:{kept[0]['clip_id']}"]
        assert member["duplicate_of"] == kept[0]["clip_id"]
    assert all(c["phash_middle"] is not None and len(c["phash_middle_crops"]) == 3 for c in by_name.values())
    record = json.loads((tmp_path / "f" / "filter.json").read_text())
    assert record["reasons"]["duplicate"] == len(COPIES) and record["dedup"]["duplicates"] == len(COPIES)


def test_dedup_off_keeps_the_columns_null(annotated, tmp_path):
    source, *_ = annotated
    summary = run_filter(str(source), str(tmp_path / "f"), FilterJob.of(load_config(None, RULES)))
    assert summary.dedup is None and "duplicate" not in summary.reasons
    clips = pq.read_table(tmp_path / "f" / "clips.parquet")
    for name in ("phash_first", "phash_first_crops", "dedup_group", "duplicate_of"):
        assert clips[name].null_count == clips.num_rows


@pytest.mark.parametrize("override, message", [
    ("dedup.keep=best", "dedup.keep: 'best' is not one of"),
    ("dedup.hash_distance=65", "dedup.hash_distance: must be in [0, 64]"),
    ("dedup.crop_distance=-1", "dedup.crop_distance"),
    ("dedup.cosine=1.5", "dedup.cosine: must be in (0, 1]"),
    ("dedup.clusters=0", "dedup.clusters"),
    ("dedup.threshold=0.9", "dedup.threshold: unknown key"),
])
def test_dedup_section_is_validated(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])
    defaults = load_config(None, []).dedup
    assert (defaults.enabled, defaults.hash_distance, defaults.crop_distance, defaults.cosine, defaults.keep) == (
        False, 12.0, 8.0, 0.95, "aesthetic")
    assert load_config(None, ["dedup.crop_distance=null"]).dedup.crop_distance is None


def test_semantic_pass_reads_the_aesthetic_stage_embeddings(tmp_path):
    """Wiring only: the real aesthetic stage (tiny CLIP with random weights offline, so its similarities mean
    nothing) writes the embedding column, and the filter's semantic pass reads it. A video and its re-encode:
    one pair, whichever method finds it."""
    from curation.annotate.job import AnnotateJob, run_annotate
    from tests.curate.dedup.corpus import copy_video, render_view

    render_view(tmp_path / "a.mp4", seed=7, x0=100, y0=60)
    copy_video(tmp_path / "a.mp4", tmp_path / "b.mp4", crf=35)
    root = Path(__file__).resolve().parents[3]
    annotate = load_config(root / "configs" / "offline.yaml", [
        "annotate.executor=local", "annotate.stages=[cuts,motion,keyframes,aesthetic]",
        "annotate.aesthetic.keep_embedding=true", "annotate.aesthetic.text=prompt", "annotate.aesthetic.prompt=x"])
    run_annotate([str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")], str(tmp_path / "ann"), AnnotateJob.of(annotate),
                 progress=False)
    config = load_config(None, RULES + ["dedup.enabled=true", "dedup.hash_distance=0"])
    summary = run_filter(str(tmp_path / "ann"), str(tmp_path / "f"), FilterJob.of(config))
    assert summary.dedup["semantic"] and summary.dedup["semantic_pairs"] == 1
    assert summary.reasons["duplicate"] == 1 and summary.kept == 1
