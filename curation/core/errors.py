"""The two error types every layer shares: :class:`ConfigError`, for a problem the user can fix (config, input,
storage, a held output), which the CLI prints as one line without a traceback unless ``--verbose``; and
:class:`VideoError`, a per-video failure, which becomes a row's ``error`` / ``error_kind``, never a crash. Both
live here, at the bottom of the layers, so the isolation of a scan (``core``) and the decoder (``video``) raise
the same type without ``core`` importing ``video``.

An input whose handling raised an unexpected exception (a bug of ours, met by that input's bytes) is neither: it
becomes a row of kind :data:`INTERNAL_ERROR` naming the exception, its traceback travels with the row's
record to the job's driver, which writes it to the job's log (:func:`log_internal`), and the job goes on; the summary names such rows and the command's exit status says so."""
import logging

INTERNAL_ERROR = "internal_error"
# The CLI sends this logger to the job's log file (OUTPUT/_logs/), apart from the terminal.
INTERNAL_LOGGER = "curation.internal"


def internal_report(what: str, trace: str) -> str:
    """The text the job's log gets for an internal error met while handling ``what`` (a video's path or URI, a
    clip) with the traceback ``trace``."""
    return f"internal error on {what} (a bug in curation, met by this input; the job went on):\n{trace.rstrip()}"


def log_internal(report: str) -> None:
    """Write an :func:`internal_report` to the job's log (the :data:`INTERNAL_LOGGER` logger)."""
    logging.getLogger(INTERNAL_LOGGER).error("%s", report)


class ConfigError(ValueError):
    """A configuration or input problem; the message names the offending key, file or URI."""


class VideoError(Exception):
    """A per-video failure with a short machine-readable kind (``empty_file``, ``not_a_video``, ...).

    Kinds: unreadable, empty_file, not_a_video, no_video_stream, damaged_stream, unsupported, decode_error,
    no_frames, too_short, timeout, worker_crashed.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
