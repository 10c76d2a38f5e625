"""Training clips from our WebDataset shards: ``num_frames`` frames at about ``fps`` from each clip, resized and
centre-cropped to the training size, in [-1, 1], with the clip's own motion bucket and the true frame rate of
the frames taken.

Several processes (``accelerate launch``) and dataloader workers split the shard list as WebDataset's
``split_by_node`` then ``split_by_worker`` would (:func:`split_shards`), with the rank given by accelerate rather
than read from the environment: every reader streams its own shards, so the ranks see disjoint samples and
nothing is read twice. Every rank takes part in every step; a rank's steps are dealt to its dataloader workers
in turn (worker ``w`` yields steps ``w, w + K, ...``), as ``DataLoader`` takes batches from its workers in turn.

The order is deterministic: each reader cycles through its shards in order, again and again, and its ``j``-th
step takes samples ``j * batch_size ...`` of that stream; which frames are taken comes from a generator seeded
by (seed, step, rank, place in the batch). A run resumed at step ``k`` with the same number of processes and
workers therefore sees exactly what an uninterrupted run would (the workers of a resumed run take the roles
the workers of the uninterrupted run would have at step ``k``).

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
    caption: str | None = None  # the shard JSON's caption named by finetune.caption


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


def split_shards(urls: list[str], rank: int = 0, world_size: int = 1, worker: int = 0,
                 num_workers: int = 1) -> list[str]:
    """The shards one reader streams: ``urls[rank::world_size][worker::num_workers]``, the split of WebDataset's
    ``split_by_node`` followed by ``split_by_worker``, with the rank and worker passed in."""
    return list(urls)[rank::world_size][worker::max(1, num_workers)]


def check_split(num_shards: int, world_size: int = 1, num_workers: int = 0) -> None:
    """ValueError unless every reader (``world_size`` ranks x ``num_workers`` dataloader workers, at least one
    per rank) gets a shard of its own."""
    readers = world_size * max(1, num_workers)
    if num_shards < readers:
        raise ValueError(f"{num_shards} shard(s) for {world_size} process(es) x {max(1, num_workers)} dataloader "
                         f"worker(s): each reader streams whole shards of its own, so at least {readers} are needed "
                         f"(write smaller shards: shard.samples_per_shard)")


def _shard_streams(urls: list[str]) -> Iterator[dict]:
    """``{url, stream}`` for each shard in order, as WebDataset's expander wants them; a shard's file object is
    closed when the expander asks for the next one (it reads each tar to its end first). ``urls`` are this
    reader's own shards (:func:`split_shards`)."""
    for url in urls:
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
    """Batches of :class:`Clip` for the steps of one reader: rank ``rank`` of ``world_size``, dataloader worker
    ``worker`` of ``num_workers`` (0 = no workers: the rank's only reader), in a run that starts at
    ``start_step``. It yields steps ``start_step + worker``, then every ``max(1, num_workers)``-th; ``step`` is the
    next one."""

    def __init__(self, urls: list[str], batch_size: int, num_frames: int, fps: float, width: int, height: int,
                 seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1, worker: int = 0,
                 num_workers: int = 0, caption: str = "caption"):
        self.caption = caption
        self.batch_size, self.num_frames, self.fps = batch_size, num_frames, fps
        self.width, self.height, self.seed = width, height, seed
        self.rank, self.world_size = rank, world_size
        self.stride = max(1, num_workers)
        # The worker that reads step s in any run is the one that read it in a run started at 0: the logical
        # worker s % stride. This physical worker starts at start_step + worker, so it plays that one's part.
        self.step = start_step + worker
        logical = self.step % self.stride
        self.urls = split_shards(urls, rank, world_size, logical, self.stride)
        if not self.urls:
            raise ValueError(f"rank {rank} worker {logical}: no shard of its own among {len(urls)}")
        self._samples = raw_samples(self.urls)
        for _ in range((self.step - logical) // self.stride * batch_size):  # its earlier steps, not decoded
            next(self._samples)

    def clip(self, sample: dict, number: int) -> Clip:
        """``number``: the sample's place in the whole job (step, rank, place in the batch); seeds its frames."""
        meta = json.loads(sample["json"])
        if meta.get("motion_bucket_id") is None:
            raise ValueError(f"{sample['__key__']}: no motion_bucket_id in its JSON (not one of our shards?)")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + number)
        frames, fps = take_frames(decode_mp4(sample["mp4"]), float(meta["fps"]), self.num_frames, self.fps,
                                  self.width, self.height, generator)
        return Clip(frames, fps, int(meta["motion_bucket_id"]), sample["__key__"], meta.get(self.caption) or None)

    def next_batch(self) -> list[Clip]:
        """The clips of step ``self.step`` for this rank."""
        first = (self.step * self.world_size + self.rank) * self.batch_size
        out = [self.clip(next(self._samples), first + i) for i in range(self.batch_size)]
        self.step += self.stride
        return out


@dataclass
class ClipBatch:
    step: int
    clips: list[Clip]


class ClipDataset(torch.utils.data.IterableDataset):
    """One :class:`ClipBatch` per step, forever, for rank ``rank``, from step ``start_step``: load it with
    :func:`clip_loader` (``batch_size=None``, ``num_workers`` workers; each worker reads its own shards)."""

    def __init__(self, urls: list[str], batch_size: int, num_frames: int, fps: float, width: int, height: int,
                 seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1, num_workers: int = 0,
                 caption: str = "caption"):
        check_split(len(urls), world_size, num_workers)
        self.args = (urls, batch_size, num_frames, fps, width, height, seed, start_step, rank, world_size)
        self.num_workers, self.caption = num_workers, caption

    def __iter__(self) -> Iterator[ClipBatch]:
        info = torch.utils.data.get_worker_info()
        if (info.num_workers if info else 0) != self.num_workers:
            raise RuntimeError(f"ClipDataset made for {self.num_workers} workers, loaded by "
                               f"{info.num_workers if info else 0}")
        stream = ClipStream(*self.args, worker=info.id if info else 0, num_workers=self.num_workers,
                            caption=self.caption)
        while True:
            step = stream.step
            yield ClipBatch(step, stream.next_batch())


def _as_is(batch):
    return batch


def clip_loader(dataset: ClipDataset) -> torch.utils.data.DataLoader:
    """The dataset's batches in step order: ``DataLoader`` takes them from its workers in turn, as
    :class:`ClipStream` deals the steps."""
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=dataset.num_workers, collate_fn=_as_is)
