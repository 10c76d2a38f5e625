"""The configuration file: one section per phase, loaded from YAML (``yaml.safe_load``) with ``--set key=value``
overrides, validated by pydantic before any work starts.

The sections live with their phase: :mod:`curation.annotate.config` (``annotate``), :mod:`curation.curate.config`
(``filter``, ``dedup``, ``buckets``, ``report``, ``shard``), :mod:`curation.train.config` (``finetune``) and
:class:`curation.core.storage.StorageOptions` (``storage``, for every phase). Unknown keys, wrong types and
out-of-range values raise one :class:`ConfigError` line naming the dotted key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from curation.annotate.config import AnnotateConfig
from curation.core.errors import ConfigError
from curation.core.section import Section, to_dict, validate  # noqa: F401  (to_dict: the CLI prints with it)
from curation.core.storage import StorageOptions
from curation.curate.config import BucketsConfig, DedupConfig, FilterConfig, ReportConfig, ShardConfig
from curation.train.config import FinetuneConfig


class Config(Section):
    """The whole configuration file; one top-level section per job, and ``storage`` for all of them."""

    # Object storage for every phase (endpoint, region, profile, keys): see curation.core.storage.StorageOptions.
    storage: StorageOptions = Field(default_factory=StorageOptions)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    buckets: BucketsConfig = Field(default_factory=BucketsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    shard: ShardConfig = Field(default_factory=ShardConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key.sub=value``; the value is parsed as YAML (so ``1``, ``0.5``, ``[1,2]``, ``null`` work)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    return key, yaml.safe_load(raw) if raw.strip() else ""


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML file (or the defaults), apply ``--set`` overrides, validate, return a frozen Config."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        with path.open() as fh:
            try:
                loaded = yaml.safe_load(fh)
            except yaml.YAMLError as exc:
                # e.g. a `!!python/object` tag, which safe_load refuses: one line naming the file and line
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ConfigError(f"{where}: not a valid config: {problem}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    return validate(Config, data)
