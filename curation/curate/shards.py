"""WebDataset training shards: each kept clip cut to its span (and, with ``shard.crop_borders``, to its content
box) and encoded as H.264 mp4 (PyAV), with a JSON of its captions (caption, video_caption, caption_merged),
motion bucket, camera label, fps and scores, and a JPEG thumbnail; written into tar shards atomically.

Sample keys are clip ids (``{video_id}-{clip_index:05d}``: no dots, so WebDataset groups the three files of
a sample). Shard membership is deterministic (kept clips in (video_id, clip_index) order, cut into
``samples_per_shard``), so a rerun skips shards already written and rewrites nothing.

Sources and shards may be local paths or object-store URIs (:mod:`curation.core.storage`): sources are decoded
straight from the store; a shard for an object store is built in a local temporary file (``$TMPDIR``, one
shard's size) and uploaded as one complete object, so a partial shard is never visible there either.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pyarrow as pa

from curation.core import storage
from curation.core.atomic import atomic_write
from curation.curate.config import ShardConfig
from curation.video import VideoError, iter_frames, scaled_size
from curation.video.encode import H264Writer

# Scores copied into each sample's JSON when the table has them.
CAPTION_COLUMNS = ("caption", "video_caption", "caption_merged")
SCORE_COLUMNS = ("motion_mean", "motion_p50", "motion_p90", "motion_static_frac", "aesthetic", "text_sim_mean",
                 "text_sim_min", "ocr_area_max", "ocr_area_mean", "camera_pan", "camera_tilt", "camera_zoom",
                 "camera_rotation", "camera_shake", "object_motion", "sharpness", "overexposed", "underexposed",
                 "saturation", "contrast", "overlay_area", "overlay_crop_share")


@dataclass
class EncodedClip:
    mp4: bytes
    thumbnail: bytes
    frames: int
    fps: float
    width: int
    height: int
    cropped: bool = False


def encode_clip(path: str, start_s: float, end_s: float, source_fps: float, config: ShardConfig,
                box: tuple[int, int, int, int] | None = None) -> EncodedClip:
    """Decode ``[start_s, end_s)`` of ``path`` (a local path or an object-store URI) and encode it as an H.264 mp4 in
    memory (optionally cropped to ``box``, (x, y, width, height) in display pixels, resized and resampled to
    ``config.fps`` by taking, for each output instant, the latest source frame at or before it)."""
    fps = float(config.fps or source_fps)
    out = io.BytesIO()
    size, thumb_src, writer = None, None, None
    n_out = max(1, int(round((end_s - start_s) * fps)))
    middle = n_out // 2
    pending = None  # the latest decoded frame: what the next output instants show
    for frame in iter_frames(path, start_s=start_s, end_s=end_s):
        if writer is None:
            w, h = box[2:] if box is not None else frame.display_size
            size = scaled_size(w, h, short_side=config.short_side) if config.short_side else (w - w % 2, h - h % 2)
            writer = H264Writer(out, size[0], size[1], fps, crf=config.crf, preset=config.preset)
        # Emit every output instant before this frame (resampling by sample-and-hold).
        while writer.frames < n_out and start_s + writer.frames / fps < frame.time_s + 1e-9 and pending is not None:
            if writer.frames == middle:
                thumb_src = pending
            _emit(writer, pending, size, box)
        pending = frame
    if writer is None:
        raise VideoError("no_frames", f"no frame decoded in [{start_s:.3f}, {end_s:.3f}) s")
    while writer.frames < n_out:
        if writer.frames == middle:
            thumb_src = pending
        _emit(writer, pending, size, box)
    frames = writer.frames
    writer.close()
    thumb_src = thumb_src if thumb_src is not None else pending
    tw, th = scaled_size(size[0], size[1], long_side=config.thumbnail_long_side)
    ok, jpg = cv2.imencode(".jpg", _picture(thumb_src, (tw, th), box), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return EncodedClip(out.getvalue(), jpg.tobytes(), frames, fps, size[0], size[1], box is not None)


def _picture(decoded, size: tuple[int, int], box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The frame (BGR) at ``size``, cropped to ``box`` first when given."""
    if box is None:
        return decoded.bgr_exact(*size)
    x, y, w, h = box
    full = decoded.bgr_exact(*decoded.display_size)[y:y + h, x:x + w]
    return cv2.resize(full, size, interpolation=cv2.INTER_AREA)


