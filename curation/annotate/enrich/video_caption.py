"""The ``video_caption`` stage: a video-language model captions the clip from its three keyframes as a video.

Model family: Qwen2-VL (default ``Qwen/Qwen2-VL-2B-Instruct``), loaded by transformers 4.55 as
``AutoModelForImageTextToText`` + ``AutoProcessor`` (:mod:`curation.models.video_language`). Why: it takes a
real video input (frames with temporal position encoding, M-RoPE) rather than a single picture or a frame grid,
so the caption can speak of what changes across the clip; it is the family today's curation pipelines caption
with (NeMo Curator and Cosmos-Curate run Qwen2.5-VL, which loads the same way); vLLM serves it (the ``openai``
backend); its 2B instruct model runs on one small GPU; and a tiny Qwen2-VL builds from a config with a
``tokenizers``-made tokenizer, so the tests run the real processor, chat template and ``generate`` offline.
BLIP-2 on a frame grid would lose the order of the frames; LLaVA-OneVision needs 384-px frames per view.

The table keeps three keyframes per clip (first, middle, last), so they are the video: each given
``temporal_patch`` times (Qwen2-VL folds two frames into one temporal patch), three temporal steps.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from curation.annotate.config import VideoCaptionConfig
from curation.annotate.enrich.base import POSITIONS, decode_rgb
from curation.annotate.enrich.generate import GeneratingStage
from curation.models.prompt import Prompt


class VideoCaptionStage(GeneratingStage):
    name = "video_caption"
    column = "video_caption"

    def local(self, source: Any, c: VideoCaptionConfig) -> Callable[[list[Prompt]], list[str]]:
        from curation.models.video_language import generate_video_text, load_video_language

        loaded = load_video_language(source, c.device, c.precision, c.seed)
        return lambda prompts: generate_video_text(loaded, prompts, c)

    def prepare(self, row: dict) -> Prompt:
        return Prompt(self.settings.prompt, [decode_rgb(row[f"jpeg_{p}"], p) for p in POSITIONS])
