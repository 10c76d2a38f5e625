"""The aesthetic stage: CLIP (open_clip) keyframe embeddings, the LAION aesthetic score, and image-text similarity.

The CLIP model is loaded by :mod:`curation.models.open_clip_models`, the aesthetic head by
:mod:`curation.models.aesthetic`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from PIL import Image
from pydantic import field_validator, model_validator

from curation.core.section import Device, Precision, Section, fail
from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import POSITIONS, ModelStage, decode_rgb
from curation.annotate.enrich.stage import EnrichStage
from curation.models import weights as _weights
from curation.models.weights import FileSource, OpenClipSource, check_head_fits, resolve_file, resolve_open_clip

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig
    import torch


# The LAION improved-aesthetic-predictor head the SVD-style recipes use (Apache-2.0), on OpenAI CLIP ViT-L/14.
AESTHETIC_HEAD_URL = ("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                      "sac+logos+ava1-l14-linearMSE.pth")


def check_model(model: str, weights: str | None) -> None:
    if not model:
        raise fail("model", "must name an open_clip architecture, local-dir:PATH or hf-hub:ID")
    schema = model.startswith(("local-dir:", "hf-hub:"))
    if schema and weights is not None:
        raise fail("weights", "must be null when the model is local-dir: or hf-hub: (the folder holds the weights)")
    if not schema and not weights:
        raise fail("weights", "must be a pretrained tag, a weights file or 'random'")


class AestheticConfig(Section):
    """The ``aesthetic`` stage: CLIP (open_clip) image embeddings of the three keyframes, the LAION aesthetic
    score and the image-text similarity.

    model: an open_clip architecture (``ViT-L-14``), ``local-dir:/path`` (a folder with ``open_clip_config.json``
        and weights) or ``hf-hub:org/repo`` (default ``ViT-L-14``).
    weights: for an architecture name, a pretrained tag (``openai``), a local weights file, or ``random``
        (seeded random init: tests and speed benchmarks only, flagged in the output); must be null with
        ``local-dir:`` / ``hf-hub:`` (default ``openai``, the embedding the LAION aesthetic head was trained on).
    aesthetic_head: the LAION aesthetic MLP: a local ``.pth`` file, an http(s) URL fetched by
        ``curate models download``, or ``random`` (default the improved-aesthetic-predictor
        ``sac+logos+ava1-l14-linearMSE.pth``; its input size must equal the model's embedding size).
    text: what ``text_sim_*`` compares the keyframes with: ``caption`` (the caption column) or ``prompt``
        (default ``caption``).
    prompt: the text for ``text: prompt``.
    keep_embedding: also store the mean keyframe embedding (L2-normalised, float16) as ``image_embedding``.
    precision: ``auto`` = bf16 on GPU, fp32 on CPU. device: ``auto`` = CUDA when the worker has a GPU.
    seed: seed of ``random`` weights (default 0).
    """

    model: str = "ViT-L-14"
    weights: str | None = "openai"
    aesthetic_head: str = AESTHETIC_HEAD_URL
    text: Literal["caption", "prompt"] = "caption"
    prompt: str | None = None
    keep_embedding: bool = False
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0

    @field_validator("aesthetic_head")
    @classmethod
    def _head(cls, head: str) -> str:
        if not head:
            raise ValueError("must be a file, a URL or 'random'")
        return head

    @model_validator(mode="after")
    def _model_and_text(self) -> AestheticConfig:
        check_model(self.model, self.weights)
        if self.text == "prompt" and not self.prompt:
            raise fail("prompt", "is required when text is 'prompt'")
        return self


def _download_aesthetic(cfg: AnnotateConfig) -> list[str]:
    fetched = [str(_weights.download(cfg.aesthetic.model, cfg.aesthetic.weights))]
    if cfg.aesthetic.aesthetic_head.startswith(("http://", "https://")):
        fetched.append(f"aesthetic head: {_weights.download_url(cfg.aesthetic.aesthetic_head)}")
    return fetched


def _aesthetic_weights(cfg: AnnotateConfig) -> dict[str, Any]:
    source = resolve_open_clip(cfg.aesthetic.model, cfg.aesthetic.weights, "annotate.aesthetic")
    head = resolve_file(cfg.aesthetic.aesthetic_head, "annotate.aesthetic.aesthetic_head")
    if not head.random:
        check_head_fits(head, source, "annotate.aesthetic.aesthetic_head")
    return {"source": source, "head": head}


STAGE = EnrichStage(
    name="aesthetic",
    default=True,
    config=AestheticConfig,
    resources=StageResources(batch_size=32, pool_size=1),
    implementation="curation.annotate.enrich.aesthetic:AestheticStage",
    columns=(
        ("aesthetic", pa.float64(), "LAION aesthetic-predictor score (about 1-10 with the real head on "
                                    "ViT-L/14) of the L2-normalised CLIP embedding, mean over the three "
                                    "keyframes."),
        ("text_sim_mean", pa.float64(), "Cosine similarity between the CLIP text embedding of the caption (or "
                                        "aesthetic.prompt) and the CLIP image embeddings of the keyframes, "
                                        "mean of three; null without text."),
        ("text_sim_min", pa.float64(), "The smallest of those three similarities."),
        ("image_embedding", pa.list_(pa.float16()), "Mean CLIP image embedding of the keyframes, "
                                                    "L2-normalised, float16 (aesthetic.keep_embedding only; "
                                                    "else null)."),
    ),
    weights=_aesthetic_weights,
    label=lambda source, head: (f"{source.label} + aesthetic head {head.label}", source.random or head.random),
    reads=lambda cfg: ("caption",) if cfg.aesthetic.text == "caption" else (),
    reads_key="text",
    download=_download_aesthetic,
)


class AestheticStage(ModelStage):
    declaration = STAGE

    def __init__(self, config: AnnotateConfig, source: OpenClipSource, head: FileSource,
                 gpu_fraction: float = 0.0):
        from curation.models.aesthetic import load_aesthetic_head
        from curation.models.open_clip_models import load_open_clip

        super().__init__(config, config.ray.aesthetic, gpu_fraction)
        self.label, self.random_weights = STAGE.label(source=source, head=head)
        c = config.aesthetic
        self.loaded = load_open_clip(source, c.device, c.precision, c.seed)
        self.head = load_aesthetic_head(head, self.loaded.embed_dim, self.loaded.device, c.seed)
        self.prompt = c.prompt if c.text == "prompt" else None
        self.keep_embedding = c.keep_embedding

    def prepare(self, row: dict) -> tuple[list[torch.Tensor], str]:
        images = [self.loaded.preprocess(Image.fromarray(decode_rgb(row[f"jpeg_{p}"], p))) for p in POSITIONS]
        # A caption computed upstream in this run, else one stored by an earlier run.
        text = self.prompt if self.prompt is not None else str(row.get("text") or "")
        return images, text

    def compute(self, items: list[tuple[list[torch.Tensor], str]]) -> list[dict]:
        import torch

        with torch.inference_mode():
            return self._compute(items)

    def _compute(self, items: list[tuple[list[torch.Tensor], str]]) -> list[dict]:
        import torch

        m = self.loaded
        n = len(items)
        pixels = torch.stack([t for images, _ in items for t in images]).to(m.device, m.dtype)
        if m.device == "cuda":
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        embeddings = m.model.encode_image(pixels, normalize=True).float()           # (3n, D), unit norm
        aesthetic = self.head(embeddings).reshape(n, len(POSITIONS)).mean(dim=1)
        per_clip = embeddings.reshape(n, len(POSITIONS), -1)
        texts = [text for _, text in items]
        sims = torch.full((n, len(POSITIONS)), float("nan"))
        with_text = [i for i, t in enumerate(texts) if t]
        if with_text:
            tokens = m.tokenizer([texts[i] for i in with_text]).to(m.device)
            text_emb = m.model.encode_text(tokens, normalize=True).float()          # (t, D)
            sims[with_text] = (per_clip[with_text] * text_emb[:, None, :]).sum(-1).cpu()
        mean_emb = torch.nn.functional.normalize(per_clip.mean(dim=1), dim=-1).cpu().numpy().astype(np.float16)
        out = []
        for i in range(n):
            out.append({"aesthetic": float(aesthetic[i]), "text_sim_mean": float(sims[i].mean()),
                        "text_sim_min": float(sims[i].min()),
                        "image_embedding": mean_emb[i].tobytes() if self.keep_embedding else None})
        return out
