import numpy as np

from curation.annotate.shots.clips import clips_from_shots, shots_from_boundaries
from curation.annotate.config import ClipsConfig
from curation.annotate.shots import Boundary


def test_shots_skip_transition_frames():
    shots = shots_from_boundaries(100, [Boundary(30, 30, 1, "x"), Boundary(50, 60, 1, "x")])
    assert [(s.start, s.end) for s in shots] == [(0, 29), (30, 49), (60, 99)]
    assert [(s.cut_before, s.cut_after) for s in shots] == [(False, True), (True, True), (True, False)]


def test_clip_policy_trims_drops_and_splits():
    times = np.arange(1000) / 25.0
    shots = shots_from_boundaries(1000, [Boundary(40, 40, 1, "x"), Boundary(500, 500, 1, "x")])
    clips, skipped = clips_from_shots(shots, times, ClipsConfig(min_s=2.0, max_s=10.0, trim_frames=2))
    # shot 0 (40 frames = 1.6 s, minus 2 trimmed) is too short; shot 1 (42..497, 18.24 s) splits in 2;
    # shot 2 (502..999, 19.92 s) splits in 2
    assert [(c.start, c.end) for c in clips] == [(42, 269), (270, 497), (502, 750), (751, 999)]
    # the short shot is recorded whole, with its reason
    assert [(k.shot.start, k.shot.end, k.reason, k.start_s, k.end_s) for k in skipped] == [(0, 39, "too_short", 0.0, 1.6)]
    assert all(c.end_s - c.start_s <= 10.0 + 1e-9 for c in clips)
    assert clips[-1].end_s == 1000 / 25.0


def test_variable_frame_rate_durations():
    times = np.cumsum(np.tile([0.04, 0.08], 50)) - 0.04  # alternating frame durations
    shots = shots_from_boundaries(len(times), [])
    (clip,), skipped = clips_from_shots(shots, times, ClipsConfig(min_s=1.0, max_s=0, trim_frames=0))
    assert skipped == []
    assert abs((clip.end_s - clip.start_s) - 6.0) < 0.05


def test_black_shot_gives_no_clip_and_is_recorded():
    times = np.arange(300) / 25.0
    black = np.zeros(300, bool)
    black[100:200] = True  # the black gap between a fade out and a fade in
    shots = shots_from_boundaries(300, [Boundary(90, 100, 1, "x"), Boundary(200, 210, 1, "x")])
    clips, skipped = clips_from_shots(shots, times, ClipsConfig(min_s=1.0, max_s=0, trim_frames=2), black=black)
    assert [(c.shot.index, c.start, c.end) for c in clips] == [(0, 0, 87), (2, 212, 299)]
    assert [(k.shot.start, k.shot.end, k.reason) for k in skipped] == [(100, 199, "black")]


def test_every_shot_is_a_clip_or_skipped():
    """Nothing detected goes unrecorded: every shot gives clips or a skipped-shot record."""
    rng = np.random.default_rng(0)
    times = np.arange(2000) / 25.0
    cuts = sorted(set(rng.integers(1, 2000, 60).tolist()))
    shots = shots_from_boundaries(2000, [Boundary(c, c, 1, "x") for c in cuts])
    clips, skipped = clips_from_shots(shots, times, ClipsConfig(min_s=2.0, max_s=10.0, trim_frames=2))
    covered = {c.shot.index for c in clips} | {k.shot.index for k in skipped}
    assert covered == {s.index for s in shots}
    assert not ({c.shot.index for c in clips} & {k.shot.index for k in skipped})
