"""Caption stage: CoCa (open_clip ``generate``) on the middle keyframe."""
from __future__ import annotations

import re

import torch
from PIL import Image

from curation.annotate.config import AnnotateConfig
from curation.models.open_clip_models import load_open_clip
from curation.models.weights import OpenClipSource
from curation.annotate.enrich.registry import BY_NAME
from curation.annotate.enrich.base import ModelStage, decode_rgb

_SPECIAL = re.compile(r"<start_of_text>|<end_of_text>.*$|<pad>", re.DOTALL)


def clean_caption(text: str) -> str:
    """Strip CoCa's special tokens and the tokenizer's spacing before punctuation."""
    text = _SPECIAL.sub("", text)
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    return " ".join(text.split())


class CaptionStage(ModelStage):
    name = "caption"
    def __init__(self, config: AnnotateConfig, source: OpenClipSource, gpu_fraction: float = 0.0):
        super().__init__(config, config.ray.caption, gpu_fraction)
        self.label, self.random_weights = BY_NAME[self.name].label(source=source)
        c = config.caption
        self.loaded = load_open_clip(source, c.device, c.precision, c.seed)
        self.generation = c
        from open_clip import decode

        self._decode = decode

    def prepare(self, row: dict) -> torch.Tensor:
        return self.loaded.preprocess(Image.fromarray(decode_rgb(row["jpeg_middle"], "middle")))

    @torch.inference_mode()
    def compute(self, items: list[torch.Tensor]) -> list[dict]:
        m, c = self.loaded, self.generation
        pixels = torch.stack(items).to(m.device, m.dtype)
        # Seeded per batch: sampling generation types are reproducible for the same batches.
        torch.manual_seed(c.seed)
        tokens = m.model.generate(pixels, generation_type=c.generation_type, seq_len=c.max_seq_len,
                                  num_beams=c.num_beams, num_beam_groups=c.num_beam_groups,
                                  repetition_penalty=c.repetition_penalty, top_k=c.top_k, top_p=c.top_p)
        return [{"caption": clean_caption(self._decode(t))} for t in tokens]
