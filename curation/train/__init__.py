"""The bundled SVD module: finetune Stable Video Diffusion on our shards and generate with it, thin over diffusers.

Importing it makes torchvision importable on CPU torch first (transformers' CLIP image processor imports it).
"""
from curation.models.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()
