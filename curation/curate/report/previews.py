"""Preview videos of the clips a report shows: each clip cut from its source (its start/end, at most
``report.preview_max_s`` seconds) and encoded small as H.264 (:func:`curation.curate.shards.encode_clip`, the one
encoder), written beside the report in ``<report name>_files/<clip_id>.mp4``, so report.html and its folder
open offline. A clip whose source cannot be read gets no preview (the page keeps its still thumbnail)."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import quote

import av
import cv2

from curation.core import storage
from curation.curate.config import ShardConfig
from curation.curate.report.aggregate import ClipRef
from curation.curate.shards import encode_clip
from curation.video import VideoError

SUFFIX = ".mp4"
CRF = 30  # small files; a preview is for looking at, not for training


def files_folder(report: str) -> str:
    """The folder beside ``report`` (a path or URI) that holds its previews: ``report.html`` -> ``report_files``."""
    stem = storage.name(report).rsplit(".", 1)[0] or "report"
    return storage.join(storage.parent(report), f"{stem}_files")


def file_name(clip_id: str) -> str:
    """A safe file name for a clip's preview (clip ids are ``<hex>-<index>`` already; anything else is
    replaced and the id's hash appended, so two ids never share a file)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", clip_id)
    if safe != clip_id or safe.startswith("."):
        safe = f"{safe[:80]}-{hashlib.blake2b(clip_id.encode(), digest_size=6).hexdigest()}"
    return safe + SUFFIX


def write_previews(report: str, clips: Iterable[ClipRef], max_s: float = 10.0,
                   short_side: int = 180) -> tuple[dict[str, str], dict[str, str]]:
    """Encode a preview of every clip (its first ``max_s`` seconds, ``short_side`` pixels) into
    :func:`files_folder` of ``report``; stale previews there are removed. Returns ({clip_id: link relative to the
    report}, {clip_id: why it has no preview})."""
    settings = ShardConfig(short_side=short_side, crf=CRF, preset="veryfast", thumbnail_long_side=32)
    folder = files_folder(report)
    storage.makedirs(folder)
    links, failed = {}, {}
    for clip in clips:
        if clip.clip_id in links or clip.clip_id in failed:
            continue
        if clip.video_path is None or clip.start_s is None or clip.end_s is None:
            failed[clip.clip_id] = "no source span in the table"
            continue
        end = min(float(clip.end_s), float(clip.start_s) + max_s)
        try:
            encoded = encode_clip(clip.video_path, float(clip.start_s), end, float(clip.fps or 25.0), settings)
        except (VideoError, av.error.FFmpegError, OSError, cv2.error, storage.StorageError, ValueError) as exc:
            failed[clip.clip_id] = f"{type(exc).__name__}: {exc}"
            continue
        name = file_name(clip.clip_id)
        storage.write_bytes(storage.join(folder, name), encoded.mp4)
        links[clip.clip_id] = f"{quote(storage.name(folder))}/{quote(name)}"
    keep = {file_name(c) for c in links}
    for uri in storage.list_files(folder, SUFFIX):
        if storage.name(uri) not in keep:
            storage.delete(uri)
    return links, failed
