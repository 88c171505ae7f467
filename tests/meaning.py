"""A local server for the meaning-level checks: chat (the model under test and a grader) and the embedding wire
formats of OpenAI (`/embeddings`), Ollama (`/api/embed`) and Gemini (`:embedContent`), with deterministic answers."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from typing import Any

import yaml

from .servers import ModelServer, Reply, chat_completion, last_user_message

GRADER_ID = "grader-model"
REFUND_Q = "How long do I have to return an item?"
REFUND_A = "You can return any item within 30 days of delivery for a full refund."


def bag_vector(text: str, size: int = 64) -> list[float]:
    """Words hashed into `size` dimensions: texts sharing words are similar, deterministically."""
    vector = [0.0] * size
    for word in text.lower().replace(".", " ").replace(",", " ").split():
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % size] += 1.0
    return vector


class MeaningServer(ModelServer):
    def __init__(self) -> None:
        super().__init__()
        self.vectors: dict[str, list[float]] = {}  # fixed vectors for some texts; others: bag_vector
        self.grader = "ok"  # "ok" | "fenced" | "prose" | "slow"
        self.grader_model_served = "grader-model-2025-01-01"
        self.variants: dict[str, list[str]] = {}  # prompt -> answers given in turn
        self.turn: dict[str, int] = {}
        self.count: Counter[str] = Counter()  # requests per kind: chat, grader, openai, ollama, gemini

    def vector(self, text: str) -> list[float]:
        return self.vectors.get(text) or bag_vector(text)

    def respond(self, path: str, request: dict[str, Any], headers: dict[str, str]) -> Reply:
        if path.endswith("/embeddings"):
            self.count["openai"] += 1
            data = [
                {"object": "embedding", "index": i, "embedding": self.vector(t)} for i, t in enumerate(request["input"])
            ]
            return Reply(
                body={
                    "object": "list",
                    "data": data,
                    "model": request["model"],
                    "usage": {"prompt_tokens": 7, "total_tokens": 7},
                }
            )
        if path.endswith("/api/embed"):
            self.count["ollama"] += 1
            return Reply(
                body={
                    "model": request["model"],
                    "embeddings": [self.vector(t) for t in request["input"]],
                    "prompt_eval_count": 5,
                }
            )
        if ":embedContent" in path:
            self.count["gemini"] += 1
            return Reply(body={"embedding": {"values": self.vector(request["content"]["parts"][0]["text"])}})
        if request.get("model") == GRADER_ID:
            self.count["grader"] += 1
            return Reply(
                body=chat_completion(
                    self.grade(last_user_message(request)),
                    model=self.grader_model_served,
                    prompt_tokens=100,
                    completion_tokens=20,
                )
            )
        self.count["chat"] += 1
        prompt = last_user_message(request)
        if prompt in self.variants:  # a nondeterministic model: its answers in turn
            with self._lock:
                turn = self.turn[prompt] = self.turn.get(prompt, -1) + 1
            texts = self.variants[prompt]
            return Reply(body=chat_completion(texts[turn % len(texts)]))
        return super().respond(path, request, headers)

    def grade(self, prompt: str) -> str:
        answer = prompt.split("<answer>", 1)[-1].split("</answer>", 1)[0]
        if self.grader == "prose":
            return "The answer looks fine to me, I would give it a good score."
        verdict = (
            {"score": 0.9, "reason": "names the 30-day window"}
            if "30 days" in answer
            else {"score": 0.2, "reason": "does not name the return window"}
        )
        text = json.dumps(verdict)
        return f"```json\n{text}\n```" if self.grader == "fenced" else text


def write_config(pytester, server: MeaningServer, extra: dict | None = None, **models: dict) -> None:
    """promptguard.yaml: model `fast` (openai chat), `grader` (priced), `emb` (openai embeddings), plus `models`."""
    base = {"base_url": server.url, "timeout_s": 5, "max_backoff_s": 0.05}
    data = {
        "default_models": ["fast"],
        "models": {
            "fast": {"provider": "openai", "model": "gpt-4o-mini", **base},
            "grader": {
                "provider": "openai",
                "model": GRADER_ID,
                **base,
                "price": {"input_per_mtok": 10, "output_per_mtok": 50},
            },
            "emb": {
                "provider": "openai",
                "model": "text-embedding-3-small",
                **base,
                "price": {"input_per_mtok": 20, "output_per_mtok": 0},
            },
            **models,
        },
        "drift": {"baseline_samples": 1},
        **(extra or {}),
    }
    (pytester.path / "promptguard.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))
