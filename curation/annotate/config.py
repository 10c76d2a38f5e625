"""The ``annotate`` section: how videos are decoded, cut into clips and annotated, and on which workers.

Every section is a frozen pydantic model (:class:`curation.core.section.Section`): unknown keys, wrong types
and out-of-range values are one ConfigError line naming the dotted key, before any work starts.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, create_model, field_validator, model_validator

from curation.annotate.enrich.registry import REGISTRY
from curation.annotate.scan.registry import SIGNALS
from curation.core.section import Device, Float, Items, Section, fail
from curation.runtime.config import ClusterConfig
from curation.runtime.stage import StageResources

SCAN_STAGES = ("cuts", "motion", "keyframes")
# The scan signals, each declared in its own file (curation.annotate.scan): computed in the scan pass.
SIGNAL_STAGES = tuple(signal.name for signal in SIGNALS)
# The model stages, each declared in its own file (curation.annotate.enrich), in the order they run.
MODEL_STAGES = tuple(stage.name for stage in REGISTRY)
# Stage names used before: {old: new}.
RENAMED_STAGES = {"clip": "aesthetic"}
STAGE_NAMES = SCAN_STAGES + SIGNAL_STAGES + MODEL_STAGES
# What a job runs unless told: the stages declared default (the video captioner and the merging LLM are opt-in:
# billions of parameters).
DEFAULT_STAGES = SCAN_STAGES + tuple(s.name for s in SIGNALS if s.default) + tuple(
    stage.name for stage in REGISTRY if stage.default)


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


class _RayConfig(ClusterConfig):
    """address, num_cpus: the cluster (:class:`curation.runtime.config.ClusterConfig`: join ``address``, also read
        from ``RAY_ADDRESS``; null = always start a new embedded local Ray with ``num_cpus``, 0 = all).
    scan: the scan workers (probe, decode, cuts, motion, keyframes; one video per call). Pool size 0 = the CPUs
        the other pools leave. A worker given 2 or more ``num_cpus`` splits a long video among them
        (``decode.split_min_s``).
    <model stage>: each model stage's workers (its defaults are in its declaration). ``batch_size`` is clips per
        model call. They default to one CPU worker each; on a GPU cluster set ``num_gpus`` (e.g. 0.25) or
        ``gpu_memory_gb`` and a larger ``batch_size`` (a 2B VLM in bf16 needs about 6 GB at batch 8). With
        ``backend: openai`` a worker only sends requests: give it ``num_cpus`` 0.5 and no GPU.
    commit: the workers that write the parts (default one, reserving no CPU: writing is light, and a reserved
        share would leave a scan worker that Ray restarts after a node loss with no room on the nodes left).
    """

    scan: StageResources = Field(default_factory=StageResources)
    commit: StageResources = Field(default_factory=lambda: StageResources(num_cpus=0.0, pool_size=1))

    renamed: ClassVar[dict[str, str]] = RENAMED_STAGES


class OutputConfig(Section):
    """commit_videos: videos per committed Parquet part (default 16); a killed job redoes at most the videos
    not yet committed. A part is written when this many videos are ready, or when the job runs out of work."""

    commit_videos: int = Field(16, ge=1)


# The model stages' workers, one field each (``annotate.ray.<stage>``), from their declarations.
RayConfig = create_model("RayConfig", __base__=_RayConfig, __module__=__name__, **{
    stage.name: (StageResources, Field(default_factory=lambda r=stage.resources: r)) for stage in REGISTRY})
RayConfig.__doc__ = _RayConfig.__doc__


class _AnnotateConfig(Section):
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
            raise ValueError(f"the model stages ({', '.join(MODEL_STAGES)}) read the keyframes: include "
                             "'keyframes'")
        return stages

    @model_validator(mode="after")
    def _signal_needs(self) -> _AnnotateConfig:
        for signal in SIGNALS:
            missing = [s for s in signal.needs if signal.name in self.stages and s not in self.stages]
            if missing:
                raise fail("stages", f"{signal.name} is computed from the {missing[0]} stage: add it")
        return self

    @model_validator(mode="after")
    def _reads_run(self) -> _AnnotateConfig:
        # A stage that reads other stages' columns under this config needs them in the run (on an output that
        # has them they are not computed again).
        for stage in REGISTRY:
            if stage.name in self.stages:
                missing = [s for s in stage.reads(self) if s not in self.stages]
                if missing:
                    key = f"{stage.name}.{stage.reads_key}" if stage.reads_key else "stages"
                    raise fail(key, f"{stage.name} reads the columns of {missing} under this config: add them to "
                                    "annotate.stages (on an output that has them they are not computed again)")
        return self


# The scan signals' and model stages' sections, one field each (``annotate.<stage>``), from their declarations.
AnnotateConfig = create_model("AnnotateConfig", __base__=_AnnotateConfig, __module__=__name__, **{
    stage.name: (stage.config, Field(default_factory=stage.config)) for stage in (*SIGNALS, *REGISTRY)})
AnnotateConfig.__doc__ = _AnnotateConfig.__doc__
assert all(set(stage.reads(AnnotateConfig())) <= {s.name for s in REGISTRY[:i]} for i, stage in enumerate(REGISTRY)), \
    "a stage must come after the stages it reads"
