"""On-screen graphics through the real scan: a logo and a band that stay while the picture pans are found where
they were drawn; a picture without graphics has none; a still scene says nothing."""
import cv2
import pytest

from curation.annotate.scan.overlay import _best_crop
from curation.testing.scan import clip_rows
from curation.testing.synthetic import texture
from curation.video.encode import H264Writer

LOGO = (520, 20, 100, 50)
BAND = (0, 320, 640, 40)


def _video(path, graphics=True, speed=3, frames=60):
    scene = texture(12, 640 + speed * frames, 360)
    with H264Writer(str(path), 640, 360, 25, crf=16) as writer:
        for k in range(frames):
            f = scene[:, speed * k:speed * k + 640].copy()
            if graphics:
                x, y, w, h = LOGO
                cv2.rectangle(f, (x, y), (x + w - 1, y + h - 1), (30, 30, 160), -1)
                cv2.putText(f, "NEWS", (x + 8, y + 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
                x, y, w, h = BAND
                cv2.rectangle(f, (x, y), (x + w - 1, y + h - 1), (20, 20, 20), -1)
                cv2.putText(f, "BREAKING: STORY OF THE DAY | MARKETS UP", (10, y + 28), cv2.FONT_HERSHEY_SIMPLEX,
                            0.8, (255, 255, 255), 2)
            writer.write_array(f, "bgr24")
    return path


def _clip(path):
    clips = clip_rows(path, "cuts,overlay")
    assert len(clips) == 1
    return clips[0]


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


def test_a_logo_and_a_band_over_a_pan_are_found_and_cropped_away(tmp_path):
    row = _clip(_video(tmp_path / "v.mp4"))
    boxes = row["overlay_boxes"]
    assert len(boxes) == 2, boxes
    for truth in (LOGO, BAND):
        # Found to a cell (22 px here) and widened by one: each box holds its graphic, at most 2 cells more a side.
        box = max(boxes, key=lambda b: _iou(b, truth))
        assert box[0] <= truth[0] + 6 and box[1] <= truth[1] + 6, (box, truth)
        assert box[0] + box[2] >= truth[0] + truth[2] - 12 and box[1] + box[3] >= truth[1] + truth[3] - 6, (box, truth)
        assert box[2] <= truth[2] + 90 and box[3] <= truth[3] + 90, (box, truth)
    # The area counts the cells that are graphics throughout: the edge cells, half picture, are not.
    truth_area = (LOGO[2] * LOGO[3] + BAND[2] * BAND[3]) / (640 * 360)
    assert truth_area / 2 <= row["overlay_area"] <= truth_area * 1.3
    x, y, w, h = row["overlay_crop"]
    # The band cut from the bottom and the logo from the right: about (0, 0, 520, 320), 72 % of the frame.
    assert y + h <= BAND[1] and x + w <= LOGO[0] and row["overlay_crop_share"] == pytest.approx(0.72, abs=0.05)


def test_no_graphics_none_found_and_a_still_scene_says_nothing(tmp_path):
    plain = _clip(_video(tmp_path / "plain.mp4", graphics=False))
    assert plain["overlay_area"] < 0.01 and plain["overlay_crop_share"] > 0.97
    still = _clip(_video(tmp_path / "still.mp4", speed=0))
    assert still["overlay_area"] is None and still["overlay_crop"] is None


def test_best_crop_tries_every_edge():
    assert _best_crop([], 640, 360) == (0, 0, 640, 360)
    assert _best_crop([LOGO, BAND], 640, 360) == (0, 0, 520, 320)
    assert _best_crop([(0, 0, 50, 50)] * 7, 640, 360) is None
