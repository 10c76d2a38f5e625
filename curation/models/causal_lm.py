"""Build the causal language model of the ``caption_merge`` stage from a resolved
:class:`~curation.models.weights.HfSource`: ``AutoModelForCausalLM`` and ``AutoTokenizer`` of transformers
(Qwen2.5 Instruct by default), or the built-in tiny Qwen2 for tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from curation.models.hf import generation_kwargs, load, save_random, special_ids, tiny_tokenizer, transformers
from curation.models.prompt import Prompt, messages
from curation.models.weights import HfSource

TINY = "curation-tiny-qwen2"


@dataclass
class CausalLanguageModel:
    model: Any
    tokenizer: Any
    device: str
    dtype: torch.dtype
    source: HfSource


def tiny_qwen2(seed: int = 0) -> tuple[Any, Any]:
    """A seeded random Qwen2 causal LM of about 50 k parameters (2 layers, width 32) and the tiny tokenizer."""
    tf = transformers()
    tokenizer = tiny_tokenizer()
    ids = special_ids(tokenizer)
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    config = tf.Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                            initializer_range=0.5, tie_word_embeddings=False, eos_token_id=eos, pad_token_id=pad,
                            bos_token_id=None)
    torch.manual_seed(seed)
    model = tf.Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = eos, pad
    return model, tokenizer


def save_random_causal_lm(folder: str | Path, seed: int = 0) -> Path:
    """The tiny random Qwen2 and its tokenizer, saved and marked random (:func:`curation.models.hf.save_random`)."""
    return save_random(folder, tiny_qwen2, seed)


def load_causal_lm(source: HfSource, device: str = "auto", precision: str = "auto",
                   seed: int = 0) -> CausalLanguageModel:
    """The model in eval mode on ``device`` in the picked dtype, and its tokenizer (left padding)."""
    model, tokenizer, device, dtype = load(source, device, precision, seed, tiny_qwen2, "AutoModelForCausalLM",
                                           "AutoTokenizer")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return CausalLanguageModel(model, tokenizer, device, dtype, source)


@torch.inference_mode()
def generate_text(loaded: CausalLanguageModel, prompts: list[Prompt], c: Any) -> list[str]:
    """The model's answer to each prompt (through the tokenizer's chat template when it has one, else the plain
    text). ``c``: a CaptionMergeConfig. Batched with left padding."""
    tok = loaded.tokenizer
    if tok.chat_template:
        texts = [tok.apply_chat_template(messages(p), add_generation_prompt=True, tokenize=False) for p in prompts]
    else:
        texts = [(f"{p.system}\n\n" if p.system else "") + p.text for p in prompts]
    inputs = tok(texts, padding=True, return_tensors="pt", add_special_tokens=not tok.chat_template)
    inputs = {k: v.to(loaded.device) for k, v in inputs.items()}
    torch.manual_seed(c.seed)
    out = loaded.model.generate(**inputs, **generation_kwargs(c), pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
