"""A small OpenAI-compatible server over a real model, for tests that need HTTP answers.

``python tests/openai_server.py [MODEL]`` serves MODEL (default: the bundled SmolLM2)
under its admedtagger model id on a free local port, prints the port, and answers
``POST /v1/chat/completions`` the way vLLM does for the two kinds of request the openai
backend sends, computed with the transformers backend's forward pass:

* ``max_tokens: 1`` with ``top_logprobs: k``: the next token after the chat-templated
  prompt and the k most likely tokens with their log-probabilities;
* ``structured_outputs: {"choice": words}``: greedy decoding constrained to the words'
  token sequences, each step's log-probability taken over the allowed tokens (as vLLM
  masks the logits), the reply being the chosen word.

A ``model`` other than the one served gets HTTP 404, as from vLLM. ``GET /v1/models``
lists the model. One request is computed at a time (the model is not shared between
threads).
"""

from __future__ import annotations

import json
import math
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

from admedtagger.labeling.llm.backend_transformers import TransformersBackend


class Model:
    def __init__(self, model: str | None):
        self.backend = TransformersBackend(model, batch_size=1)
        self.tokenizer = self.backend.tokenizer
        self.lock = threading.Lock()

    def complete(self, body: dict) -> dict:
        templated = self.tokenizer.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer.encode(templated, add_special_tokens=False)
        choice = (body.get("structured_outputs") or {}).get("choice")
        with self.lock:
            steps = self._choose(ids, choice) if choice else self._next(ids, int(body.get("top_logprobs") or 0))
        text = "".join(step["token"] for step in steps)
        return {
            "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": {"content": steps}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": len(steps),
                      "total_tokens": len(ids) + len(steps)},
        }

    def _next(self, ids: list[int], top: int) -> list[dict]:
        probs = self.backend.next_token_probs([ids])[0]
        values, tokens = torch.topk(probs, max(top, 1))
        entries = [{"token": self.tokenizer.decode([int(t)]), "logprob": math.log(float(v)) if v > 0 else -9999.0}
                   for v, t in zip(values, tokens)]
        return [{**entries[0], "top_logprobs": entries[:top]}]

    def _choose(self, ids: list[int], words: list[str]) -> list[dict]:
        sequences = [self.tokenizer.encode(w, add_special_tokens=False) for w in words]
        chosen: list[int] = []
        steps = []
        while chosen not in sequences:
            allowed = sorted({s[len(chosen)] for s in sequences if len(s) > len(chosen) and s[:len(chosen)] == chosen})
            probs = self.backend.next_token_probs([ids + chosen])[0][allowed]
            best = int(probs.argmax())
            steps.append({"token": self.tokenizer.decode([allowed[best]]),
                          "logprob": math.log(float(probs[best] / probs.sum()))})
            chosen.append(allowed[best])
        return steps


def serve(model: str | None) -> None:
    served = Model(model)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": served.backend.model_id, "object": "model"}]})
            else:
                self._send(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": f"no route {self.path}"})
            elif body.get("model") != served.backend.model_id:
                self._send(404, {"error": f"The model `{body.get('model')}` does not exist."})
            else:
                self._send(200, served.complete(body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else None)
