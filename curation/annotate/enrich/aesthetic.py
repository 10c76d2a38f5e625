"""The aesthetic stage: CLIP (open_clip) keyframe embeddings, the LAION aesthetic score, and image-text similarity.

The CLIP model is loaded by :mod:`curation.models.open_clip_models`, the aesthetic head by
:mod:`curation.models.aesthetic`."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from curation.annotate.config import AnnotateConfig
from curation.models.aesthetic import load_aesthetic_head
from curation.models.open_clip_models import load_open_clip
from curation.models.weights import FileSource, OpenClipSource
from curation.annotate.enrich.registry import BY_NAME
from curation.annotate.enrich.base import POSITIONS, ModelStage, decode_rgb


class AestheticStage(ModelStage):
    name = "aesthetic"
    def __init__(self, config: AnnotateConfig, source: OpenClipSource, head: FileSource,
                 gpu_fraction: float = 0.0):
        super().__init__(config, config.ray.aesthetic, gpu_fraction)
        self.label, self.random_weights = BY_NAME[self.name].label(source=source, head=head)
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

    @torch.inference_mode()
    def compute(self, items: list[tuple[list[torch.Tensor], str]]) -> list[dict]:
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
