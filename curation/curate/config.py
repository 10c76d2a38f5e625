"""The curate sections: ``filter`` (its rules), ``dedup``, ``buckets``, ``report`` and ``shard``.

Every section is a frozen pydantic model (:class:`curation.core.section.Section`): unknown keys, wrong types
and out-of-range values are one ConfigError line naming the dotted key, before any work starts.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from curation.core.section import Float, Items, Section, fail
from curation.runtime.config import ClusterConfig
from curation.runtime.stage import StageResources

X264Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                     "veryslow"]


class FilterRule(Section):
    """One annotation's rule: drop the bottom / top percent of clips (exact percentiles over every clip without
    an error) and/or values below ``min`` / above ``max``; or, on a label column, ``drop_values``: drop the
    clips whose label is one of these (e.g. ``camera_motion``: ``[shaky]``). A clip without a value fails the
    rule either way."""

    column: str
    drop_bottom: Float = 0.0
    drop_top: Float = 0.0
    min: Float | None = None
    max: Float | None = None
    drop_values: Items[str] = ()

    @field_validator("column")
    @classmethod
    def _column(cls, column: str) -> str:
        if not column:
            raise ValueError("must name an annotation column")
        return column

    @model_validator(mode="after")
    def _drops(self) -> FilterRule:
        if not (0 <= self.drop_bottom < 100 and 0 <= self.drop_top < 100 and self.drop_bottom + self.drop_top < 100):
            raise fail("drop_bottom", "drop_bottom and drop_top are percents, each >= 0, together < 100")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise fail("min", "must be <= max")
        numeric = self.drop_bottom or self.drop_top or self.min is not None or self.max is not None
        if self.drop_values and numeric:
            raise fail("drop_values", "is a label rule: not with drop_bottom, drop_top, min or max (make two rules)")
        if not (numeric or self.drop_values):
            raise fail("", "drops nothing: set drop_bottom, drop_top, min, max or drop_values")
        return self


class FilterConfig(Section):
    """``curate filter``: rules combine with AND; every rule that drops a clip is recorded.

    rules: per-annotation rules (default: bottom 12.5 % of motion_mean, aesthetic and text_sim_mean, as in the
        SVD study's 12.5 % cut, and clips whose text covers more than 5 % of a keyframe).
    min_duration_s / max_duration_s: clip length bounds, seconds (default 2.0 / none).
    min_short_side: smallest allowed min(width, height), pixels (default none).
    min_fps / max_fps: frame-rate bounds (default none).
    exclude_errors: a clip with an error is dropped with reason ``error: <kind>`` (default true).
    in_memory_values: the most values of one column held in memory at once while computing the exact
        percentiles and the motion-bucket fit (default 4,194,304: 32 MiB); a larger column is selected in
        a few more passes over the table, so memory stays bounded by this, not by the table.
    executor: where the passes over the table run: ``local`` (default: in this process, one annotations part
        after another) or ``ray`` (one Ray task per part on the cluster's workers, which read their part
        themselves; only counts, min/max, histograms and a few values come back, then each filtered part for
        clips.parquet). ``curate filter --ray-address ADDR`` sets ``ray`` and ``ray.address``.
    ray: the cluster of ``executor: ray``: ``address`` (null = ``RAY_ADDRESS``, else a new embedded local Ray) and
        ``num_cpus`` of the embedded one (0 = all).
    """

    rules: Items[FilterRule] = (FilterRule(column="motion_mean", drop_bottom=12.5),
                                FilterRule(column="aesthetic", drop_bottom=12.5),
                                FilterRule(column="text_sim_mean", drop_bottom=12.5),
                                FilterRule(column="ocr_area_max", max=0.05))
    min_duration_s: Float | None = 2.0
    max_duration_s: Float | None = None
    min_short_side: int | None = None
    min_fps: Float | None = None
    max_fps: Float | None = None
    exclude_errors: bool = True
    in_memory_values: int = Field(default=1 << 22, ge=1024)
    executor: Literal["local", "ray"] = "local"
    ray: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _bounds_ordered(self) -> FilterConfig:
        for lo, hi, name in ((self.min_duration_s, self.max_duration_s, "min_duration_s"),
                             (self.min_fps, self.max_fps, "min_fps")):
            if lo is not None and hi is not None and lo > hi:
                raise fail(name, "must be <= its max")
        if self.ray.address is not None and self.executor != "ray":
            raise fail("ray.address", "is used only with executor: ray")
        return self


class BucketsConfig(Section):
    """Motion buckets (SVD's motion_bucket_id, 0..255); see ``curation/curate/buckets.py`` for both mappings.

    column: the motion statistic mapped (default motion_mean).
    mapping: ``quantile`` (default: fitted on the kept clips, equal-count buckets, the median clip near 127,
        SVD's default bucket) or ``fixed`` (log mapping of px/s@256, the same in every dataset).
    fixed_m0, fixed_m_max: the fixed mapping's scale and the motion that maps to 255, px/s@256 (2, 1024).
    """

    column: str = "motion_mean"
    mapping: Literal["quantile", "fixed"] = "quantile"
    fixed_m0: Float = 2.0
    fixed_m_max: Float = 1024.0

    @model_validator(mode="after")
    def _scale(self) -> BucketsConfig:
        if not 0 < self.fixed_m0 < self.fixed_m_max:
            raise fail("fixed_m0", "need 0 < fixed_m0 < fixed_m_max")
        return self


class ReportConfig(Section):
    """``curate report``. thumbnails: clips shown per list (lowest/highest per annotation, dropped per reason,
    members of a duplicate group; default 6). bins: histogram bins (default 40).
    previews: write a preview video of every clip shown into the folder beside the page, played by a click on its
    thumbnail (default true). preview_short_side: their size, pixels (default 180). preview_max_s: a longer
    clip's preview is its first this many seconds (default 10).
    """

    thumbnails: int = Field(6, ge=0, le=50)
    bins: int = Field(40, ge=5, le=500)
    previews: bool = True
    preview_short_side: int = Field(180, ge=16, le=1080)
    preview_max_s: Float = Field(10.0, gt=0, le=600, json_schema_extra={"unit": "s"})


class ShardConfig(Section):
    """``curate shard``: WebDataset tar shards of the kept clips.

    samples_per_shard: clips per shard (default 256). short_side: resize so the short side is this many
    pixels, aspect kept, even sizes (default none = source size). fps: resample to this frame rate (default
    none = source rate). crf / preset: libx264 quality and speed (defaults 20, veryfast). thumbnail_long_side:
    the sample's JPEG thumbnail (default 256). workers: resources of the shard writers (one shard per task).
    ray: the Ray cluster the writers run on (:class:`~curation.runtime.config.ClusterConfig`; default: a new
    embedded local Ray, or ``RAY_ADDRESS``; ``curate run`` uses ``annotate.ray``'s when this names none).
    crop_borders: crop each clip to its content box (the ``borders`` stage's; letterbox and pillarbox bars
    removed) where the table has one with bars (default false: the source frame as it is).
    """

    samples_per_shard: int = Field(256, ge=1)
    short_side: int | None = Field(None, ge=16, le=4320)
    fps: Float | None = Field(None, gt=0, le=240)
    crf: int = Field(20, ge=0, le=51)
    preset: X264Preset = "veryfast"
    thumbnail_long_side: int = Field(256, ge=32, le=2048)
    workers: StageResources = Field(default_factory=StageResources)
    ray: ClusterConfig = Field(default_factory=ClusterConfig)
    crop_borders: bool = False


class DedupConfig(Section):
    """Duplicate clips, removed by ``curate filter`` after its rules (:mod:`curation.curate.dedup`): each group of
    duplicates keeps one clip, the others get the drop reason ``duplicate_of:<clip_id>``.

    enabled: run it (default false: it hashes every keyframe, a few hundred images/s per core, and holds about
        150 bytes per clip, plus the embeddings, for the whole table).
    hash_distance: near-exact copies: two clips whose three keyframe hashes differ by at most this many bits of
        64 on average are copies (default 12; re-encodes and resizes measured 0-4, crops of 3-5 % a side 5-11,
        two framings of one scene 20 or more; 0 = identical hashes only).
    crop_distance: cropped copies: two clips where one's keyframes cropped 3.3, 6.7 or 10 % a side (one level
        for all three) differ from the other's whole keyframes by at most this many bits on average are copies
        (default 8, tighter than hash_distance: copies cropped 4-10 % and scaled back measured 1-7 at their
        level, a 14 %-tighter framing of one subject 11-13; null = no crop test, whole pictures only).
    bands: random bit subsets the hash search tries (default 64); more find more of the pairs near
        hash_distance among millions of clips, at proportional cost.
    semantic: also semantic duplicates on the CLIP image embeddings when the table has them
        (``annotate.aesthetic.keep_embedding``; default true).
    cosine: cosine similarity at or over which two clips are semantic duplicates (default 0.95).
    clusters: k-means clusters of the semantic search (default null: about 1,000 clips each).
    probes: clusters each clip joins (default 1; 2 also finds pairs k-means split, at about 4x the cost).
    keep: which clip a group keeps: ``aesthetic`` (highest score; without scores the longest, then the first),
        ``longest`` or ``first`` (first in the table); a clip that passes the other rules is preferred (default
        aesthetic).
    workers: threads hashing keyframes (default 0: one per CPU).
    """

    enabled: bool = False
    hash_distance: Float = Field(12.0, ge=0, le=64, json_schema_extra={"unit": "bits"})
    crop_distance: Float | None = Field(8.0, ge=0, le=64, json_schema_extra={"unit": "bits"})
    bands: int = Field(64, ge=0, le=4096)
    semantic: bool = True
    cosine: Float = Field(0.95, gt=0, le=1)
    clusters: int | None = Field(None, ge=1)
    probes: int = Field(1, ge=1, le=16)
    keep: Literal["aesthetic", "longest", "first"] = "aesthetic"
    workers: int = Field(0, ge=0, le=256)
