"""The luma evidence: the hold-aware ratio (held drawings are not cuts, a run of short still shots is), the
kept share (a graphic changing keeps the rest of the picture, a cut keeps none of it) and the gain-free
similarity (an exposure change is the same picture, a fade is not)."""
import numpy as np

from curation.annotate.shots.luma import HELD_LUMA_MAX, LumaScorer, cell_change, hold_aware_ratio, similarity
from curation.testing.synthetic import texture


def _grey(seed: int, width: int = 64, height: int = 36) -> np.ndarray:
    return texture(seed, width, height).mean(axis=-1).astype(np.float32)


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


def test_a_cut_keeps_nothing_a_graphic_keeps_the_rest():
    before, other = _grey(1), _grey(2)
    area, kept = cell_change(before, other)
    assert area > 0.9 and kept < 0.05
    # A caption band over the bottom quarter and an inset top right: the rest of the picture is kept.
    after = before.copy()
    after[27:, :] = 40.0
    after[2:14, 40:62] = _grey(3, 22, 12)
    area, kept = cell_change(before, after)
    assert 0.3 < area < 0.6 and kept > 0.3


def test_flat_areas_are_never_kept():
    """A grey backdrop (or letterbox bars) looks the same on both sides of a cut: it is not kept picture."""
    before = np.full((36, 64), 128.0, np.float32)
    after = before.copy()
    before[8:28, 10:30] = _grey(4, 20, 20)
    after[8:28, 34:54] = _grey(5, 20, 20)
    assert cell_change(before, after)[1] == 0.0


def test_exposure_change_is_the_same_picture_a_fade_and_a_cut_are_not():
    picture = _grey(6)
    assert similarity(picture, np.clip(picture * 1.45 + 5, 0, 255)) > 0.97
    assert similarity(picture, picture * 0.3) == 0.0  # contrast down 3x: a fade
    assert abs(similarity(picture, _grey(7))) < 0.5
    assert similarity(picture, np.full_like(picture, 20.0)) == 0.0  # flat: nothing to compare


def test_scorer_ends_of_a_span():
    """Across a dissolve the ends are different pictures, across an exposure ramp they are one; across an
    inset cutting while the camera pans the rest of the picture is kept, once the ends are aligned."""
    a, b = texture(8, 320, 180).astype(np.float32), texture(9, 320, 180).astype(np.float32)
    frames = [a] * 3 + [(1 - t) * a + t * b for t in np.linspace(0.1, 0.9, 8)] + [b] * 3  # dissolve 3..10
    frames += [np.clip(b * g, 0, 255) for g in np.linspace(1.0, 1.4, 6)]  # exposure ramp 14..19
    inset = b.copy()
    inset[10:80, 180:300] = texture(10, 120, 70)
    frames += [np.roll(b, k, axis=1) for k in (4, 8)] + [np.roll(inset, k, axis=1) for k in (12, 16)]  # 20..23
    frames += [inset, b]  # 24, 25: the inset cuts back on a still camera
    scorer = LumaScorer()
    for i, frame in enumerate(frames):
        scorer.push(i, LumaScorer.prepare(frame.mean(axis=-1).astype(np.uint8)))
    assert scorer.ends_similarity(2, 11) < 0.5 and scorer.ends_kept(2, 11) < 0.1
    assert scorer.ends_similarity(13, 19) > 0.95
    assert scorer.ends_kept(20, 23) > 0.5
    # ends_keep stops at the first motion that keeps the share, and answers as the largest share would.
    for before, after in ((2, 11), (13, 19), (20, 23), (22, 25)):
        largest = scorer.ends_kept(before, after)
        for share in (0.05, 0.3, 0.5, 0.8, largest, largest + 1e-9):
            assert scorer.ends_keep(before, after, share) == (largest >= share), (before, after, share)
    kept = scorer.kept()
    assert kept[25] > 0.5


def _pan(seed: int, frames: int, speed: float, width: int = 64, height: int = 36) -> list[np.ndarray]:
    """A grey texture panning ``speed`` px a frame."""
    import cv2

    big = _grey(seed, width + 40, height)
    return [cv2.warpAffine(big, np.float32([[1, 0, -(2 + speed * i)], [0, 1, 0]]), (width, height),
                           flags=cv2.INTER_LINEAR) for i in range(frames)]


def _band(frame: np.ndarray, band: np.ndarray) -> np.ndarray:
    out = frame.copy()
    out[-band.shape[0]:] = band  # a graphics band at the bottom, the same on every frame
    return out


def test_graphics_on_screen_are_told_from_kept_live_picture():
    """A cut under a band of graphics that stays on screen keeps the band, and the band alone kept its picture
    for frames on both sides: ``graphic`` is the band's share. Half a split screen cutting keeps the other half,
    live picture that drifts: ``graphic`` stays near 0, so the change stays local."""
    band = _grey(99, 64, 12) * 1.5  # textured text band, a third of the frame
    cut = [_band(f, band[:12]) for f in _pan(1, 30, 0.6)] + [_band(f, band[:12]) for f in _pan(2, 30, 0.6)]
    luma = LumaScorer()
    for i, frame in enumerate(cut):
        luma.push(i, frame)
    kept, graphic = luma.kept(), luma.graphic()
    assert 0.25 <= kept[30] and graphic[30] >= 0.25 and kept[30] - graphic[30] < 0.05, (kept[30], graphic[30])
    # 0.12 px a frame at this 64-px analysis width: 0.6 px a frame at 320 px, as in the graphics families.
    split_left = _pan(3, 60, 0.12)
    right = _pan(4, 30, 0.12) + _pan(5, 30, 0.12)
    luma = LumaScorer()
    for i in range(60):
        luma.push(i, np.hstack([split_left[i][:, :32], right[i][:, 32:]]))
    kept, graphic = luma.kept(), luma.graphic()
    assert kept[30] >= 0.25 and graphic[30] < 0.05, (kept[30], graphic[30])
