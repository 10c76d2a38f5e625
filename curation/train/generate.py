"""``curate generate``: image-to-video with a (finetuned) SVD folder; the motion bucket can be given directly or
as a physical motion (px/s@256) through the bucket mapping saved at filter time."""
from __future__ import annotations

from pathlib import Path

import torch

import curation.train.torchvision_fix  # noqa: F401  (before transformers)
from curation.curate.buckets import MotionBuckets
from curation.train.interpolate import interpolate as interpolate_frames
from curation.train.train import BUCKETS_FILE
from curation.train.video_io import write_mp4


def motion_to_bucket(model: str, motion: float, buckets_file: str | None = None) -> int:
    path = Path(buckets_file) if buckets_file else Path(model) / BUCKETS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--motion needs the motion-bucket mapping: {path} not found (it is saved by "
                                "`curate filter`, copied into shards and into finetuned models; or give --buckets)")
    return int(MotionBuckets.load(path).bucket(motion)[0])


def generate(model: str, image: str, output: str, motion_bucket_id: int = 127, fps: float = 7.0,
             num_frames: int | None = None, seed: int = 0, steps: int = 25, width: int | None = None,
             height: int | None = None, decode_chunk_size: int = 8, forward_chunking: bool = False,
             cpu_offload: bool = False, noise_aug_strength: float = 0.02, interpolate: int = 1) -> Path:
    """Generate ``num_frames`` (default: the model's) from ``image`` and write them to ``output`` at ``fps``;
    with ``interpolate`` N > 1, N - 1 motion-compensated frames go between every two
    (:mod:`curation.train.interpolate`) and the video plays at N x ``fps`` for the same duration (SVD at 6
    fps with ``interpolate=4``: 24 fps)."""
    from diffusers import StableVideoDiffusionPipeline
    from PIL import Image

    if not 0 <= motion_bucket_id <= 255:
        raise ValueError("the motion bucket must be in 0..255")
    if interpolate < 1:
        raise ValueError("--interpolate must be >= 1")
    cuda = torch.cuda.is_available()
    pipe = StableVideoDiffusionPipeline.from_pretrained(model, torch_dtype=torch.float16 if cuda else torch.float32)
    if cpu_offload and cuda:
        pipe.enable_model_cpu_offload()
    elif cuda:
        pipe.to("cuda")
    if forward_chunking:
        pipe.unet.enable_forward_chunking()
    picture = Image.open(image).convert("RGB")
    width = width or pipe.unet.config.sample_size * pipe.vae_scale_factor
    # Default height: the image's aspect at this width, in multiples of 64 (at least 64).
    height = height or max(64, width * picture.height // picture.width // 64 * 64)
    num_frames = num_frames or pipe.unet.config.num_frames
    generator = torch.Generator(device="cpu").manual_seed(seed)
    frames = pipe(picture.resize((width, height)), height=height, width=width, num_frames=num_frames,
                  fps=int(round(fps)), motion_bucket_id=int(motion_bucket_id), noise_aug_strength=noise_aug_strength,
                  num_inference_steps=steps, decode_chunk_size=decode_chunk_size, generator=generator,
                  output_type="np").frames[0]
    frames = (frames * 255).round().astype("uint8")
    if interpolate > 1:
        frames = interpolate_frames(frames, interpolate)
    write_mp4(output, frames, fps * interpolate)
    return Path(output)
