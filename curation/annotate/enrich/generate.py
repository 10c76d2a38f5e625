"""What the text-generating stages (``video_caption``, ``caption_merge``) share: the backend (the model in
process with transformers, or an OpenAI-compatible server) and the checks that turn bad model output (empty,
too long, a refusal) into the clip's error instead of a caption."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from curation.annotate.config import AnnotateConfig, GenerationConfig
from curation.annotate.enrich.base import ClipFailure, ModelStage
from curation.annotate.enrich.registry import BY_NAME
from curation.models.prompt import Prompt


def clean_text(text: str) -> str:
    """Whitespace collapsed to single spaces, ends stripped, control characters dropped: a caption is one line
    of text."""
    text = "".join(ch for ch in text if ch.isspace() or not unicodedata.category(ch).startswith("C"))
    return " ".join(text.split())


class OutputCheck:
    """The rules a model's output must pass to be a caption: not empty, at most ``max_chars`` characters, no
    refusal pattern."""

    def __init__(self, c: GenerationConfig):
        self.max_chars = c.max_chars
        self.refusals = [re.compile(p, re.IGNORECASE) for p in c.refusal_patterns]

    def __call__(self, raw: str) -> str | ClipFailure:
        text = clean_text(raw)
        if not text:
            return ClipFailure("empty model output")
        if len(text) > self.max_chars:
            return ClipFailure(f"model output of {len(text)} characters, over max_chars {self.max_chars}: "
                               f"{text[:80]!r}...")
        for pattern in self.refusals:
            if pattern.search(text):
                return ClipFailure(f"refusal (matches {pattern.pattern!r}): {text[:120]!r}")
        return text


class GeneratingStage(ModelStage):
    """A model stage whose one column is text a model writes from a :class:`Prompt` per clip. Subclasses set
    ``name``, ``column`` and ``local(source, c)`` (the in-process backend: a function of a prompt list), and
    implement ``prepare``."""

    column = ""

    def __init__(self, config: AnnotateConfig, source: Any, gpu_fraction: float = 0.0):
        super().__init__(config, getattr(config.ray, self.name), gpu_fraction)
        self.label, self.random_weights = BY_NAME[self.name].label(source=source)
        self.settings: GenerationConfig = getattr(config, self.name)
        self.check = OutputCheck(self.settings)
        if self.settings.backend == "openai":
            from curation.models.chat_server import chat, check_server

            check_server(source)
            self.generate: Callable[[list[Prompt]], list[Any]] = lambda prompts: chat(source, prompts, self.settings)
        else:
            self.generate = self.local(source, self.settings)

    def local(self, source: Any, c: GenerationConfig) -> Callable[[list[Prompt]], list[str]]:
        raise NotImplementedError

    def compute(self, items: list[Prompt]) -> list[dict | ClipFailure]:
        out: list[dict | ClipFailure] = []
        for answer in self.generate(items):
            # A failed server request (the backend's ServerError) is that clip's error.
            result = ClipFailure(str(answer)) if isinstance(answer, Exception) else self.check(answer)
            out.append(result if isinstance(result, ClipFailure) else {self.column: result})
        return out
