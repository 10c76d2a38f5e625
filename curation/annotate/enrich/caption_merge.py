"""The ``caption_merge`` stage: a causal language model (default ``Qwen/Qwen2.5-1.5B-Instruct``, loaded as
``AutoModelForCausalLM`` + ``AutoTokenizer`` by :mod:`curation.models.causal_lm`) merges the CoCa ``caption``
of the middle keyframe and the ``video_caption`` into one description, the SVD recipe's third caption. The
prompt is the config's template. A clip missing either caption gets an error, not a guess."""
from __future__ import annotations

from collections.abc import Callable
import string
from typing import Any

import pyarrow as pa
from pydantic import field_validator

from curation.runtime.stage import StageResources
from curation.annotate.enrich.base import ClipFailure
from curation.annotate.enrich.generate import GenerationConfig, GeneratingStage, generating_stage
from curation.models.prompt import Prompt

MERGE_PROMPT = ("Two descriptions of one video clip follow. Of its middle frame: {caption}\nOf the whole clip: "
                "{video_caption}\nWrite one description of the clip in one or two sentences that keeps what both "
                "say. Reply with the description only.")


class CaptionMergeConfig(GenerationConfig):
    """The ``caption_merge`` stage: a causal language model writes the third description, the SVD recipe's
    LLM summary, from the CoCa ``caption`` and the ``video_caption``.

    model: default ``Qwen/Qwen2.5-1.5B-Instruct`` (Apache-2.0); ``curation-tiny-qwen2`` is a built-in tiny
        random one.
    prompt: the template, with ``{caption}`` and ``{video_caption}`` (both, no other field; ``{{`` for a brace).
    system_prompt: a system turn before it (default null: none). The prompt goes through the tokenizer's chat
        template when it has one, else as plain text.
    Generation and the other keys: see :class:`GenerationConfig` (default at most 128 new tokens, greedy).
    """

    model: str = "Qwen/Qwen2.5-1.5B-Instruct"
    prompt: str = MERGE_PROMPT
    system_prompt: str | None = None

    @field_validator("prompt")
    @classmethod
    def _template(cls, prompt: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
        except ValueError as exc:
            raise ValueError(f"is not a template: {exc}") from None
        if fields != {"caption", "video_caption"}:
            raise ValueError(f"must use {{caption}} and {{video_caption}} and no other field (uses {sorted(fields)})")
        return prompt


# The SVD recipe's third caption.
STAGE = generating_stage("caption_merge", "curation.annotate.enrich.caption_merge:CaptionMergeStage", (
    "caption_merged", pa.string(), "One description merged from caption and video_caption by a language model "
                                   "(caption_merge.model, default Qwen2.5-1.5B-Instruct; the prompt is "
                                   "caption_merge.prompt), as the SVD recipe's third caption; null when an "
                                   "input is missing or the output was bad (see caption_merge_error)."),
                         CaptionMergeConfig, StageResources(batch_size=8, pool_size=1), reads=("caption", "video_caption"))


class CaptionMergeStage(GeneratingStage):
    declaration = STAGE
    column = "caption_merged"
    extra_columns = ("caption", "video_caption")

    def local(self, source: Any, c: CaptionMergeConfig) -> Callable[[list[Prompt]], list[str]]:
        from curation.models.causal_lm import generate_text, load_causal_lm

        loaded = load_causal_lm(source, c.device, c.precision, c.seed)
        return lambda prompts: generate_text(loaded, prompts, c)

    def prepare(self, row: dict) -> Prompt:
        captions = {}
        for name in self.extra_columns:
            text = " ".join(str(row.get(name) or "").split())
            if not text:
                raise ClipFailure(f"no {name} to merge (its stage failed on the clip or did not run)")
            captions[name] = text
        c: CaptionMergeConfig = self.settings
        return Prompt(c.prompt.format(**captions), system=c.system_prompt)
