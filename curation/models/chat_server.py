"""The ``openai`` backend of the text-generating stages: requests to an OpenAI-compatible chat server
(``POST {base_url}/chat/completions``), such as vLLM's ``vllm serve MODEL``, which batches concurrent requests on
its GPUs. Frames go as JPEG ``image_url`` data URLs. Standard library only (no torch, no client package).

The API key is read from the environment variable the config names, sent as a bearer token, and never
logged, stored or put in an error message.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2

from curation.models.prompt import Prompt, messages

log = logging.getLogger(__name__)
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class ServerError(Exception):
    """One request the server did not answer with a completion (the message says why)."""


@dataclass(frozen=True)
class ServerSource:
    """Where the requests go: ``model`` is the name the server serves. ``random`` is always False: the
    server's weights are its own business."""

    base_url: str
    model: str
    api_key_env: str | None
    timeout_s: float
    concurrency: int
    retries: int
    random: bool = False

    @classmethod
    def of(cls, server: Any, model: str) -> ServerSource:
        """From a :class:`~curation.annotate.enrich.generate.ServerConfig` and the section's model."""
        return cls(server.base_url, server.model or model, server.api_key_env, server.timeout_s,
                   server.concurrency, server.retries)

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self.base_url}"


def _headers(source: ServerSource) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(source.api_key_env) if source.api_key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _request(source: ServerSource, path: str, body: dict | None = None) -> dict:
    """One request, retried on connection failures, time-outs, 429 and 5xx; ServerError when it fails."""
    data = None if body is None else json.dumps(body).encode()
    url = f"{source.base_url}/{path}"
    for attempt in range(source.retries + 1):
        request = urllib.request.Request(url, data=data, headers=_headers(source),
                                         method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=source.timeout_s) as response:  # noqa: S310 (config URL)
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            error = ServerError(f"HTTP {exc.code} from {url}: {detail}")
            if exc.code not in _RETRY_STATUS:
                raise error from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            error = ServerError(f"{url}: {getattr(exc, 'reason', exc)}")
        except json.JSONDecodeError as exc:
            raise ServerError(f"{url}: the answer is not JSON ({exc})") from None
        if attempt < source.retries:
            time.sleep(2 ** attempt)
    raise error


def check_server(source: ServerSource) -> None:
    """RuntimeError unless the server answers ``GET /models`` and serves ``source.model`` (before any work)."""
    try:
        models = [m.get("id") for m in _request(source, "models").get("data", [])]
    except ServerError as exc:
        raise RuntimeError(f"the chat server is not reachable: {exc}") from None
    if source.model not in models:
        raise RuntimeError(f"{source.base_url} does not serve {source.model!r} (it serves {models})")


def _image_url(frame) -> dict:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise ServerError("a frame could not be encoded")
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}}


def body(source: ServerSource, prompt: Prompt, c: Any) -> dict:
    """The chat-completion request of one prompt under a GenerationConfig ``c``."""
    out = {"model": source.model, "messages": messages(prompt, [_image_url(f) for f in prompt.frames]),
           "max_tokens": c.max_new_tokens, "temperature": c.temperature if c.do_sample else 0.0,
           "top_p": c.top_p if c.do_sample else 1.0, "seed": c.seed, "n": 1}
    if c.repetition_penalty != 1.0:
        out["repetition_penalty"] = c.repetition_penalty  # vLLM's extra sampling parameter
    return out


def chat(source: ServerSource, prompts: list[Prompt], c: Any) -> list[str | ServerError]:
    """The server's answer to each prompt, ``source.concurrency`` requests at a time; a failed request is its
    ServerError, not an exception."""
    def one(prompt: Prompt) -> str | ServerError:
        try:
            answer = _request(source, "chat/completions", body(source, prompt, c))
            return answer["choices"][0]["message"]["content"] or ""
        except ServerError as exc:
            return exc
        except (KeyError, IndexError, TypeError):
            return ServerError("the answer has no choices[0].message.content")

    if not prompts:
        return []
    with ThreadPoolExecutor(max_workers=min(source.concurrency, len(prompts))) as pool:
        return list(pool.map(one, prompts))
