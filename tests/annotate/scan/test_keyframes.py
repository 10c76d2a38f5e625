"""Keyframe candidates are encoded only when a clip can use them: the same keyframes as encoding every one."""
import pytest

from curation.annotate.records import from_ipc
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.annotate.source import scan_in_child
from curation.config import load_config
from curation.testing.synthetic import BLACK, Shot, write_video
from curation.video import probe


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """Long and short shots, cuts, a fade through black, a dissolve, a wipe: 23.2 s at 25 fps."""
    path = tmp_path_factory.mktemp("keyframes") / "mixed.mp4"
    shots = [Shot(80, seed=1), Shot(12, seed=2), Shot(9, (1.0, 0.0), seed=3), Shot(70, (0.5, 0.0), seed=4),
             Shot(45, seed=BLACK, transition_in=15), Shot(90, seed=5, transition_in=20),
             Shot(120, (1.0, 0.0), seed=6, transition_in=16), Shot(75, seed=7),
             Shot(80, (0.0, 0.6), seed=8, transition_in=12, transition="wipe")]
    write_video(path, shots)
    return path


def _record(path, *sets):
    cfg = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.cuts.detector=fast",
                             *[f"annotate.{s}" for s in sets]]).annotate
    rows = from_ipc(scan_in_child("v", str(path), probe(str(path)).to_dict(), cfg, 600.0, 1)).to_pylist()
    assert len(rows) == 1
    return rows[0]["rows"], rows[0]["keyframes"]


@pytest.mark.parametrize("segments", [[], ["decode.segment_s=10", "decode.segment_overlap_s=2"]],
                         ids=["one unit", "three segments"])
@pytest.mark.parametrize("pending_mb", [256, 0.3], ids=["all held", "budget overflows"])
def test_lazy_candidates_give_the_keyframes_of_encoding_every_candidate(video, segments, pending_mb):
    eager_rows, eager_keyframes = _record(video, "keyframes.pending_mb=0", *segments)
    lazy_rows, lazy_keyframes = _record(video, f"keyframes.pending_mb={pending_mb}", *segments)
    assert lazy_rows == eager_rows
    assert lazy_keyframes == eager_keyframes
    clips = [r for r in eager_rows if r["row_kind"] == "clip"]
    assert len(clips) >= 5 and len(eager_keyframes) == 3 * len(clips)


def test_only_the_candidates_a_clip_can_use_are_encoded(video, monkeypatch):
    import cv2

    cfg = load_config(None, ["annotate.stages=[cuts,motion,keyframes]", "annotate.cuts.detector=fast"]).annotate
    info = probe(str(video))
    unit = WorkUnit("v", str(video), 0, 1, 0.0, None, info.width, info.height, info.fps)
    encoded = []
    imencode = cv2.imencode

    def counted(ext, image, params):
        encoded.append(image.shape)
        return imencode(ext, image, params)

    monkeypatch.setattr(cv2, "imencode", counted)
    lazy = scan_unit(unit, cfg, None)
    lazy_encodes = len(encoded)
    encoded.clear()
    eager = scan_unit(unit, cfg.model_copy(update={"keyframes": cfg.keyframes.model_copy(
        update={"pending_mb": 0.0})}), None)
    assert lazy.keyframes == eager.keyframes  # only the usable ones are returned either way
    # a single unit has no open end: at most the three of each shot's clips are encoded, not every candidate
    assert lazy_encodes == len(lazy.keyframes) <= 3 * 8 < len(encoded)
