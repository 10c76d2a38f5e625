"""Build open_clip models (CLIP and CoCa) from a resolved :class:`~curation.models.weights.OpenClipSource`."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from curation.models.weights import RANDOM_MARKER, OpenClipSource, _open_clip

log = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    """``auto``: CUDA when this worker sees a GPU (Ray sets CUDA_VISIBLE_DEVICES), else CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for, but this worker sees no GPU")
    return device


def pick_dtype(precision: str, device: str) -> torch.dtype:
    """``auto``: bf16 on GPU (the models were trained in mixed precision), fp32 on CPU (bf16 is slow there
    without AMX)."""
    if precision == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@dataclass
class OpenClipModel:
    model: Any
    preprocess: Any
    tokenizer: Any
    device: str
    dtype: torch.dtype
    source: OpenClipSource

    @property
    def embed_dim(self) -> int:
        return int(self.model.visual.output_dim)


def load_open_clip(source: OpenClipSource, device: str = "auto", precision: str = "auto",
                   seed: int = 0) -> OpenClipModel:
    """The model in eval mode on ``device`` in the picked dtype, its eval preprocessing and tokenizer.
    Random weights are seeded, so two workers build the same model."""
    open_clip = _open_clip()
    device = pick_device(device)
    dtype = pick_dtype(precision, device)
    if source.random:
        log.warning("%s: RANDOM WEIGHTS (tests and speed benchmarks only); outputs are flagged", source.label)
        torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"device": device, "weights_only": True}
    if source.quick_gelu:
        kwargs["force_quick_gelu"] = True
    if source.preprocess:
        kwargs["force_preprocess_cfg"] = source.preprocess
    model, _, preprocess = open_clip.create_model_and_transforms(source.name, pretrained=source.pretrained,
                                                                  **kwargs)
    model = model.to(dtype=dtype).eval()
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    tokenizer = open_clip.get_tokenizer(source.name)
    return OpenClipModel(model, preprocess, tokenizer, device, dtype, source)


def save_random_open_clip(folder: str | Path, architecture: str, seed: int = 0) -> Path:
    """Write a seeded random-initialised ``architecture`` as a ``local-dir:`` folder (open_clip_config.json
    + open_clip_model.safetensors) marked random, loadable exactly like real local weights. For tests."""
    from safetensors.torch import save_file

    open_clip = _open_clip()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.create_model(architecture, pretrained=None)
    config = {"model_cfg": open_clip.get_model_config(architecture), "preprocess_cfg": {}, RANDOM_MARKER: True}
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder
