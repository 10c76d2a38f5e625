"""The cut table (12.5 / 25 / 50 % of each percentile rule, alone and combined) equals a direct numpy
computation over the whole table, and its "all rules at 25 %" is what rerunning ``curate filter`` with every
percentile rule at 25 % keeps."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.config import load_config
from curation.curate.filter_job import FilterJob, run_filter
from curation.curate.filters import load_thresholds
from curation.curate.report.aggregate import aggregate, parquet_source
from curation.curate.report.cuts import CUT_LEVELS, percentile_rules
from curation.testing.tables import synthetic_annotations

RULES = ("filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 25, "
         "drop_top: 1}, {column: ocr_area_max, max: 0.05}]")


def _rules_at(level: float) -> str:
    return (f"filter.rules=[{{column: motion_mean, drop_bottom: {level}}}, {{column: aesthetic, drop_bottom: "
            f"{level}, drop_top: {level}}}, {{column: ocr_area_max, max: 0.05}}]")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuts")
    synthetic_annotations(root / "ann", 4000, rows_per_part=500, seed=11)
    run_filter(str(root / "ann"), str(root / "out"), FilterJob.of(load_config(None, [RULES])))
    return root


def _table(path, in_memory):
    thresholds, exclude = load_thresholds(path.parent / "thresholds.json")
    data = aggregate(parquet_source(str(path), batch_rows=300), thresholds, hist_columns=[], gallery_columns=[],
                     thumbnails=0, exclude_errors=exclude, in_memory=in_memory)
    return data.cuts, thresholds, data


@pytest.mark.parametrize("in_memory", [1 << 20, 50])  # 50: the percentiles by streaming selection
def test_cut_table_equals_numpy(run, in_memory):
    cuts, thresholds, data = _table(run / "out" / "clips.parquet", in_memory)
    df = pq.read_table(run / "out" / "clips.parquet").to_pandas()
    is_clip = df.clip_index.notna().to_numpy()
    eligible = is_clip & df.error.isna().to_numpy()            # the percentiles' population
    candidates = is_clip & df.error_kind.isna().to_numpy()     # clips that enter the rules
    assert cuts.levels == CUT_LEVELS and cuts.candidates == candidates.sum() and cuts.current == df.keep.sum()
    assert [(r.column, r.side) for r, _, _ in cuts.rules] == [("motion_mean", "bottom"), ("aesthetic", "bottom"),
                                                              ("aesthetic", "top")]
    assert cuts.absolute == ["ocr_area_max: above 0.05", "duration_s: below 2"]
    others = candidates & (df.ocr_area_max <= 0.05).to_numpy() & (df.duration_s >= 2).to_numpy()
    for level in CUT_LEVELS:
        every = candidates.copy()
        for rule, bounds, kept in cuts.rules:
            v = df[rule.column].to_numpy(float)
            q = level if rule.side == "bottom" else 100 - level
            bound = np.percentile(v[eligible & np.isfinite(v)], q)
            assert bounds[level] == bound
            ok = (v >= bound) if rule.side == "bottom" else (v <= bound)
            assert kept[level] == (candidates & ok).sum()
            every &= ok
        assert cuts.percentile_only[level] == every.sum()
        assert cuts.kept[level] == (every & others).sum()
        assert cuts.kept_seconds[level] == pytest.approx(df.duration_s[every & others].sum())
    # the configured cut's bounds are this run's thresholds
    saved = {t.reason: t.keep_min for t in thresholds}
    assert cuts.rules[0][1][12.5] == saved["motion_mean: bottom 12.5%"]
    assert cuts.rules[1][1][25.0] == saved["aesthetic: bottom 25%"]
    assert [r.threshold.reason for r in percentile_rules(thresholds)] == [r.threshold.reason for r, _, _ in cuts.rules]


def test_all_rules_at_a_level_is_what_the_filter_would_keep(run):
    cuts, _, _ = _table(run / "out" / "clips.parquet", 1 << 20)
    again = run_filter(str(run / "ann"), str(run / "at25"), FilterJob.of(load_config(None, [_rules_at(25)])))
    assert cuts.kept[25.0] == again.kept > 0
    assert cuts.kept[12.5] > cuts.kept[25.0] > cuts.kept[50.0]
