"""Farnebäck motion: static ~ 0, the known speed, the unit across resolutions, and real optical-flow truth."""
import cv2
import numpy as np
import pytest

from curation.annotate.config import MotionConfig
from curation.config import load_config
from curation.annotate.scan.motion import clip_motion, pair_motion
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.testing.synthetic import Shot, motion_truth, write_video
from curation.video import probe


def motion_of(path, *overrides):
    cfg = load_config(None, ["annotate.cuts.detector=fast", "annotate.stages=[cuts,motion]", *overrides]).annotate
    info = probe(path)
    result = scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, None)
    return clip_motion(result.pairs)


def test_static_is_near_zero_and_far_below_moving(videos):
    static = motion_of(videos["static"][0])
    moving = motion_of(videos["moving"][0])
    assert static["motion_mean"] < 0.5
    assert static["motion_static_frac"] > 0.99
    assert moving["motion_mean"] > 50 * max(static["motion_mean"], 0.1)


def test_known_speed_in_the_documented_unit(videos):
    path, truth = videos["moving"]
    expected = motion_truth(1.0, truth.fps, 180)  # 1 px/frame at 320x180, 25 fps = 35.6 px/s@256
    measured = motion_of(path)
    assert measured["motion_p50"] == pytest.approx(expected, rel=0.1)


def test_same_content_at_two_resolutions_scores_the_same(videos):
    low = motion_of(videos["moving"][0])
    high = motion_of(videos["moving_2x"][0])
    assert high["motion_mean"] == pytest.approx(low["motion_mean"], rel=0.1)


def test_percentiles_pool_pixels():
    cfg = MotionConfig()
    rng = np.random.default_rng(0)
    a = (rng.random((128, 228)) * 255).astype(np.uint8)
    a = cv2.GaussianBlur(a, (5, 5), 0)
    b = np.roll(a, 2, axis=1)
    pair = pair_motion(a, b, 0, 1, 0.5, cfg)
    stats = clip_motion([pair, pair])
    # 2 px in 0.5 s at a 128 px short side = 4 px/s there = 8 px/s@256
    assert stats["motion_p50"] == pytest.approx(8.0, rel=0.1)
    assert stats["motion_pairs"] == 2


def _read_flo(path):
    with open(path, "rb") as fh:
        assert np.frombuffer(fh.read(4), np.float32)[0] == 202021.25
        w, h = np.frombuffer(fh.read(8), np.int32)
        return np.frombuffer(fh.read(), np.float32).reshape(h, w, 2)


def test_sintel_pairs_ordered_like_true_flow(testdata):
    cfg = MotionConfig()
    scores, truths = [], []
    for name in ("sintel_alley1_final_easy", "sintel_market5_final_hard"):
        folder = testdata / "motion" / "flow_gt" / name
        frames = [cv2.imread(str(folder / f"frame_000{i}.png"), cv2.IMREAD_GRAYSCALE) for i in (1, 2)]
        h, w = frames[0].shape
        size = (int(round(w * 128 / h)), 128)
        small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        scores.append(pair_motion(small[0], small[1], 0, 1, 1.0, cfg).mean)
        truths.append(float(np.linalg.norm(_read_flo(folder / "gt" / "frame_0002.flo"), axis=2).mean()))
    assert truths[0] < truths[1]
    assert scores[0] < scores[1] / 3


@pytest.fixture(scope="module")
def pans(tmp_path_factory):
    """Diagonal pans at known speeds (px/frame along x at 320x180, 25 fps; y at half that)."""
    root = tmp_path_factory.mktemp("pans")
    out = {}
    for speed in (0.5, 1.0, 2.0, 3.0, 4.0):
        path = root / f"pan_{speed}.mp4"
        write_video(path, [Shot(50, (speed, speed / 2), seed=3)])
        out[speed] = (path, motion_truth(float(np.hypot(speed, speed / 2)), 25.0, 180))
    return out


def test_fast_pans_read_their_true_speed(pans):
    """Up to 160 px/s@256 the default pairing reads the true speed (within 15 %); pairing the 2 fps samples themselves
    (pair_gap_s null, as the SVD recipe) loses track and reads fast pans as slow ones."""
    for path, truth in pans.values():
        assert motion_of(path)["motion_p50"] == pytest.approx(truth, rel=0.15), path.name
    legacy = [motion_of(pans[s][0], "annotate.motion.pair_gap_s=null")["motion_p50"] for s in (2.0, 4.0)]
    assert legacy[1] < legacy[0] < 0.6 * pans[2.0][1]
