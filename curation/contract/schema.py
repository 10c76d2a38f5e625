"""The Arrow schemas of the clip table and the keyframe side table, and what every column means.

The scan's columns are defined here once; a model stage's columns are declared by the stage
(:mod:`curation.annotate.enrich`) and joined to them by :func:`table_schema`, each field tagged with its stage
(:data:`STAGE_KEY`), so a reader of the table finds a stage's columns in the table's own schema
(:func:`stage_columns`). ``docs/schema.md`` is generated from the whole table
(``python -m curation.annotate.table > docs/schema.md``).
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "6"

# The unit of every motion column: pixels per second of displacement on a frame scaled to a 256 px short side
# (curation.annotate.scan.motion computes them).
MOTION_UNIT = "px/s@256"
# The Arrow field metadata key naming the model stage that computes a column of the table.
STAGE_KEY = b"curation.stage"

# What a row of the clip table is (column row_kind).
ROW_CLIP = "clip"            # a clip: the unit everything downstream works on
ROW_SHOT = "skipped_shot"    # a detected shot that gave no clip (skip_reason says why)
ROW_TRANSITION = "transition"  # a detected gradual transition (transition_kind says which)
ROW_STATUS = "status"        # one per failed or damaged video (error_kind / error)
ROW_KINDS = (ROW_CLIP, ROW_SHOT, ROW_TRANSITION, ROW_STATUS)

CLIP_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("video_id", pa.string(), "Stable id of the source video: first 16 hex digits of BLAKE2b of its absolute path."),
    ("video_path", pa.string(), "Absolute path of the source video."),
    ("row_kind", pa.string(), "`clip`; `skipped_shot` (a detected shot that gave no clip, see skip_reason); "
                              "`transition` (a detected gradual transition, see transition_kind); `status` "
                              "(a failed or damaged video, see error). Only clip rows have a clip_index."),
    ("clip_index", pa.int32(), "Order of the clip in its video, from 0. Null on every row that is not a clip."),
    ("clip_id", pa.string(), "`{video_id}-{clip_index:05d}`; null on rows that are not clips."),
    ("skip_reason", pa.string(), "Why a detected shot gave no clip: `too_short` (under clips.min_s after "
                                 "trimming) or `black` (only dark flat frames); null on other rows."),
    ("transition_kind", pa.string(), "Kind of a detected gradual transition: `fade_in` (from black), `fade_out` "
                                     "(to black), `fade_out_in` (through black), `gradual` (dissolve, wipe or "
                                     "other); null on other rows."),
    ("shot_index", pa.int32(), "Order of the detected shot the clip (or skipped shot) came from, from 0."),
    ("shot_start_frame", pa.int64(), "First frame of that shot (0-based index of decoded frames)."),
    ("shot_end_frame", pa.int64(), "Last frame of that shot, inclusive."),
    ("start_frame", pa.int64(), "First frame of the clip (of the skipped shot, of the transition)."),
    ("end_frame", pa.int64(), "Last frame of the clip (skipped shot, transition), inclusive."),
    ("start_s", pa.float64(), "Presentation time of the first frame, seconds from the stream start (from PTS)."),
    ("end_s", pa.float64(), "End of the last frame (its PTS plus its duration), seconds."),
    ("duration_s", pa.float64(), "end_s - start_s, seconds."),
    ("num_frames", pa.int32(), "end_frame - start_frame + 1."),
    ("fps", pa.float64(), "Average frame rate of the video (frames decoded / seconds); VFR files are timed by PTS."),
    ("width", pa.int32(), "Display width in pixels, after rotation."),
    ("height", pa.int32(), "Display height in pixels, after rotation."),
    ("rotation", pa.int16(), "Clockwise rotation applied to decoded frames (0, 90, 180, 270)."),
    ("codec", pa.string(), "Video codec name (FFmpeg)."),
    ("video_duration_s", pa.float64(), "Decoded duration of the whole video, seconds."),
    ("video_frames", pa.int64(), "Frames decoded from the whole video."),
    ("motion_mean", pa.float64(), f"Mean Farnebäck flow magnitude over all pixels of all sampled pairs in the clip, {MOTION_UNIT} (px/s on a frame scaled to a 256 px short side)."),
    ("motion_p50", pa.float64(), f"Median per-pixel flow magnitude over the clip's pairs, {MOTION_UNIT}."),
    ("motion_p90", pa.float64(), f"90th percentile per-pixel flow magnitude, {MOTION_UNIT}."),
    ("motion_max", pa.float64(), f"Largest per-pair mean magnitude in the clip, {MOTION_UNIT}."),
    ("motion_static_frac", pa.float64(), "Fraction of pixels slower than motion.static_threshold (default 2 px/s@256)."),
    ("motion_pairs", pa.int32(), "Sampled frame pairs (motion.sample_fps, default 2/s) the motion columns pool; 0 = no motion data."),
    ("keyframe_first", pa.int64(), "Frame index of the clip's first keyframe (in the keyframes/ side table)."),
    ("keyframe_middle", pa.int64(), "Frame index of the middle keyframe (nearest candidate to the clip's middle)."),
    ("keyframe_last", pa.int64(), "Frame index of the last keyframe."),
    ("detector", pa.string(), "Shot detector name, e.g. cascade-hybrid."),
    ("detector_params", pa.string(), "JSON of the detector's parameters."),
    ("boundary_source", pa.string(), "Which detector source found the boundary that starts the clip's shot, or the transition (`level1`: HSV content score; `luma`: aligned luma change; `level4`/`level16`: the slow cascade levels; `transnetv2<...>`: confirmed by TransNetV2); null at video start."),
    ("decode_errors", pa.int32(), "Undecodable packets skipped in the whole video (not fatal)."),
    ("warning", pa.string(), "Non-fatal problem of the video, e.g. truncated or packets skipped; null when none."),
    ("error_kind", pa.string(), "Short failure kind (empty_file, not_a_video, no_video_stream, damaged_stream, unsupported, decode_error, timeout, too_short, truncated, corrupt_frames, <stage>_failed, ...; internal_error: a bug met by this input, see the job's log); null when fine."),
    ("error", pa.string(), "Human-readable failure; null when fine. Rows with an error are status rows unless clip_index is set."),
]

KEYFRAME_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("clip_id", pa.string(), "The clip (see the clip table)."),
    ("video_id", pa.string(), "The source video."),
    ("position", pa.string(), "first, middle or last."),
    ("frame", pa.int64(), "Frame index of the image."),
    ("time_s", pa.float64(), "Its presentation time, seconds."),
    ("width", pa.int32(), "Image width in pixels (keyframes.long_side on the long side)."),
    ("height", pa.int32(), "Image height in pixels."),
    ("jpeg", pa.binary(), "JPEG bytes (keyframes.jpeg_quality)."),
]

CLIP_SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in CLIP_COLUMNS],
                        metadata={"curation.schema_version": SCHEMA_VERSION, "curation.motion_unit": MOTION_UNIT})
KEYFRAME_SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in KEYFRAME_COLUMNS],
                            metadata={"curation.schema_version": SCHEMA_VERSION})


Column = tuple[str, pa.DataType, str]


def model_columns(stage: str) -> list[Column]:
    """The provenance columns every model stage adds after its own: ``<stage>_model``, ``<stage>_random_weights``
    and ``<stage>_error``."""
    return [(f"{stage}_model", pa.string(), f"Model and weights that computed the {stage} columns of the clip; "
                                            "`(RANDOM WEIGHTS)` marks random-initialised models (tests and speed "
                                            f"benchmarks only). Null while the {stage} stage has not run on it."),
            (f"{stage}_random_weights", pa.bool_(), "True when that model had random weights."),
            (f"{stage}_error", pa.string(), f"Why the {stage} stage failed on the clip (missing keyframe, model "
                                            "error); null when fine. A failure also sets the row's error_kind "
                                            f"(`{stage}_failed`) and error when it had none.")]


def table_schema(stages: dict[str, list[Column]], signals: dict[str, list[Column]] | None = None) -> pa.Schema:
    """The one clip table: the scan's columns, then each scan signal's (``signals``), then each model stage's
    columns (``stages``: the stage's own columns in table order, :func:`model_columns` not included), each field
    of a signal or a stage tagged with its name. Every part of ``DIR/annotations`` has exactly these columns; a
    stage's are null on every row it has not computed (rows that are not clips, and clips of a run without the
    stage)."""
    fields = [pa.field(n, t) for n, t, _ in CLIP_COLUMNS]
    for signal, columns in (signals or {}).items():
        fields += [pa.field(n, t, metadata={STAGE_KEY: signal.encode()}) for n, t, _ in columns]
    for stage, columns in stages.items():
        fields += [pa.field(n, t, metadata={STAGE_KEY: stage.encode()})
                   for n, t, _ in list(columns) + model_columns(stage)]
    return pa.schema(fields, metadata=CLIP_SCHEMA.metadata)


def stage_columns(schema: pa.Schema) -> dict[str, list[str]]:
    """The model stages' columns of a table's schema, by stage, in table order (from their tags: a table written
    before the tags has none)."""
    out: dict[str, list[str]] = {}
    for f in schema:
        stage = (f.metadata or {}).get(STAGE_KEY)
        if stage is not None:
            out.setdefault(stage.decode(), []).append(f.name)
    return out


def stage_of(schema: pa.Schema, column: str) -> str | None:
    """The model stage that computes ``column`` of a table; ``motion`` for the scan's motion columns; None for
    the scan's other columns and for names the table lacks."""
    if column in schema.names:
        stage = (schema.field(column).metadata or {}).get(STAGE_KEY)
        if stage is not None:
            return stage.decode()
    return "motion" if column.startswith("motion_") else None


