"""Every model stage, described in one place: what it adds to the clip table, which weights it needs, how its
model is labelled in the output, and which other stages it reads. In the order the stages run.

Adding a model stage: a stage file in this package (a :class:`~curation.annotate.enrich.base.ModelStage`), a
loader in :mod:`curation.models`, its config section (``annotate.<name>``, and ``annotate.ray.<name>`` for its
workers) and one entry here. Importing this module loads no model and no torch: the implementation is imported
only where the stage runs.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from curation.annotate.config import MODEL_STAGES, AnnotateConfig
from curation.models import weights as _weights
from curation.models.weights import _check_head_fits, resolve_easyocr, resolve_file, resolve_hf, resolve_open_clip


@dataclass(frozen=True)
class EnrichStage:
    """name: the stage (also its config section ``annotate.<name>``, its workers ``annotate.ray.<name>`` and the
        prefix of its ``<name>_model`` / ``<name>_random_weights`` / ``<name>_error`` columns).
    implementation: ``module:Class`` of the stage.
    columns: the columns it adds, (name, Arrow type, meaning).
    weights: the stage's constructor arguments from the config: resolved weights; raises ConfigError before any
        work when they are missing.
    label: (text written to ``<name>_model``, whether the weights are random), from those arguments.
    reads: the stages whose columns it reads under a config (they run before it).
    download: fetch the weights the config names (on a machine with internet); returns what was fetched.
    transport_keys: keys of its section that change how its results are fetched, not what they are (a rerun
        completing an output may change them)."""

    name: str
    implementation: str
    columns: tuple[tuple[str, pa.DataType, str], ...]
    weights: Callable[[AnnotateConfig], dict[str, Any]]
    label: Callable[..., tuple[str, bool]]
    reads: Callable[[AnnotateConfig], tuple[str, ...]] = field(default=lambda cfg: ())
    download: Callable[[AnnotateConfig], list[str]] = field(default=lambda cfg: [])
    transport_keys: tuple[str, ...] = ()

    def load(self) -> type:
        module, name = self.implementation.split(":")
        return getattr(importlib.import_module(module), name)


def _download_aesthetic(cfg: AnnotateConfig) -> list[str]:
    fetched = [str(_weights.download(cfg.aesthetic.model, cfg.aesthetic.weights))]
    if cfg.aesthetic.aesthetic_head.startswith(("http://", "https://")):
        fetched.append(f"aesthetic head: {_weights.download_url(cfg.aesthetic.aesthetic_head)}")
    return fetched


def _aesthetic_weights(cfg: AnnotateConfig) -> dict[str, Any]:
    source = resolve_open_clip(cfg.aesthetic.model, cfg.aesthetic.weights, "annotate.aesthetic")
    head = resolve_file(cfg.aesthetic.aesthetic_head, "annotate.aesthetic.aesthetic_head")
    if not head.random:
        _check_head_fits(head, source, "annotate.aesthetic.aesthetic_head")
    return {"source": source, "head": head}


# The built-in tiny architectures of the transformers stages (tests and offline demos; random weights only).
# Named here, not imported from their model modules, so this module imports no torch.
TINY_HF = {"video_caption": ("curation-tiny-qwen2-vl",), "caption_merge": ("curation-tiny-qwen2",)}


def _generating_stage(name: str, implementation: str, column: tuple[str, pa.DataType, str],
                      reads: tuple[str, ...] = ()) -> EnrichStage:
    """A text-generating stage: its source is resolved local weights (backend transformers) or the server it
    posts to (backend openai: nothing to resolve here; the server is asked when the stage starts)."""
    def weights(cfg: AnnotateConfig) -> dict[str, Any]:
        c = getattr(cfg, name)
        if c.backend == "openai":
            from curation.models.chat_server import ServerSource

            return {"source": ServerSource.of(c.server, c.model)}
        return {"source": resolve_hf(c.model, c.weights, c.revision, f"annotate.{name}", TINY_HF[name])}

    def download(cfg: AnnotateConfig) -> list[str]:
        c = getattr(cfg, name)
        if c.backend == "openai":
            return ["backend openai: the server holds the weights"]
        return [str(_weights.download_hf(c.model, c.revision, TINY_HF[name]))]

    return EnrichStage(name=name, implementation=implementation, columns=(column,), weights=weights,
                       label=lambda source: (source.label, source.random), reads=lambda cfg: reads,
                       download=download, transport_keys=tuple(f"server.{k}" for k in (
                           "base_url", "api_key_env", "timeout_s", "concurrency", "retries")))


REGISTRY: tuple[EnrichStage, ...] = (
    EnrichStage(
        name="caption",
        implementation="curation.annotate.enrich.caption:CaptionStage",
        columns=(("caption", pa.string(), "CoCa caption of the middle keyframe, special tokens stripped."),),
        weights=lambda cfg: {"source": resolve_open_clip(cfg.caption.model, cfg.caption.weights,
                                                         "annotate.caption")},
        label=lambda source: (source.label, source.random),
        download=lambda cfg: [str(_weights.download(cfg.caption.model, cfg.caption.weights))],
    ),
    EnrichStage(
        name="ocr",
        implementation="curation.annotate.enrich.ocr:OcrStage",
        columns=(
            ("ocr_area_max", pa.float64(), "Largest text area over the first/middle/last keyframes: area of the "
                                           "union of EasyOCR CRAFT text boxes / frame area, 0..1 (overlaps "
                                           "counted once)."),
            ("ocr_area_mean", pa.float64(), "Mean of that text area over the three keyframes, 0..1."),
            ("ocr_boxes", pa.int32(), "Most text boxes found on one of the three keyframes."),
            ("ocr_text", pa.string(), "Recognised text, unique lines joined with ` | ` (ocr.recognition only; "
                                      "else null; empty when none was read)."),
        ),
        weights=lambda cfg: {"weights_dir": str(resolve_easyocr(cfg.ocr.weights_dir, cfg.ocr.recognition,
                                                                "annotate.ocr"))},
        label=lambda weights_dir: (f"easyocr-craft:{weights_dir}", False),
    ),
    EnrichStage(
        name="aesthetic",
        implementation="curation.annotate.enrich.aesthetic:AestheticStage",
        columns=(
            ("aesthetic", pa.float64(), "LAION aesthetic-predictor score (about 1-10 with the real head on "
                                        "ViT-L/14) of the L2-normalised CLIP embedding, mean over the three "
                                        "keyframes."),
            ("text_sim_mean", pa.float64(), "Cosine similarity between the CLIP text embedding of the caption (or "
                                            "aesthetic.prompt) and the CLIP image embeddings of the keyframes, "
                                            "mean of three; null without text."),
            ("text_sim_min", pa.float64(), "The smallest of those three similarities."),
            ("image_embedding", pa.list_(pa.float16()), "Mean CLIP image embedding of the keyframes, "
                                                        "L2-normalised, float16 (aesthetic.keep_embedding only; "
                                                        "else null)."),
        ),
        weights=_aesthetic_weights,
        label=lambda source, head: (f"{source.label} + aesthetic head {head.label}", source.random or head.random),
        reads=lambda cfg: ("caption",) if cfg.aesthetic.text == "caption" else (),
        download=_download_aesthetic,
    ),
    # The SVD recipe's second and third captions (after the stages above, so the table's existing columns keep
    # their order).
    _generating_stage("video_caption", "curation.annotate.enrich.video_caption:VideoCaptionStage", (
        "video_caption", pa.string(), "Caption of the clip by a video-language model (video_caption.model, default "
                                      "Qwen2-VL-2B-Instruct) given the first, middle and last keyframes as a video, "
                                      "whitespace collapsed; null when it failed or its output was empty, too long "
                                      "or a refusal (see video_caption_error).")),
    _generating_stage("caption_merge", "curation.annotate.enrich.caption_merge:CaptionMergeStage", (
        "caption_merged", pa.string(), "One description merged from caption and video_caption by a language model "
                                       "(caption_merge.model, default Qwen2.5-1.5B-Instruct; the prompt is "
                                       "caption_merge.prompt), as the SVD recipe's third caption; null when an "
                                       "input is missing or the output was bad (see caption_merge_error)."),
        reads=("caption", "video_caption")),
)
BY_NAME = {stage.name: stage for stage in REGISTRY}
assert set(BY_NAME) == set(MODEL_STAGES), "annotate.config.MODEL_STAGES and the registry must list the same stages"
assert all(set(stage.reads(AnnotateConfig())) <= {s.name for s in REGISTRY[:i]} for i, stage in enumerate(REGISTRY)), \
    "a stage must come after the stages it reads"


def enabled(cfg: AnnotateConfig) -> list[EnrichStage]:
    """The model stages ``cfg`` runs, in order (each after the stages it reads)."""
    return [stage for stage in REGISTRY if stage.name in cfg.stages]


def stage_weights(cfg: AnnotateConfig) -> dict[str, dict[str, Any]]:
    """Constructor arguments (resolved weights) of every enabled model stage; raises before any work when
    weights are missing or a head does not fit its model."""
    return {stage.name: stage.weights(cfg) for stage in enabled(cfg)}
