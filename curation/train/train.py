"""``curate finetune``: SVD's UNet trained on our shards with the EDM objective (:mod:`objective`), the
conditioning of every clip taken from its data (:mod:`conditioning`, :mod:`data`).

Thin over diffusers and accelerate, on accelerate's own conventions (as diffusers' training examples): the
pipeline is loaded with ``StableVideoDiffusionPipeline.from_pretrained`` (a local folder or a hub id in the local
cache), only the UNet trains, and ``accelerator.prepare`` wraps the UNet, the optimizer and the schedule (DDP,
bf16 autocast on GPU). Several processes (``accelerate launch --multi_gpu --num_processes N -m curation.cli
finetune ...``) each stream their own shards (:mod:`data`: the shard list split by rank and by dataloader worker,
so the ranks see disjoint samples; the shard stream is an ``IterableDataset`` that is not passed through
``prepare``, which would either read everything on the main process and dispatch it or read everything on
every rank); the loss logged is the mean over the ranks; only the main process writes the output (the
checkpoint's UNet, optimizer and schedule, ``loss.csv``, validation videos, the final model).

Checkpoints are ``accelerator.save_state`` folders, ``checkpoints/step-NNNNNNN``: the UNet (plain safetensors,
saved by a save-state hook with unwrapped names, so a checkpoint loads on any number of processes), the EMA,
accelerate's optimizer, schedule and per-process RNG states, and ``state.json`` (the step). ``latest`` names the
newest complete one; ``checkpoints_total_limit`` keeps only the newest N. A resumed run continues exactly as an
uninterrupted one with the same number of processes and workers (tested, in one process and in two), because the
data position and every random draw are functions of the step (and rank): the RNG states accelerate saves are
not needed for that.

Shards (``--shards``: a folder or prefix with index.json, a brace pattern, one tar) may be local or on an object
store (:mod:`curation.core.storage`); they are streamed, never copied whole. An object-store ``--output`` is written
through a local staging folder (a temporary folder under ``$TMPDIR`` per process, removed when the trainer is):
each checkpoint is saved there, uploaded by the main process file by file with ``checkpoints/latest`` last (so
``latest`` only ever names a complete checkpoint), then removed from staging, so staging holds at most one
checkpoint; validation videos are uploaded as they are made, ``loss.csv`` with each checkpoint and at the end,
and the final model at the end with ``finetune.json`` last (its presence means the model is complete). A rerun on
the same object-store output downloads the checkpoint ``latest`` names (every process, into its own staging)
and ``loss.csv``, and resumes from it.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path

import torch

import curation.train.torchvision_fix  # noqa: F401  (before transformers)
from curation.core import storage
from curation.core.errors import ConfigError
from curation.core.lease import Lease, LeaseHeld
from curation.train.config import FinetuneConfig
from curation.core.layout import (BUCKETS_FILE, CHECKPOINTS, FINETUNE_MARKER, INDEX_FILE, LATEST, LOSS_LOG,
                                   SAMPLE_LOG, VALIDATION)
from curation.train.data import ClipDataset, check_split, clip_loader
from curation.train.objective import Batch, edm_loss
from curation.train.tiny import RANDOM_MARKER
from curation.train.video_io import write_mp4

log = logging.getLogger(__name__)

# Copy chunk of downloads from the object store, bytes: bounded memory for checkpoints of many GiB.
DOWNLOAD_CHUNK = 16 << 20
# In a checkpoint folder, beside accelerate's optimizer.bin, scheduler.bin and random_states_<rank>.pkl:
UNET_FILE = "unet.safetensors"   # the UNet's state, unwrapped names
EMA_FILE = "ema.pt"              # the EMA's state (when kept), read with weights_only=True
STATE_FILE = "state.json"        # the step, and the processes, workers and batch size of the run that wrote it
STEP_FOLDER = re.compile(r"step-\d{7}")


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


def _trim_log(path: Path, step: int) -> None:
    """Keep the header and the rows of steps up to ``step`` (a run killed after its last checkpoint logged steps
    that the resumed run does again); the file is replaced atomically."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
    if len(kept) < len(rows):
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
        os.replace(tmp, path)


