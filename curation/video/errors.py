"""The video layer's per-video failure type: :class:`curation.core.errors.VideoError` (defined in ``core`` so
that the scan's isolation, below this layer, raises it too)."""
from __future__ import annotations

from curation.core.errors import VideoError

__all__ = ["VideoError"]
