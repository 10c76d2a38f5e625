"""TransNetV2's (2+1)D convolutions evaluated as 2D ones give the package's layers' numbers."""
import numpy as np
import pytest
import torch

from curation.models.transnetv2 import _SpatialConv, _TemporalConv, build_transnetv2


@pytest.fixture(scope="module")
def pair():
    return build_transnetv2("cpu", as_2d=False), build_transnetv2("cpu")


def _frames(n: int, seed: int) -> np.ndarray:
    """Two drifting noise shots joined by a cut at n // 3 and a 10-frame dissolve at 2n // 3: [n, 27, 48, 3]."""
    rng = np.random.default_rng(seed)
    # Smooth pictures (8x8 blocks of noise), as TransNetV2 sees real shots at 48x27.
    shots = [np.kron(rng.integers(0, 256, (5, 10, 3)), np.ones((8, 8, 1))).astype(np.float32) for _ in range(3)]
    out = []
    for i in range(n):
        views = [s[i // 4 % 13:i // 4 % 13 + 27, i // 2 % 32:i // 2 % 32 + 48] for s in shots]
        shot = 0 if i < n // 3 else 1
        picture = views[shot]
        if i >= 2 * n // 3:
            a = min(1.0, (i - 2 * n // 3) / 10)
            picture = (1 - a) * views[1] + a * views[2]
        out.append(picture)
    return np.stack(out).round().astype(np.uint8)


def test_every_separable_pair_is_swapped(pair):
    _, ours = pair
    assert not any(isinstance(m, torch.nn.Conv3d) and m.kernel_size[0] == 1 and m.kernel_size[1:] == (3, 3)
                   for m in ours.modules())
    assert sum(isinstance(m, _SpatialConv) for m in ours.modules()) == 24
    assert sum(isinstance(m, _TemporalConv) for m in ours.modules()) == 24


@pytest.mark.parametrize("batch,length", [(1, 16), (4, 16), (1, 48), (2, 100)])
def test_2d_form_gives_the_package_layers_numbers(pair, batch, length):
    theirs, ours = pair
    windows = torch.from_numpy(np.stack([_frames(length, seed) for seed in range(batch)]))
    with torch.inference_mode():
        expected, expected_many = theirs.predict_raw(windows)
        got, got_many = ours.predict_raw(windows)
    assert float(expected.max()) > 0.3  # the cut is seen: the numbers compared are not all near zero
    np.testing.assert_allclose(got.float().numpy(), expected.float().numpy(), atol=1e-5)
    np.testing.assert_allclose(got_many.float().numpy(), expected_many.float().numpy(), atol=1e-5)
