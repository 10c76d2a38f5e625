"""Which Ray cluster a job uses: the part of a job's config the Ray runners read (no Ray import here)."""
from __future__ import annotations

from pydantic import Field

from curation.core.section import Section


class ClusterConfig(Section):
    """address: join this Ray cluster (also read from ``RAY_ADDRESS``); null = always start a new embedded local
        Ray (default null).
    num_cpus: CPUs of the embedded local Ray; 0 = all (default 0).
    """

    address: str | None = None
    num_cpus: int = Field(0, ge=0)
