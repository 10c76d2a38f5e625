"""Every detected shot and transition is a row of the clip table (pure assembly, no Ray)."""
import numpy as np
import pytest

from curation.annotate.scan.assemble import assemble_video
from curation.annotate.shots.clips import shots_from_boundaries
from curation.config import load_config
from curation.annotate.shots import merge_boundaries
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.contract.schema import ROW_CLIP, ROW_SHOT, ROW_STATUS, ROW_TRANSITION
from curation.testing.synthetic import BLACK, Shot, write_video
from curation.video import probe


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """Long and short shots, a fade out through black frames into a fade in, a dissolve."""
    path = tmp_path_factory.mktemp("assemble") / "mixed.mp4"
    shots = [Shot(80, seed=1), Shot(12, seed=2), Shot(9, (1.0, 0.0), seed=3), Shot(70, (0.5, 0.0), seed=4),
             Shot(15 + 30, seed=BLACK, transition_in=15), Shot(90, seed=5, transition_in=20),
             Shot(80, (1.0, 0.0), seed=6, transition_in=16)]
    return path, write_video(path, shots)


def _assemble(path, **sets):
    overrides = ["annotate.cuts.detector=fast", "annotate.stages=[cuts,motion,keyframes]"]
    overrides += [f"annotate.{k}={v}" for k, v in sets.items()]
    cfg = load_config(None, overrides).annotate
    info = probe(path)
    unit = scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, None)
    return unit, assemble_video("v", info, [unit], cfg), cfg


def test_every_detected_shot_and_transition_is_a_row(video):
    path, truth = video
    unit, out, cfg = _assemble(path)
    boundaries = merge_boundaries(unit.boundaries, cfg.cuts.min_shot_frames)
    shots = shots_from_boundaries(unit.frames, boundaries)
    rows = out.rows
    kinds = [r["row_kind"] for r in rows]
    assert set(kinds) <= {ROW_CLIP, ROW_SHOT, ROW_TRANSITION, ROW_STATUS}
    recorded = {r["shot_index"] for r in rows if r["row_kind"] in (ROW_CLIP, ROW_SHOT)}
    assert recorded == {s.index for s in shots}
    # a shot gives clips or one skipped-shot row, never both
    clip_shots = {r["shot_index"] for r in rows if r["row_kind"] == ROW_CLIP}
    skipped = [r for r in rows if r["row_kind"] == ROW_SHOT]
    skipped_shots = {r["shot_index"] for r in skipped}
    assert len(skipped) == len(skipped_shots) and not clip_shots & skipped_shots
    for r in skipped:
        assert r["clip_index"] is None and r["clip_id"] is None and r["skip_reason"] in ("too_short", "black")
        assert r["start_frame"] == r["shot_start_frame"] and r["end_frame"] == r["shot_end_frame"]
        assert r["duration_s"] > 0
    # the 12- and 9-frame shots are too short; the black frames between the fades are a black shot
    reasons = sorted(r["skip_reason"] for r in skipped)
    assert reasons.count("too_short") >= 2 and reasons.count("black") == 1, skipped
    black = next(r for r in skipped if r["skip_reason"] == "black")
    fade_out, fade_in = truth.gradual[0], truth.gradual[1]
    assert fade_out[1] - 3 <= black["start_frame"] and black["end_frame"] <= fade_in[0] + 3
    transitions = [r for r in rows if r["row_kind"] == ROW_TRANSITION]
    assert len(transitions) == sum(1 for b in boundaries if not b.is_cut) == 3
    assert sorted(r["transition_kind"] for r in transitions) == ["fade_in", "fade_out", "gradual"]
    for r in transitions:
        assert r["clip_index"] is None and r["end_frame"] >= r["start_frame"] and r["boundary_source"]
    # all footage is accounted for: clip frames + trimmed + skipped shots + transitions = every frame
    covered = np.zeros(unit.frames, int)
    for r in rows:
        if r["row_kind"] in (ROW_SHOT, ROW_TRANSITION):
            covered[r["start_frame"]:r["end_frame"] + 1] += 1
    for s in shots:
        if s.index in clip_shots:
            covered[s.start:s.end + 1] += 1
    assert (covered == 1).all()


def test_clip_rows_unchanged_by_the_new_rows(video):
    path, _ = video
    _, out, _ = _assemble(path)
    clips = [r for r in out.rows if r["row_kind"] == ROW_CLIP]
    assert [r["clip_index"] for r in clips] == list(range(len(clips)))
    assert all(r["clip_id"] == f"v-{r['clip_index']:05d}" for r in clips)
    assert all(r["skip_reason"] is None and r["transition_kind"] is None for r in clips)
