"""What the transformers loaders share (the video_caption and caption_merge models): importing transformers on
this CPU torch, device and dtype, and the tiny byte-level BPE tokenizer the built-in tiny models use.

No tokenizer files ship offline with the libraries here, so tiny models get a tokenizer trained in a moment with
the ``tokenizers`` library on a few sentences (a few hundred tokens, Qwen2's special tokens and chat format):
their text is random, but every step (chat template, padding, special tokens, decoding) runs as with a real one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any


from curation.models.torchvision_compat import ensure_torchvision_importable

log = logging.getLogger(__name__)

# Qwen2's special tokens (ids 0.. in the tiny tokenizer), and its chat format.
QWEN_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>")
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
_CORPUS = ("a person walking down a street", "a dog running across a green park on a sunny day",
           "the camera pans slowly across a city skyline at night", "two people talk in a kitchen",
           "Describe this video clip.", "Merge these two descriptions of one video clip into one.",
           "image: video: caption: The clip shows", "close-up of hands cooking food, then a wide shot")


def transformers():
    """The transformers package, imported after the torchvision fix (its image and video processors import
    torchvision)."""
    ensure_torchvision_importable()
    import transformers as tf

    return tf


def tiny_tokenizer() -> Any:
    """A Qwen2 fast tokenizer with a byte-level BPE of a few hundred tokens, Qwen2's special tokens and chat
    template; eos ``<|im_end|>``, pad ``<|endoftext|>``, left padding (for batched generation)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=list(QWEN_SPECIAL), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(_CORPUS) * 4, trainer)
    fast = transformers().Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                             pad_token="<|endoftext|>", unk_token=None, bos_token=None,
                                             padding_side="left")
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def special_ids(tokenizer: Any) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}


def warn_random(label: str) -> None:
    log.warning("%s: RANDOM WEIGHTS (tests and speed benchmarks only); outputs are flagged", label)


def generation_kwargs(c: Any) -> dict[str, Any]:
    """``generate`` arguments from a :class:`~curation.annotate.enrich.generate.GenerationConfig`."""
    kwargs = {"max_new_tokens": c.max_new_tokens, "num_beams": c.num_beams, "do_sample": c.do_sample,
              "repetition_penalty": c.repetition_penalty}
    if c.do_sample:
        kwargs.update(temperature=c.temperature, top_p=c.top_p)
    else:  # the models' own generation_config may carry sampling values; greedy/beam search ignores them
        kwargs.update(temperature=None, top_p=None, top_k=None)
    return kwargs



def save_random(folder: str | Path, build: Callable[[int], tuple[Any, Any]], seed: int) -> Path:
    """Write the seeded random model and preprocessor (tokenizer or processor) ``build(seed)`` makes with
    ``save_pretrained`` into ``folder``, marked random: it loads as ``local-dir:FOLDER`` exactly like real
    weights. For tests."""
    from curation.models.weights import mark_random

    folder = Path(folder)
    model, preprocessor = build(seed)
    model.save_pretrained(folder)
    preprocessor.save_pretrained(folder)
    mark_random(folder, seed)
    return folder


def load(source: Any, device: str, precision: str, seed: int, tiny: Callable[[int], tuple[Any, Any]],
         auto_model: str, auto_preprocessor: str) -> tuple[Any, Any, str, Any]:
    """(model in eval mode on the picked device and dtype, preprocessor, device, dtype) of a resolved
    :class:`~curation.models.weights.HfSource`: the built-in ``tiny(seed)``, a random init from the folder's
    config, or the folder's weights, through ``transformers.<auto_model>`` / ``<auto_preprocessor>``."""
    from curation.models.open_clip_models import pick_device, pick_dtype

    tf = transformers()
    device = pick_device(device)
    dtype = pick_dtype(precision, device)
    if source.random:
        warn_random(source.label)
    if source.tiny:
        model, preprocessor = tiny(seed)
    else:
        preprocessor = getattr(tf, auto_preprocessor).from_pretrained(source.path)
        if source.from_config:
            import torch

            torch.manual_seed(seed)
            model = getattr(tf, auto_model).from_config(tf.AutoConfig.from_pretrained(source.path))
        else:
            model = getattr(tf, auto_model).from_pretrained(source.path, torch_dtype=dtype)
    return model.to(device=device, dtype=dtype).eval(), preprocessor, device, dtype
