"""SVD module, first part: conditioning from the data, the EDM objective on a tiny random SVD loaded through
diffusers from a folder a fixture writes (the same loader as real weights)."""
import numpy as np
import pytest
import torch
from PIL import Image

from curation.train.conditioning import added_time_ids
from curation.train.objective import Batch, edm_loss
from curation.train.tiny import RANDOM_MARKER, save_tiny_svd


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_svd(tmp_path_factory.mktemp("svd") / "tiny")


def load(folder):
    from diffusers import StableVideoDiffusionPipeline

    return StableVideoDiffusionPipeline.from_pretrained(folder)


def test_conditioning_equals_the_pipelines_time_ids(tiny):
    pipe = load(tiny)
    for fps, bucket, aug in ((7, 127, 0.02), (25, 0, 0.0), (6, 255, 0.1)):
        # the pipeline passes fps - 1 to _get_add_time_ids; our vector is built from the true fps
        expected = pipe._get_add_time_ids(fps - 1, bucket, aug, torch.float32, 1, 1, False)
        assert torch.equal(added_time_ids([fps], [bucket], [aug]), expected)


def test_tiny_folder_is_marked_random_and_generates_k_frames(tiny):
    assert (tiny / RANDOM_MARKER).is_file()
    pipe = load(tiny)
    image = Image.fromarray((np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8))
    out = pipe(image, height=64, width=96, num_frames=4, num_inference_steps=2, decode_chunk_size=2,
               output_type="pt", generator=torch.Generator().manual_seed(0), motion_bucket_id=20, fps=7)
    assert tuple(out.frames.shape) == (1, 4, 3, 64, 96)


def clip(frames=4, size=64):
    x = torch.linspace(-1, 1, size)
    return torch.stack([torch.stack([torch.sin(3 * x[None, :] + 0.5 * t + c) * torch.cos(2 * x[:, None])
                                     for c in range(3)]) for t in range(frames)])[None]


def eval_loss(pipe, batch):
    with torch.no_grad():
        return sum(edm_loss(pipe.unet, pipe.vae, pipe.image_encoder, batch, torch.Generator().manual_seed(s)).item()
                   for s in range(4)) / 4


def test_one_step_changes_the_unet_only_and_overfitting_halves_the_loss(tiny):
    pipe = load(tiny)
    pipe.vae.requires_grad_(False)
    pipe.image_encoder.requires_grad_(False)
    batch = Batch(clip(), [7.0], [100], [0.02])
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    vae_before = {k: v.clone() for k, v in pipe.vae.state_dict().items()}
    opt = torch.optim.AdamW(pipe.unet.parameters(), lr=1e-3)
    start = eval_loss(pipe, batch)
    for step in range(40):
        loss = edm_loss(pipe.unet, pipe.vae, pipe.image_encoder, batch, torch.Generator().manual_seed(step % 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 0:
            changed = [k for k, v in pipe.unet.state_dict().items() if not torch.equal(v, before[k])]
            assert len(changed) > 0.5 * len(before)
            assert all(torch.equal(v, vae_before[k]) for k, v in pipe.vae.state_dict().items())
    assert eval_loss(pipe, batch) < 0.5 * start


def test_the_motion_bucket_reaches_the_model(tiny):
    pipe = load(tiny)
    a = Batch(clip(), [7.0], [0], [0.02])
    b = Batch(clip(), [7.0], [255], [0.02])
    with torch.no_grad():
        la = edm_loss(pipe.unet, pipe.vae, pipe.image_encoder, a, torch.Generator().manual_seed(0))
        lb = edm_loss(pipe.unet, pipe.vae, pipe.image_encoder, b, torch.Generator().manual_seed(0))
    assert la.item() != lb.item()
