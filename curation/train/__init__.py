"""The bundled SVD module: finetune Stable Video Diffusion on our shards and generate with it, thin over diffusers.

Importing the package loads nothing (its config is read by every command). The modules that import diffusers or
transformers import :mod:`curation.train.torchvision_fix` first (transformers' CLIP image processor imports
torchvision).
"""
