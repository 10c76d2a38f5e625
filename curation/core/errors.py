"""The two error types every layer shares: :class:`ConfigError`, for a problem the user can fix (config, input,
storage, a held output), which the CLI prints as one line without a traceback unless ``--verbose``; and
:class:`VideoError`, a per-video failure, which becomes a row's ``error`` / ``error_kind``, never a crash. Both
live here, at the bottom of the layers, so the isolation of a scan (``core``) and the decoder (``video``) raise
the same type without ``core`` importing ``video``."""


class ConfigError(ValueError):
    """A configuration or input problem; the message names the offending key, file or URI."""


class VideoError(Exception):
    """A per-video failure with a short machine-readable kind (``empty_file``, ``not_a_video``, ...).

    Kinds: unreadable, empty_file, not_a_video, no_video_stream, unsupported, decode_error, no_frames,
    too_short, timeout, worker_crashed.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
