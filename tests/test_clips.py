import numpy as np

from curation.clips import clips_from_shots, shots_from_boundaries
from curation.config import ClipsConfig
from curation.detectors import Boundary


def test_shots_skip_transition_frames():
    shots = shots_from_boundaries(100, [Boundary(30, 30, 1, "x"), Boundary(50, 60, 1, "x")])
    assert [(s.start, s.end) for s in shots] == [(0, 29), (30, 49), (60, 99)]
    assert [(s.cut_before, s.cut_after) for s in shots] == [(False, True), (True, True), (True, False)]


def test_clip_policy_trims_drops_and_splits():
    times = np.arange(1000) / 25.0
    shots = shots_from_boundaries(1000, [Boundary(40, 40, 1, "x"), Boundary(500, 500, 1, "x")])
    clips = clips_from_shots(shots, times, ClipsConfig(min_s=2.0, max_s=10.0, trim_frames=2))
    # shot 0 (40 frames = 1.6 s, minus 2 trimmed) is too short; shot 1 (42..497, 18.24 s) splits in 2;
    # shot 2 (502..999, 19.92 s) splits in 2
    assert [(c.start, c.end) for c in clips] == [(42, 269), (270, 497), (502, 750), (751, 999)]
    assert all(c.end_s - c.start_s <= 10.0 + 1e-9 for c in clips)
    assert clips[-1].end_s == 1000 / 25.0


def test_variable_frame_rate_durations():
    times = np.cumsum(np.tile([0.04, 0.08], 50)) - 0.04  # alternating frame durations
    shots = shots_from_boundaries(len(times), [])
    (clip,) = clips_from_shots(shots, times, ClipsConfig(min_s=1.0, max_s=0, trim_frames=0))
    assert abs((clip.end_s - clip.start_s) - 6.0) < 0.05
