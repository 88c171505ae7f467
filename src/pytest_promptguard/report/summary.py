"""The run's figures, computed once from the case results and shared by every report.

The terminal summary, the JSON report, the Markdown summary, the HTML report and the history row all read
this one `RunSummary`, so they cannot disagree, and they come out the same whether the results came from
one process or from xdist workers (every figure is computed from the calls themselves).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from ..core.results import VERDICTS, Call, CaseResult, GoldenReport, percentile
from .outage import Outage, outage_of
from .upgrade import UpgradeReport, upgrade_reports

SLOWEST = 5
UNTAGGED = "(untagged)"


def verdict_name(result: CaseResult) -> str | None:
    """The case's statistical verdict ("stable", "drifted", ...), or None when it was not judged statistically."""
    return (result.verdict or {}).get("verdict")


def drifted(result: CaseResult) -> bool:
    """The case moved away from its golden: a `golden` check that compared (it has a score) and failed, or, for
    a case judged statistically, a verdict of drift (a single sample's golden check then only informs it).
    A missing or stale golden is no drift: nothing was compared."""
    if result.verdict is not None:
        return verdict_name(result) == "drifted"  # its samples' golden checks only inform the verdict
    return any(r.name == "golden" and not r.passed and r.score is not None for sample in result.checks for r in sample)


def verdict_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    """Cases per verdict, in VERDICTS order and without zeros, so every report lists them alike; a name
    outside VERDICTS is still counted (after the known ones) rather than silently dropped."""
    counts = Counter(name for name in map(verdict_name, results) if name is not None)
    order = [*VERDICTS, *sorted(set(counts) - set(VERDICTS))]
    return {name: counts[name] for name in order if counts[name]}


def timed(calls: Sequence[Call]) -> list[float]:
    """Latencies that mean something: live calls only (cached and replayed ones were not timed)."""
    return [c.latency_ms for c in calls if c.timed]


def recorded_latencies(calls: Sequence[Call]) -> list[float]:
    """The latencies replayed calls carry from their goldens (a golden recorded without samples carries none)."""
    return [c.latency_ms for c in calls if c.source == "replay" and c.error is None and c.latency_ms > 0]


def _spent(calls: Sequence[Call]) -> float:
    return round(sum(c.cost_usd for c in calls if c.cost_usd is not None), 8)