def _emit(writer: H264Writer, decoded, size: tuple[int, int], box: tuple[int, int, int, int] | None = None) -> None:
    if box is not None:
        writer.write_array(_picture(decoded, size, box), "bgr24")
    elif decoded.rotation == 0:
        # swscale straight to the encoder's format and size: no round trip through an RGB array.
        writer.write_frame(decoded.frame.reformat(width=size[0], height=size[1], format="yuv420p",
                                                  interpolation="AREA"))
    else:
        writer.write_array(decoded.bgr_exact(*size), "bgr24")


def crop_box(row: dict) -> tuple[int, int, int, int] | None:
    """The clip's content box (borders stage) as (x, y, width, height) when it has bars; None otherwise."""
    keys = ("content_x", "content_y", "content_width", "content_height")
    if any(row.get(k) is None for k in keys) or not row.get("border_share"):
        return None
    return tuple(int(row[k]) for k in keys)


def sample_json(row: dict, encoded: EncodedClip) -> dict:
    scores = {c: row[c] for c in SCORE_COLUMNS if c in row and row[c] is not None and np.isfinite(row[c])}
    # <stage>_random_weights: every model stage's provenance column (curation.contract.schema.model_columns).
    random = [k.removesuffix("_random_weights") for k, v in row.items() if k.endswith("_random_weights") and v]
    return {
        "clip_id": row["clip_id"], "video_id": row["video_id"], "source": row["video_path"],
        "start_s": row["start_s"], "end_s": row["end_s"], "start_frame": row["start_frame"],
        "end_frame": row["end_frame"],
        # The SVD recipe's three captions (null where absent): CoCa's, the video captioner's, the merged one.
        **{c: row.get(c) or None for c in CAPTION_COLUMNS},
        "motion_bucket_id": None if row.get("motion_bucket_id") is None else int(row["motion_bucket_id"]),
        # The camera label (static, pan_left, ..., shaky, mixed), for training to condition on with the bucket.
        "camera_motion": row.get("camera_motion"),
        "still": row.get("still"),  # a still picture or a frozen frame (clarity stage)
        # The content box inside letterbox / pillarbox bars (borders stage), source display pixels, and whether
        # the video was cropped to it.
        "content_box": None if row.get("content_width") is None else [
            int(row[k]) for k in ("content_x", "content_y", "content_width", "content_height")],
        "cropped": encoded.cropped,
        # The box left when the on-screen graphics are cut off (overlay stage), source display pixels.
        "overlay_crop": row.get("overlay_crop"),
        "fps": encoded.fps, "num_frames": encoded.frames, "width": encoded.width, "height": encoded.height,
        "scores": scores, "random_weights": random,
    }


def write_shard(uri: str | Path, rows: list[dict], config: ShardConfig) -> dict:
    """Encode ``rows`` (kept clips) into the tar ``uri`` (a local path or an object-store URI) atomically.
    Returns {name, samples, bytes, failed}: a clip whose source cannot be re-read is listed in ``failed`` with
    why, not silently skipped."""
    failed: list[dict] = []

    def write(tmp: Path) -> int:
        samples = 0
        with tarfile.open(tmp, "w") as tar:
            for row in rows:
                try:
                    encoded = encode_clip(row["video_path"], row["start_s"], row["end_s"], row["fps"], config,
                                          crop_box(row) if config.crop_borders else None)
                except (VideoError, av.error.FFmpegError, OSError, cv2.error, storage.StorageError) as exc:
                    failed.append({"clip_id": row["clip_id"], "error": f"{type(exc).__name__}: {exc}"})
                    continue
                meta = json.dumps(sample_json(row, encoded), sort_keys=True).encode()
                for ext, data in (("mp4", encoded.mp4), ("json", meta), ("jpg", encoded.thumbnail)):
                    info = tarfile.TarInfo(f"{row['clip_id']}.{ext}")
                    info.size, info.mtime = len(data), int(time.time())
                    tar.addfile(info, io.BytesIO(data))
                samples += 1
        return samples

    uri = str(uri)
    local = storage.local_path(uri)
    if local is not None:
        samples = atomic_write(local, write)
        size = os.path.getsize(local)
    else:
        with tempfile.TemporaryDirectory(prefix="curate-shard-") as tmp:
            path = Path(tmp) / storage.name(uri)
            samples = write(path)
            size = path.stat().st_size
            # Memory-mapped: the upload reads the file's pages, it does not copy the shard into memory.
            with pa.memory_map(str(path)) as mapped:
                storage.write_bytes(uri, mapped.read_buffer())
    return {"name": storage.name(uri), "samples": samples, "bytes": size, "failed": failed}
