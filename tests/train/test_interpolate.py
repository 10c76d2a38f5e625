"""Motion-compensated frame interpolation (``curate generate --interpolate``) against the true in-between
frames of synthetic motion, and against a linear blend of the two ends."""
import numpy as np
import pytest

from curation.testing.synthetic import texture
from curation.train.interpolate import between, interpolate


def _scene(shift_x: float, shift_y: float = 0.0, size=(256, 144)) -> np.ndarray:
    """A textured picture moved by (shift_x, shift_y) pixels (sub-pixel by resampling a larger render)."""
    import cv2

    w, h = size
    big = texture(11, w + 64, h + 64)
    m = np.float32([[1, 0, 32 - shift_x], [0, 1, 32 - shift_y]])
    moved = cv2.warpAffine(big, m, (w + 64, h + 64), flags=cv2.INTER_LINEAR)
    return cv2.cvtColor(moved[32:32 + h, 32:32 + w], cv2.COLOR_BGR2RGB)


def _mae(a, b, margin=16):
    """Mean absolute error, ``margin`` pixels from the border left out (where a warp replicates edges)."""
    h, w = a.shape[:2]
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[margin:h - margin, margin:w - margin].mean())


@pytest.mark.parametrize("step", [(2.0, 0.0), (4.0, 0.0), (3.0, 2.0), (8.0, 0.0)])
def test_middle_frame_of_a_pan_is_far_closer_than_a_blend(step):
    dx, dy = step
    a, b = _scene(0, 0), _scene(2 * dx, 2 * dy)
    truth = _scene(dx, dy)
    (middle,) = between(a, b, [0.5])
    blend = ((a.astype(np.float32) + b) / 2).round().astype(np.uint8)
    ours, linear = _mae(middle, truth), _mae(blend, truth)
    assert ours < 0.35 * linear, (ours, linear)


def test_a_moving_object_over_a_still_background():
    """An object moves 8 px over a still textured background: the middle frame shows it once, in between (a
    blend shows it twice at half strength), and the background uncovered behind it comes from the other end."""
    background = _scene(0, 0)
    patch = texture(12, 40, 40)[..., ::-1]

    def frame(x):
        out = background.copy()
        out[50:90, x:x + 40] = patch
        return out

    a, b, truth = frame(100), frame(116), frame(108)
    (middle,) = between(a, b, [0.5])
    blend = ((a.astype(np.float32) + b) / 2).round().astype(np.uint8)
    region = (slice(40, 100), slice(90, 166))
    ours, linear = _mae(middle[region], truth[region], 0), _mae(blend[region], truth[region], 0)
    assert ours < 0.6 * linear, (ours, linear)


def test_interpolate_counts_and_keeps_the_originals():
    frames = np.stack([_scene(2 * k) for k in range(4)])
    out = interpolate(frames, 4)
    assert out.shape == (13, *frames.shape[1:]) and out.dtype == np.uint8
    assert all(np.array_equal(out[4 * k], frames[k]) for k in range(4))
    assert np.array_equal(interpolate(frames, 1), frames)
    with pytest.raises(ValueError):
        interpolate(frames, 0)