@dataclass
class Figures:
    """Outcomes, latency, tokens and cost of a group of cases."""

    suite: str
    model: str
    cases: int = 0
    passed: int = 0
    failed: int = 0
    drifted: int = 0
    errors: int = 0
    skipped: int = 0
    calls: int = 0
    timed_calls: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0  # of the calls whose cost is known (replayed calls apart: see recorded_*)
    unpriced_calls: int = 0  # calls whose cost is unknown: the cost above is then a lower bound
    # Replayed calls (--promptguard-replay): the latency and cost their goldens recorded, never mixed with the
    # figures measured and paid in this run.
    recorded_calls: int = 0
    recorded_latency_p50_ms: float | None = None
    recorded_latency_p95_ms: float | None = None
    recorded_cost_usd: float = 0.0
    recorded_unpriced_calls: int = 0
    mean_similarity: float | None = None  # to the goldens, 0-100
    served: list[str] = field(default_factory=list)  # the models that answered
    fingerprints: list[str] = field(default_factory=list)  # their system fingerprints
    verdicts: dict[str, int] = field(default_factory=dict)  # cases per statistical verdict (see verdict_counts)
    # What the checks' own model calls cost (graders of `judge`, embeddings of `semantic`): apart from `cost_usd`.
    judge_calls: int = 0
    judge_cost_usd: float = 0.0
    judge_unpriced_calls: int = 0
    embedding_calls: int = 0
    embedding_cost_usd: float = 0.0
    embedding_unpriced_calls: int = 0

    @property
    def pass_rate(self) -> float | None:
        judged = self.passed + self.failed + self.errors
        return self.passed / judged if judged else None

    @classmethod
    def of(cls, suite: str, model: str, results: Sequence[CaseResult]) -> Figures:
        calls = [c for r in results for c in r.calls]
        answered = [c for c in calls if c.error is None and c.source != "replay"]
        replayed = [c for c in calls if c.error is None and c.source == "replay"]
        latencies = timed(calls)
        recorded = recorded_latencies(replayed)
        similarities = [r.golden["similarity"] for r in results if r.golden and r.golden.get("similarity") is not None]
        return cls(
            suite=suite,
            model=model,
            cases=len(results),
            passed=sum(r.outcome == "passed" for r in results),
            failed=sum(r.outcome == "failed" for r in results),
            drifted=sum(drifted(r) for r in results),
            errors=sum(r.outcome == "error" for r in results),
            skipped=sum(r.outcome == "skipped" for r in results),
            calls=len(calls),
            timed_calls=len(latencies),
            latency_p50_ms=_round(percentile(latencies, 50)),
            latency_p95_ms=_round(percentile(latencies, 95)),
            tokens_in=sum(c.tokens_in or 0 for c in answered + replayed),
            tokens_out=sum(c.tokens_out or 0 for c in answered + replayed),
            cost_usd=_spent(answered),
            unpriced_calls=sum(c.cost_usd is None for c in answered),
            recorded_calls=len(replayed),
            recorded_latency_p50_ms=_round(percentile(recorded, 50)),
            recorded_latency_p95_ms=_round(percentile(recorded, 95)),
            recorded_cost_usd=_spent(replayed),
            recorded_unpriced_calls=sum(c.cost_usd is None for c in replayed),
            mean_similarity=_round(fmean(similarities)) if similarities else None,
            served=sorted({c.model_served for c in answered + replayed if c.model_served}),
            fingerprints=sorted({c.fingerprint for c in answered + replayed if c.fingerprint}),
            verdicts=verdict_counts(results),
            **_check_costs(results),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass_rate"] = None if self.pass_rate is None else round(self.pass_rate, 4)
        return data


@dataclass
class TagCost:
    tag: str
    calls: int  # answered in this run (replayed ones apart)
    cost_usd: float
    unpriced_calls: int
    recorded_calls: int = 0  # replayed: their cost is the goldens' record
    recorded_cost_usd: float = 0.0
    recorded_unpriced_calls: int = 0


@dataclass
class SlowCall:
    suite: str
    case: str
    model: str
    latency_ms: float


@dataclass
class VerdictSummary:
    """The run's statistical verdicts in one record, so every report prints the same sentence about them.

    `calls_made` counts the calls of every case with a verdict. `calls_if_fixed` is what the cases sampled
    with `repeat: auto` would have cost at a fixed `repeat: max` (None when no case used auto); it is compared
    with `auto_calls`, the calls those same cases made, so the saving is never inflated by fixed-repeat cases.
    """

    tested: int  # cases judged statistically
    counts: dict[str, int]  # cases per verdict, as in Figures.verdicts
    alpha: float | None  # the run's false discovery rate target; None if the cases disagree on it
    calls_made: int
    calls_if_fixed: int | None
    auto_calls: int = 0  # calls made by the cases sampled with repeat: auto
    fixed_repeat: int | None = None  # the repeat: max those cases share (None when none used auto or they differ)

    @classmethod
    def of(cls, results: Sequence[CaseResult]) -> VerdictSummary | None:
        judged = [r for r in results if verdict_name(r) is not None]
        if not judged:
            return None
        alphas = {r.verdict.get("alpha") for r in judged}
        auto = [r for r in judged if r.verdict.get("calls_if_fixed") is not None]
        per_case = {r.verdict["calls_if_fixed"] for r in auto}
        return cls(
            tested=len(judged),
            counts=verdict_counts(judged),
            alpha=alphas.pop() if len(alphas) == 1 else None,
            calls_made=sum(len(r.calls) for r in judged),
            calls_if_fixed=sum(r.verdict["calls_if_fixed"] for r in auto) if auto else None,
            auto_calls=sum(len(r.calls) for r in auto),
            fixed_repeat=per_case.pop() if len(per_case) == 1 else None,
        )


@dataclass
class RunSummary:
    groups: list[Figures]
    totals: Figures
    cost_by_tag: list[TagCost]
    slowest: list[SlowCall]
    model_changes: list[str]
    upgrades: list[UpgradeReport]
    goldens: GoldenReport
    warnings: list[str]
    verdicts: VerdictSummary | None = None  # None when no case was judged statistically
    price_sources: dict[str, int] = field(
        default_factory=dict
    )  # answered calls per what priced them (see price_sources)
    outage: Outage | None = None  # the run's only failures are provider errors that may pass (see outage.py)
    suite_verdicts: list[dict[str, Any]] = field(default_factory=list)  # pooled per suite x model (drift items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "cost_by_tag": [asdict(t) for t in self.cost_by_tag],
            "slowest_calls": [asdict(s) for s in self.slowest],
            "model_changes": self.model_changes,
            "upgrades": [u.to_dict() for u in self.upgrades],
            "goldens": asdict(self.goldens),
            "warnings": self.warnings,
            "verdicts": asdict(self.verdicts) if self.verdicts else None,
            "price_sources": self.price_sources,
            "outage": asdict(self.outage) if self.outage else None,
            "suite_verdicts": self.suite_verdicts,
        }


