"""The golden store: one reviewable YAML file per suite under `__golden__/`, beside the suite.

A golden entry is what a case answered for one model when it was recorded: the output a reviewer reads in
a pull request (multi-line text as block literals), the model that served it, the hash of the request that
produced it (so an edited prompt is detected as stale), and the latency, token and cost figures that later
runs are compared with. A sampled entry (several samples of a nondeterministic model) keeps one canonical
output, the sample most similar to the others, listed first, and per sample only what the verdict
statistics need: its similarity to the canonical output (chosen without it), the checks it failed, its figures. Files are written whole, to a temporary file and then `os.replace`d, so a reader
never sees half a file and an interrupted run never loses one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Iterable, Sequence

import yaml

from . import FORMAT_VERSION
from .errors import PromptguardError
from .fileio import write_atomic
from .conversation import TRANSCRIPT_SEPARATOR
from .modelchecks import text_hash
from .results import Call, CaseResult, CheckResult, ToolCall, Usage, percentile

GOLDEN_DIR = "__golden__"

# What makes an entry different enough to rewrite it. Latency, tokens and cost move on every live call;
# rewriting them would put noise in every pull request, so they are refreshed only with a real change.
MATERIAL_FIELDS = ("output", "tool_calls", "request_hash", "model_asked", "model_served", "fingerprint", "finish_reason")


Similarity = Callable[[str, str], float]  # 0-100, as the case's drift scorer measures it
Scorer = Callable[[str, str, str], float]  # (a, b, scorer name) -> 0-100: checks.fuzzy.similarity


@dataclass(frozen=True)
class GoldenSample:
    """The figures of one recorded call; for a sampled entry also its similarity to the canonical output
    and the labels of the checks it failed (see `check_labels`)."""

    similarity: float | None = None
    failed: tuple[str, ...] = ()
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    judge: dict[str, float] | None = None  # judge scores of this sample, by judgement key (sampled entries)


@dataclass(frozen=True)
class GoldenJudgement:
    """What a `judge` check's grader said of the golden output, replayed under --promptguard-replay."""

    key: str  # modelchecks: grader, rubric, expected and prompt template hashed
    model: str
    rubric: str
    score: float
    reason: str

    def to_yaml(self) -> dict[str, Any]:
        return {"rubric": self.rubric, "model": self.model, "score": self.score, "reason": self.reason, "key": self.key}


def check_labels(names: Sequence[str]) -> list[str]:
    """Names for a sample's checks that stay the same from run to run: the check's name, with `#2`, `#3`
    for its repeats (`contains`, `contains#2`). The golden check is left out: the similarity covers it."""
    labels, seen = [], {}
    for name in names:
        if name == "golden":
            continue
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def passed_by_label(results: Sequence[CheckResult]) -> dict[str, bool]:
    """A sample's check results by label (golden left out)."""
    kept = [r for r in results if r.name != "golden"]
    return dict(zip(check_labels([r.name for r in kept]), (r.passed for r in kept)))


def canonical_index(texts: Sequence[str], passing: Sequence[bool], similar: Similarity) -> int:
    """The medoid: the sample most similar, on average, to the others. Chosen among the samples that passed
    every check when there are any, so the output a reviewer reads is a good one."""
    return _medoid(_similarities(texts, similar), passing, range(len(texts)))


def canonical_and_held_out(texts: Sequence[str], passing: Sequence[bool], similar: Similarity) -> tuple[int, list[float]]:
    """The canonical sample (see canonical_index) and each sample's similarity to the canonical output chosen
    from the *other* samples. The medoid of a sample is chosen for being close to that sample, so its members'
    similarity to it flatters them: a fresh sample would look less similar and cry drift. Held out, a recorded
    sample is measured as a fresh one is (a lone sample has no others: no similarities). The pairwise
    similarities are computed once for both."""
    matrix = _similarities(texts, similar)
    held_out = []
    for i in range(len(texts) if len(texts) > 1 else 0):
        others = [j for j in range(len(texts)) if j != i]
        held_out.append(round(matrix[i][_medoid(matrix, passing, others)], 1))
    return _medoid(matrix, passing, range(len(texts))), held_out


def _similarities(texts: Sequence[str], similar: Similarity) -> list[list[float]]:
    matrix = [[100.0] * len(texts) for _ in texts]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            matrix[i][j] = matrix[j][i] = similar(texts[i], texts[j])
    return matrix


def _medoid(matrix: list[list[float]], passing: Sequence[bool], among: Sequence[int]) -> int:
    """The sample of `among` most similar on average to the rest of `among`, preferring passing samples."""
    among = list(among)
    candidates = [i for i in among if passing[i]] or among
    if len(among) < 2:
        return candidates[0]
    return max(candidates, key=lambda i: (fmean(matrix[i][j] for j in among if j != i), -i))


