"""Faults injected on purpose, to test that an exception met while handling one input costs that input alone.

The per-input boundaries (the scan of one video, one clip's input to a model stage) must hold in every process a
job runs in: its own, the scan's child processes, Ray's workers on every node. A test cannot patch code in
those processes, so it sets ``CURATION_INJECT_FAULT`` in the job's environment (Ray's workers inherit it from
the process that starts Ray): a comma-separated list of ``POINT:TEXT``; :func:`inject` raises
:class:`InjectedFault` at ``POINT`` for every input whose key contains ``TEXT``. Unset (always, outside tests),
it costs one environment lookup. The points:

- ``probe``: in the scan child, probing a video (key: its path or URI);
- ``scan``: in the scan child, scanning a video or a part of one (key: its path or URI);
- ``source``: in the scan stage's own process, after the probe (key: the path or URI);
- ``clip``: in a model stage, preparing one clip's input (key: the clip id).
"""
from __future__ import annotations

import os

ENV = "CURATION_INJECT_FAULT"
POINTS = ("probe", "scan", "source", "clip")


class InjectedFault(Exception):
    """Raised by :func:`inject`; on purpose not a VideoError, nor one of the errors a stage expects from a bad
    input, so it travels the path of an unforeseen bug."""


def inject(point: str, key: str) -> None:
    """Raise :class:`InjectedFault` when ``CURATION_INJECT_FAULT`` asks for a fault at ``point`` for ``key``."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, text = item.partition(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown point {name!r} (known: {', '.join(POINTS)})")
        if name == point and text and text in key:
            raise InjectedFault(f"fault injected at {point} for {key}")
