"""The one error type for per-video failures: it becomes a row's ``error`` / ``error_kind``, never a crash."""
from __future__ import annotations


class VideoError(Exception):
    """A per-video failure with a short machine-readable kind (``empty_file``, ``not_a_video``, ...).

    Kinds: unreadable, empty_file, not_a_video, no_video_stream, unsupported, decode_error, no_frames,
    too_short, timeout, worker_crashed.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