@dataclass(frozen=True)
class GoldenTurn:
    """One model reply of a recorded conversation."""

    output: str
    tool_calls: tuple[ToolCall, ...] = ()

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"output": self.output}
        if self.tool_calls:
            data["tool_calls"] = _tool_calls_yaml(self.tool_calls)
        return data


@dataclass(frozen=True)
class GoldenEntry:
    output: str
    request_hash: str
    recorded_at: str
    model_asked: str | None = None
    model_served: str | None = None
    fingerprint: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    samples: tuple[GoldenSample, ...] = ()
    scorer: str | None = None  # of the samples' similarities (sampled entries)
    calibrated_min: float | None = None  # the golden check's threshold learned from the samples' spread
    checks: tuple[str, ...] = ()  # labels of the checks the samples were judged by (sampled entries)
    turns: tuple[GoldenTurn, ...] = ()  # a conversation's replies; `output` and `tool_calls` then sum them up
    judge: tuple[GoldenJudgement, ...] = ()  # the judge checks' scores of `output`

    @property
    def sampled(self) -> bool:
        """Recorded from several samples, with what the verdict statistics need."""
        return len(self.samples) >= 2 and all(s.similarity is not None for s in self.samples)

    @property
    def similarities(self) -> list[float]:
        """The samples' similarities to the canonical output, each chosen without it (see canonical_and_held_out)."""
        return [s.similarity for s in self.samples if s.similarity is not None]

    def passes(self, label: str) -> int:
        """How many samples passed the check `label`."""
        return sum(label not in s.failed for s in self.samples)

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]

    @property
    def ttfts(self) -> list[float]:
        return [s.ttft_ms for s in self.samples if s.ttft_ms is not None]

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def tokens_in(self) -> float | None:
        return _mean(s.tokens_in for s in self.samples)

    @property
    def tokens_out(self) -> float | None:
        return _mean(s.tokens_out for s in self.samples)

    @property
    def cost_usd(self) -> float | None:
        return _mean(s.cost_usd for s in self.samples)

    def differs_from(self, other: "GoldenEntry", similar: Scorer | None = None) -> bool:
        """A material change. For a sampled entry a new canonical output is no change while it stays within
        the spread the old samples had (its calibrated minimum): resampling alone must not churn the file."""
        if self.sampled != other.sampled or self.checks != other.checks or self.scorer != other.scorer:
            return True
        if any(getattr(self, name) != getattr(other, name) for name in MATERIAL_FIELDS if name != "output"):
            return True
        if {j.key for j in self.judge} != {j.key for j in other.judge}:
            return True  # a rubric judged now that was not then (or the other way): replay needs its score
        if self.output == other.output:
            return False
        if self.sampled and self.calibrated_min is not None and self.scorer and similar is not None:
            return similar(self.output, other.output, self.scorer) < self.calibrated_min
        return True

    def replayed_calls(self, model: str, provider: str, count: int) -> list[Call]:
        """`count` calls answering as recorded, one recorded sample after another, marked as replayed."""
        samples = self.samples or (GoldenSample(latency_ms=0.0),)
        return [
            Call(
                model=model,
                provider=provider,
                model_asked=self.model_asked,
                text=self.output,
                tool_calls=self.tool_calls,
                model_served=self.model_served,
                fingerprint=self.fingerprint,
                finish_reason=self.finish_reason,
                latency_ms=sample.latency_ms,
                ttft_ms=sample.ttft_ms,
                usage=Usage(input_tokens=sample.tokens_in, output_tokens=sample.tokens_out),
                cost_usd=sample.cost_usd,
                price_source=None if sample.cost_usd is None else "as recorded in the golden",
                source="replay",
                started_at=self.recorded_at,
                turns=tuple(
                    Call(model=model, provider=provider, model_asked=self.model_asked, text=t.output,
                         tool_calls=t.tool_calls, model_served=self.model_served, source="replay")
                    for t in self.turns
                ),
            )
            for sample in (samples[i % len(samples)] for i in range(count))
        ]

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"turns": [t.to_yaml() for t in self.turns]} if self.turns else {"output": self.output}
        if self.tool_calls and not self.turns:
            data["tool_calls"] = _tool_calls_yaml(self.tool_calls)
        if self.sampled:
            data.update(scorer=self.scorer, calibrated_min=self.calibrated_min, checks=list(self.checks))
        if self.judge:
            data["judge"] = [j.to_yaml() for j in self.judge]
        data.update(
            model_asked=self.model_asked,
            model_served=self.model_served,
            fingerprint=self.fingerprint,
            finish_reason=self.finish_reason,
            request_hash=self.request_hash,
            recorded_at=self.recorded_at,
            latency_p50_ms=_round(self.latency_p50_ms),
            latency_p95_ms=_round(self.latency_p95_ms),
            **({"ttft_p95_ms": _round(percentile(self.ttfts, 95))} if self.ttfts else {}),
            tokens_in=_round(self.tokens_in),
            tokens_out=_round(self.tokens_out),
            cost_usd=self.cost_usd,
            samples=[_Flow(_sample_yaml(s)) for s in self.samples],
        )
        return data

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> "GoldenEntry":
        turns = tuple(GoldenTurn(str(t["output"]), _tool_calls(t)) for t in data.get("turns") or ())
        if turns:
            data = {**data, "output": TRANSCRIPT_SEPARATOR.join(t.output for t in turns)}
            data["tool_calls"] = [{"name": c.name, "arguments": c.arguments} for t in turns for c in t.tool_calls]
        return cls(
            turns=turns,
            output=str(data["output"]),
            request_hash=str(data["request_hash"]),
            recorded_at=str(data.get("recorded_at", "")),
            model_asked=data.get("model_asked"),
            model_served=data.get("model_served"),
            fingerprint=data.get("fingerprint"),
            finish_reason=data.get("finish_reason"),
            tool_calls=_tool_calls(data),
            samples=tuple(
                GoldenSample(**{**s, "failed": tuple(s.get("failed") or ())}) for s in data.get("samples") or ()
            ),
            scorer=data.get("scorer"),
            calibrated_min=data.get("calibrated_min"),
            checks=tuple(data.get("checks") or ()),
            judge=tuple(
                GoldenJudgement(str(j["key"]), str(j.get("model", "")), str(j.get("rubric", "")), float(j["score"]),
                                str(j.get("reason", "")))
                for j in data.get("judge") or ()
            ),
        )

    @classmethod
    def from_result(
        cls, result: CaseResult, recorded_at: str, similar: Similarity, scorer: str, tolerance: float
    ) -> "GoldenEntry":
        """The entry a passing case records. One sample: its output and figures. Several: the canonical
        output, and per sample its (held-out) similarity to it and the checks it failed; the lowest of those
        similarities less `tolerance` becomes the calibrated threshold of the golden check."""
        calls, checks = result.calls, result.checks or [[] for _ in result.calls]
        texts, passing = [c.text for c in calls], [all(r.passed for r in sample) for sample in checks]
        first, held_out = canonical_and_held_out(texts, passing, similar)
        order = [first] + [i for i in range(len(calls)) if i != first]
        sampled = len(calls) >= 2
        scores = dict(enumerate(held_out)) if sampled else {}
        canonical = calls[first]
        judged = _judgements(result)
        return cls(
            output=canonical.text,
            request_hash=result.request_digest,
            recorded_at=recorded_at,
            model_asked=canonical.model_asked,
            model_served=canonical.model_served,
            fingerprint=canonical.fingerprint,
            finish_reason=canonical.finish_reason,
            tool_calls=tuple(ToolCall(name=t.name, arguments=t.arguments) for t in canonical.tool_calls),
            turns=tuple(
                GoldenTurn(t.text, tuple(ToolCall(name=c.name, arguments=c.arguments) for c in t.tool_calls))
                for t in canonical.turns
            ),
            samples=tuple(
                GoldenSample(
                    latency_ms=round(calls[i].latency_ms, 2),
                    similarity=scores.get(i),
                    failed=tuple(k for k, ok in passed_by_label(checks[i]).items() if not ok) if sampled else (),
                    ttft_ms=calls[i].ttft_ms,
                    tokens_in=calls[i].tokens_in,
                    tokens_out=calls[i].tokens_out,
                    cost_usd=None if calls[i].cost_usd is None else float(f"{calls[i].cost_usd:.6g}"),
                    judge=judged.get(text_hash(calls[i].text), {}).get("scores") if sampled else None,
                )
                for i in order
            ),
            scorer=scorer if sampled else None,
            calibrated_min=math.floor(max(0.0, min(scores.values()) - tolerance) * 10) / 10 if sampled else None,
            checks=tuple(passed_by_label(checks[0])) if sampled else (),
            judge=judged.get(text_hash(canonical.text), {}).get("judgements", ()),
        )


