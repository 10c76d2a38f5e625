"""Camera motion: the similarity fit recovers known flows exactly (objects left out), and through the real scan
(decode, Farnebäck pairs, assembly) every camera path of the synthetic family gets its label and its speeds."""
import math

import numpy as np
import pytest

from curation.annotate.scan.camera import (camera_label, clip_camera, fit_similarity, pair_camera,
                                           residual_flow)
from curation.testing.camera import camera_family
from curation.testing.scan import clip_rows

THRESHOLDS = dict(static_speed=8.0, zoom_rate=0.02, rotation_rate=1.0, shake_speed=15.0, mixed_share=0.5)


def _flow(h, w, a, b, tx, ty):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xs -= (w - 1) / 2
    ys -= (h - 1) / 2
    return np.stack([a * xs - b * ys + tx, b * xs + a * ys + ty], -1).astype(np.float32)


@pytest.mark.parametrize("params", [(0.0, 0.0, 3.0, -1.5), (0.01, 0.0, 0.0, 0.0), (0.0, -0.004, 0.5, 0.2),
                                    (-0.02, 0.003, -2.0, 1.0)])
def test_fit_recovers_a_similarity_and_leaves_a_moving_object_out(params):
    flow = _flow(128, 228, *params)
    # An object a fifth of the frame moving on its own.
    flow[40:80, 60:120] += np.array([6.0, -4.0], np.float32)
    fitted, _ = fit_similarity(flow)
    np.testing.assert_allclose(fitted, params, atol=1e-4)
    residual = residual_flow(flow, fitted)
    assert np.abs(residual[40:80, 60:120] - [6.0, -4.0]).max() < 1e-3
    assert np.abs(residual[:30]).max() < 1e-3


def test_a_flat_picture_shows_no_camera():
    flat = np.full((128, 228), 90, np.uint8)
    assert fit_similarity(_flow(128, 228, 0.0, 0.0, 3.0, 0.0), flat) is None
    assert pair_camera(np.zeros((128, 228, 2), np.float32), 0, 1, 0.0, 0.04, 2.0, flat) is None
    textured = (np.random.default_rng(0).random((128, 228)) * 255).astype(np.uint8)
    assert pair_camera(_flow(128, 228, 0.0, 0.0, 3.0, 0.0), 0, 1, 0.0, 0.04, 2.0, textured).pan == \
        pytest.approx(-150.0)


def test_units_and_signs_of_one_pair():
    # The picture moves 2 analysis px left and 1 down in 1/25 s at a 128 px short side (x2 to 256).
    cam = pair_camera(_flow(128, 228, 0.0, 0.0, -2.0, 1.0), 0, 1, 0.0, 0.04, 2.0)
    assert cam.pan == pytest.approx(100.0) and cam.tilt == pytest.approx(50.0)
    # Growing 1 % a frame at 25 fps is zooming in at 0.25 a second; turning the picture by -0.1 rad a second
    # (clockwise on screen, y down) is the camera rolling counter-clockwise.
    assert pair_camera(_flow(128, 228, 0.01, 0.0, 0, 0), 0, 1, 0.0, 0.04, 2.0).zoom == pytest.approx(0.25)
    roll = pair_camera(_flow(128, 228, 0.0, 0.004, 0, 0), 0, 1, 0.0, 0.04, 2.0).rotation
    assert roll == pytest.approx(-math.degrees(math.atan(0.004)) * 25, rel=1e-6) and roll < 0


def test_labels_from_values():
    base = dict(camera_pan=0.0, camera_tilt=0.0, camera_zoom=0.0, camera_rotation=0.0, camera_shake=0.0)
    assert camera_label(base, **THRESHOLDS) == "static"
    assert camera_label({**base, "camera_pan": -20.0}, **THRESHOLDS) == "pan_left"
    assert camera_label({**base, "camera_tilt": 9.0}, **THRESHOLDS) == "tilt_up"
    assert camera_label({**base, "camera_zoom": -0.05}, **THRESHOLDS) == "zoom_out"
    assert camera_label({**base, "camera_rotation": 2.0}, **THRESHOLDS) == "rotate"
    assert camera_label({**base, "camera_pan": 20.0, "camera_tilt": 16.0}, **THRESHOLDS) == "mixed"
    assert camera_label({**base, "camera_pan": 40.0, "camera_tilt": 9.0}, **THRESHOLDS) == "pan_right"
    # Shake decides before any move; without pairs there is no label.
    assert camera_label({**base, "camera_pan": 40.0, "camera_shake": 20.0}, **THRESHOLDS) == "shaky"
    assert camera_label(clip_camera([]), **THRESHOLDS) is None


def test_shake_is_what_a_straight_path_does_not_explain():
    from curation.annotate.scan.camera import PairCamera

    steady = [PairCamera(i, i + 1, i * 0.5, 10.0 + 4.0 * i, 0.0, 0.0, 0.0, 0.0) for i in range(8)]
    assert clip_camera(steady)["camera_shake"] == pytest.approx(0.0, abs=1e-9)  # accelerating pan: no shake
    jitter = [PairCamera(i, i + 1, i * 0.5, 30.0 * (-1) ** i, 0.0, 0.0, 0.0, 0.0) for i in range(8)]
    assert clip_camera(jitter)["camera_shake"] > 25.0
    assert clip_camera(steady[:2])["camera_shake"] is None


@pytest.fixture(scope="module", params=[0, 1])
def family(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"camera{request.param}")
    return folder, camera_family(folder, request.param)


def _clips(path):
    return clip_rows(path, "cuts,motion,camera")


def test_every_camera_path_gets_its_label_and_speeds(family):
    folder, truths = family
    for label, truth in truths.items():
        clips = _clips(folder / f"{label}.mp4")
        assert len(clips) == 1, (label, len(clips))
        row = clips[0]
        assert row["camera_motion"] == truth.label, (label, row)
        if truth.shaky:
            assert row["camera_shake"] >= 2 * THRESHOLDS["shake_speed"]
            continue
        assert row["camera_shake"] < THRESHOLDS["shake_speed"] / 2, label
        assert row["camera_pan"] == pytest.approx(truth.pan, abs=max(1.0, 0.05 * abs(truth.pan))), label
        assert row["camera_tilt"] == pytest.approx(truth.tilt, abs=max(1.0, 0.05 * abs(truth.tilt))), label
        assert row["camera_zoom"] == pytest.approx(truth.zoom, abs=max(0.005, 0.05 * abs(truth.zoom))), label
        assert row["camera_rotation"] == pytest.approx(truth.rotation, abs=max(0.3, 0.05 * abs(truth.rotation))), \
            label
