"""Caption-stage benchmark (issue 19): captions per second and generated tokens per second of the two
text-generating stages, ``video_caption`` (a video-language model on the clip's three keyframes) and
``caption_merge`` (a causal LM merging ``caption`` and ``video_caption``), as a Ray worker runs them
(``annotate_clips`` on a batch: JPEG decode, prompt, generation, output checks), at batch sizes 1/8/32;
then the same stages through the ``openai`` backend against a local OpenAI-compatible server on 127.0.0.1
(``tests/chat_server.py``: one generation at a time, like one unbatched GPU; it measures the protocol path,
not a serving engine's batching). Prints Markdown for BENCHMARKS.md. Every model here has random weights:
speed only, the captions mean nothing.

    .venv/bin/python benchmarks/bench_captions.py [--device cpu|cuda] [--clips 32] [--tokens 24] [--full]

Default: the built-in tiny Qwen2-VL and Qwen2 (about 0.1 M parameters). ``--full`` adds real-size
architectures with random weights (Qwen2-VL-2B's and Qwen2.5-1.5B's dimensions, 151,936-token vocabulary):
on a GPU, with its peak memory per batch size.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.annotate.enrich.caption_merge import CaptionMergeStage  # noqa: E402
from curation.annotate.enrich.registry import BY_NAME  # noqa: E402
from curation.annotate.enrich.video_caption import VideoCaptionStage  # noqa: E402
from curation.config import load_config  # noqa: E402
from curation.models.hf import tiny_tokenizer, transformers  # noqa: E402

BATCHES = (1, 8, 32)
# Qwen2-VL-2B-Instruct's and Qwen2.5-1.5B-Instruct's published dimensions (their config.json files).
VOCAB = 151936
VL_2B_TEXT = {"vocab_size": VOCAB, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
              "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768,
              "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "tie_word_embeddings": True}
VL_2B_VISION = {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16, "mlp_ratio": 4,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
LM_1_5B = {"vocab_size": VOCAB, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
           "num_attention_heads": 12, "num_key_value_heads": 2, "max_position_embeddings": 32768,
           "tie_word_embeddings": True}


def keyframes(n: int, seed: int = 0) -> dict:
    """n clips of three 640x360 keyframes (smooth random texture, JPEG) and the two captions merge reads. Not
    ``bench_models.keyframe_batch`` (real keyframes from a cold-start scan of the sample corpus): the VLM's cost
    depends on the pixels it is given (``max_pixels``), not on what they show, and random weights say nothing
    of the content anyway."""
    rng = np.random.default_rng(seed)
    cols: dict = {"clip_id": [f"c{i}" for i in range(n)], "text": [""] * n,
                  "caption": [f"a person walking a dog along a beach, picture {i}" for i in range(n)],
                  "video_caption": [f"a dog runs along the water while a person follows, clip {i}" for i in range(n)]}
    for position in ("first", "middle", "last"):
        jpegs = []
        for _ in range(n):
            small = rng.integers(0, 255, (45, 80, 3), dtype=np.uint8)
            frame = cv2.resize(small, (640, 360), interpolation=cv2.INTER_CUBIC)
            jpegs.append(cv2.imencode(".jpg", frame)[1].tobytes())
        cols[f"jpeg_{position}"] = jpegs
    return {k: np.array(v, dtype=object) for k, v in cols.items()}


def full_tokenizer():
    """A word-level tokenizer with the real models' 151,936 ids (Qwen2's special tokens, then ``w<id>``): every
    id a real-size random model generates decodes to a word, so its outputs are countable captions. Built in
    seconds (adding 150,000 tokens to the tiny BPE takes minutes)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from curation.models.hf import QWEN_CHAT_TEMPLATE, QWEN_SPECIAL

    vocab = {token: i for i, token in enumerate(QWEN_SPECIAL)}
    vocab["[UNK]"] = len(vocab)
    vocab.update({f"w{i}": i for i in range(len(vocab), VOCAB)})
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = transformers().Qwen2TokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                             unk_token="[UNK]", bos_token=None, padding_side="left")
    fast.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL)})
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def save_full_size(root: Path, tokenizer) -> dict[str, Path]:
    """Real-size random models' folders: config + ``tokenizer`` (:func:`full_tokenizer`) or a processor around
    it, no weights file, so they load with ``weights: random`` (a seeded init from the config) through the
    stages' own loaders."""
    from curation.models.hf import special_ids
    from curation.models.weights import mark_random

    tf = transformers()
    ids = special_ids(tokenizer)
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    vl = tf.Qwen2VLConfig(text_config={**VL_2B_TEXT, "eos_token_id": eos, "pad_token_id": pad},
                          vision_config=VL_2B_VISION, image_token_id=ids["<|image_pad|>"],
                          video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                          vision_end_token_id=ids["<|vision_end|>"], eos_token_id=eos, pad_token_id=pad)
    lm = tf.Qwen2Config(**LM_1_5B, eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    folders = {"vlm": root / "qwen2-vl-2b-size", "lm": root / "qwen2.5-1.5b-size"}
    vl.save_pretrained(folders["vlm"])
    tf.Qwen2VLProcessor(image_processor=tf.Qwen2VLImageProcessor(), tokenizer=tokenizer,
                        video_processor=tf.Qwen2VLVideoProcessor(),
                        chat_template=tokenizer.chat_template).save_pretrained(folders["vlm"])
    lm.save_pretrained(folders["lm"])
    tokenizer.save_pretrained(folders["lm"])
    for folder in folders.values():
        mark_random(folder, 0)
    return folders


def settings(models: dict[str, str], device: str, tokens: int, extra: tuple[str, ...] = (),
             from_config: bool = False):
    sets = ["annotate.stages=cuts,keyframes,caption,video_caption,caption_merge",
            "annotate.video_caption.max_pixels=50176", "annotate.video_caption.min_pixels=3136"]
    for stage in ("video_caption", "caption_merge"):
        sets += [f"annotate.{stage}.model={models[stage]}", f"annotate.{stage}.device={device}",
                 f"annotate.{stage}.max_new_tokens={tokens}", f"annotate.{stage}.repetition_penalty=1.0"]
        if from_config:
            sets.append(f"annotate.{stage}.weights=random")
    return load_config(None, [*sets, *extra]).annotate


def stage_of(cls, cfg):
    return cls(cfg, **BY_NAME[cls.name].weights(cfg))


def token_counter(tokenizer):
    """Tokens in a caption, re-tokenised (the stages return text, not ids; special tokens are dropped)."""
    return lambda text: len(tokenizer(text).input_ids)


def measure(stage, batch: dict, batch_size: int, count_tokens, device: str) -> dict:
    """Captions/s, tokens/s, errors and peak GPU memory of ``stage`` over ``batch`` in batches of batch_size."""
    n = len(batch["clip_id"])
    warm = {k: v[:batch_size] for k, v in batch.items()}
    stage.annotate_clips(warm)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    texts, errors = [], 0
    start = time.perf_counter()
    for s in range(0, n, batch_size):
        out = stage.annotate_clips({k: v[s:s + batch_size] for k, v in batch.items()})
        texts += [t for t in out[stage.column] if t]
        errors += sum(1 for e in out[f"{stage.name}_error"] if e)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    memory = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    return {"captions_s": n / seconds, "tokens_s": sum(count_tokens(t) for t in texts) / seconds,
            "errors": errors, "gpu_gib": memory}


def in_process(name: str, models: dict[str, str], tokenizer, device: str, tokens: int, batch: dict,
               batches: tuple[int, ...], from_config: bool = False) -> list[tuple]:
    rows = []
    count = token_counter(tokenizer)
    for cls in (VideoCaptionStage, CaptionMergeStage):
        stage = stage_of(cls, settings(models, device, tokens, from_config=from_config))
        for b in batches:
            rows.append((cls.name, name, f"in process, batch {b}", measure(stage, batch, b, count, device)))
        del stage
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def through_server(models: dict[str, str], tokenizer, tokens: int, batch: dict, folders: dict[str, Path],
                   work: Path) -> list[tuple]:
    from tests.local_server import free_port, serve

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    rows = []
    count = token_counter(tokenizer)
    with serve([sys.executable, "-m", "tests.chat_server", "--port", str(port), "--lm", str(folders["lm"]),
                "--vlm", str(folders["vlm"]), "--name", "tiny"], url + "/models", work / "server.log",
               "chat server", 120, unavailable=lambda message: sys.exit(message)):
        for concurrency in (1, 8):
            extra = [f"annotate.{s}.{k}" for s in ("video_caption", "caption_merge")
                     for k in ("backend=openai", f"server.base_url={url}", "server.model=tiny",
                               f"server.concurrency={concurrency}")]
            cfg = settings(models, "cpu", tokens, tuple(extra))
            for cls in (VideoCaptionStage, CaptionMergeStage):
                stage = stage_of(cls, cfg)
                rows.append((cls.name, "tiny", f"openai backend, local server, {concurrency} in flight",
                             measure(stage, batch, 8, count, "cpu")))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=24, help="max_new_tokens of both stages (default 24)")
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-captions-"))
    batch = keyframes(args.clips)
    tokenizer = tiny_tokenizer()

    from curation.models.causal_lm import save_random_causal_lm
    from curation.models.video_language import save_random_video_language

    tiny = {"vlm": save_random_video_language(work / "vlm", seed=1), "lm": save_random_causal_lm(work / "lm", seed=2)}
    tiny_models = {"video_caption": f"local-dir:{tiny['vlm']}", "caption_merge": f"local-dir:{tiny['lm']}"}
    rows = in_process("tiny", tiny_models, tokenizer, args.device, args.tokens, batch, BATCHES)
    rows += through_server(tiny_models, tokenizer, args.tokens, batch, tiny, work)
    if args.full:
        big_tokenizer = full_tokenizer()
        full = save_full_size(work / "full", big_tokenizer)
        full_models = {"video_caption": f"local-dir:{full['vlm']}", "caption_merge": f"local-dir:{full['lm']}"}
        full_batch = batch if args.device == "cuda" else {k: v[:2] for k, v in batch.items()}
        rows += in_process("real size", full_models, big_tokenizer, args.device, args.tokens, full_batch,
                           BATCHES if args.device == "cuda" else (1,), from_config=True)

    device = torch.cuda.get_device_name(0) if args.device == "cuda" else \
        f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    print(f"Device: {device}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"transformers {transformers().__version__}; {args.clips} clips (three 640x360 keyframes each), "
          f"max_new_tokens {args.tokens}, greedy; random weights (speed only)\n")
    print("| stage | model | how | captions/s | caption tokens/s (re-tokenised) | clip errors | peak GPU GiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage, model, how, m in rows:
        gib = "-" if m["gpu_gib"] is None else f"{m['gpu_gib']:.2f}"
        print(f"| {stage} | {model} | {how} | {m['captions_s']:.3g} | {m['tokens_s']:.0f} | {m['errors']} | {gib} |")


if __name__ == "__main__":
    main()
