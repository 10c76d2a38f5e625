"""OCR stage: EasyOCR's CRAFT text detector on the three keyframes; text area as the union of the boxes."""
from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from curation.annotate.config import AnnotateConfig
from curation.models.easyocr_model import load_easyocr
from curation.annotate.enrich.registry import BY_NAME
from curation.annotate.enrich.base import POSITIONS, ModelStage, decode_rgb
from curation.annotate.enrich.text_area import text_area_fraction


class OcrStage(ModelStage):
    name = "ocr"
    def __init__(self, config: AnnotateConfig, weights_dir: str, gpu_fraction: float = 0.0):
        super().__init__(config, config.ray.ocr, gpu_fraction)
        self.label, self.random_weights = BY_NAME[self.name].label(weights_dir=weights_dir)
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
