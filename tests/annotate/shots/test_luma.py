"""The luma evidence's hold-aware ratio: held drawings are not cuts, a run of short still shots is."""
import numpy as np

from curation.annotate.shots.luma import HELD_LUMA_MAX, hold_aware_ratio


def test_held_drawings_do_not_stand_out():
    """Animation on fours: a new picture (a small change) every 4th frame, nothing between. Against the plain
    ratio every new picture would be a spike; against the other new pictures it is ~1."""
    change = np.zeros(60)
    change[4::4] = 5.0 + np.random.default_rng(0).random(len(change[4::4]))
    ratio = hold_aware_ratio(change, 2, HELD_LUMA_MAX)
    assert ratio[8:52:4].max() < 1.5


def test_cut_between_held_drawings_stands_out():
    change = np.zeros(60)
    change[4::4] = 5.0
    change[30] = 40.0
    ratio = hold_aware_ratio(change, 2, HELD_LUMA_MAX)
    assert ratio[30] > 6


def test_dense_cuts_between_still_shots_are_not_held_drawings():
    """Shots of 5-8 still frames: the only changes are the cuts, each one frame-wide and large. They are
    never taken as each other's held-picture neighbours, so every cut keeps its plain (huge) ratio."""
    change = np.full(80, 0.1)
    cuts = [10, 16, 21, 29, 35, 42, 47, 55]
    change[cuts] = [30.0, 45.0, 25.0, 60.0, 35.0, 50.0, 28.0, 40.0]
    ratio = hold_aware_ratio(change, 2, HELD_LUMA_MAX)
    assert ratio[cuts].min() > 50
    # Without the cap they would look like drawings held 5-8 frames, and stand out only ~1x.
    assert hold_aware_ratio(change, 2, np.inf)[cuts].min() < 2
