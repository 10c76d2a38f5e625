"""The report's streaming aggregation (one row group / batch at a time) equals a plain pandas computation over
the whole table: a generated filter output split into many row groups and small batches, with planted
duplicates, errors, missing scores and skipped shots."""
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.curate.filter_job import FilterJob, run_filter
from curation.contract.footage import footage_lost
from curation.curate.filters import load_thresholds
from curation.curate.report.aggregate import DUPLICATE_PREFIX, aggregate, canonical, hist_edges, parquet_source
from curation.testing.tables import synthetic_annotations

SCORES = ["motion_mean", "motion_p90", "motion_static_frac", "aesthetic", "text_sim_mean", "ocr_area_max"]
RULES = ["filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 25, "
         "drop_top: 1}, {column: ocr_area_max, max: 0.05}]"]
N = 6


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    """clips.parquet of a filter run, rewritten with duplicates planted and in row groups of 250 rows (a video's
    8 rows can straddle two consecutive row groups)."""
    root = tmp_path_factory.mktemp("report")
    synthetic_annotations(root / "ann", 3000, rows_per_part=400, seed=7)
    run_filter(str(root / "ann"), str(root / "out"), FilterJob.of(load_config(None, RULES)))
    table = pq.read_table(root / "out" / "clips.parquet")
    df = table.to_pandas()
    clips = np.flatnonzero(df.clip_index.notna().to_numpy())
    rng = np.random.default_rng(1)
    reasons = table["drop_reasons"].to_pylist()
    keep = table["keep"].to_pylist()
    # 40 duplicates in 9 groups; a keeper is a clip of another video
    for k, row in enumerate(rng.choice(clips[100:], 40, replace=False)):
        keeper = df.clip_id.iloc[clips[k % 9]]
        reasons[row] = list(reasons[row]) + [f"{DUPLICATE_PREFIX}{keeper}"]
        keep[row] = False
    table = table.set_column(table.schema.get_field_index("drop_reasons"), "drop_reasons",
                             pa.array(reasons, table.schema.field("drop_reasons").type))
    table = table.set_column(table.schema.get_field_index("keep"), "keep", pa.array(keep, pa.bool_()))
    path = root / "clips.parquet"
    pq.write_table(table, path, row_group_size=250)
    assert pq.ParquetFile(path).num_row_groups == 12
    thresholds, exclude = load_thresholds(root / "out" / "thresholds.json")
    return path, thresholds, exclude


def _reason_flags(clips: pd.DataFrame, thresholds) -> tuple[np.ndarray, list[str]]:
    """The page's former whole-table computation (every duplicate_of:<id> counted as one reason)."""
    order = [t.reason for t in thresholds]
    rows = [[canonical(r) for r in (rs if rs is not None else ())] for rs in clips.drop_reasons]
    seen = dict.fromkeys(r for rs in rows for r in rs)
    names = sorted(r for r in seen if r.startswith("error")) + list(dict.fromkeys(order)) + sorted(
        r for r in seen if not r.startswith("error") and r not in order)
    flags = np.zeros((len(clips), len(names)), bool)
    for i, rs in enumerate(rows):
        for r in rs:
            flags[i, names.index(r)] = True
    return flags, names


