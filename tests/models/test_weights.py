"""Weights resolution (offline, one place), the torchvision fix, and the real LAION aesthetic head."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from curation.core.errors import ConfigError
from curation.config import load_config
from curation.models.aesthetic import load_aesthetic_head
from curation.annotate.enrich.registry import stage_weights
from curation.models.weights import WeightsUnavailable, resolve_file, resolve_open_clip


def test_torchvision_imports_after_the_fix_in_a_fresh_interpreter():
    code = ("from curation.models.torchvision_compat import ensure_torchvision_importable as fix\n"
            "fixed = fix()\nimport torchvision, open_clip, easyocr\nprint('ok', fixed)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
    if "ok True" in run.stdout:  # the fix was needed here: without it the import fails as documented
        bare = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True,
                              timeout=300)
        assert bare.returncode != 0 and "torchvision::nms" in bare.stderr


def test_hub_weights_that_are_not_here_fail_with_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsUnavailable, match="curate models download"):
        resolve_open_clip("ViT-L-14", "openai", "annotate.aesthetic")
    with pytest.raises(ConfigError, match="annotate.aesthetic.weights: 'nonsense'"):
        resolve_open_clip("ViT-L-14", "nonsense", "annotate.aesthetic")
    with pytest.raises(ConfigError, match="unknown open_clip architecture"):
        resolve_open_clip("ViT-XXL-99", "random", "annotate.aesthetic")
    with pytest.raises(WeightsUnavailable, match="aesthetic_head"):
        resolve_file("https://example.org/head.pth", "annotate.aesthetic.aesthetic_head")


def test_default_config_stops_before_work_when_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsUnavailable):
        stage_weights(load_config(None).annotate)
    offline = stage_weights(load_config("configs/offline.yaml").annotate)
    assert offline["aesthetic"]["source"].random and offline["caption"]["source"].random
    assert "RANDOM WEIGHTS" in offline["aesthetic"]["source"].label


HEAD = "models/aesthetic/sac+logos+ava1-l14-linearMSE.pth"


def test_real_aesthetic_head_orders_laion_ratings(testdata):
    head = load_aesthetic_head(resolve_file(str(testdata / HEAD), "h"), 768)
    ratings = [np.load(testdata / "models" / "aesthetic" / "vit_l_14_embeddings" / f"rating{r}.npy")
               for r in range(10)]
    with torch.inference_mode():
        scores = head(torch.from_numpy(np.stack(ratings)).float().reshape(10, -1)).numpy()
    assert scores[9] > scores[0] + 3, scores
    assert np.corrcoef(np.arange(10), scores)[0, 1] > 0.9, scores


def test_head_that_does_not_fit_the_model_is_refused_before_work(testdata):
    cfg = load_config("configs/offline.yaml", [f"annotate.aesthetic.aesthetic_head={testdata / HEAD}"]).annotate
    with pytest.raises(ConfigError, match="768-d"):
        stage_weights(cfg)
