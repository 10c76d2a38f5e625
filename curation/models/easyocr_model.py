"""EasyOCR's reader with local weights only (``download_enabled=False``)."""
from __future__ import annotations

from pathlib import Path

from curation.models.open_clip_models import pick_device


def load_easyocr(weights_dir: Path, recognition: bool, device: str = "auto"):
    from curation.models.torchvision_compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import easyocr

    gpu = pick_device(device) == "cuda"
    return easyocr.Reader(["en"], gpu=gpu, model_storage_directory=str(weights_dir), download_enabled=False,
                          detector=True, recognizer=recognition, verbose=False)
