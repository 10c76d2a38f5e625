"""Caption stage: CoCa (open_clip ``generate``) on the middle keyframe."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from PIL import Image
from pydantic import Field, model_validator

from curation.core.section import Device, Float, Precision, Section, fail
from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import ModelStage, decode_rgb
from curation.annotate.enrich.stage import EnrichStage
from curation.models import weights as _weights
from curation.models.weights import OpenClipSource, resolve_open_clip
from curation.annotate.enrich.aesthetic import check_model

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig
    import torch


class CaptionConfig(Section):
    """CoCa captions of the middle keyframe (open_clip ``generate``).

    model, weights: as in ``aesthetic`` (default ``coca_ViT-L-14`` with ``mscoco_finetuned_laion2B-s13B-b90k``).
    generation_type: ``beam_search`` (default), ``top_k`` or ``top_p``.
    num_beams, num_beam_groups: beam search width and diversity groups (defaults 6 and 3, open_clip's).
    max_seq_len: longest caption in tokens, start token included (default 30).
    repetition_penalty: (default 1.0, none). top_k / top_p: for the sampling generation types, with open_clip's
        meaning (defaults 1 and 0.1, open_clip's).
    precision, device, seed: as in ``aesthetic``.
    """

    model: str = "coca_ViT-L-14"
    weights: str | None = "mscoco_finetuned_laion2B-s13B-b90k"
    generation_type: Literal["beam_search", "top_k", "top_p"] = "beam_search"
    num_beams: int = Field(6, ge=1)
    num_beam_groups: int = 3
    max_seq_len: int = Field(30, ge=4, le=76)
    repetition_penalty: Float = Field(1.0, gt=0)
    top_k: int = Field(1, ge=1)
    top_p: Float = Field(0.1, gt=0, le=1)
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _model_and_beams(self) -> CaptionConfig:
        check_model(self.model, self.weights)
        if not (self.num_beam_groups >= 1 and self.num_beams % self.num_beam_groups == 0):
            raise fail("num_beam_groups", "must be >= 1 and divide num_beams")
        return self


# Model output that starts like this is a refusal, not a caption (re.search, case-insensitive).
STAGE = EnrichStage(
    name="caption",
    default=True,
    config=CaptionConfig,
    resources=StageResources(batch_size=8, pool_size=1),
    implementation="curation.annotate.enrich.caption:CaptionStage",
    columns=(("caption", pa.string(), "CoCa caption of the middle keyframe, special tokens stripped."),),
    weights=lambda cfg: {"source": resolve_open_clip(cfg.caption.model, cfg.caption.weights, "annotate.caption")},
    label=lambda source: (source.label, source.random),
    download=lambda cfg: [str(_weights.download(cfg.caption.model, cfg.caption.weights))],
)

_SPECIAL = re.compile(r"<start_of_text>|<end_of_text>.*$|<pad>", re.DOTALL)


def clean_caption(text: str) -> str:
    """Strip CoCa's special tokens and the tokenizer's spacing before punctuation."""
    text = _SPECIAL.sub("", text)
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    return " ".join(text.split())


class CaptionStage(ModelStage):
    declaration = STAGE

    def __init__(self, config: AnnotateConfig, source: OpenClipSource, gpu_fraction: float = 0.0):
        from curation.models.open_clip_models import load_open_clip

        super().__init__(config, config.ray.caption, gpu_fraction)
        self.label, self.random_weights = STAGE.label(source=source)
        c = config.caption
        self.loaded = load_open_clip(source, c.device, c.precision, c.seed)
        self.generation = c
        from open_clip import decode

        self._decode = decode

    def prepare(self, row: dict) -> torch.Tensor:
        return self.loaded.preprocess(Image.fromarray(decode_rgb(row["jpeg_middle"], "middle")))

    def compute(self, items: list[torch.Tensor]) -> list[dict]:
        import torch

        with torch.inference_mode():
            return self._compute(items)

    def _compute(self, items: list[torch.Tensor]) -> list[dict]:
        import torch

        m, c = self.loaded, self.generation
        pixels = torch.stack(items).to(m.device, m.dtype)
        # Seeded per batch: sampling generation types are reproducible for the same batches.
        torch.manual_seed(c.seed)
        tokens = m.model.generate(pixels, generation_type=c.generation_type, seq_len=c.max_seq_len,
                                  num_beams=c.num_beams, num_beam_groups=c.num_beam_groups,
                                  repetition_penalty=c.repetition_penalty, top_k=c.top_k, top_p=c.top_p)
        return [{"caption": clean_caption(self._decode(t))} for t in tokens]
