"""Make ``import torchvision`` work on CPU-only torch with the CUDA build of torchvision from PyPI.

open_clip and easyocr import torchvision. The PyPI wheel of torchvision 0.28 is built against CUDA torch: its
C++ extension cannot load next to CPU torch, and the import then fails with ``operator torchvision::nms does
not exist`` because torchvision registers Python "fake" kernels for operators the extension would have
defined. We define those two operator schemas (no kernels) before torchvision is imported. Nothing we use
calls them (open_clip and EasyOCR's CRAFT detector do not use torchvision's C++ ops). Where the extension
loads (CUDA machines, proper CPU builds) this is a no-op. Call :func:`ensure_torchvision_importable` before
importing anything that imports torchvision; the model loaders in this package do.
"""
from __future__ import annotations

import ctypes
import importlib.util
import sys
from pathlib import Path

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library: torch.library.Library | None = None  # kept alive: dropping it would remove the schemas


def _extension_loads() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # not installed: nothing to fix
    extension = next(iter(sorted(Path(spec.origin).parent.glob("_C*.so"))), None)
    if extension is None:
        return False
    try:
        ctypes.CDLL(str(extension))
    except OSError:
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Returns True when the schemas were defined here (the extension cannot load), False otherwise."""
    global _library
    if _library is not None:
        return True
    if "torchvision" in sys.modules or _extension_loads():
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS.values():
        _library.define(schema)
    return True
