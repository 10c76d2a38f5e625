"""What never became a clip: detected shots that gave no clip and gradual transitions, counted as rows and
seconds of footage. ``curate annotate`` reports it for its run, ``curate filter`` and the report next to the
rules' funnel; it lives with the rows that carry it (annotate's), so both read it from here."""
from __future__ import annotations

from dataclasses import dataclass, field

from curation.contract.schema import ROW_SHOT, ROW_TRANSITION


@dataclass(frozen=True)
class FootageLost:
    """What never became a clip, before any rule: detected shots that gave no clip (by reason) and detected
    gradual transitions, as row counts and seconds of footage. Adds up across videos or parts."""

    shots: dict[str, int] = field(default_factory=dict)
    shot_seconds: dict[str, float] = field(default_factory=dict)
    transitions: int = 0
    transition_seconds: float = 0.0

    def __add__(self, other: "FootageLost") -> "FootageLost":
        reasons = set(self.shots) | set(other.shots)
        return FootageLost({k: self.shots.get(k, 0) + other.shots.get(k, 0) for k in reasons},
                           {k: self.shot_seconds.get(k, 0.0) + other.shot_seconds.get(k, 0.0) for k in reasons},
                           self.transitions + other.transitions, self.transition_seconds + other.transition_seconds)

    def text(self) -> str:
        shots = ", ".join(f"{n} {k} ({self.shot_seconds[k]:.1f} s)" for k, n in sorted(self.shots.items()))
        return (f"shots without a clip: {shots or 'none'}; gradual transitions: {self.transitions} "
                f"({self.transition_seconds:.1f} s)")


def footage_lost(row_kinds, skip_reasons, durations) -> FootageLost:
    """Count the ``skipped_shot`` and ``transition`` rows among parallel sequences of ``row_kind``,
    ``skip_reason`` and ``duration_s`` values (seconds; a missing duration counts 0)."""
    shots: dict[str, int] = {}
    seconds: dict[str, float] = {}
    transitions, transition_seconds = 0, 0.0
    for kind, reason, duration in zip(row_kinds, skip_reasons, durations):
        duration = float(duration) if duration is not None and duration == duration else 0.0
        if kind == ROW_SHOT:
            shots[reason] = shots.get(reason, 0) + 1
            seconds[reason] = seconds.get(reason, 0.0) + duration
        elif kind == ROW_TRANSITION:
            transitions += 1
            transition_seconds += duration
    return FootageLost(shots, seconds, transitions, transition_seconds)