def markdown(stages: dict[str, list[Column]], signals: dict[str, list[Column]] | None = None) -> str:
    """``docs/schema.md``: every column of the table made of the scan's, ``signals``' and ``stages``' columns
    (as :func:`table_schema`), and of the keyframe side table."""
    lines = ["# Output schema", "", "Generated from `curation/contract/schema.py` and the model stages' declarations (`python -m curation.annotate.table`). `DIR/annotations/*.parquet` is the whole "
             "clip table: every part has every column below, so DuckDB, polars or pandas read it as one table "
             "(`SELECT * FROM 'DIR/annotations/*.parquet'`). `DIR/keyframes/*.parquet` holds the keyframe images.",
             ""]
    tables = [("Clip table: `DIR/annotations/*.parquet`, one row per clip, skipped shot, transition or failed "
               "video: scan columns", CLIP_COLUMNS)]
    tables += [(f"Clip table: columns of the `{signal}` scan signal", list(cols))
               for signal, cols in (signals or {}).items()]
    tables += [(f"Clip table: columns of the `{stage}` model stage", list(cols) + model_columns(stage))
               for stage, cols in stages.items()]
    tables += [("Keyframe side table: `DIR/keyframes/*.parquet`, three rows per clip", KEYFRAME_COLUMNS)]
    for title, columns in tables:
        lines += [f"## {title}", "", "| column | type | meaning |", "| --- | --- | --- |"]
        lines += [f"| `{n}` | {t} | {d} |" for n, t, d in columns]
        lines.append("")
    return "\n".join(lines)

