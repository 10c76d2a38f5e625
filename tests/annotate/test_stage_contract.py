"""Every declared stage (model stages and scan signals) is whole: its section is in the config and in
configs/default.yaml with the same keys, its workers (model stages) in annotate.ray, its columns tagged with it in
the table, documented with a meaning, and no column name is taken twice."""
from pathlib import Path

import pytest
import yaml

from curation.annotate.config import AnnotateConfig, RayConfig
from curation.annotate.enrich.registry import REGISTRY
from curation.annotate.scan.registry import SIGNALS
from curation.annotate.table import TABLE_SCHEMA
from curation.contract.schema import stage_columns
from curation.core.section import Section

DEFAULT = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "default.yaml").read_text())["annotate"]
STAGES = [*SIGNALS, *REGISTRY]


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_a_declared_stage_is_whole(stage):
    assert issubclass(stage.config, Section) and stage.config.__doc__, stage.name
    assert stage.name in AnnotateConfig.model_fields
    assert set(DEFAULT[stage.name]) == set(stage.config.model_fields), stage.name
    if stage in REGISTRY:
        assert stage.name in RayConfig.model_fields and stage.name in DEFAULT["ray"]
    tagged = stage_columns(TABLE_SCHEMA)[stage.name]
    assert [name for name, _, _ in stage.columns] == tagged[:len(stage.columns)]
    assert all(meaning.strip() for _, _, meaning in stage.columns)


def test_no_column_name_is_taken_twice():
    assert len(TABLE_SCHEMA.names) == len(set(TABLE_SCHEMA.names))
    assert len({s.name for s in STAGES}) == len(STAGES)