def summarize(
    results: Sequence[CaseResult], goldens: GoldenReport | None = None, suite_verdicts: Sequence[dict[str, Any]] = ()
) -> RunSummary:
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for result in results:
        groups[(result.suite, result.model)].append(result)
    return RunSummary(
        groups=[Figures.of(suite, model, group) for (suite, model), group in sorted(groups.items())],
        totals=Figures.of("total", "", results),
        cost_by_tag=_cost_by_tag(results),
        slowest=_slowest(results),
        model_changes=_model_changes(results),
        upgrades=upgrade_reports(results),
        goldens=goldens or GoldenReport(),
        warnings=_warnings(results, goldens),
        verdicts=VerdictSummary.of(results),
        price_sources=price_sources(results),
        outage=outage_of(results),
        suite_verdicts=sorted(suite_verdicts, key=lambda v: (v["suite"], v["model"])),
    )


def price_sources(results: Sequence[CaseResult]) -> dict[str, int]:
    """Answered calls per what priced them ("genai-prices 0.2.3 snapshot 2026-12-03", "price: in promptguard.yaml:7",
    "unknown"), most calls first, so that every report says where its costs come from and as of when."""
    counts = Counter(c.price_source or "unknown" for r in results for c in r.calls if c.error is None)
    return dict(sorted(counts.items(), key=lambda item: (item[0] == "unknown", -item[1], item[0])))


