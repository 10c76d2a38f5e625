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

import pyarrow as pa
from pydantic import Field, model_validator

from curation.core.section import fail
from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import POSITIONS, decode_rgb
from curation.annotate.enrich.generate import GenerationConfig, GeneratingStage, generating_stage
from curation.models.prompt import Prompt

VIDEO_PROMPT = ("Describe this video clip in one or two sentences: the scene, the subjects, what happens and how "
                "the camera moves.")


class VideoCaptionConfig(GenerationConfig):
    """The ``video_caption`` stage: a video-language model captions the clip from its first, middle and last
    keyframes, given to it as a three-frame video (each keyframe is one temporal patch: Qwen2-VL folds two
    frames into one, so every keyframe is given twice).

    model: default ``Qwen/Qwen2-VL-2B-Instruct`` (Apache-2.0; Qwen2.5-VL and other transformers VLMs whose
        processor takes ``videos`` load the same way); ``curation-tiny-qwen2-vl`` is a built-in tiny random one.
    prompt: the instruction, after the video in the user turn of the model's chat template.
    max_pixels, min_pixels: pixels per frame the Qwen2-VL processor resizes to at most / at least (default
        151200 = 360x420, Qwen's advice for video: 192 visual tokens per keyframe; null = the processor's own).
    Generation and the other keys: see :class:`GenerationConfig` (default at most 128 new tokens, greedy).
    With ``backend: openai`` the keyframes are sent as three JPEG images (``image_url`` data URLs).
    """

    model: str = "Qwen/Qwen2-VL-2B-Instruct"
    prompt: str = VIDEO_PROMPT
    max_pixels: int | None = Field(151200, ge=784)
    min_pixels: int | None = Field(None, ge=784)

    @model_validator(mode="after")
    def _pixels(self) -> VideoCaptionConfig:
        if not self.prompt.strip():
            raise fail("prompt", "must not be empty")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise fail("min_pixels", "must be <= max_pixels")
        return self


# The SVD recipe's second caption.
STAGE = generating_stage("video_caption", "curation.annotate.enrich.video_caption:VideoCaptionStage", (
    "video_caption", pa.string(), "Caption of the clip by a video-language model (video_caption.model, default "
                                  "Qwen2-VL-2B-Instruct) given the first, middle and last keyframes as a video, "
                                  "whitespace collapsed; null when it failed or its output was empty, too long "
                                  "or a refusal (see video_caption_error)."),
                         VideoCaptionConfig, StageResources(batch_size=4, pool_size=1))


class VideoCaptionStage(GeneratingStage):
    declaration = STAGE
    column = "video_caption"

    def local(self, source: Any, c: VideoCaptionConfig) -> Callable[[list[Prompt]], list[str]]:
        from curation.models.video_language import generate_video_text, load_video_language

        loaded = load_video_language(source, c.device, c.precision, c.seed)
        return lambda prompts: generate_video_text(loaded, prompts, c)

    def prepare(self, row: dict) -> Prompt:
        return Prompt(self.settings.prompt, [decode_rgb(row[f"jpeg_{p}"], p) for p in POSITIONS])
