"""Filters are a pure function over the clip table: every reason recorded, thresholds reusable."""
import json

import numpy as np
import pyarrow as pa
import pytest

from curation.curate.buckets import MotionBuckets
from curation.config import load_config
from curation.curate.filters import apply, load_thresholds, resolve, save_thresholds


def table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    error_kind = [None] * n
    error_kind[3] = "ocr_failed"
    clip_index = list(range(n))
    clip_index[5] = None  # a status row of a failed video
    error_kind[5] = "not_a_video"
    return pa.table({
        "clip_id": [f"v-{i:05d}" for i in range(n)], "video_id": ["v"] * n, "clip_index": clip_index,
        "aesthetic": rng.normal(5, 1, n), "motion_mean": rng.exponential(30, n),
        "ocr_area_max": rng.uniform(0, 0.1, n), "duration_s": rng.uniform(1, 12, n),
        "width": [640] * n, "height": [360] * n, "fps": [25.0] * n,
        "error_kind": error_kind, "error": [None if k is None else "x" for k in error_kind]})


RULES = ["filter.rules=[{column: aesthetic, drop_bottom: 25}, {column: motion_mean, drop_bottom: 10, drop_top: 5},"
         " {column: ocr_area_max, max: 0.05}]", "filter.min_duration_s=2"]


def test_percentile_thresholds_are_numpy_percentiles_over_clips_without_errors():
    t = table()
    cfg = load_config(None, RULES).filter
    thresholds = {th.reason: th for th in resolve(t, cfg)}
    ok = np.array([i not in (3, 5) for i in range(t.num_rows)])
    aesthetic = t["aesthetic"].to_numpy()[ok]
    motion = t["motion_mean"].to_numpy()[ok]
    assert thresholds["aesthetic: bottom 25%"].keep_min == np.percentile(aesthetic, 25)
    assert thresholds["motion_mean: bottom 10%"].keep_min == np.percentile(motion, 10)
    assert thresholds["motion_mean: top 5%"].keep_max == np.percentile(motion, 95)


def test_every_rule_that_drops_a_clip_is_recorded():
    t = table()
    cfg = load_config(None, RULES).filter
    thresholds = resolve(t, cfg)
    out = apply(t, thresholds).to_pydict()
    by = {th.reason: th for th in thresholds}
    for i in range(t.num_rows):
        expected = []
        if i == 5:
            expected.append("no clip")
        elif i == 3:
            expected.append("error: ocr_failed")
        if i != 5:
            a, m, o, d = (out[c][i] for c in ("aesthetic", "motion_mean", "ocr_area_max", "duration_s"))
            if a < by["aesthetic: bottom 25%"].keep_min:
                expected.append("aesthetic: bottom 25%")
            if m < by["motion_mean: bottom 10%"].keep_min:
                expected.append("motion_mean: bottom 10%")
            if m > by["motion_mean: top 5%"].keep_max:
                expected.append("motion_mean: top 5%")
            if o > 0.05:
                expected.append("ocr_area_max: above 0.05")
            if d < 2:
                expected.append("duration_s: below 2")
        assert out["drop_reasons"][i] == expected, i
        assert out["keep"][i] == (not expected)
    assert any(len(r) >= 2 for r in out["drop_reasons"])  # the data does exercise multi-rule drops


def test_saved_thresholds_give_the_same_cut(tmp_path):
    t = table()
    cfg = load_config(None, RULES).filter
    thresholds = resolve(t, cfg)
    save_thresholds(tmp_path / "t.json", thresholds, cfg)
    loaded, exclude = load_thresholds(tmp_path / "t.json")
    assert loaded == thresholds and exclude
    assert apply(t, loaded).to_pydict()["keep"] == apply(t, thresholds).to_pydict()["keep"]
    # on new data the saved cut is applied as is, not recomputed
    new = table(seed=1)
    assert apply(new, loaded)["keep"] == apply(new, thresholds)["keep"]
    assert resolve(new, cfg) != thresholds


def test_missing_value_fails_its_rule():
    t = table(10)
    t = t.set_column(t.schema.get_field_index("aesthetic"), "aesthetic", pa.array([np.nan] + [5.0] * 9))
    out = apply(t, resolve(t, load_config(None, ["filter.rules=[{column: aesthetic, min: 1}]"]).filter))
    assert out["drop_reasons"][0].as_py() == ["aesthetic: missing"]


