"""`curate finetune` on shards made by the curate chain, resume identity, and `curate generate`."""
import json
import tarfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from curation.config import load_config
from curation.train.tiny import RANDOM_MARKER, save_tiny_svd
from curation.train.train import Trainer
from curation.testing.synthetic import Shot, write_video
from tests.e2e.test_annotate import curate

SMALL = ["finetune.num_frames=4", "finetune.width=64", "finetune.height=64", "finetune.learning_rate=1e-3",
         "finetune.validate_every=0", "finetune.log_every=1", "finetune.gradient_checkpointing=false"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A shard of two clips with known motion buckets, written by our shard writer (no Ray needed)."""
    from curation.curate.shards import write_shard

    root = tmp_path_factory.mktemp("shards")
    rows = []
    for i, speed in enumerate((0.0, 2.0)):
        path = root / f"v{i}.mp4"
        write_video(path, [Shot(40, (speed, 0.0), seed=30 + i)])
        rows.append({"clip_id": f"v{i}-00000", "video_id": f"v{i}", "video_path": str(path), "start_s": 0.0,
                     "end_s": 1.6, "start_frame": 0, "end_frame": 39, "fps": 25.0, "caption": f"clip {i}",
                     "video_caption": f"a video of clip {i}" if i else None,
                     "motion_bucket_id": 10 + 200 * i, "motion_mean": 40.0 * speed})
    write_shard(root / "shard-000000.tar", rows, load_config(None, ["shard.short_side=64"]).shard)
    (root / "index.json").write_text(json.dumps({"shards": [{"name": "shard-000000.tar", "samples": 2}]}))
    from curation.curate.buckets import MotionBuckets

    MotionBuckets.fixed("motion_mean").save(root / "motion_buckets.json")
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_svd(tmp_path_factory.mktemp("base") / "tiny")


def trainer(shards, base, out, *sets):
    return Trainer(str(shards), str(base), str(out), load_config(None, [*SMALL, *sets]).finetune)


def test_each_clip_conditions_on_its_own_bucket_and_fps(shards, base, tmp_path):
    from curation.train.data import ClipStream
    from curation.train.train import shard_urls

    clips = ClipStream(shard_urls(str(shards)), 2, 4, 12.5, 64, 64, 0).next_batch()
    assert sorted(c.motion_bucket_id for c in clips) == [10, 210]
    assert all(c.fps == 12.5 and tuple(c.frames.shape) == (4, 3, 64, 64) for c in clips)
    assert all(c.frames.min() >= -1 and c.frames.max() <= 1 for c in clips)


def test_clips_carry_the_caption_finetune_caption_names(shards):
    from curation.train.data import ClipStream, raw_samples
    from curation.train.train import shard_urls

    urls = shard_urls(str(shards))
    metas = [json.loads(next(raw_samples(urls[:1]))["json"])]
    assert metas[0]["caption"] == "clip 0" and metas[0]["video_caption"] is None and metas[0]["caption_merged"] is None
    by = {name: {c.key: c.caption for c in ClipStream(urls, 2, 4, 12.5, 64, 64, 0, caption=name).next_batch()}
          for name in ("caption", "video_caption", "caption_merged")}
    assert by == {"caption": {"v0-00000": "clip 0", "v1-00000": "clip 1"},
                  "video_caption": {"v0-00000": None, "v1-00000": "a video of clip 1"},
                  "caption_merged": {"v0-00000": None, "v1-00000": None}}


def test_resume_gives_the_same_next_step_as_an_uninterrupted_run(shards, base, tmp_path):
    ema = "finetune.ema_decay=0.5"  # the EMA state is checkpointed too, and the saved UNet is the EMA
    straight = trainer(shards, base, tmp_path / "a", "finetune.max_steps=3", "finetune.checkpoint_every=0", ema,
                       "finetune.validate_every=3")
    straight.run(progress=False)
    with av.open(str(tmp_path / "a" / "validation" / "step-0000003.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    first = trainer(shards, base, tmp_path / "b", "finetune.max_steps=2", "finetune.checkpoint_every=2", ema)
    first.run(progress=False)
    resumed = trainer(shards, base, tmp_path / "b", "finetune.max_steps=3", "finetune.checkpoint_every=0", ema)
    assert resumed.step == 2
    resumed.run(progress=False)
    a = load_file(str(tmp_path / "a" / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base_weights = load_file(str(Path(base) / "unet" / "diffusion_pytorch_model.safetensors"))
    assert any(not torch.equal(a[k], base_weights[k]) for k in a)


def test_finetuned_model_generates_and_buckets_matter(shards, base, tmp_path):
    out = tmp_path / "model"
    result = trainer(shards, base, out, "finetune.max_steps=2", "finetune.checkpoint_every=0").run(progress=False)
    assert result["steps"] == 2 and (out / RANDOM_MARKER).is_file() and (out / "motion_buckets.json").is_file()
    with tarfile.open(shards / "shard-000000.tar") as tar:
        image = tar.extractfile("v1-00000.jpg").read()
    (tmp_path / "first.jpg").write_bytes(image)
    videos = {}
    for name, args in {"low": ["--motion-bucket", "0"], "high": ["--motion-bucket", "255"],
                       "motion": ["--motion", "80"]}.items():
        run = curate("generate", "--model", out, "--image", tmp_path / "first.jpg", "--output",
                     tmp_path / f"{name}.mp4", "--num-frames", "4", "--steps", "3", "--width", "64", "--height",
                     "64", *args)
        assert run.returncode == 0, run.stderr[-2000:]
        with av.open(str(tmp_path / f"{name}.mp4")) as container:
            videos[name] = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert videos[name].shape == (4, 64, 64, 3)
    from curation.curate.buckets import MotionBuckets

    expected = int(MotionBuckets.fixed("motion_mean").bucket(80)[0])  # the mapping the shards carried
    assert f"motion bucket {expected}:" in run.stdout
    assert not np.array_equal(videos["low"], videos["high"])
    # --interpolate 3: two motion-compensated frames between every two, at 3x the frame rate
    run = curate("generate", "--model", out, "--image", tmp_path / "first.jpg", "--output", tmp_path / "x3.mp4",
                 "--num-frames", "4", "--steps", "3", "--width", "64", "--height", "64", "--motion-bucket", "255",
                 "--fps", "6", "--interpolate", "3")
    assert run.returncode == 0, run.stderr[-2000:]
    with av.open(str(tmp_path / "x3.mp4")) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert float(stream.average_rate) == 18.0
    assert frames.shape == (10, 64, 64, 3)
    # the generated frames are kept (to within the encoder's loss) at every third position: far closer to the
    # frames generated without interpolation than those are to each other
    kept = np.abs(frames[::3].astype(int) - videos["high"].astype(int)).mean()
    apart = np.abs(np.diff(videos["high"].astype(int), axis=0)).mean()
    assert kept < 0.5 * apart, (kept, apart)


def test_a_held_output_is_refused_before_any_work_and_released_after_the_run(shards, base, tmp_path):
    from curation.core.lease import Lease, LeaseHeld

    out = tmp_path / "model"
    with Lease(str(out), "curate finetune (another job)"):
        with pytest.raises(LeaseHeld, match=r"being written by another job \(curate finetune \(another job\)"):
            trainer(shards, base, out, "finetune.max_steps=1", "finetune.checkpoint_every=0")
        assert not (out / "loss.csv").exists()
    run = trainer(shards, base, out, "finetune.max_steps=1", "finetune.checkpoint_every=1")
    with pytest.raises(LeaseHeld):  # held from the start of the job, not only while writing
        Lease(str(out), "a second job").acquire()
    run.run(progress=False)
    assert (out / "finetune.json").is_file() and not (out / "_lease.json").exists()
    Lease(str(out), "the next job").acquire().release()
