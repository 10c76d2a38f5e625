"""Clarity and exposure through the real scan, on videos of known blur, exposure, colour and stillness."""
import cv2
import numpy as np
import pytest

from curation.testing.scan import clip_rows, write_frames
from curation.testing.synthetic import texture


def _clip(path):
    clips = clip_rows(path, "cuts,clarity")
    assert len(clips) == 1
    return clips[0]


def _moving(picture, n=75, width=640, height=360, speed=2):
    return [picture[:height, k * speed:k * speed + width] for k in range(n)]


def test_sharpness_falls_with_blur_and_does_not_depend_on_resolution(tmp_path):
    scene = texture(11, 1600, 800)
    sharp = []
    for sigma in (0, 1.5, 3, 6):
        picture = cv2.GaussianBlur(scene, (0, 0), sigma) if sigma else scene
        sharp.append(_clip(write_frames(tmp_path / f"b{sigma}.mp4", _moving(picture)))["sharpness"])
    assert all(a > 1.3 * b for a, b in zip(sharp, sharp[1:])), sharp
    # The same scene at twice the resolution: measured at a 256 px short side either way.
    big = cv2.resize(scene, (3200, 1600), interpolation=cv2.INTER_CUBIC)
    twice = _clip(write_frames(tmp_path / "big.mp4", _moving(big, width=1280, height=720, speed=4)))["sharpness"]
    small = _clip(write_frames(tmp_path / "small.mp4", _moving(cv2.resize(big, (1600, 800), interpolation=cv2.INTER_AREA))))
    assert twice == pytest.approx(small["sharpness"], rel=0.25), (twice, small["sharpness"])


def test_exposure_shares_are_what_the_picture_clips(tmp_path):
    # A horizontal ramp: 20 % of the columns crushed to black, 30 % blown to white, the rest in between.
    ramp = np.clip(np.linspace(-0.25, 1.55, 640) * 255, 0, 255).astype(np.uint8)
    under_true, over_true = np.mean(ramp == 0), np.mean(ramp == 255)
    frame = np.repeat(np.repeat(ramp[None, :, None], 360, 0), 3, 2)
    noise = np.random.default_rng(0).integers(0, 3, (75, 360, 640, 1), dtype=np.uint8)
    row = _clip(write_frames(tmp_path / "ramp.mp4", [np.clip(frame.astype(np.int16) + n - 1, 0, 255).astype(np.uint8)
                                               for n in noise]))
    assert row["underexposed"] == pytest.approx(under_true, abs=0.03)
    assert row["overexposed"] == pytest.approx(over_true, abs=0.03)
    assert row["saturation"] < 0.05  # grey
    mid = _clip(write_frames(tmp_path / "mid.mp4", _moving(texture(3, 1600, 400))))
    assert mid["overexposed"] < 0.02 and mid["underexposed"] < 0.02 and mid["saturation"] > 0.2


def test_a_still_picture_is_still_and_a_moving_one_is_not(tmp_path):
    scene = texture(5, 1600, 400)
    still = _clip(write_frames(tmp_path / "still.mp4", [scene[:360, :640]] * 75))
    moving = _clip(write_frames(tmp_path / "moving.mp4", _moving(scene, speed=1)))
    assert still["still"] is True and moving["still"] is False
    assert still["contrast"] > 10
