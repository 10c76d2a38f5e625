"""The video_caption (Qwen2-VL) and caption_merge (causal LM) stages on tiny random transformers models written
to disk by a fixture (save_pretrained, marked random) and loaded through the real loaders; their config and
registry wiring; bad output as per-clip errors; the openai backend against a real chat server on 127.0.0.1."""
import json
import shutil
import sys
import urllib.request

import cv2
import numpy as np
import pytest

from curation.annotate.enrich.caption_merge import CaptionMergeStage
from curation.annotate.enrich.registry import BY_NAME, stage_weights
from curation.annotate.enrich.video_caption import VideoCaptionStage
from curation.config import load_config
from curation.core.errors import ConfigError
from curation.models.causal_lm import save_random_causal_lm
from curation.models.video_language import save_random_video_language
from curation.models.weights import WeightsUnavailable, resolve_hf
from tests.local_server import free_port, serve


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {"vlm": save_random_video_language(root / "vlm", seed=1), "lm": save_random_causal_lm(root / "lm", seed=2)}


def config(tiny, *sets):
    return load_config(None, [
        "annotate.stages=cuts,keyframes,caption,video_caption,caption_merge",
        f"annotate.video_caption.model=local-dir:{tiny['vlm']}", "annotate.video_caption.max_pixels=3136",
        "annotate.video_caption.min_pixels=3136", "annotate.video_caption.max_new_tokens=12",
        f"annotate.caption_merge.model=local-dir:{tiny['lm']}", "annotate.caption_merge.max_new_tokens=12",
        *sets]).annotate


def batch(n, missing=(), seed=0, captions=None, video_captions=None):
    rng = np.random.default_rng(seed)
    cols = {"clip_id": [f"c{i}" for i in range(n)], "text": [""] * n,
            "caption": captions or ["a dog on a beach"] * n, "video_caption": video_captions or ["a dog runs"] * n}
    for position in ("first", "middle", "last"):
        frames = [cv2.GaussianBlur(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (5, 5), 0) for _ in range(n)]
        cols[f"jpeg_{position}"] = [b"" if (i, position) in missing else cv2.imencode(".jpg", f)[1].tobytes()
                                    for i, f in enumerate(frames)]
    return cols


def stage(cls, cfg):
    return cls(cfg, **BY_NAME[cls.name].weights(cfg))


@pytest.fixture(scope="module")
def video_stage(tiny):
    return stage(VideoCaptionStage, config(tiny))


@pytest.fixture(scope="module")
def merge_stage(tiny):
    return stage(CaptionMergeStage, config(tiny))


def test_local_folders_resolve_flagged_random_and_missing_weights_fail_naming_the_key(tiny, tmp_path, monkeypatch):
    source = resolve_hf(f"local-dir:{tiny['vlm']}", None, None, "annotate.video_caption")
    assert source.random and "RANDOM WEIGHTS" in source.label and not source.from_config
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsUnavailable, match=r"annotate\.video_caption\.model: Qwen/Qwen2-VL-2B-Instruct .*"
                                                 "curate models download"):
        stage_weights(load_config(None, ["annotate.stages=cuts,keyframes,video_caption"]).annotate)
    with pytest.raises(ConfigError, match="annotate.caption_merge.model: .*config.json not found"):
        resolve_hf(f"local-dir:{tmp_path}", None, None, "annotate.caption_merge")
    with pytest.raises(ConfigError, match="weights=random"):
        resolve_hf("curation-tiny-qwen2", None, None, "annotate.caption_merge", ("curation-tiny-qwen2",))
    empty = tmp_path / "no-weights"
    shutil.copytree(tiny["lm"], empty, ignore=shutil.ignore_patterns("*.safetensors"))
    with pytest.raises(ConfigError, match="no weights file"):
        resolve_hf(str(empty), None, None, "annotate.caption_merge")
    assert resolve_hf(str(empty), "random", None, "annotate.caption_merge").from_config  # config-only: random init