def _judgements(result: CaseResult) -> dict[str, dict[str, Any]]:
    """The judge checks' scores by the hash of the output they graded: {hash: {judgements, scores}}."""
    found: dict[str, dict[str, Any]] = {}
    for record in result.check_calls:
        if record.get("kind") != "judge" or record.get("score") is None:
            continue
        graded = found.setdefault(record["output_hash"], {"judgements": (), "scores": {}})
        if record["key"] not in graded["scores"]:
            graded["judgements"] += (GoldenJudgement(record["key"], record.get("model") or "", record.get("rubric") or "",
                                                     record["score"], record.get("reason") or ""),)
            graded["scores"][record["key"]] = record["score"]
    return found


def _tool_calls_yaml(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [{"name": t.name, "arguments": t.arguments} for t in calls]


def _tool_calls(data: dict[str, Any]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(name=t["name"], arguments=t.get("arguments")) for t in data.get("tool_calls") or ())


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def _sample_yaml(sample: GoldenSample) -> dict[str, Any]:
    """`{similarity: 92.5, failed: [length], latency_ms: 812.3, tokens_out: 14}`: unknowns and no failures left out."""
    return {k: (list(v) if k == "failed" else v) for k, v in sample.__dict__.items() if v is not None and v != ()}


def golden_path(suite_path: Path) -> Path:
    """`dir/__golden__/name.golden.yaml` for `dir/name.prompt.yaml` (or `.yml`)."""
    stem = suite_path.name.removesuffix(".yaml").removesuffix(".yml")
    return suite_path.parent / GOLDEN_DIR / f"{stem}.golden.yaml"


def fixture_golden_path(test_path: Path) -> Path:
    """`dir/__golden__/test_x.golden.yaml` for `dir/test_x.py`: the goldens of its `promptguard` fixture calls."""
    return test_path.parent / GOLDEN_DIR / f"{test_path.stem}.golden.yaml"


def fixture_test_of(case_key: str) -> str:
    """The test a fixture call's golden key belongs to: `test_x` for `test_x` and `test_x#2` (its second call
    of that model)."""
    test, sep, index = case_key.rpartition("#")
    return test if sep and index.isdigit() else case_key


Key = tuple[str, str]  # (case id, model name)


@dataclass
class GoldenFile:
    """All entries of one suite, keyed by (case, model)."""

    path: Path
    suite: str
    entries: dict[Key, GoldenEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, suite: str) -> "GoldenFile":
        if not path.exists():
            return cls(path, suite)
        try:
            data = yaml.load(path.read_text("utf-8"), Loader=_LOADER)  # noqa: S506 - a SafeLoader
            if data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {data.get('format_version')!r}, expected {FORMAT_VERSION}")
            entries = {
                (str(case), str(model)): GoldenEntry.from_yaml(entry)
                for case, models in (data.get("cases") or {}).items()
                for model, entry in models.items()
            }
        except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PromptguardError(
                f"golden file cannot be read: {exc}",
                path=path,
                hint="restore it from version control, or delete it and record again with --promptguard-update",
            ) from None
        return cls(path, suite, entries)

    def get(self, case: str, model: str) -> GoldenEntry | None:
        return self.entries.get((case, model))

    def render(self, order: Sequence[Key]) -> str:
        """The file's text: entries in suite order (`order`), then any others sorted."""
        keys = [k for k in order if k in self.entries] + sorted(k for k in self.entries if k not in set(order))
        cases: dict[str, dict[str, Any]] = {}
        for case, model in keys:
            cases.setdefault(case, {})[model] = self.entries[(case, model)].to_yaml()
        header = (
            f"# Golden outputs of the suite '{self.suite}', recorded by pytest-promptguard.\n"
            "# Review changes like code. Re-record: pytest --promptguard --promptguard-update <suite file>\n"
        )
        body = {"format_version": FORMAT_VERSION, "suite": self.suite, "cases": cases}
        return header + yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)

    def write(self, order: Sequence[Key]) -> None:
        """Replace the file atomically: a temporary file beside it, then `os.replace`."""
        write_atomic(self.path, self.render(order))