class Trainer:
    def __init__(self, shards: str, model: str, output: str, config: FinetuneConfig,
                 storage_options: storage.StorageOptions | None = None, checkpoints_total_limit: int | None = None,
                 num_workers: int = 0, sample_log: bool = False):
        """``output``: a local folder or an object-store prefix (written through a local staging folder, see the
        module docstring). ``storage_options``: the job's ``storage:`` section (default None: leave this
        process's options, i.e. the standard AWS environment). ``checkpoints_total_limit``: keep only the newest
        N checkpoints (default None: all). ``num_workers``: dataloader worker processes decoding clips per
        training process (default 0: in the training process). ``sample_log``: a debugging record,
        ``samples.csv``: the key of every clip each rank trained on at each step, with that rank's loss (default
        False)."""
        from accelerate import Accelerator
        from diffusers import StableVideoDiffusionPipeline

        if checkpoints_total_limit is not None and checkpoints_total_limit < 1:
            raise ConfigError(f"checkpoints_total_limit must be at least 1, not {checkpoints_total_limit}")
        if num_workers < 0:
            raise ConfigError(f"num_workers must be 0 or more, not {num_workers}")
        if storage_options is not None:
            storage.configure(storage_options)
        self.config, self.model_source = config, model
        self.checkpoints_total_limit = checkpoints_total_limit
        self.num_workers, self.sample_log = num_workers, sample_log
        use_bf16 = config.mixed_precision == "bf16" and torch.cuda.is_available()
        self.accelerator = accelerator = Accelerator(mixed_precision="bf16" if use_bf16 else "no",
                                                     gradient_accumulation_steps=config.grad_accum)
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > accelerator.num_processes:
            # torchrun started several processes that accelerate does not join (no GPU and no
            # ACCELERATE_USE_CPU): each would train alone on every shard and write the same output.
            raise ConfigError(f"launched as {launched} processes (WORLD_SIZE) but accelerate runs "
                              f"{accelerator.num_processes}: without GPUs, set ACCELERATE_USE_CPU=1 for the launch")
        # Where the results go; self.output is the local folder written to (the staging folder for a URI: one
        # per process, only the main process's is uploaded).
        self.destination = str(output)
        self.remote = storage.is_remote(self.destination)
        if self.remote:
            self.output = Path(tempfile.mkdtemp(prefix="curate-finetune-"))
            weakref.finalize(self, shutil.rmtree, str(self.output), True)
        else:
            self.output = Path(output)
        self.lease = self._take_lease()
        self.urls = shard_urls(shards)
        self.shards = shards
        try:
            check_split(len(self.urls), accelerator.num_processes, num_workers)
        except ValueError as exc:
            raise ConfigError(f"--shards {shards}: {exc}") from None
        self.pipe = StableVideoDiffusionPipeline.from_pretrained(model)
        device = accelerator.device
        self.pipe.vae.requires_grad_(False).to(device).eval()
        self.pipe.image_encoder.requires_grad_(False).to(device).eval()
        unet = self.pipe.unet
        unet.train()
        if config.gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        optimizer = self._optimizer(unet)
        warmup, processes = config.warmup_steps, accelerator.num_processes
        # The prepared schedule steps once per process at each optimizer step (accelerate's convention for a
        # schedule written in single-process steps): s // processes counts optimizer steps.
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s // processes + 1) / warmup) if warmup else 1.0)
        self.unet, self.optimizer, self.scheduler = accelerator.prepare(unet, optimizer, scheduler)
        self.ema = None
        if config.ema_decay > 0:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(self.unwrapped.parameters(), decay=config.ema_decay)
        accelerator.register_save_state_pre_hook(self._save_models)
        accelerator.register_load_state_pre_hook(self._load_models)
        self.step = 0
        self._resume()

    def _take_lease(self) -> Lease | None:
        """One writer per output: the main process takes the output's lease before anything is read from or
        written to it, and holds it until :meth:`run` ends; a refusal stops every process with its one line."""
        lease = Lease(self.destination, "curate finetune") if self.is_main else None
        refusal = None
        if lease is not None:
            try:
                lease.acquire()
            except LeaseHeld as exc:
                refusal = str(exc)
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            refusal = broadcast_object_list([refusal])[0]
        if refusal is not None:
            raise LeaseHeld(refusal)
        if lease is not None:
            weakref.finalize(self, lease.release)  # a Trainer dropped without run() frees the output too
        return lease

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.unet)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def _optimizer(self, unet):
        c = self.config
        if c.optimizer == "adamw8bit":
            import bitsandbytes as bnb  # an explicit choice: fail here, at start, when it is not installed

            return bnb.optim.AdamW8bit(unet.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
        fused = torch.cuda.is_available()
        return torch.optim.AdamW(unet.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay, fused=fused)

    def _seed(self, base: int, step: int) -> int:
        """A seed for ``step`` on this rank (in one process: ``base + step``)."""
        return (base + step) * self.accelerator.num_processes + self.accelerator.process_index

    # -- checkpoints ---------------------------------------------------------------------------------------
    def _save_models(self, models, weights, output_dir) -> None:
        """``save_state`` pre-hook (diffusers' convention): the UNet saved here with unwrapped names instead of
        accelerate's DDP-wrapped ``model.safetensors``, and the EMA; by the main process."""
        from safetensors.torch import save_file

        if weights:
            weights.pop()
        if self.is_main:
            save_file({k: v.contiguous() for k, v in self.unwrapped.state_dict().items()},
                      str(Path(output_dir) / UNET_FILE))
            if self.ema is not None:
                torch.save(self.ema.state_dict(), Path(output_dir) / EMA_FILE)

    def _load_models(self, models, input_dir) -> None:
        """``load_state`` pre-hook: the UNet and the EMA loaded here (every process), weights only."""
        from safetensors.torch import load_file

        models.pop()
        self.unwrapped.load_state_dict(load_file(str(Path(input_dir) / UNET_FILE)))
        if self.ema is not None and (Path(input_dir) / EMA_FILE).is_file():
            self.ema.load_state_dict(torch.load(Path(input_dir) / EMA_FILE, weights_only=True))

    def save_checkpoint(self) -> Path:
        """``accelerator.save_state`` into a hidden folder, renamed into place by the main process, then
        ``latest``; every process must call it."""
        accelerator = self.accelerator
        if self.lease is not None:
            self.lease.check()
        final = _checkpoint_dir(self.output, self.step)
        tmp = final.with_name(f".{final.name}.tmp")
        if self.is_main or self.remote:  # a local output is the main process's; a staging folder is this one's
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))  # each process adds its own random_states_<rank>.pkl
        accelerator.wait_for_everyone()
        if self.is_main:
            (tmp / STATE_FILE).write_text(json.dumps(
                {"step": self.step, "model": self.model_source, "processes": accelerator.num_processes,
                 "num_workers": self.num_workers, "batch_size": self.config.batch_size}))
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            storage.write_text(str(self.output / CHECKPOINTS / LATEST), final.name)
            if self.remote:
                self._upload_checkpoint(final)
            self._prune_checkpoints()
        elif self.remote:
            shutil.rmtree(tmp)  # this process's staging; the main process uploads its own
        accelerator.wait_for_everyone()
        return final

    def _remote(self, path: Path) -> str:
        """The object-store URI of a file in the staging folder."""
        return storage.join(self.destination, path.relative_to(self.output).as_posix())

    def _upload_checkpoint(self, folder: Path) -> None:
        """Upload a staged checkpoint, then ``latest`` naming it, then the logs; drop it from staging."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            _upload(path, self._remote(path))
        latest = self.output / CHECKPOINTS / LATEST
        _upload(latest, self._remote(latest))
        for name in (LOSS_LOG, SAMPLE_LOG):
            if (self.output / name).is_file():
                _upload(self.output / name, self._remote(self.output / name))
        shutil.rmtree(folder)

    def _prune_checkpoints(self) -> None:
        """Keep the newest ``checkpoints_total_limit`` checkpoints (the one ``latest`` names is the newest)."""
        limit = self.checkpoints_total_limit
        if not limit:
            return
        if self.remote:
            root = storage.join(self.destination, CHECKPOINTS)
            names = {u[len(root) + 1:].split("/")[0] for u in storage.list_files(root, recursive=True)}
            for name in sorted(n for n in names if STEP_FOLDER.fullmatch(n))[:-limit]:
                storage.delete_dir(storage.join(root, name))
        else:
            root = self.output / CHECKPOINTS
            for name in sorted(p.name for p in root.iterdir() if p.is_dir() and STEP_FOLDER.fullmatch(p.name))[:-limit]:
                shutil.rmtree(root / name)

    def _download_latest(self) -> None:
        """Into this process's staging: the checkpoint ``checkpoints/latest`` names on the object store, and
        (main process) the logs."""
        latest = storage.join(self.destination, CHECKPOINTS, LATEST)
        if not storage.exists(latest):
            return
        name = storage.read_text(latest).strip()
        remote_folder = storage.join(self.destination, CHECKPOINTS, name)
        for uri in storage.list_files(remote_folder, recursive=True):
            _download(uri, self.output / CHECKPOINTS / name / uri[len(remote_folder) + 1:])
        (self.output / CHECKPOINTS / LATEST).write_text(name)
        for log_name in (LOSS_LOG, SAMPLE_LOG) if self.is_main else ():
            if storage.exists(storage.join(self.destination, log_name)):
                _download(storage.join(self.destination, log_name), self.output / log_name)

    def _resume(self) -> None:
        if self.remote:
            self._download_latest()
        latest = self.output / CHECKPOINTS / LATEST
        if not latest.is_file():
            return
        name = latest.read_text().strip()
        folder = self.output / CHECKPOINTS / name
        if not (folder / "optimizer.bin").is_file():
            where = storage.join(self.destination, CHECKPOINTS)
            raise ConfigError(f"{where}/{name}: not an accelerate checkpoint (no optimizer.bin: written by an "
                              f"earlier curate, or incomplete); remove {where} to start afresh")
        state = json.loads((folder / STATE_FILE).read_text())
        self.accelerator.load_state(str(folder))
        self.step = state["step"]
        self.accelerator.step = self.step  # its micro-step count, which places gradient-accumulation boundaries
        were = (state.get("processes", 1), state.get("num_workers", 0), state.get("batch_size"))
        now = (self.accelerator.num_processes, self.num_workers, self.config.batch_size)
        if were != now and self.is_main:
            log.warning("resuming %s at step %d with (processes, workers, batch size) %s, written with %s: the "
                        "data order from here differs from an uninterrupted run's", folder, self.step, now, were)
        if self.remote:
            shutil.rmtree(folder)  # loaded; the object store keeps it

    # -- training ------------------------------------------------------------------------------------------
    def _batch(self, clips, step: int) -> Batch:
        c = self.config
        g = torch.Generator().manual_seed(self._seed(c.seed * 7919, step))
        aug = (c.noise_aug_min + (c.noise_aug_max - c.noise_aug_min) * torch.rand(len(clips), generator=g)).tolist()
        frames = torch.stack([clip.frames for clip in clips]).to(self.accelerator.device)
        return Batch(frames, [clip.fps for clip in clips], [clip.motion_bucket_id for clip in clips], aug)

    def train_step(self, clips) -> float:
        """One step on this process's clips (every process must call it: the gradients are averaged over the
        processes); returns this process's loss."""
        c = self.config
        batch = self._batch(clips, self.step)
        generator = torch.Generator(device=self.accelerator.device).manual_seed(self._seed(c.seed * 104729, self.step))
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
        """A video generated from a training clip's first frame with the current weights, as mp4 (the run calls
        it on the main process only)."""
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

    def _open_log(self, name: str, header: list[str]):
        path = self.output / name
        _trim_log(path, self.step)
        new = not path.exists()
        fh = open(path, "a", newline="")
        if new:
            csv.writer(fh).writerow(header)
        return fh, csv.writer(fh)

    def run(self, progress: bool = True) -> dict:
        """Train to ``max_steps``; every process must call it. Only the main process writes the output; the
        loss it logs (and returns) is the mean over the processes."""
        from accelerate.utils import gather_object
        from tqdm import tqdm

        c, accelerator, main = self.config, self.accelerator, self.is_main
        if main:
            self.output.mkdir(parents=True, exist_ok=True)
        dataset = ClipDataset(self.urls, c.batch_size, c.num_frames, c.fps, c.width, c.height, c.seed, self.step,
                              accelerator.process_index, accelerator.num_processes, self.num_workers, c.caption)
        batches = iter(clip_loader(dataset)) if self.step < c.max_steps else iter(())
        loss_log = sample_log = None
        if main:
            loss_log = self._open_log(LOSS_LOG, ["step", "loss", "lr", "seconds"])
            if self.sample_log:
                sample_log = self._open_log(SAMPLE_LOG, ["step", "rank", "key", "rank_loss", c.caption])
        losses = []
        bar = tqdm(total=c.max_steps, initial=self.step, desc="finetune",
                   disable=not progress or not accelerator.is_local_main_process)
        try:
            while self.step < c.max_steps:
                started = time.monotonic()
                batch = next(batches)
                if batch.step != self.step:
                    raise RuntimeError(f"data for step {batch.step} came at step {self.step}")
                rank_loss = self.train_step(batch.clips)
                rank_losses = accelerator.gather(torch.tensor([rank_loss], device=accelerator.device)).cpu()
                loss = float(rank_losses.mean())
                losses.append(loss)
                if self.sample_log:
                    rows = gather_object([[self.step, accelerator.process_index, clip.key, repr(rank_loss),
                                           clip.caption or ""] for clip in batch.clips])
                if main:
                    if c.log_every and self.step % c.log_every == 0 or self.step == c.max_steps:
                        loss_log[1].writerow([self.step, f"{loss:.6f}", self.scheduler.get_last_lr()[0],
                                              f"{time.monotonic() - started:.3f}"])
                        loss_log[0].flush()
                    if sample_log:
                        sample_log[1].writerows(rows)
                        sample_log[0].flush()
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                    self.save_checkpoint()
                if c.validate_every and self.step % c.validate_every == 0:
                    if main:
                        self.validate(batch.clips[0], f"step-{self.step:07d}")
                    accelerator.wait_for_everyone()
        finally:
            bar.close()
            for log_file in (loss_log, sample_log):
                if log_file:
                    log_file[0].close()
            del batches  # stops the dataloader workers
        accelerator.wait_for_everyone()
        if main:
            self.lease.check()  # finetune.json last: only the lease holder may mark the output complete
            self.save_pipeline()
            if self.remote:
                self._upload_results()
            self.lease.release()
        accelerator.wait_for_everyone()
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
        of the shards and the random-weights marker of a random base model (the run calls it on the main
        process only)."""
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
             "processes": self.accelerator.num_processes,
             "config": self.config.model_dump(mode="json")}, indent=1))
