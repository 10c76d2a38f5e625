"""`curate filter` out of core: the table is read part by part and clips.parquet written a part at a time;
the cut, the reasons and the bucket mapping are exactly those of the whole table in memory."""
import json

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from curation.config import load_config
from curation.curate.filter_job import FilterJob, run_filter
from curation.testing.tables import synthetic_annotations

RULES = ["filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 25, "
         "drop_top: 1}, {column: ocr_area_max, max: 0.05}]"]


@pytest.fixture(scope="module")
def annotations(tmp_path_factory):
    root = tmp_path_factory.mktemp("ann")
    synthetic_annotations(root, 6000, rows_per_part=700, seed=3)
    return root


def _clips(folder):
    return duckdb.sql(f"SELECT clip_id, row_kind, keep, drop_reasons, motion_bucket_id "
                      f"FROM '{folder}/clips.parquet' ORDER BY video_id, row_kind, clip_id").fetchall()


def test_streaming_equals_in_memory_and_numpy(annotations, tmp_path):
    config = load_config(None, RULES)
    whole = run_filter(str(annotations), str(tmp_path / "whole"), FilterJob.of(config), in_memory=1 << 24)
    small = run_filter(str(annotations), str(tmp_path / "small"), FilterJob.of(config), in_memory=64)
    assert _clips(tmp_path / "whole") == _clips(tmp_path / "small")
    for name in ("thresholds.json", "motion_buckets.json"):
        assert (tmp_path / "whole" / name).read_text() == (tmp_path / "small" / name).read_text()
    assert (whole.clips, whole.kept, whole.reasons) == (small.clips, small.kept, small.reasons)
    # Thresholds are numpy's percentiles over the clips without an error, read back with DuckDB.
    values = np.array(duckdb.sql(f"SELECT motion_mean FROM '{annotations}/annotations/*.parquet' WHERE "
                                 "clip_index IS NOT NULL AND error IS NULL AND motion_mean IS NOT NULL")
                      .fetchall(), dtype=float)[:, 0]
    saved = {t["reason"]: t for t in json.loads((tmp_path / "small" / "thresholds.json").read_text())["thresholds"]}
    assert saved["motion_mean: bottom 12.5%"]["keep_min"] == np.percentile(values, 12.5)
    # Every row is in clips.parquet once; skipped shots are never kept; errors and missing values are reasons.
    rows = duckdb.sql(f"SELECT count(*), count(DISTINCT video_id || coalesce(clip_id, '') || row_kind) "
                      f"FROM '{tmp_path}/small/clips.parquet'").fetchall()[0]
    assert rows == (6000, 6000)
    reasons = dict(duckdb.sql(f"SELECT r, count(*) FROM (SELECT unnest(drop_reasons) AS r FROM "
                              f"'{tmp_path}/small/clips.parquet' WHERE row_kind = 'clip') GROUP BY r").fetchall())
    assert reasons == dict(small.reasons)
    assert reasons["error: aesthetic_failed"] > 0 and reasons["motion_mean: missing"] > 0
    assert not duckdb.sql(f"SELECT count(*) FROM '{tmp_path}/small/clips.parquet' WHERE row_kind = "
                          "'skipped_shot' AND keep").fetchall()[0][0]


def test_rule_on_a_stage_that_never_ran_is_skipped_and_said(tmp_path):
    """A table whose aesthetic stage never ran: the default rules keep clips (not 0 as "aesthetic: missing"),
    and the summary and filter.json name the skipped rule and the stage to run."""
    import pyarrow.parquet as pq

    root = tmp_path / "ann"
    synthetic_annotations(root, 400, rows_per_part=200, seed=5)
    for part in sorted((root / "annotations").glob("*.parquet")):
        t = pq.read_table(part)
        for name in ("aesthetic", "aesthetic_model"):
            i = t.schema.get_field_index(name)
            t = t.set_column(i, t.schema.field(i), pa.nulls(t.num_rows, t.schema.field(i).type))
        pq.write_table(t, part)
    summary = run_filter(str(root), str(tmp_path / "out"), FilterJob.of(load_config(None, [])))
    assert summary.kept > 0 and "aesthetic: missing" not in summary.reasons
    assert summary.skipped_rules == {"aesthetic": "aesthetic"}
    assert "rules skipped, no clip has a value (run the stage, then filter again): aesthetic (stage aesthetic)" \
        in summary.text()
    record = json.loads((tmp_path / "out" / "filter.json").read_text())
    assert record["skipped_rules"] == {"aesthetic": "aesthetic"}


def test_a_label_column_takes_a_label_rule_and_a_number_a_numeric_one(annotations, tmp_path):
    from curation.core.errors import ConfigError

    for rule, message in (("{column: camera_motion, drop_bottom: 10}", "camera_motion is a label column"),
                          ("{column: aesthetic, drop_values: [x]}", "aesthetic is not a label column")):
        with pytest.raises(ConfigError, match=message):
            run_filter(str(annotations), str(tmp_path / "out"), FilterJob.of(load_config(None, [
                f"filter.rules=[{rule}]"])))
