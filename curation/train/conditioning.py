"""SVD's micro-conditioning, derived from each sample's data (never a hard-coded bucket).

The UNet takes ``added_time_ids = [fps - 1, motion_bucket_id, noise_aug_strength]`` per video: exactly what
``StableVideoDiffusionPipeline`` builds at inference (it calls ``_get_add_time_ids(fps - 1, ...)``, "as in the
original training"), so a finetune conditions on the same vector generation will feed.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def added_time_ids(fps: Sequence[float], motion_bucket_id: Sequence[int], noise_aug_strength: Sequence[float],
                   dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
    """(B, 3) conditioning of B videos: their frame rate (frames per second of the frames the model sees),
    motion bucket (0..255, from the shard's ``motion_bucket_id``) and the noise augmentation of their
    conditioning frame."""
    if not (len(fps) == len(motion_bucket_id) == len(noise_aug_strength)):
        raise ValueError("fps, motion_bucket_id and noise_aug_strength need one value per video")
    rows = [[float(f) - 1.0, float(m), float(n)] for f, m, n in zip(fps, motion_bucket_id, noise_aug_strength)]
    return torch.tensor(rows, dtype=dtype, device=device)
