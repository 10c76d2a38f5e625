"""What the text-generating stages (``video_caption``, ``caption_merge``) share: the backend (the model in
process with transformers, or an OpenAI-compatible server) and the checks that turn bad model output (empty,
too long, a refusal) into the clip's error instead of a caption."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from curation.core.section import Device, Float, Items, Precision, Section, fail
from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import ClipFailure, ModelStage
from curation.annotate.enrich.stage import EnrichStage
from curation.models import weights as _weights
from curation.models.prompt import Prompt
from curation.models.weights import resolve_hf

if TYPE_CHECKING:
    from curation.annotate.config import AnnotateConfig


# The built-in tiny architectures of the transformers stages (tests and offline demos; random weights only).
# Named here, not imported from their model modules, so this module imports no torch.
TINY_HF = {"video_caption": ("curation-tiny-qwen2-vl",), "caption_merge": ("curation-tiny-qwen2",)}


def generating_stage(name: str, implementation: str, column: tuple[str, pa.DataType, str], config: type[Section],
                     resources: StageResources, reads: tuple[str, ...] = ()) -> EnrichStage:
    """A text-generating stage: its source is resolved local weights (backend transformers) or the server it
    posts to (backend openai: nothing to resolve here; the server is asked when the stage starts)."""
    def weights(cfg: AnnotateConfig) -> dict[str, Any]:
        c = getattr(cfg, name)
        if c.backend == "openai":
            from curation.models.chat_server import ServerSource

            return {"source": ServerSource.of(c.server, c.model)}
        return {"source": resolve_hf(c.model, c.weights, c.revision, f"annotate.{name}", TINY_HF[name])}

    def download(cfg: AnnotateConfig) -> list[str]:
        c = getattr(cfg, name)
        if c.backend == "openai":
            return ["backend openai: the server holds the weights"]
        return [str(_weights.download_hf(c.model, c.revision, TINY_HF[name]))]

    return EnrichStage(name=name, implementation=implementation, columns=(column,), config=config,
                       resources=resources, weights=weights,
                       label=lambda source: (source.label, source.random), reads=lambda cfg: reads,
                       download=download, transport_keys=tuple(f"server.{k}" for k in (
                           "base_url", "api_key_env", "timeout_s", "concurrency", "retries")))


DEFAULT_REFUSALS = (r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i cannot|i can'?t|i'?m unable|i am unable|"
                    r"i'?m not able|as an ai)",)


class ServerConfig(Section):
    """An OpenAI-compatible chat server (``backend: openai``), such as vLLM's (``vllm serve MODEL``).

    base_url: up to ``/v1``; requests go to ``{base_url}/chat/completions`` (default http://127.0.0.1:8000/v1).
    model: the model name the server knows (default null: the section's ``model``).
    api_key_env: the environment variable holding the API key, sent as a bearer token (default
        ``OPENAI_API_KEY``; unset or empty: no key). The key is never in the config, the output or a log.
    timeout_s: per request (default 300). concurrency: requests in flight at once per worker; the server
        batches them (default 16). retries: a request that fails to connect, times out or gets a 5xx or 429
        is tried again this many times, after 1, 2, 4 ... s (default 2).
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: Float = Field(300.0, gt=0)
    concurrency: int = Field(16, ge=1, le=1024)
    retries: int = Field(2, ge=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return url.rstrip("/")


class GenerationConfig(Section):
    """What the text-generating stages (``video_caption``, ``caption_merge``) share.

    backend: ``transformers`` (default: the model in the stage's own workers) or ``openai`` (an OpenAI-compatible
        server, e.g. vLLM's, see ``server``; no weights are loaded here).
    model: a hub id (in the local Hugging Face cache: ``curate models download`` fetches it), ``local-dir:PATH``
        (a ``save_pretrained`` folder) or a built-in tiny architecture (tests; ``weights: random``).
    weights: null (the model's own) or ``random`` (seeded random init from the model's config: speed
        benchmarks only; flagged in the output). revision: a hub revision (default null: the cached one).
    max_new_tokens: longest output in tokens. num_beams: beam search width (1 = greedy or sampling).
    do_sample: sample (with ``temperature``, ``top_p``) instead of greedy/beam search (default false).
    repetition_penalty: (default 1.05).
    max_chars: a longer output is the clip's error, not a caption. refusal_patterns: regular expressions
        (``re.search``, case-insensitive); an output matching one is a refusal and the clip's error. An empty
        output is an error too.
    precision, device, seed: as in ``aesthetic`` (seed also seeds sampling, per batch).
    server: the server of ``backend: openai``.
    """

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = ""
    weights: Literal["random"] | None = None
    revision: str | None = None
    max_new_tokens: int = Field(128, ge=1, le=8192)
    num_beams: int = Field(1, ge=1, le=16)
    do_sample: bool = False
    temperature: Float = Field(1.0, gt=0)
    top_p: Float = Field(1.0, gt=0, le=1)
    repetition_penalty: Float = Field(1.05, gt=0)
    max_chars: int = Field(1000, ge=1)
    refusal_patterns: Items[str] = DEFAULT_REFUSALS
    precision: Precision = "auto"
    device: Device = "auto"
    seed: int = 0
    server: ServerConfig = Field(default_factory=ServerConfig)

    @field_validator("refusal_patterns")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _model_and_backend(self) -> GenerationConfig:
        if not self.model:
            raise fail("model", "must name a hub id, local-dir:PATH or a built-in tiny architecture")
        if self.backend == "openai" and self.num_beams != 1:
            raise fail("num_beams", "must be 1 with backend openai (the chat API has no beam search)")
        return self


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
        self.label, self.random_weights = self.declaration.label(source=source)
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