def test_streaming_aggregation_equals_pandas(filtered):
    path, thresholds, exclude = filtered
    data = aggregate(parquet_source(str(path), batch_rows=64), thresholds, hist_columns=SCORES,
                     gallery_columns=SCORES, bins=23, thumbnails=N, exclude_errors=exclude,
                     available=pq.read_schema(path).names)
    df = pq.read_table(path).to_pandas()
    clips = df[df.clip_index.notna()]
    keep = clips.keep.to_numpy(bool)
    kept = clips[keep]
    # cards and errors
    videos = df.drop_duplicates("video_id")
    assert data.rows == len(df) and data.clips == len(clips) and data.kept == int(keep.sum())
    assert data.videos == len(videos) == 375
    assert data.video_seconds == pytest.approx(videos.video_duration_s.fillna(0).sum())
    assert data.kept_seconds == pytest.approx(kept.duration_s.sum())
    assert data.clip_seconds == pytest.approx(clips.duration_s.fillna(0).sum())
    assert data.errors == Counter(df.error_kind.dropna()) and data.errors
    # funnel, per rule, only this rule, overlap
    flags, names = _reason_flags(clips, thresholds)
    assert data.reasons == names and "duplicate" in names
    remaining, steps = np.ones(len(clips), bool), [("all clips", len(clips))]
    for j, r in enumerate(names):
        remaining &= ~flags[:, j]
        steps.append((r, int(remaining.sum())))
    assert data.funnel == steps
    assert list(data.per_reason) == list(flags.sum(axis=0))
    assert list(data.only_reason) == list(flags[flags.sum(axis=1) == 1].sum(axis=0))
    assert (data.overlap == flags.T.astype(np.int64) @ flags.astype(np.int64)).all()
    # the first N clips dropped by each reason, in table order
    for j, r in enumerate(names):
        expect = list(clips.clip_id[flags[:, j]].head(N))
        assert [c.clip_id for c in data.dropped.get(r, [])] == expect
    # footage lost
    lost = footage_lost(df.row_kind, df.skip_reason, df.duration_s)
    assert (data.lost.shots, data.lost.transitions) == (lost.shots, lost.transitions) and lost.shots
    assert data.lost.shot_seconds == pytest.approx(lost.shot_seconds)
    # histograms: kept / dropped on fixed edges over the finite range
    assert set(data.histograms) == {*SCORES, "duration_s"}
    for column, hist in data.histograms.items():
        v = clips[column].to_numpy(float)
        ok = np.isfinite(v)
        edges = hist_edges(v[ok].min(), v[ok].max(), 23)
        assert (hist.edges == edges).all()
        assert list(hist.kept) == list(np.histogram(v[ok & keep], edges)[0])
        assert list(hist.dropped) == list(np.histogram(v[ok & ~keep], edges)[0])
    # motion buckets, resolutions, the exact median kept duration
    ids = kept.motion_bucket_id.dropna().astype(int)
    assert list(data.motion_buckets) == list(np.bincount(ids // 16, minlength=16))
    assert data.resolutions == Counter(f"{w}x{h}" for w, h in zip(clips.width, clips.height))
    assert data.kept_duration_median == np.median(kept.duration_s.dropna())
    # galleries: lowest / highest N of each score among clips without an error (stable order on ties)
    valid = clips[clips.error.isna()]
    for column in SCORES:
        v = valid[valid[column].notna()].sort_values(column, kind="stable")
        assert [c.clip_id for c in data.lowest[column]] == list(v.clip_id.head(N))
        assert [c.clip_id for c in data.highest[column]] == list(v.clip_id.tail(N)[::-1])
        assert [c.value for c in data.lowest[column]] == list(v[column].head(N))
    ref = data.lowest["aesthetic"][0]
    row = df.set_index("clip_id").loc[ref.clip_id]
    assert (ref.video_path, ref.clip_index, ref.start_s, ref.end_s) == (row.video_path, row.clip_index,
                                                                        row.start_s, row.end_s)
    # duplicate groups: the first groups in table order, their kept clip's row read back
    dup = [(i, r[len(DUPLICATE_PREFIX):]) for i, rs in zip(clips.index, clips.drop_reasons) for r in rs
           if r.startswith(DUPLICATE_PREFIX)]
    assert data.duplicates.duplicates == 40
    keepers = list(dict.fromkeys(k for _, k in dup))
    assert [k.clip_id for k, _ in data.duplicates.groups] == keepers[:N] and data.duplicates.more_groups
    for keeper, members in data.duplicates.groups:
        assert [m.clip_id for m in members] == [df.clip_id[i] for i, k in dup if k == keeper.clip_id][:N]
        assert keeper.video_path == df.set_index("clip_id").video_path[keeper.clip_id]


def test_label_counts_over_clips_and_kept_clips(filtered):
    path, thresholds, exclude = filtered
    data = aggregate(parquet_source(str(path), batch_rows=64), thresholds, hist_columns=[], gallery_columns=[],
                     exclude_errors=exclude, available=pq.read_schema(path).names, label_columns=["camera_motion"])
    df = pq.read_table(path).to_pandas()
    clips = df[df.clip_index.notna()]
    every, kept = data.labels["camera_motion"]
    assert dict(every) == clips.camera_motion.value_counts().to_dict()
    assert dict(kept) == clips[clips.keep.astype(bool)].camera_motion.value_counts().to_dict()
    assert set(every) == {"static", "pan_left", "pan_right", "zoom_in", "shaky"}
