"""One request to a text-generating model, whichever backend runs it (in process or on a server)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Prompt:
    """text: the user turn's instruction. frames: RGB uint8 images (H, W, 3) shown before it, in order (the
    video_caption stage's keyframes; empty for text only). system: a system turn, or None."""

    text: str
    frames: list[np.ndarray] = field(default_factory=list)
    system: str | None = None


def messages(prompt: Prompt, media: list[dict] | None = None) -> list[dict]:
    """The chat of one prompt: an optional system turn, then the user turn (``media`` items before the text)."""
    turns = [{"role": "system", "content": prompt.system}] if prompt.system else []
    content: object = [*media, {"type": "text", "text": prompt.text}] if media else prompt.text
    return turns + [{"role": "user", "content": content}]
