"""The table contract: a model stage's columns are tagged in the table's own schema, through a Parquet round trip,
so curate learns them from the table; docs/schema.md is the generated page of this version's table."""
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.annotate.enrich.registry import REGISTRY
from curation.annotate.table import SIGNAL_COLUMNS, STAGE_COLUMNS, TABLE_SCHEMA
from curation.contract.schema import CLIP_COLUMNS, markdown, model_columns, stage_columns, stage_of, table_schema

ROOT = Path(__file__).resolve().parents[2]


def test_stage_columns_survive_a_parquet_round_trip(tmp_path):
    pq.write_table(TABLE_SCHEMA.empty_table(), tmp_path / "part.parquet")
    schema = pq.read_schema(tmp_path / "part.parquet")
    assert stage_columns(schema) == {stage: [n for n, _, _ in cols]
                                     for stage, cols in {**SIGNAL_COLUMNS, **STAGE_COLUMNS}.items()}
    assert stage_of(schema, "camera_shake") == "camera"
    assert stage_of(schema, "ocr_area_max") == "ocr"
    assert stage_of(schema, "caption_merge_error") == "caption_merge"
    assert stage_of(schema, "motion_mean") == "motion"
    assert stage_of(schema, "duration_s") is None
    assert stage_of(schema, "no_such_column") is None


def test_a_table_without_tags_has_no_stage_columns():
    untagged = pa.schema([pa.field(f.name, f.type) for f in TABLE_SCHEMA])
    assert stage_columns(untagged) == {}
    assert stage_of(untagged, "aesthetic") is None


def test_table_schema_is_the_scan_columns_then_each_stage_in_order():
    schema = table_schema({"a": [("a_score", pa.float32(), "A.")], "b": []})
    names = schema.names
    assert names[:len(CLIP_COLUMNS)] == [n for n, _, _ in CLIP_COLUMNS]
    assert names[len(CLIP_COLUMNS):] == ["a_score"] + [n for n, _, _ in model_columns("a")] + \
        [n for n, _, _ in model_columns("b")]
    assert stage_columns(schema)["b"] == ["b_model", "b_random_weights", "b_error"]


def test_docs_schema_page_is_current():
    page = markdown({s.name: list(s.columns) for s in REGISTRY}, SIGNAL_COLUMNS)
    assert (ROOT / "docs" / "schema.md").read_text().rstrip("\n") == page.rstrip("\n"), \
        "docs/schema.md is stale: python -m curation.annotate.table > docs/schema.md"