@dataclass
class UpdateCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def add(self, other: "UpdateCounts") -> None:
        self.added += other.added
        self.updated += other.updated
        self.removed += other.removed
        self.unchanged += other.unchanged


def apply_update(
    golden: GoldenFile,
    recorded: dict[Key, GoldenEntry],
    existing_keys: Sequence[Key],
    remove_unused: bool,
    refresh_baselines: bool = False,
    similar: Scorer | None = None,
) -> UpdateCounts:
    """Merge freshly recorded entries into `golden`; drop entries of cases that no longer exist when allowed.
    `refresh_baselines` rewrites entries whose only change is in their latency, token and cost figures."""
    counts = UpdateCounts()
    for key, entry in recorded.items():
        old = golden.entries.get(key)
        if old is None:
            counts.added += 1
        elif old.differs_from(entry, similar) or refresh_baselines:
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        golden.entries[key] = entry
    if remove_unused:
        for key in [k for k in golden.entries if k not in set(existing_keys)]:
            del golden.entries[key]
            counts.removed += 1
    return counts


class _Flow(dict):
    """A mapping written on one line (`{latency_ms: 812.3, tokens_out: 14}`), to keep files short."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text as a block literal, so a diff of the golden file reads like a diff of prose. NEL (\x85)
    # is written raw outside double quotes but read back as a line break, so such text is double-quoted
    # (where it is escaped) to come back exactly as recorded.
    style = '"' if "\x85" in text else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

