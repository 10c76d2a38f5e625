"""The ``caption_merge`` stage: a causal language model (default ``Qwen/Qwen2.5-1.5B-Instruct``, loaded as
``AutoModelForCausalLM`` + ``AutoTokenizer`` by :mod:`curation.models.causal_lm`) merges the CoCa ``caption``
of the middle keyframe and the ``video_caption`` into one description, the SVD recipe's third caption. The
prompt is the config's template. A clip missing either caption gets an error, not a guess."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from curation.annotate.config import CaptionMergeConfig
from curation.annotate.enrich.base import ClipFailure
from curation.annotate.enrich.generate import GeneratingStage
from curation.models.prompt import Prompt


class CaptionMergeStage(GeneratingStage):
    name = "caption_merge"
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
