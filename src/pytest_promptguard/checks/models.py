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

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import PromptguardError
from ..core.results import Call
from ..providers.local_embeddings import refuse_chat

if TYPE_CHECKING:
    from ..call.scheduler import Budget, Scheduler
    from ..config.loader import Config, ModelSpec
    from ..providers import Provider

Key = tuple[str, str, str]  # (suite file, case id, model): whose check asked


@dataclass
class ModelAccess:
    """What the checks of one run share to reach models: the scheduler, each model's provider, the budgets a suite
    file spends against, whether calls are allowed at all (not when replaying), and what was answered so far."""

    scheduler: Scheduler
    provider: Callable[[Config, ModelSpec], Provider]
    budgets: Callable[[Path], tuple[Budget, ...]]
    replay: bool = False
    embeddings: dict[tuple[str, str | None, str], list[float]] = field(default_factory=dict)
    gradings: dict[tuple[str, str | None], Call] = field(default_factory=dict)
    ledger: defaultdict[Key, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def take(self, path: Path, case: str, model: str) -> list[dict[str, Any]]:
        """The calls the checks of one case × model made, taken off the ledger."""
        if not self.ledger:  # no check called a model: the common case, asked twice per item (resolve() is not free)
            return []
        return self.ledger.pop((str(path.resolve()), case, model), [])


class CheckCallError(Exception):
    """A model a check needed (a grader, an embedding model) gave no usable answer, or cannot be called now. Like a
    provider failure it is an ERROR of the item, never a check failure: "grader down" is not "output worse"."""


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors, -1 to 1 (0 when either is all zeros)."""
    if len(a) != len(b):
        raise CheckCallError(
            f"embeddings of different lengths ({len(a)} and {len(b)}): is the embedding model consistent?"
        )
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return max(-1.0, min(1.0, dot / norm)) if norm else 0.0


class CheckModels:
    """The models the checks of one suite file may ask, as its promptguard.yaml names them."""

    def __init__(self, access: ModelAccess, config: Config, path: Path) -> None:
        self.access, self.config, self.path = access, config, path

    # -- at collection ---------------------------------------------------------------------------------------------

    def embedder(self) -> ModelSpec:
        """The config's embedding model; a PromptguardError (located in promptguard.yaml) when it names an unknown
        model or one whose provider has no embeddings API, a ValueError when there is none."""
        spec = self.config.embedding_model
        if spec is None:
            raise ValueError("no embedding_model in promptguard.yaml")
        provider = self.access.provider(self.config, spec)
        if not hasattr(provider, "embed"):
            raise PromptguardError(
                f"embedding_model: model '{spec.name}' ({spec.provider}) has no embeddings API promptguard speaks",
                path=self.config.path,
                line=self.config.data.lines.get("embedding_model"),
                hint="name a model of provider openai, ollama, gemini or sentence-transformers",
            )
        return spec

    def grader(self, name: str) -> ModelSpec:
        """Model `name`, to grade with (PromptguardError, saying where models are defined, when unknown)."""
        spec = self.config.model(name)
        refuse_chat(spec, self.config.path)  # an embedding-only model cannot grade
        self.access.provider(self.config, spec)
        return spec

    @property
    def judge_settings(self) -> dict[str, Any]:
        return self.config.judge

    # -- at run time -----------------------------------------------------------------------------------------------

    def embed(self, spec: ModelSpec, texts: Sequence[str], asker: Key | None) -> list[list[float]]:
        """The embedding of every text: from memory, else through the scheduler (and its response cache)."""
        access = self.access
        memory = access.embeddings
        missing = list(dict.fromkeys(t for t in texts if (spec.name, spec.model, t) not in memory))
        if missing:
            if access.replay:
                raise CheckCallError(f"the embedding model '{spec.name}' cannot be called under --promptguard-replay")
            calls = access.scheduler.embed(access.provider(self.config, spec), missing, access.budgets(self.path))
            for text, call in zip(missing, calls):
                if call.error is not None:
                    raise CheckCallError(f"embedding model '{spec.name}' failed: {call.error.message}")
                if asker is not None:
                    self.note(asker, "embedding", call)
                memory[(spec.name, spec.model, text)] = json.loads(call.text)
        return [memory[(spec.name, spec.model, t)] for t in texts]

    def similarity(self, spec: ModelSpec, a: str, b: str, asker: Key | None = None) -> float:
        """Cosine similarity of two texts' embeddings (identical texts: 1, without asking)."""
        if a == b:
            return 1.0
        first, second = self.embed(spec, [a, b], asker)
        return cosine(first, second)

    def similarity_matrix(self, texts: Sequence[str], asker: Key) -> list[list[float]]:
        """The texts' pairwise semantic similarities (100 x cosine, one decimal): what a sampled golden judged by
        meaning is recorded from (its canonical output and calibrated min are chosen by them)."""
        vectors = self.embed(self.embedder(), texts, asker)
        return [[round(100 * cosine(a, b), 1) for b in vectors] for a in vectors]

    def grade(self, spec: ModelSpec, prompt: str) -> tuple[Call, str]:
        """The grader's answer to `prompt` and where it came from (live, cache, memory)."""
        access = self.access
        request = spec.request(({"role": "user", "content": prompt},))
        key = (request.digest(), spec.base_url)
        remembered = access.gradings.get(key)
        if remembered is not None:
            return remembered, "memory"
        if access.replay:
            raise CheckCallError(f"the grader '{spec.name}' cannot be called under --promptguard-replay")
        call = access.scheduler.ask(access.provider(self.config, spec), request, access.budgets(self.path))
        if call.error is not None:
            raise CheckCallError(f"grader '{spec.name}' failed: {call.error.message}")
        access.gradings[key] = call
        return call, call.source

    def note(self, asker: Key, kind: str, call: Call | None, source: str | None = None, **fields: Any) -> None:
        """Put one call a check made (or an answer it reused: cost 0) in the ledger of the case that asked."""
        record: dict[str, Any] = {"kind": kind, "source": source or (call.source if call else "memory")}
        if call is not None:
            reused = record["source"] in ("memory", "replay")
            record.update(
                model=call.model,
                model_asked=call.model_asked,
                model_served=call.model_served,
                tokens_in=0 if reused else call.tokens_in,
                tokens_out=0 if reused else call.tokens_out,
                cost_usd=0.0 if reused else call.cost_usd,
            )
        record.update(fields)
        self.access.ledger[asker].append(record)
