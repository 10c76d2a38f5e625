"""A tiny random-initialised SVD written as a diffusers-format folder, for tests and CPU benchmarks. It loads
through ``StableVideoDiffusionPipeline.from_pretrained`` exactly like real weights; the folder carries a
``curation_random_init.json`` marker so everything made with it is flagged as random."""
from __future__ import annotations

import json
from pathlib import Path

import torch

import curation.train.torchvision_fix  # noqa: F401  (before transformers)
from curation.core.layout import RANDOM_MARKER_FILE as RANDOM_MARKER


# SVD-XT's scheduler (EDM sigmas, v-prediction), as in stabilityai/stable-video-diffusion-img2vid-xt.
SVD_SCHEDULER = {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                 "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                 "sigma_max": 700.0, "sigma_min": 0.002, "steps_offset": 1, "timestep_spacing": "leading",
                 "timestep_type": "continuous", "use_karras_sigmas": True}


def save_tiny_svd(folder: str | Path, seed: int = 0, num_frames: int = 4) -> Path:
    from diffusers import (AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline,
                           UNetSpatioTemporalConditionModel)
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=8, in_channels=8, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=16, num_attention_heads=(2, 4), layers_per_block=1,
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=24, num_frames=num_frames)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 64), latent_channels=4,
                                       down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"))
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, projection_dim=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        image_size=224, patch_size=32))  # the pipeline resizes to 224 before encoding
    processor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet,
                                        scheduler=EulerDiscreteScheduler(**SVD_SCHEDULER),
                                        feature_extractor=processor)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    (folder / RANDOM_MARKER).write_text(json.dumps({"random_init": True, "seed": seed}))
    return folder