def _check_costs(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Calls the checks made (answers reused from memory or replayed from goldens cost nothing, and are no calls)."""
    figures: dict[str, Any] = {}
    for kind in ("judge", "embedding"):
        made = [
            r
            for result in results
            for r in result.check_calls
            if r.get("kind") == kind and r.get("source") in ("live", "cache")
        ]
        figures[f"{kind}_calls"] = len(made)
        figures[f"{kind}_cost_usd"] = round(sum(r["cost_usd"] for r in made if r.get("cost_usd") is not None), 8)
        figures[f"{kind}_unpriced_calls"] = sum(r.get("cost_usd") is None for r in made)
    return figures


def _self_graded(results: Sequence[CaseResult]) -> list[str]:
    """Models that graded their own answers: the judge is the model under test, or serves the same model id."""
    found = set()
    for result in results:
        asked = {c.model_asked for c in result.calls if c.model_asked} | {
            c.model_served for c in result.calls if c.model_served
        }
        for record in result.check_calls:
            if record.get("kind") != "judge" or not record.get("model"):
                continue
            same = {record.get("model_asked"), record.get("model_served")} & asked - {None}
            if record["model"] == result.model or same:
                found.add(f"{record['model']} grades {result.model}" + (f" (both {sorted(same)[0]})" if same else ""))
    return sorted(found)


def _retries(call: Call) -> int:
    """Attempts beyond the first; a conversation's attempts are its replies' (one each when none was retried)."""
    return sum(map(_retries, call.turns)) if call.turns else max(0, call.attempts - 1)  # 0 attempts: none was sent


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _cost_by_tag(results: Sequence[CaseResult]) -> list[TagCost]:
    """Spend per tag ("per feature"): a case with several tags counts toward each."""
    tags: dict[str, list[Call]] = defaultdict(list)
    for result in results:
        answered = [c for c in result.calls if c.error is None]
        for tag in result.tags or [UNTAGGED]:
            tags[tag] += answered
    rows = []
    for tag, calls in tags.items():
        now = [c for c in calls if c.source != "replay"]
        replayed = [c for c in calls if c.source == "replay"]
        rows.append(
            TagCost(
                tag,
                len(now),
                _spent(now),
                sum(c.cost_usd is None for c in now),
                len(replayed),
                _spent(replayed),
                sum(c.cost_usd is None for c in replayed),
            )
        )
    return sorted(rows, key=lambda row: (-row.cost_usd, -row.recorded_cost_usd, row.tag))


def _slowest(results: Sequence[CaseResult]) -> list[SlowCall]:
    calls = [SlowCall(r.suite, r.case, r.model, round(c.latency_ms, 1)) for r in results for c in r.calls if c.timed]
    return sorted(calls, key=lambda s: (-s.latency_ms, s.suite, s.case, s.model))[:SLOWEST]


def _model_changes(results: Sequence[CaseResult]) -> list[str]:
    """One line per distinct change of served model or fingerprint, with how many cases saw it."""
    changes: dict[str, int] = defaultdict(int)
    for result in results:
        for check in result.case_checks:
            if check.name == "model_change":
                changes[check.reason] += 1
    return [f"{reason} [{count} case{'s' if count > 1 else ''}]" for reason, count in sorted(changes.items())]


def _warnings(results: Sequence[CaseResult], goldens: GoldenReport | None) -> list[str]:
    calls = [c for r in results for c in r.calls]
    answered = [c for c in calls if c.error is None]
    warnings = [f"model change: {change}" for change in _model_changes(results)]
    graded = _self_graded(results)
    if graded:
        warnings.append(
            f"a model grades its own answers: {', '.join(graded)}; a judge is more lenient with itself: "
            "grade with another model (judge: {model: ...})"
        )
    # A `python` callable is the application itself: its cost is unknown unless it reports one or has a
    # price, and saying so for every example run would be noise.
    unpriced = sorted(
        {
            f"{c.model} ({c.model_served or c.model_asked})"
            for c in answered
            if c.cost_usd is None and c.provider != "python"
        }
    )
    if unpriced:
        warnings.append(
            f"no price known for: {', '.join(unpriced)}; their cost is unknown (not 0): "
            "set price: {input_per_mtok, output_per_mtok} in promptguard.yaml"
        )
    estimated = sum(c.usage.estimated for c in answered)
    if estimated:
        warnings.append(f"{estimated} call(s) reported no token usage; their tokens are estimated (~4 chars/token)")
    if goldens and goldens.unused:
        shown = ", ".join(goldens.unused[:10]) + (
            f" (+{len(goldens.unused) - 10} more)" if len(goldens.unused) > 10 else ""
        )
        warnings.append(
            f"{len(goldens.unused)} unused golden(s): {shown}; their cases or models no longer exist: "
            "run the whole suite with --promptguard-update to remove them"
        )
    retried = [retries for retries in map(_retries, calls) if retries]
    if retried:
        warnings.append(f"{len(retried)} call(s) needed retries ({sum(retried)} retries in all)")
    cached = sum(c.source == "cache" for c in calls)
    if cached:
        warnings.append(f"{cached} call(s) answered from the response cache (not counted in latency)")
    return warnings
