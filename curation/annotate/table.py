"""The clip table this version of ``curate annotate`` writes: the scan's columns (:mod:`curation.contract.schema`)
and every registered model stage's (:mod:`curation.annotate.enrich.registry`), in the order the stages run.

``python -m curation.annotate.table > docs/schema.md`` writes the schema's reference page.
"""
from __future__ import annotations

from curation.annotate.enrich.registry import REGISTRY
from curation.contract.schema import CLIP_COLUMNS, Column, markdown, model_columns, table_schema

# Each model stage's columns (its own, then its provenance columns), by stage, in the order the stages run.
STAGE_COLUMNS: dict[str, list[Column]] = {s.name: list(s.columns) + model_columns(s.name) for s in REGISTRY}
TABLE_COLUMNS: list[Column] = CLIP_COLUMNS + [c for columns in STAGE_COLUMNS.values() for c in columns]
TABLE_SCHEMA = table_schema({s.name: list(s.columns) for s in REGISTRY})


def stage_column_names(stage: str) -> list[str]:
    """The names of ``stage``'s columns, provenance included."""
    return [name for name, _, _ in STAGE_COLUMNS[stage]]


if __name__ == "__main__":
    print(markdown({s.name: list(s.columns) for s in REGISTRY}))