@pytest.mark.parametrize("kind", ["quantile", "fixed"])
def test_motion_buckets_monotone_span_0_255_and_survive_save_load(kind, tmp_path):
    rng = np.random.default_rng(3)
    values = np.concatenate([np.zeros(300), rng.exponential(40, 3000)])
    buckets = MotionBuckets.fit_quantile(values, "motion_mean") if kind == "quantile" else \
        MotionBuckets.fixed("motion_mean")
    grid = np.linspace(0, 3000, 20001)
    ids = buckets.bucket(grid)
    assert np.all(np.diff(ids) >= 0)
    assert ids.min() == 0 and ids.max() == 255
    assert buckets.bucket(np.nan)[0] == -1
    buckets.save(tmp_path / "b.json")
    again = MotionBuckets.load(tmp_path / "b.json")
    assert again == buckets and np.array_equal(again.bucket(grid), ids)
    for b in (0, 64, 127, 200, 255):  # a bucket's representative motion maps back into it
        assert abs(int(buckets.bucket(buckets.motion(b))[0]) - b) <= 1
    if kind == "quantile":
        counts = np.bincount(buckets.bucket(values[300:]), minlength=256)
        assert counts.max() < 4 * len(values) / 256  # about equal-count buckets
        assert 110 <= buckets.bucket(np.median(values))[0] <= 145  # the median clip near SVD's default 127
    json.loads((tmp_path / "b.json").read_text())


def test_a_rule_on_a_stage_that_never_ran_is_left_out():
    """No clip has an aesthetic score (the stage did not run): its rule would drop every clip as missing, so
    resolve leaves it out and unfilled names it; the other rules apply as before."""
    from curation.curate.filters import rule_counts, unfilled

    t = table()
    t = t.set_column(t.schema.get_field_index("aesthetic"), "aesthetic", pa.nulls(t.num_rows, pa.float64()))
    cfg = load_config(None, RULES).filter
    counts = rule_counts(t, cfg)
    assert unfilled(counts) == ["aesthetic"] and counts["motion_mean"] == t.num_rows - 2
    reasons = [th.reason for th in resolve(t, cfg, counts=counts)]
    assert not any(r.startswith("aesthetic") for r in reasons)
    assert "motion_mean: bottom 10%" in reasons and "duration_s: below 2" in reasons
    out = apply(t, resolve(t, cfg)).to_pydict()
    assert not any("aesthetic: missing" in r for r in out["drop_reasons"]) and any(out["keep"])


def test_a_label_rule_drops_the_labels_it_names_and_clips_without_one(tmp_path):
    t = table(8)
    labels = ["static", "shaky", "pan_left", None, "shaky", "mixed", "zoom_in", "static"]
    t = t.append_column("camera_motion", pa.array(labels, pa.string()))
    cfg = load_config(None, ["filter.rules=[{column: camera_motion, drop_values: [shaky, mixed]}]",
                             "filter.min_duration_s=null"]).filter
    thresholds = resolve(t, cfg)
    out = apply(t, thresholds).to_pydict()
    assert out["drop_reasons"][1] == ["camera_motion: shaky/mixed"]
    assert out["drop_reasons"][3] == ["error: ocr_failed", "camera_motion: missing"]
    assert out["drop_reasons"][5] == ["no clip"]  # a status row: no rule is asked
    assert [i for i, k in enumerate(out["keep"]) if k] == [0, 2, 6, 7]
    save_thresholds(tmp_path / "t.json", thresholds, cfg)
    assert load_thresholds(tmp_path / "t.json")[0] == thresholds  # the labels survive JSON


def test_a_label_rule_takes_no_numeric_bounds():
    from curation.core.errors import ConfigError

    with pytest.raises(ConfigError, match="drop_values"):
        load_config(None, ["filter.rules=[{column: camera_motion, drop_values: [shaky], max: 1}]"])


def test_a_flag_reads_as_0_or_1_and_a_missing_one_fails():
    t = table(6).append_column("still", pa.array([True, False, None, False, True, False], pa.bool_()))
    cfg = load_config(None, ["filter.rules=[{column: still, max: 0}]", "filter.min_duration_s=null"]).filter
    out = apply(t, resolve(t, cfg)).to_pydict()
    assert out["drop_reasons"][0] == ["still: above 0"] and out["drop_reasons"][2] == ["still: missing"]
    assert out["keep"][1] and not out["keep"][4]
