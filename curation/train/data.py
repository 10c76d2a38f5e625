"""Training clips from our WebDataset shards: ``num_frames`` frames at about ``fps`` from each clip, resized and
centre-cropped to the training size, in [-1, 1], with the clip's own motion bucket and the true frame rate of
the frames taken.

The order is deterministic: the shards are read in order, again and again, and step ``k`` takes samples
``k * batch_size ...``; which frames are taken comes from a generator seeded by (seed, sample number). A run
resumed at step ``k`` therefore sees exactly what an uninterrupted run would.

Shards may be local files or object-store URIs: each tar is streamed through :func:`curation.core.storage.open_input`
(read ahead in 4 MiB requests on object stores) and split into samples by WebDataset's own tar expander and
key grouping, so a sample is what ``webdataset.WebDataset`` would yield.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import torch
import torch.nn.functional as F

from curation.core import storage


@dataclass
class Clip:
    frames: torch.Tensor   # (F, 3, H, W) in [-1, 1]
    fps: float             # frame rate of the frames taken
    motion_bucket_id: int
    key: str


def decode_mp4(data: bytes) -> np.ndarray:
    """All frames of an mp4 as (N, H, W, 3) uint8 RGB."""
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def take_frames(video: np.ndarray, source_fps: float, num_frames: int, fps: float, width: int, height: int,
                generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """``num_frames`` frames every ``round(source_fps / fps)`` source frames (at least 1) from a random start;
    a clip too short for that stride uses a smaller one, and a clip shorter than ``num_frames`` repeats its
    last frame. Returns the frames and their true rate."""
    n = len(video)
    stride = max(1, int(round(source_fps / fps)))
    while stride > 1 and (num_frames - 1) * stride >= n:
        stride -= 1
    span = (num_frames - 1) * stride
    start = int(torch.randint(0, max(1, n - span), (1,), generator=generator)) if n > span else 0
    index = np.minimum(start + stride * np.arange(num_frames), n - 1)
    x = torch.from_numpy(video[index]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    scale = max(width / x.shape[3], height / x.shape[2])
    size = (max(height, round(x.shape[2] * scale)), max(width, round(x.shape[3] * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    return x[:, :, top:top + height, left:left + width].clamp(-1, 1), source_fps / stride


def _shard_streams(urls: list[str]) -> Iterator[dict]:
    """``{url, stream}`` for each shard in order, as WebDataset's expander wants them; a shard's file object is
    closed when the expander asks for the next one (it reads each tar to its end first)."""
    from webdataset.shardlists import single_node_only

    # As webdataset.WebDataset did: several processes would each read every shard, so refuse, don't duplicate.
    for url in single_node_only(urls):
        with storage.open_input(url) as stream:
            yield {"url": url, "stream": stream}


def raw_samples(urls: list[str]) -> Iterator[dict]:
    """Samples of the shards (local paths or object-store URIs) in order, forever (no decoding)."""
    from webdataset.tariterators import group_by_keys, tar_file_expander

    while True:
        count = 0
        for sample in group_by_keys(tar_file_expander(_shard_streams(urls))):
            count += 1
            yield sample
        if count == 0:
            raise ValueError(f"no sample in {urls}")


class ClipStream:
    """Batches of :class:`Clip` for steps ``start_step, start_step + 1, ...``."""

    def __init__(self, urls: list[str], batch_size: int, num_frames: int, fps: float, width: int, height: int,
                 seed: int, start_step: int = 0):
        self.batch_size, self.num_frames, self.fps = batch_size, num_frames, fps
        self.width, self.height, self.seed = width, height, seed
        self._samples = raw_samples(urls)
        self._number = 0
        for _ in range(start_step * batch_size):  # skip what earlier steps used, without decoding it
            next(self._samples)
            self._number += 1

    def clip(self, sample: dict) -> Clip:
        meta = json.loads(sample["json"])
        if meta.get("motion_bucket_id") is None:
            raise ValueError(f"{sample['__key__']}: no motion_bucket_id in its JSON (not one of our shards?)")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self._number)
        frames, fps = take_frames(decode_mp4(sample["mp4"]), float(meta["fps"]), self.num_frames, self.fps,
                                  self.width, self.height, generator)
        return Clip(frames, fps, int(meta["motion_bucket_id"]), sample["__key__"])

    def next_batch(self) -> list[Clip]:
        out = []
        for _ in range(self.batch_size):
            out.append(self.clip(next(self._samples)))
            self._number += 1
        return out
