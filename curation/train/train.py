"""``curate finetune``: SVD's UNet trained on our shards with the EDM objective (:mod:`objective`), the
conditioning of every clip taken from its data (:mod:`conditioning`, :mod:`data`).

Thin over diffusers and accelerate: the pipeline is loaded with ``StableVideoDiffusionPipeline.from_pretrained``
(a local folder or a hub id in the local cache), only the UNet trains, ``accelerate`` handles devices, bf16
autocast and multi-GPU (``accelerate launch -m curation.cli finetune ...``). Checkpoints hold the UNet
(safetensors), the optimizer and schedule state (``torch.load(weights_only=True)``), the EMA and the step; a
resumed run continues exactly as an uninterrupted one (tested), because the data position and every random
draw are functions of the step.

Shards (``--shards``: a folder or prefix with index.json, a brace pattern, one tar) may be local or on an object
store (:mod:`curation.core.storage`); they are streamed, never copied whole. An object-store ``--output`` is written
through a local staging folder (a temporary folder under ``$TMPDIR``, removed when the trainer is): each
checkpoint is saved there, uploaded file by file with ``checkpoints/latest`` last (so ``latest`` only ever names
a complete checkpoint), then removed from staging, so staging holds at most one checkpoint; validation videos
are uploaded as they are made, ``loss.csv`` with each checkpoint and at the end, and the final model at the end
with ``finetune.json`` last (its presence means the model is complete). A rerun on the same object-store output
downloads the checkpoint ``latest`` names (and ``loss.csv``) into staging and resumes from it.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import torch

import curation.train.torchvision_fix  # noqa: F401  (before transformers)
from curation.core import storage
from curation.core.errors import ConfigError
from curation.train.config import FinetuneConfig
from curation.core.layout import (BUCKETS_FILE, CHECKPOINTS, FINETUNE_MARKER, INDEX_FILE, LATEST, LOSS_LOG,
                                   VALIDATION)
from curation.train.data import ClipStream
from curation.train.objective import Batch, edm_loss
from curation.train.tiny import RANDOM_MARKER
from curation.train.video_io import write_mp4

# Copy chunk of downloads from the object store, bytes: bounded memory for checkpoints of many GiB.
DOWNLOAD_CHUNK = 16 << 20


def shard_urls(pattern: str) -> list[str]:
    """A folder or object-store prefix with an index.json, a brace pattern (``shard-{000000..000003}.tar``), or
    one file; local paths or URIs."""
    import braceexpand

    if storage.is_dir(pattern):
        index = json.loads(storage.read_text(storage.join(pattern, INDEX_FILE)))
        return [storage.join(pattern, s["name"]) for s in index["shards"]]
    urls = list(braceexpand.braceexpand(pattern))
    missing = [u for u in urls if not storage.exists(u)]
    if missing:
        raise ConfigError(f"--shards {pattern}: shards not found: {missing[:3]}")
    return urls


def _download(uri: str, path: Path) -> None:
    """Copy the object/file ``uri`` to the local ``path`` in chunks (folders are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with storage.open_input(uri) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst, DOWNLOAD_CHUNK)


