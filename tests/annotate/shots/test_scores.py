"""Our content score is PySceneDetect's ContentDetector score, number for number."""
import numpy as np
from scenedetect import ContentDetector, FrameTimecode

from curation.annotate.shots.scores import ContentScorer
from curation.video import iter_frames


def _reference(frames, step):
    detector = ContentDetector(threshold=255.0, min_scene_len=0)
    return [detector._calculate_frame_score(FrameTimecode(i, 1000.0), f) or 0.0
            for i, f in enumerate(frames) if i % step == 0]


def test_scores_equal_the_detectors_own_on_noise_and_a_video(videos):
    rng = np.random.default_rng(7)
    noise = [rng.integers(0, 256, (72, 128, 3), dtype=np.uint8) for _ in range(12)]
    path, _ = videos["cuts"]
    decoded = [f.bgr(128, 72) for f in iter_frames(str(path))]
    for frames in (noise, decoded):
        for step in (1, 2):
            scorer = ContentScorer(step)
            ours = [s for i, f in enumerate(frames) if (s := scorer.push(i, f)) is not None]
            assert ours == _reference(frames, step)
            assert scorer.arrays()[1].tolist() == ours and max(ours) > 0
