"""The EDM-style training objective of SVD, fed exactly what ``StableVideoDiffusionPipeline`` feeds at inference.

For a batch of clips (frames in [-1, 1]):
- cross-attention context: the CLIP image embedding of the first frame (resized to 224 with antialiasing and
  normalised, as the pipeline's ``_encode_image``);
- the first frame plus ``noise_aug_strength`` Gaussian noise, VAE-encoded (distribution mode, unscaled, as
  ``_encode_vae_image``) and concatenated to every frame's noisy latent along channels;
- ``added_time_ids = [fps - 1, motion_bucket_id, noise_aug_strength]`` per clip (:mod:`conditioning`);
- the target: VAE latents of all frames times ``scaling_factor``, noised at sigma ~ LogNormal(p_mean, p_std);
  the UNet sees ``noisy / sqrt(sigma^2 + 1)`` at timestep ``0.25 * log(sigma)`` (the Euler scheduler's
  continuous timesteps), predicts v, and the denoised estimate
  ``c_skip * noisy + c_out * v`` (c_skip = 1 / (sigma^2 + 1), c_out = -sigma / sqrt(sigma^2 + 1)) is compared
  with the clean latents under the EDM weight (sigma^2 + 1) / sigma^2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from curation.train.conditioning import added_time_ids

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class Batch:
    """frames: (B, F, 3, H, W) in [-1, 1]; fps, motion_bucket_id, noise_aug_strength: one per clip."""

    frames: torch.Tensor
    fps: list[float]
    motion_bucket_id: list[int]
    noise_aug_strength: list[float]


def clip_image_embedding(image_encoder, images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 1, D): what the pipeline's ``_encode_image`` computes."""
    x = F.interpolate(images.float(), size=(224, 224), mode="bicubic", align_corners=False, antialias=True)
    x = ((x + 1.0) / 2.0).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    x = ((x - mean) / std).to(next(image_encoder.parameters()).dtype)
    return image_encoder(x).image_embeds.unsqueeze(1)


def edm_loss(unet, vae, image_encoder, batch: Batch, generator: torch.Generator | None = None,
             p_mean: float = 0.7, p_std: float = 1.6) -> torch.Tensor:
    frames = batch.frames
    b, f = frames.shape[:2]
    dtype = next(unet.parameters()).dtype
    device = frames.device
    with torch.no_grad():
        context = clip_image_embedding(image_encoder, frames[:, 0]).to(dtype)
        strength = torch.tensor(batch.noise_aug_strength, device=device).view(b, 1, 1, 1)
        noise = torch.randn(frames[:, 0].shape, generator=generator, device=device)
        conditioning = frames[:, 0] + strength * noise
        cond_latents = vae.encode(conditioning.to(vae.dtype)).latent_dist.mode()
        cond_latents = cond_latents.unsqueeze(1).repeat(1, f, 1, 1, 1)
        latents = vae.encode(frames.flatten(0, 1).to(vae.dtype)).latent_dist.sample(generator=generator)
        latents = (latents * vae.config.scaling_factor).unflatten(0, (b, f))
    sigma = torch.exp(p_mean + p_std * torch.randn(b, generator=generator, device=device)).view(b, 1, 1, 1, 1)
    noisy = latents + sigma * torch.randn(latents.shape, generator=generator, device=device)
    c_in = 1.0 / torch.sqrt(sigma**2 + 1.0)
    c_skip = 1.0 / (sigma**2 + 1.0)
    c_out = -sigma / torch.sqrt(sigma**2 + 1.0)
    model_input = torch.cat([noisy * c_in, cond_latents], dim=2).to(dtype)
    timestep = (0.25 * torch.log(sigma)).flatten().to(dtype)
    time_ids = added_time_ids(batch.fps, batch.motion_bucket_id, batch.noise_aug_strength, dtype, device)
    v = unet(model_input, timestep, encoder_hidden_states=context, added_time_ids=time_ids).sample
    denoised = c_skip * noisy + c_out * v.float()
    weight = (sigma**2 + 1.0) / sigma**2
    return (weight * (denoised - latents) ** 2).mean()
