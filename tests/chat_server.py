"""A small OpenAI-compatible chat server for tests: ``GET /v1/models`` and ``POST /v1/chat/completions``, as
vLLM's server speaks them, answering with tiny transformers models through the project's own generation code
(text-only chats with the causal LM, chats with ``image_url`` images with the video-language model, the images
in order as one video). Run as ``python -m tests.chat_server --port N --lm DIR --vlm DIR``.

It records each request's Authorization header (``GET /v1/requests``), so a test can check the key was sent;
a request whose first user text contains ``FAIL500`` gets a 500, to test retries."""
from __future__ import annotations

import argparse
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import cv2
import numpy as np


def _settings(body: dict) -> SimpleNamespace:
    temperature = float(body.get("temperature", 1.0))
    return SimpleNamespace(max_new_tokens=int(body.get("max_tokens", 16)), num_beams=1, do_sample=temperature > 0,
                           temperature=temperature or 1.0, top_p=float(body.get("top_p", 1.0)),
                           repetition_penalty=float(body.get("repetition_penalty", 1.0)),
                           seed=int(body.get("seed", 0)), max_pixels=int(body.get("max_pixels", 3136)),
                           min_pixels=int(body.get("min_pixels", 3136)))


def _prompt(body: dict):
    from curation.models.prompt import Prompt

    system, text, frames = None, "", []
    for message in body["messages"]:
        content = message["content"]
        if message["role"] == "system":
            system = content
            continue
        for item in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if item["type"] == "text":
                text += item["text"]
            elif item["type"] == "image_url":
                data = base64.b64decode(item["image_url"]["url"].split(",", 1)[1])
                frames.append(cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                                           cv2.COLOR_BGR2RGB))
    return Prompt(text, frames, system)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lm", required=True)
    parser.add_argument("--vlm", required=True)
    parser.add_argument("--name", default="tiny")
    args = parser.parse_args()

    from curation.models.causal_lm import generate_text, load_causal_lm
    from curation.models.video_language import generate_video_text, load_video_language
    from curation.models.weights import resolve_hf

    lm = load_causal_lm(resolve_hf(f"local-dir:{args.lm}", None, None, "lm"), "cpu", "fp32")
    vlm = load_video_language(resolve_hf(f"local-dir:{args.vlm}", None, None, "vlm"), "cpu", "fp32")
    lock, seen = threading.Lock(), []

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": args.name, "object": "model"}]})
            elif self.path == "/v1/requests":
                self._send(200, {"authorization": seen})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(self.headers.get("Authorization"))
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": "not found"}})
            if body.get("model") != args.name:
                return self._send(404, {"error": {"message": f"model {body.get('model')!r} does not exist"}})
            prompt = _prompt(body)
            if "FAIL500" in prompt.text:
                return self._send(500, {"error": {"message": "internal error"}})
            with lock:  # one generation at a time, as one GPU would
                text = (generate_video_text(vlm, [prompt], _settings(body)) if prompt.frames
                        else generate_text(lm, [prompt], _settings(body)))[0]
            self._send(200, {"object": "chat.completion", "model": args.name, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]})

        def log_message(self, *_):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
