"""What a scan signal declares about itself, in its own file (:data:`SIGNAL` there), and
:mod:`curation.annotate.scan.registry` lists: a per-clip signal computed in the scan pass, from frames the scan
already decodes and flows it already computes (no second decode).

A signal's sampler lives for one work unit: the scan hands it every frame (:meth:`Sampler.frame`) and, when the
``motion`` stage runs, every sampled pair's Farnebäck flow (:meth:`Sampler.pair`); it keeps small picklable
samples, each spanning frames ``first`` to ``last`` (relative to the unit) with ``shifted(offset)``. Assembly
gives each clip the samples whose frames lie inside it, and the signal's ``clip_values`` turns them into the
clip's columns."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from curation.core.section import Section
from curation.video import scaled_size


class Sampler(Protocol):
    def frame(self, rel: int, frame: Any, in_range: bool) -> None:
        """Every decoded frame (``rel``: its index in the unit; negative or past the end in the context around
        a segment, where ``in_range`` is false)."""

    def pair(self, first: int, second: int, time_s: float, dt: float, flow: np.ndarray, scale: float,
             gray: np.ndarray) -> None:
        """Every motion pair whose first frame is in the unit: frames ``first`` and ``second`` (``time_s``: the
        first's time, ``dt`` seconds apart), their flow ((H, W, 2) analysis pixels), px@256 per analysis pixel,
        and the first frame's grey picture at the analysis size."""

    def samples(self) -> list:
        """What it kept: records with ``first`` and ``last`` (the frames of the unit they span) and
        ``shifted(offset)``."""


class SampleGrid:
    """Frames on a grid of ``rate`` a second anchored at time 0 of the video, so every segment of a video samples
    the same frames: :meth:`due` is true for the first frame at or after each grid instant."""

    def __init__(self, rate: float):
        self.rate = rate
        self._next = 0.0

    def due(self, time_s: float) -> bool:
        if time_s < self._next:
            return False
        self._next = (np.floor(time_s * self.rate) + 1) / self.rate
        return True


def analysis_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """A frame's analysis size: ``short_side`` on its short side, never larger than the frame."""
    return scaled_size(width, height, short_side=min(short_side, min(width, height)))


@dataclass(frozen=True)
class ScanSignal:
    """name: the stage (``annotate.stages``; its section ``annotate.<name>``).
    config: its config section's class.
    columns: the columns it adds to the clip table, (name, Arrow type, meaning with units).
    sampler: ``sampler(section, width, height)`` -> a :class:`Sampler` for one unit of a video of that display
        size.
    clip_values: ``clip_values(section, samples, width, height)`` -> the clip's columns from the samples inside it
        (in frame order) of a video of that display size; nulls where it cannot say.
    needs: the scan stages it reads (``motion``: it is given the motion pairs' flow).
    default: whether a job runs it unless ``annotate.stages`` says otherwise."""

    name: str
    config: type[Section]
    columns: tuple[tuple[str, pa.DataType, str], ...]
    sampler: Callable[[Any, int, int], Sampler]
    clip_values: Callable[[Any, list, int, int], dict]
    needs: tuple[str, ...] = ()
    default: bool = False
