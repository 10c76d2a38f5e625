"""The ``finetune`` section (``curate finetune``).

A frozen pydantic model (:class:`curation.core.section.Section`): unknown keys, wrong types and out-of-range
values are one ConfigError line naming the dotted key, before any work starts.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from curation.core.section import Float, Section, fail


class FinetuneConfig(Section):
    """``curate finetune``: SVD on our shards (defaults: the paper's first video stage, 14 frames 320x576).

    num_frames, fps, width, height: what each training clip becomes (14, 7, 576, 320; width and height
        multiples of 64).
    batch_size, grad_accum: clips per step and steps per optimizer update (1, 1).
    learning_rate, weight_decay, max_steps, warmup_steps: AdamW and the schedule (1e-5, 1e-2, 1000, 0).
    optimizer: ``adamw`` (fused on GPU) or ``adamw8bit`` (bitsandbytes, must be installed).
    mixed_precision: ``bf16`` on GPU (autocast), ignored on CPU. gradient_checkpointing: trade compute for
        memory (true).
    ema_decay: keep an EMA of the UNet with this decay and save it (0 = off; default 0).
    noise_aug_min, noise_aug_max: the conditioning frame's noise augmentation, drawn per clip (0.0, 0.1); it
        is also the third ``added_time_ids`` value.
    p_mean, p_std: the EDM log-normal sigma distribution (0.7, 1.6, SVD's high-resolution values).
    checkpoint_every, validate_every, log_every: steps (500, 500, 10); 0 = never.
    seed: data order, frame choice and noise (0).
    num_workers: dataloader worker processes decoding clips per training process (0: in the training process).
    checkpoints_total_limit: keep only the newest N checkpoints (default none: keep all).
    caption: which of the shards' three captions each training clip carries: ``caption`` (CoCa, default),
        ``video_caption`` or ``caption_merged`` (the SVD recipe's merged one). SVD itself is conditioned on the
        first frame, not on text: the chosen caption travels with every clip (``Clip.caption``, for text-
        conditioned models on the same loader) and is recorded in ``samples.csv`` and ``finetune.json``; a clip
        whose shard JSON has none of that caption carries null.
    """

    num_frames: int = Field(14, ge=2, le=64)
    fps: Float = Field(7.0, gt=0, le=60)
    width: int = 576
    height: int = 320
    batch_size: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: Float = Field(1e-5, gt=0)
    weight_decay: Float = 1e-2
    max_steps: int = Field(1000, ge=1)
    warmup_steps: int = Field(0, ge=0)
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    mixed_precision: Literal["bf16", "no"] = "bf16"
    gradient_checkpointing: bool = True
    ema_decay: Float = Field(0.0, ge=0, lt=1)
    noise_aug_min: Float = 0.0
    noise_aug_max: Float = 0.1
    p_mean: Float = 0.7
    p_std: Float = 1.6
    checkpoint_every: int = Field(500, ge=0)
    validate_every: int = Field(500, ge=0)
    log_every: int = Field(10, ge=0)
    seed: int = 0
    num_workers: int = Field(0, ge=0, le=64)
    checkpoints_total_limit: int | None = Field(None, ge=1)
    caption: Literal["caption", "video_caption", "caption_merged"] = "caption"

    @model_validator(mode="after")
    def _sizes_and_noise(self) -> FinetuneConfig:
        if not (self.width % 64 == 0 and self.height % 64 == 0 and self.width > 0 and self.height > 0):
            raise fail("width", "width and height must be positive multiples of 64")
        if not 0 <= self.noise_aug_min <= self.noise_aug_max <= 1:
            raise fail("noise_aug_min", "need 0 <= noise_aug_min <= noise_aug_max <= 1")
        return self
