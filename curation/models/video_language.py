"""Build the video-language model of the ``video_caption`` stage from a resolved
:class:`~curation.models.weights.HfSource`: ``AutoModelForImageTextToText`` and ``AutoProcessor`` of transformers
(Qwen2-VL by default; Qwen2.5-VL loads the same way), or the built-in tiny Qwen2-VL for tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from curation.models.hf import generation_kwargs, load, save_random, special_ids, tiny_tokenizer, transformers
from curation.models.prompt import Prompt, messages
from curation.models.weights import HfSource

TINY = "curation-tiny-qwen2-vl"


@dataclass
class VideoLanguageModel:
    model: Any
    processor: Any
    device: str
    dtype: torch.dtype
    source: HfSource

    @property
    def temporal_patch(self) -> int:
        """Frames the vision tower folds into one temporal patch (Qwen2-VL: 2; 1 where it has none)."""
        return int(getattr(getattr(self.processor, "video_processor", None), "temporal_patch_size", 1) or 1)


def tiny_qwen2_vl(seed: int = 0) -> tuple[Any, Any]:
    """A seeded random Qwen2-VL of about 0.1 M parameters (2 text and 2 vision layers, width 32) and its
    processor (tiny tokenizer, Qwen2-VL's own image and video processors)."""
    tf = transformers()
    tokenizer = tiny_tokenizer()
    ids = special_ids(tokenizer)
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    config = tf.Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 4096, "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]},
                     # a wide init: a random model that says something rather than one repeated token
                     "initializer_range": 0.5, "tie_word_embeddings": False, "eos_token_id": eos,
                     "pad_token_id": pad, "bos_token_id": None},
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 4, "mlp_ratio": 2,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        eos_token_id=eos, pad_token_id=pad)
    torch.manual_seed(seed)
    model = tf.Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = eos, pad
    processor = tf.Qwen2VLProcessor(image_processor=tf.Qwen2VLImageProcessor(), tokenizer=tokenizer,
                                    video_processor=tf.Qwen2VLVideoProcessor(),
                                    chat_template=tokenizer.chat_template)
    return model, processor


def save_random_video_language(folder: str | Path, seed: int = 0) -> Path:
    """The tiny random Qwen2-VL and its processor, saved and marked random
    (:func:`curation.models.hf.save_random`)."""
    return save_random(folder, tiny_qwen2_vl, seed)


def load_video_language(source: HfSource, device: str = "auto", precision: str = "auto",
                        seed: int = 0) -> VideoLanguageModel:
    """The model in eval mode on ``device`` in the picked dtype, and its processor (left padding)."""
    model, processor, device, dtype = load(source, device, precision, seed, tiny_qwen2_vl,
                                           "AutoModelForImageTextToText", "AutoProcessor")
    if getattr(processor, "chat_template", None) is None:
        raise ValueError(f"{source.label}: the processor has no chat template (an instruction-tuned model "
                         "is needed)")
    processor.tokenizer.padding_side = "left"
    return VideoLanguageModel(model, processor, device, dtype, source)


@torch.inference_mode()
def generate_video_text(loaded: VideoLanguageModel, prompts: list[Prompt], c: Any) -> list[str]:
    """The model's answer to each prompt, whose frames are one video (each frame repeated ``temporal_patch``
    times, so it is a temporal patch of its own). ``c``: a VideoCaptionConfig. Batched with left padding."""
    repeat = loaded.temporal_patch
    processor = loaded.processor
    texts = [processor.apply_chat_template(messages(p, [{"type": "video"}]), add_generation_prompt=True,
                                           tokenize=False) for p in prompts]
    videos = [np.stack([f for f in p.frames for _ in range(repeat)]) for p in prompts]
    video_kwargs: dict[str, Any] = {"do_sample_frames": False}
    for key in ("max_pixels", "min_pixels"):
        if getattr(c, key) is not None and hasattr(processor.video_processor, key):
            video_kwargs[key] = getattr(c, key)
    inputs = processor(text=texts, videos=videos, padding=True, return_tensors="pt", videos_kwargs=video_kwargs)
    inputs = {k: v.to(loaded.device) for k, v in inputs.items()}
    for key in ("pixel_values_videos", "pixel_values"):
        if key in inputs:
            inputs[key] = inputs[key].to(loaded.dtype)
    torch.manual_seed(c.seed)
    out = loaded.model.generate(**inputs, **generation_kwargs(c))
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
