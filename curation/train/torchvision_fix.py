"""Imported first by the modules that import diffusers or transformers: makes torchvision importable on CPU
torch (see :mod:`curation.models.torchvision_compat`)."""
from curation.models.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()
