"""SVD benchmark: training step time and peak memory (bf16 autocast on GPU, with and without gradient
checkpointing) and inference seconds per video, for the full-size SVD-XT UNet with random weights at 14 frames
320x576 (the paper's training stage) and 25 frames 576x1024, on a GPU; on CPU only the tiny model.

    .venv/bin/python benchmarks/bench_svd.py            # CPU: tiny model
    python benchmarks/bench_svd.py --device cuda        # GPU: full-size UNet (random weights)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import curation.train.torchvision_fix  # noqa: E402,F401
from curation.train.objective import Batch, edm_loss  # noqa: E402


def full_size_unet():
    """SVD-XT's UNet config (stabilityai/stable-video-diffusion-img2vid-xt), random weights."""
    from diffusers import UNetSpatioTemporalConditionModel

    return UNetSpatioTemporalConditionModel(num_frames=25)  # the library defaults are SVD's config


def full_size_frozen(device: str):
    """SVD's VAE (AutoencoderKLTemporalDecoder) and a ViT-H/14-sized CLIP image encoder, random weights."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    vae = AutoencoderKLTemporalDecoder(block_out_channels=(128, 256, 512, 512),
                                       down_block_types=("DownEncoderBlock2D",) * 4, layers_per_block=2)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=1280, projection_dim=1024,
                                                             num_hidden_layers=32, num_attention_heads=16,
                                                             intermediate_size=5120, image_size=224, patch_size=14))
    return vae.to(device).requires_grad_(False), encoder.to(device).requires_grad_(False)


def step_time(unet, vae, encoder, frames: int, height: int, width: int, checkpointing: bool, device: str,
              steps: int = 3):
    unet = unet.to(device).train()
    if checkpointing:
        unet.enable_gradient_checkpointing()
    else:
        unet.disable_gradient_checkpointing()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-5, fused=device == "cuda")
    batch = Batch(torch.rand(1, frames, 3, height, width, device=device) * 2 - 1, [7.0], [127], [0.02])
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = edm_loss(unet, vae, encoder, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return min(times[1:] or times), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    rows = []
    if args.device == "cuda":
        name = torch.cuda.get_device_name(0)
        for frames, h, w in ((14, 320, 576), (25, 576, 1024)):
            for ckpt in (False, True):
                try:
                    t, peak = step_time(full_size_unet(), *full_size_frozen("cuda"), frames, h, w, ckpt, "cuda")
                    rows.append((f"train step, SVD-XT UNet, {frames}x{h}x{w}, bf16, checkpointing {ckpt}",
                                 f"{t:.2f} s", f"{peak:.1f} GiB"))
                except torch.OutOfMemoryError:
                    rows.append((f"train step, SVD-XT UNet, {frames}x{h}x{w}, bf16, checkpointing {ckpt}",
                                 "out of memory", "-"))
                torch.cuda.empty_cache()
        from diffusers import EulerDiscreteScheduler, StableVideoDiffusionPipeline
        from PIL import Image
        from transformers import CLIPImageProcessor

        from curation.train.tiny import SVD_SCHEDULER

        vae, encoder = full_size_frozen("cuda")
        pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=full_size_unet().to("cuda"),
                                            scheduler=EulerDiscreteScheduler(**SVD_SCHEDULER),
                                            feature_extractor=CLIPImageProcessor()).to(torch.float16)
        for frames, h, w in ((14, 320, 576), (25, 576, 1024)):
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
            start = time.perf_counter()
            pipe(Image.new("RGB", (w, h)), height=h, width=w, num_frames=frames, num_inference_steps=25,
                 decode_chunk_size=8)
            torch.cuda.synchronize()
            rows.append((f"generate, SVD-XT sizes, {frames}x{h}x{w}, fp16, 25 steps",
                         f"{time.perf_counter() - start:.1f} s", f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"))
    else:
        from curation.train.tiny import save_tiny_svd
        from diffusers import StableVideoDiffusionPipeline
        from PIL import Image

        name = "CPU (tiny random SVD only)"
        folder = save_tiny_svd(Path(tempfile.mkdtemp()) / "tiny")
        pipe = StableVideoDiffusionPipeline.from_pretrained(folder)
        for ckpt in (False, True):
            pipe.vae.requires_grad_(False)
            pipe.image_encoder.requires_grad_(False)
            t, _ = step_time(pipe.unet, pipe.vae, pipe.image_encoder, 4, 64, 64, ckpt, "cpu")
            rows.append((f"train step, tiny SVD, 4x64x64, fp32, checkpointing {ckpt}", f"{t:.2f} s", "-"))
        start = time.perf_counter()
        pipe(Image.new("RGB", (64, 64)), height=64, width=64, num_frames=4, num_inference_steps=25,
             decode_chunk_size=4)
        rows.append(("generate, tiny SVD, 4x64x64, 25 steps", f"{time.perf_counter() - start:.2f} s", "-"))
    print(f"Device: {name}; torch {torch.__version__}\n")
    print("| what | time | peak GPU memory |")
    print("| --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
