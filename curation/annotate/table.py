"""The clip table this version of ``curate annotate`` writes: the scan's columns (:mod:`curation.contract.schema`),
every scan signal's (:mod:`curation.annotate.scan.registry`) and every model stage's
(:mod:`curation.annotate.enrich.registry`), in the order the stages run.

``python -m curation.annotate.table > docs/schema.md`` writes the schema's reference page.
"""
from __future__ import annotations

from curation.annotate.enrich.registry import REGISTRY
from curation.annotate.scan.registry import SIGNALS
from curation.contract.schema import CLIP_COLUMNS, Column, markdown, model_columns, table_schema

# Each scan signal's columns, by signal (computed in the scan pass: no provenance columns).
SIGNAL_COLUMNS: dict[str, list[Column]] = {s.name: list(s.columns) for s in SIGNALS}
# Each model stage's columns (its own, then its provenance columns), by stage, in the order the stages run.
STAGE_COLUMNS: dict[str, list[Column]] = {s.name: list(s.columns) + model_columns(s.name) for s in REGISTRY}
TABLE_COLUMNS: list[Column] = CLIP_COLUMNS + [c for columns in (*SIGNAL_COLUMNS.values(), *STAGE_COLUMNS.values())
                                              for c in columns]
TABLE_SCHEMA = table_schema({s.name: list(s.columns) for s in REGISTRY}, SIGNAL_COLUMNS)


def stage_column_names(stage: str) -> list[str]:
    """The names of ``stage``'s columns, provenance included."""
    return [name for name, _, _ in STAGE_COLUMNS[stage]]


if __name__ == "__main__":
    print(markdown({s.name: list(s.columns) for s in REGISTRY}, SIGNAL_COLUMNS))
