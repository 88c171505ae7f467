"""What checks ask of models: embeddings (`semantic`, `golden: {method: semantic}`) and graders (`judge`).

Checks never call a provider themselves (nor open an HTTP client): they ask this room, which sends every request
through the run's scheduler, under the same rules as the cases' own calls (concurrency, rate limits, retries,
timeouts, `Retry-After`, budgets, prices, the response cache). Answers are also kept in memory for the run, so
a text is embedded once and an output graded once per rubric, however many checks and samples ask.

Every call a check makes is noted in a ledger under its case (suite file, case id, model), with its cost and,
for a grader, the score it gave. The item takes its notes onto its CaseResult (`check_calls`): the reports
show that cost beside the models' own (never inside the case's cost), and goldens record the judge scores.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import PromptguardError
from .providers.local_embeddings import refuse_chat
from .results import Call, Request

if TYPE_CHECKING:
    from .config import Config, ModelSpec
    from .run import Run

Key = tuple[str, str, str]  # (suite file, case id, model): whose check asked


class CheckCallError(Exception):
    """A model a check needed (a grader, an embedding model) gave no usable answer, or cannot be called now. Like a
    provider failure it is an ERROR of the item, never a check failure: "grader down" is not "output worse"."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors, -1 to 1 (0 when either is all zeros)."""
    if len(a) != len(b):
        raise CheckCallError(f"embeddings of different lengths ({len(a)} and {len(b)}): is the embedding model consistent?")
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return max(-1.0, min(1.0, dot / norm)) if norm else 0.0


class CheckModels:
    """The models the checks of one suite file may ask, as its promptguard.yaml names them."""

    def __init__(self, run: "Run", config: "Config", path: Path) -> None:
        self.run, self.config, self.path = run, config, path

    # -- at collection ---------------------------------------------------------------------------------------------

    def embedder(self) -> "ModelSpec":
        """The config's embedding model; a PromptguardError (located in promptguard.yaml) when it names an unknown
        model or one whose provider has no embeddings API, a ValueError when there is none."""
        spec = self.config.embedding_model
        if spec is None:
            raise ValueError("no embedding_model in promptguard.yaml")
        provider = self.run.provider_of(self.config, spec)
        if not hasattr(provider, "embed"):
            raise PromptguardError(
                f"embedding_model: model '{spec.name}' ({spec.provider}) has no embeddings API promptguard speaks",
                path=self.config.path, line=self.config.data.lines.get("embedding_model"),
                hint="name a model of provider openai, ollama, gemini or sentence-transformers",
            )
        return spec

    def grader(self, name: str) -> "ModelSpec":
        """Model `name`, to grade with (PromptguardError, saying where models are defined, when unknown)."""
        spec = self.config.model(name)
        refuse_chat(spec, self.config.path)  # an embedding-only model cannot grade
        self.run.provider_of(self.config, spec)
        return spec

    @property
    def judge_settings(self) -> dict[str, Any]:
        return self.config.judge

    # -- at run time -----------------------------------------------------------------------------------------------

    def embed(self, spec: "ModelSpec", texts: Sequence[str], asker: Key | None) -> list[list[float]]:
        """The embedding of every text: from memory, else through the scheduler (and its response cache)."""
        memory = self.run.embeddings
        missing = list(dict.fromkeys(t for t in texts if (spec.name, spec.model, t) not in memory))
        if missing:
            if self.run.options.replay:
                raise CheckCallError(
                    f"the embedding model '{spec.name}' cannot be called under --promptguard-replay"
                )
            provider = self.run.provider_of(self.config, spec)
            calls = self.run.scheduler.embed(provider, missing, self.run.budgets_of(self.path))
            for text, call in zip(missing, calls):
                if call.error is not None:
                    raise CheckCallError(f"embedding model '{spec.name}' failed: {call.error.message}")
                if asker is not None:
                    self.note(asker, "embedding", call)
                memory[(spec.name, spec.model, text)] = json.loads(call.text)
        return [memory[(spec.name, spec.model, t)] for t in texts]

    def similarity(self, spec: "ModelSpec", a: str, b: str, asker: Key | None = None) -> float:
        """Cosine similarity of two texts' embeddings (identical texts: 1, without asking)."""
        if a == b:
            return 1.0
        first, second = self.embed(spec, [a, b], asker)
        return cosine(first, second)

    def grade(self, spec: "ModelSpec", prompt: str) -> tuple[Call, str]:
        """The grader's answer to `prompt` and where it came from (live, cache, memory)."""
        request = Request(
            model=spec.name, provider=spec.provider, model_id=spec.model or spec.callable,
            messages=({"role": "user", "content": prompt},), params=dict(spec.params),
        )
        key = (request.digest(), spec.base_url)
        remembered = self.run.gradings.get(key)
        if remembered is not None:
            return remembered, "memory"
        if self.run.options.replay:
            raise CheckCallError(f"the grader '{spec.name}' cannot be called under --promptguard-replay")
        provider = self.run.provider_of(self.config, spec)
        call = self.run.scheduler.ask(provider, request, self.run.budgets_of(self.path))
        if call.error is not None:
            raise CheckCallError(f"grader '{spec.name}' failed: {call.error.message}")
        self.run.gradings[key] = call
        return call, call.source

    def note(self, asker: Key, kind: str, call: Call | None, source: str | None = None, **fields: Any) -> None:
        """Put one call a check made (or an answer it reused: cost 0) in the ledger of the case that asked."""
        record: dict[str, Any] = {"kind": kind, "source": source or (call.source if call else "memory")}
        if call is not None:
            reused = record["source"] in ("memory", "replay")
            record.update(
                model=call.model, model_asked=call.model_asked, model_served=call.model_served,
                tokens_in=0 if reused else call.tokens_in, tokens_out=0 if reused else call.tokens_out,
                cost_usd=0.0 if reused else call.cost_usd,
            )
        record.update(fields)
        self.run.check_ledger[asker].append(record)


def new_ledger() -> "defaultdict[Key, list[dict[str, Any]]]":
    return defaultdict(list)
