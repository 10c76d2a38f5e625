"""TransNetV2 on a whole sequence: our batched windows give the package's own numbers."""
import numpy as np
import pytest
import torch

from curation.annotate.shots import TransNetV2Model


@pytest.fixture(scope="module")
def model():
    return TransNetV2Model("cpu")


@pytest.mark.parametrize("frames", [37, 150, 233])
def test_batched_windows_give_the_package_numbers(model, frames):
    rng = np.random.default_rng(frames)
    # Two "shots" of smooth noise with a cut, so the probabilities are not all near zero.
    tiny = np.concatenate([np.repeat(rng.integers(0, 256, (1, 27, 48, 3), dtype=np.uint8), frames // 2, axis=0),
                           np.repeat(rng.integers(0, 256, (1, 27, 48, 3), dtype=np.uint8), frames - frames // 2,
                                     axis=0)])
    ours = model.predict_all(tiny)
    with torch.inference_mode():
        theirs, _ = model.model.predict_frames(torch.from_numpy(tiny), quiet=True)
    assert ours.shape == (frames,)
    np.testing.assert_allclose(ours, theirs.float().numpy(), atol=1e-5)
