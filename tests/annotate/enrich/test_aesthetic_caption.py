"""The aesthetic (CLIP) and caption stages on tiny random open_clip models written to disk by a fixture and
loaded through the same code as real weights (local-dir:), checked against direct computations."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from curation.config import load_config
from curation.models.weights import resolve_file, resolve_open_clip
from curation.models.open_clip_models import save_random_open_clip
from curation.annotate.enrich.caption import CaptionStage, clean_caption
from curation.annotate.enrich.aesthetic import AestheticStage


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"clip": save_random_open_clip(root / "clip", "curation-tiny-clip", seed=1),
            "coca": save_random_open_clip(root / "coca", "curation-tiny-coca", seed=2)}


def config(tiny, *sets):
    return load_config(None, [f"annotate.aesthetic.model=local-dir:{tiny['clip']}", "annotate.aesthetic.weights=null",
                              "annotate.aesthetic.aesthetic_head=random",
                              f"annotate.caption.model=local-dir:{tiny['coca']}",
                              "annotate.caption.weights=null", "annotate.caption.num_beams=2",
                              "annotate.caption.num_beam_groups=1", "annotate.caption.max_seq_len=10", *sets]).annotate


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [cv2.GaussianBlur(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (5, 5), 0) for _ in range(n)]


def batch(frames, texts, missing=()):
    enc = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
    n = len(texts)
    cols = {"clip_id": [f"c{i}" for i in range(n)], "text": texts}
    for k, position in enumerate(("first", "middle", "last")):
        cols[f"jpeg_{position}"] = [b"" if (i, position) in missing else enc[3 * i + k] for i in range(n)]
    return {k: np.array(v, dtype=object) for k, v in cols.items()}


def aesthetic_stage(tiny, *sets):
    cfg = config(tiny, *sets)
    return AestheticStage(cfg, resolve_open_clip(cfg.aesthetic.model, cfg.aesthetic.weights, "annotate.aesthetic"),
                          resolve_file("random", "annotate.aesthetic.aesthetic_head"))


def test_random_local_dir_is_flagged(tiny):
    assert resolve_open_clip(f"local-dir:{tiny['clip']}", None, "annotate.aesthetic").random


def test_aesthetic_scores_equal_a_direct_computation(tiny):
    stage = aesthetic_stage(tiny, "annotate.aesthetic.keep_embedding=true")
    frames = images(6)
    out = stage.annotate_clips(batch(frames, ["a red car", ""]))
    assert out["aesthetic_error"] == [None, None]
    m = stage.loaded
    with torch.inference_mode():
        pixels = torch.stack([m.preprocess(Image.fromarray(cv2.cvtColor(cv2.imdecode(
            np.frombuffer(cv2.imencode(".jpg", f)[1], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)))
            for f in frames])
        emb = m.model.encode_image(pixels)
        emb = emb / emb.norm(dim=-1, keepdim=True)
        aesthetic = stage.head(emb).reshape(2, 3).mean(1)
        text = m.model.encode_text(m.tokenizer(["a red car"]))
        text = text / text.norm(dim=-1, keepdim=True)
        sims = emb[:3] @ text[0]
    np.testing.assert_allclose(out["aesthetic"], aesthetic.numpy(), rtol=1e-4, atol=1e-5)
    assert out["text_sim_mean"][0] == pytest.approx(float(sims.mean()), abs=1e-4)
    assert out["text_sim_min"][0] == pytest.approx(float(sims.min()), abs=1e-4)
    assert out["text_sim_mean"][1] is None and out["text_sim_min"][1] is None  # no text, no similarity
    mean = np.asarray(out["image_embedding"][0], np.float32)
    assert mean.shape == (64,) and np.linalg.norm(mean) == pytest.approx(1.0, abs=2e-3)


def test_aesthetic_is_deterministic_and_a_bad_clip_fails_alone(tiny):
    frames = images(9, seed=3)
    a = aesthetic_stage(tiny).annotate_clips(batch(frames, ["x", "y", "z"], missing={(1, "middle")}))
    b = aesthetic_stage(tiny).annotate_clips(batch(frames, ["x", "y", "z"], missing={(1, "middle")}))
    np.testing.assert_array_equal(a["aesthetic"], b["aesthetic"])
    assert a["aesthetic_error"] == [None, "missing middle keyframe", None]
    assert np.isfinite([a["aesthetic"][0], a["aesthetic"][2]]).all() and a["aesthetic"][1] is None


def test_captions_are_clean_strings_and_deterministic(tiny):
    cfg = config(tiny)
    source = resolve_open_clip(cfg.caption.model, cfg.caption.weights, "annotate.caption")
    frames = images(6, seed=5)
    first = CaptionStage(cfg, source).annotate_clips(batch(frames, ["", ""]))
    again = CaptionStage(cfg, source).annotate_clips(batch(frames, ["", ""]))
    assert list(first["caption"]) == list(again["caption"])
    for caption in first["caption"]:
        assert isinstance(caption, str) and "<" not in caption and caption == caption.strip()


def test_clean_caption_strips_special_tokens():
    assert clean_caption("<start_of_text>a dog on a beach . <end_of_text> junk") == "a dog on a beach."