def _upload(path: Path, uri: str) -> None:
    """Write the local file ``path`` to ``uri`` as one complete object (memory-mapped, not read into memory)."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as mapped:
        storage.write_bytes(uri, mapped.read_buffer())


def _checkpoint_dir(output: Path, step: int) -> Path:
    return output / CHECKPOINTS / f"step-{step:07d}"


class Trainer:
    def __init__(self, shards: str, model: str, output: str, config: FinetuneConfig,
                 storage_options: storage.StorageOptions | None = None):
        """``output``: a local folder or an object-store prefix (written through a local staging folder, see the
        module docstring). ``storage_options``: the job's ``storage:`` section (default None: leave this
        process's options, i.e. the standard AWS environment)."""
        from accelerate import Accelerator
        from diffusers import StableVideoDiffusionPipeline

        if storage_options is not None:
            storage.configure(storage_options)
        self.config, self.model_source = config, model
        # Where the results go; self.output is the local folder written to (the staging folder for a URI).
        self.destination = str(output)
        self.remote = storage.is_remote(self.destination)
        if self.remote:
            self.output = Path(tempfile.mkdtemp(prefix="curate-finetune-"))
            weakref.finalize(self, shutil.rmtree, str(self.output), True)
        else:
            self.output = Path(output)
        self.urls = shard_urls(shards)
        self.shards = shards
        use_bf16 = config.mixed_precision == "bf16" and torch.cuda.is_available()
        self.accelerator = Accelerator(mixed_precision="bf16" if use_bf16 else "no",
                                       gradient_accumulation_steps=config.grad_accum)
        self.pipe = StableVideoDiffusionPipeline.from_pretrained(model)
        device = self.accelerator.device
        self.pipe.vae.requires_grad_(False).to(device).eval()
        self.pipe.image_encoder.requires_grad_(False).to(device).eval()
        unet = self.pipe.unet
        unet.train()
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        optimizer = self._optimizer(unet)
        warmup = config.warmup_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) if warmup else 1.0)
        self.unet, self.optimizer, self.scheduler = self.accelerator.prepare(unet, optimizer, scheduler)
        self.ema = None
        if config.ema_decay > 0:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(self.unwrapped.parameters(), decay=config.ema_decay)
        self.step = 0
        self._resume()

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.unet)

    def _optimizer(self, unet):
        c = self.config
        if c.optimizer == "adamw8bit":
            import bitsandbytes as bnb  # an explicit choice: fail here, at start, when it is not installed

            return bnb.optim.AdamW8bit(unet.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
        fused = torch.cuda.is_available()
        return torch.optim.AdamW(unet.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay, fused=fused)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        from safetensors.torch import save_file

        final = _checkpoint_dir(self.output, self.step)
        tmp = final.with_name(f".{final.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.contiguous() for k, v in self.unwrapped.state_dict().items()}, str(tmp / "unet.safetensors"))
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
        if self.ema is not None:
            torch.save(self.ema.state_dict(), tmp / "ema.pt")
        (tmp / "state.json").write_text(json.dumps({"step": self.step, "model": self.model_source}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        (self.output / CHECKPOINTS / LATEST).write_text(final.name)
        if self.remote:
            self._upload_checkpoint(final)
        return final

    def _remote(self, path: Path) -> str:
        """The object-store URI of a file in the staging folder."""
        return storage.join(self.destination, path.relative_to(self.output).as_posix())

    def _upload_checkpoint(self, folder: Path) -> None:
        """Upload a staged checkpoint, then ``latest`` naming it, then ``loss.csv``; drop it from staging."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            _upload(path, self._remote(path))
        latest = self.output / CHECKPOINTS / LATEST
        _upload(latest, self._remote(latest))
        if (self.output / LOSS_LOG).is_file():
            _upload(self.output / LOSS_LOG, self._remote(self.output / LOSS_LOG))
        shutil.rmtree(folder)

    def _download_latest(self) -> None:
        """Into staging: the checkpoint ``checkpoints/latest`` names on the object store, and ``loss.csv``."""
        latest = storage.join(self.destination, CHECKPOINTS, LATEST)
        if not storage.exists(latest):
            return
        name = storage.read_text(latest).strip()
        remote_folder = storage.join(self.destination, CHECKPOINTS, name)
        for uri in storage.list_files(remote_folder, recursive=True):
            _download(uri, self.output / CHECKPOINTS / name / uri[len(remote_folder) + 1:])
        (self.output / CHECKPOINTS / LATEST).write_text(name)
        log = storage.join(self.destination, LOSS_LOG)
        if storage.exists(log):
            _download(log, self.output / LOSS_LOG)

    def _resume(self) -> None:
        if self.remote:
            self._download_latest()
        latest = self.output / CHECKPOINTS / LATEST
        if not latest.is_file():
            return
        from safetensors.torch import load_file

        folder = self.output / CHECKPOINTS / latest.read_text().strip()
        self.unwrapped.load_state_dict(load_file(str(folder / "unet.safetensors")))
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
        self.scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
        if self.ema is not None and (folder / "ema.pt").is_file():
            self.ema.load_state_dict(torch.load(folder / "ema.pt", weights_only=True))
        self.step = json.loads((folder / "state.json").read_text())["step"]
        if self.remote:
            shutil.rmtree(folder)  # loaded; the object store keeps it

    # -- training ------------------------------------------------------------------------------------------
    def _batch(self, clips, step: int) -> Batch:
        c = self.config
        g = torch.Generator().manual_seed(c.seed * 7919 + step)
        aug = (c.noise_aug_min + (c.noise_aug_max - c.noise_aug_min) * torch.rand(len(clips), generator=g)).tolist()
        frames = torch.stack([clip.frames for clip in clips]).to(self.accelerator.device)
        return Batch(frames, [clip.fps for clip in clips], [clip.motion_bucket_id for clip in clips], aug)

    def train_step(self, clips) -> float:
        c = self.config
        batch = self._batch(clips, self.step)
        generator = torch.Generator(device=self.accelerator.device).manual_seed(c.seed * 104729 + self.step)
        with self.accelerator.accumulate(self.unet), self.accelerator.autocast():
            loss = edm_loss(self.unet, self.pipe.vae, self.pipe.image_encoder, batch, generator, c.p_mean, c.p_std)
            self.accelerator.backward(loss)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None and self.accelerator.sync_gradients:
            self.ema.step(self.unwrapped.parameters())
        self.step += 1
        return float(loss.detach())

    def validate(self, clip, name: str) -> Path:
        """A video generated from a training clip's first frame with the current weights, as mp4."""
        from PIL import Image

        c = self.config
        self.unet.eval()
        image = Image.fromarray(((clip.frames[0].permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).byte().numpy())
        with torch.no_grad():
            frames = self.pipe(image, height=c.height, width=c.width, num_frames=c.num_frames, fps=int(round(clip.fps)),
                               motion_bucket_id=clip.motion_bucket_id, num_inference_steps=10, decode_chunk_size=4,
                               generator=torch.Generator().manual_seed(c.seed), output_type="np").frames[0]
        self.unet.train()
        path = self.output / VALIDATION / f"{name}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mp4(path, (frames * 255).round().astype("uint8"), clip.fps)
        if self.remote:
            _upload(path, self._remote(path))
        return path

    def run(self, progress: bool = True) -> dict:
        from tqdm import tqdm

        c = self.config
        self.output.mkdir(parents=True, exist_ok=True)
        stream = ClipStream(self.urls, c.batch_size, c.num_frames, c.fps, c.width, c.height, c.seed, self.step)
        log_path = self.output / LOSS_LOG
        new_log = not log_path.exists()
        losses = []
        with open(log_path, "a", newline="") as fh:
            log = csv.writer(fh)
            if new_log:
                log.writerow(["step", "loss", "lr", "seconds"])
            bar = tqdm(total=c.max_steps, initial=self.step, disable=not progress, desc="finetune")
            while self.step < c.max_steps:
                started = time.monotonic()
                clips = stream.next_batch()
                loss = self.train_step(clips)
                losses.append(loss)
                if c.log_every and self.step % c.log_every == 0 or self.step == c.max_steps:
                    log.writerow([self.step, f"{loss:.6f}", self.scheduler.get_last_lr()[0],
                                  f"{time.monotonic() - started:.3f}"])
                    fh.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                    self.save_checkpoint()
                if c.validate_every and self.step % c.validate_every == 0:
                    self.validate(clips[0], f"step-{self.step:07d}")
            bar.close()
        self.save_pipeline()
        if self.remote:
            self._upload_results()
        return {"steps": self.step, "last_loss": losses[-1] if losses else math.nan,
                "output": self.destination if self.remote else str(self.output)}

    def _upload_results(self) -> None:
        """Upload the staged model and logs (checkpoints went up as they were made), ``finetune.json`` last."""
        marker = self.output / FINETUNE_MARKER
        files = sorted(p for p in self.output.rglob("*")
                       if p.is_file() and p != marker and p.relative_to(self.output).parts[0] != CHECKPOINTS)
        for path in [*files, marker]:
            _upload(path, self._remote(path))

    def save_pipeline(self) -> None:
        """The finetuned model as a diffusers folder (EMA weights when kept), plus the motion-bucket mapping
        of the shards and the random-weights marker of a random base model."""
        unet = self.unwrapped
        if self.ema is not None:
            self.ema.store(unet.parameters())
            self.ema.copy_to(unet.parameters())
        self.pipe.unet = unet
        self.pipe.save_pretrained(self.output)
        if self.ema is not None:
            self.ema.restore(unet.parameters())
        source = storage.join(storage.parent(self.urls[0]), BUCKETS_FILE)
        if storage.exists(source):
            _download(source, self.output / BUCKETS_FILE)
        base = Path(self.model_source)
        if (base / RANDOM_MARKER).is_file():
            shutil.copy(base / RANDOM_MARKER, self.output / RANDOM_MARKER)
        (self.output / FINETUNE_MARKER).write_text(json.dumps(
            {"base_model": self.model_source, "shards": self.shards, "steps": self.step,
             "config": self.config.model_dump(mode="json")}, indent=1))