def test_a_hub_id_is_found_in_the_local_hugging_face_cache(tiny, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--merge-lm" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny["lm"], snapshot, ignore=shutil.ignore_patterns("curation_random_init.json"))
    (cache / "models--someone--merge-lm" / "refs").mkdir()
    (cache / "models--someone--merge-lm" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    source = resolve_hf("someone/merge-lm", None, None, "annotate.caption_merge")
    assert source.path == str(snapshot.resolve()) and not source.random and source.label == "someone/merge-lm"


def test_video_captions_are_batched_deterministic_strings_and_a_missing_keyframe_fails_alone(tiny, video_stage):
    out = video_stage.annotate_clips(batch(3, missing={(1, "last")}))
    assert out["video_caption_error"] == [None, "missing last keyframe", None]
    assert out["video_caption"][1] is None
    for text in (out["video_caption"][0], out["video_caption"][2]):
        assert isinstance(text, str) and text and text == " ".join(text.split())
    again = stage(VideoCaptionStage, config(tiny)).annotate_clips(batch(3, missing={(1, "last")}))
    assert again["video_caption"] == out["video_caption"]
    # one clip alone gets the caption it got in the batch (left padding does not change the answer)
    alone = video_stage.annotate_clips({k: v[2:] for k, v in batch(3, missing={(1, "last")}).items()})
    assert alone["video_caption"] == out["video_caption"][2:]
    assert video_stage.label.endswith("(RANDOM WEIGHTS)") and video_stage.random_weights


def test_bad_output_is_the_clip_error_never_a_crash(video_stage, monkeypatch):
    answers = ["  \n ", "I'm sorry, but I can't describe this video.", "word " * 400, "A dog runs\non a beach."]
    monkeypatch.setattr(video_stage, "generate", lambda prompts: answers[:len(prompts)])
    out = video_stage.annotate_clips(batch(4))
    errors = out["video_caption_error"]
    assert errors[0] == "empty model output"
    assert errors[1].startswith("refusal") and "over max_chars 1000" in errors[2] and errors[3] is None
    assert out["video_caption"] == [None, None, None, "A dog runs on a beach."]
    monkeypatch.setattr(video_stage, "generate", lambda prompts: [None for _ in prompts])
    # A bug (here: the model gives None, which the checks cannot read) is the clip's internal error, with its
    # report for the job's log, not the job's end.
    out = video_stage.annotate_clips(batch(1))
    assert out["video_caption_error"][0].startswith("internal_error: TypeError")
    assert "Traceback" in out["internal_reports"][0] and "clip c0 in stage video_caption" in out["internal_reports"][0]


def test_output_rules_come_from_the_config_through_the_real_model(tiny):
    refusing = stage(VideoCaptionStage, config(tiny, "annotate.video_caption.refusal_patterns=[.]"))
    assert all(e.startswith("refusal") for e in refusing.annotate_clips(batch(2))["video_caption_error"])
    short = stage(CaptionMergeStage, config(tiny, "annotate.caption_merge.max_chars=1"))
    assert all("over max_chars 1" in e for e in short.annotate_clips(batch(2))["caption_merge_error"])


def test_merge_reads_both_captions_and_a_clip_missing_one_fails_alone(merge_stage, monkeypatch):
    rows = batch(4, captions=["a red car", None, "a cat", "a tree"],
                 video_captions=["a car drives by", "a man walks", "", "the tree sways"])
    out = merge_stage.annotate_clips(rows)
    assert out["caption_merge_error"][1].startswith("no caption to merge")
    assert out["caption_merge_error"][2].startswith("no video_caption to merge")
    assert out["caption_merge_error"][0] is None and out["caption_merge_error"][3] is None
    assert all(isinstance(out["caption_merged"][i], str) and out["caption_merged"][i] for i in (0, 3))
    seen = []
    monkeypatch.setattr(merge_stage, "generate", lambda prompts: seen.extend(prompts) or ["merged"] * len(prompts))
    merge_stage.annotate_clips(rows)
    assert "Of its middle frame: a red car\nOf the whole clip: a car drives by" in seen[0].text
    assert len(seen) == 2


def test_config_wiring():
    cfg = load_config(None).annotate
    assert "video_caption" not in cfg.stages and "caption_merge" not in cfg.stages  # opt-in
    assert [c for c, _, _ in BY_NAME["video_caption"].columns] == ["video_caption"]
    assert [c for c, _, _ in BY_NAME["caption_merge"].columns] == ["caption_merged"]
    assert BY_NAME["caption_merge"].reads(cfg) == ("caption", "video_caption")
    assert cfg.ray.video_caption.batch_size == 4 and cfg.ray.caption_merge.batch_size == 8
    from curation.annotate.table import STAGE_COLUMNS

    assert {"video_caption_model", "video_caption_random_weights", "video_caption_error"} <= \
        {c for c, _, _ in STAGE_COLUMNS["video_caption"]}
    cases = {"annotate.video_caption.bogus=1": "annotate.video_caption.bogus: unknown key",
             "annotate.caption_merge.server.bogus=1": "annotate.caption_merge.server.bogus: unknown key",
             "annotate.ray.video_caption.bogus=1": "annotate.ray.video_caption.bogus: unknown key",
             "annotate.caption_merge.prompt=merge {caption}": "annotate.caption_merge.prompt",
             "annotate.caption_merge.prompt=x {caption} {video_caption} {other}": "annotate.caption_merge.prompt",
             "annotate.video_caption.refusal_patterns=[(]": "annotate.video_caption.refusal_patterns",
             "annotate.video_caption.weights=pretrained": "annotate.video_caption.weights",
             "annotate.video_caption.min_pixels=9000": "annotate.video_caption.min_pixels",
             "annotate.stages=cuts,keyframes,caption,caption_merge": "annotate.stages",
             "annotate.video_caption.backend=vllm": "annotate.video_caption.backend",
             "annotate.video_caption.server.base_url=localhost:8000": "annotate.video_caption.server.base_url",
             "finetune.caption=best": "finetune.caption"}
    sets = {"annotate.video_caption.min_pixels=9000": ["annotate.video_caption.max_pixels=4000"]}
    for override, key in cases.items():
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(None, [override, *sets.get(override, [])])
    with pytest.raises(ConfigError, match="num_beams"):
        load_config(None, ["annotate.video_caption.backend=openai", "annotate.video_caption.num_beams=2"])
    assert load_config(None, ["finetune.caption=caption_merged"]).finetune.caption == "caption_merged"


@pytest.fixture(scope="module")
def server(tiny, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serve([sys.executable, "-m", "tests.chat_server", "--port", str(port), "--lm", str(tiny["lm"]),
                "--vlm", str(tiny["vlm"]), "--name", "tiny"], url + "/models", log, "chat server", 120):
        yield url


def openai(tiny, url, *sets):
    return config(tiny, *[f"annotate.{s}.{k}" for s in ("video_caption", "caption_merge")
                          for k in ("backend=openai", f"server.base_url={url}", "server.model=tiny",
                                    "server.api_key_env=CURATION_TEST_KEY", "server.retries=1")], *sets)


def test_openai_backend_against_a_local_server(tiny, server, merge_stage, monkeypatch):
    monkeypatch.setenv("CURATION_TEST_KEY", "sk-secret-123")
    cfg = openai(tiny, server)
    remote = stage(CaptionMergeStage, cfg)
    assert remote.label == f"openai:tiny@{server}" and not remote.random_weights
    rows = batch(3, captions=["a red car", "a cat", "FAIL500"], video_captions=["a car drives by", "", "x"])
    here, there = merge_stage.annotate_clips(rows), remote.annotate_clips(rows)
    # the same tiny model, greedy, answers the same in process and behind the server
    assert there["caption_merged"][0] == here["caption_merged"][0] and there["caption_merged"][0]
    assert there["caption_merge_error"][1].startswith("no video_caption")
    assert "HTTP 500" in there["caption_merge_error"][2]  # retried, then the clip's error
    video = stage(VideoCaptionStage, cfg).annotate_clips(batch(2, missing={(0, "first")}))
    assert video["video_caption_error"][0] == "missing first keyframe"
    assert isinstance(video["video_caption"][1], str) and video["video_caption"][1]
    with urllib.request.urlopen(f"{server}/requests") as response:
        assert set(json.load(response)["authorization"]) == {"Bearer sk-secret-123"}
    assert "sk-secret" not in json.dumps(cfg.model_dump(mode="json"))


def test_openai_backend_fails_before_work_when_the_server_is_not_there(tiny):
    cfg = openai(tiny, f"http://127.0.0.1:{free_port()}/v1", "annotate.caption_merge.server.retries=0")
    with pytest.raises(RuntimeError, match="not reachable"):
        stage(CaptionMergeStage, cfg)
