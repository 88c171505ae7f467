"""Sampled baselines and statistical verdicts, end to end: a local server answers like a model at
temperature > 0 (a seeded mix of paraphrases per prompt), goldens are recorded from several samples, and
later runs are judged stable, drifted, flaky, inconclusive; `repeat: auto` stops when the verdict is clear."""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field

import pytest
import yaml

from pytest_promptguard.core.similarity import similarity

from .recording import RECORDER, read_records
from .servers import Reply, chat_completion, last_user_message

REFUND = "How long do I have to return an item?"
PARAPHRASES = [
    "You can return any item within 30 days of delivery for a full refund.",
    "Items can be returned within 30 days of delivery; you get a full refund.",
    "Returns are accepted for 30 days after delivery, with a full refund.",
    "You have 30 days from delivery to return an item for a full refund.",
]
REFUSALS = [
    "Sorry, I cannot help with returns. Please contact our support team.",
    "Unfortunately I am not able to answer questions about returns.",
    "Please reach out to customer service about that.",
]
WITHOUT_DAYS = [p.replace("30 days", "a month") for p in PARAPHRASES]


@dataclass
class Sampler:
    """Answers each prompt with a choice from its list, seeded per prompt and per request number, so a run's
    answers are the same whatever order the threaded server sees the requests in."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    seed: int = 0
    delay_s: float = 0.0
    requests: int = 0
    served: list[str] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: dict, headers: dict) -> Reply:
        prompt = last_user_message(request)
        with self._lock:
            self.requests += 1
            self._counts[prompt] = self._counts.get(prompt, 0) + 1
            rng = random.Random(f"{self.seed}/{prompt}/{self._counts[prompt]}")
        text = rng.choice(self.answers.get(prompt, [f"echo: {prompt}"]))
        with self._lock:
            self.served.append(text)
        return Reply(body=chat_completion(text, model="gpt-4o-mini-2024-07-18", prompt_tokens=10), delay_s=self.delay_s)

    def next_run(self, answers: dict[str, list[str]] | None = None) -> None:
        """A new run: fresh draws (another seed), and new answers when given."""
        self.seed += 1
        self._counts.clear()
        self.requests = 0
        self.served.clear()
        if answers is not None:
            self.answers = answers


@pytest.fixture
def sampler(model_server) -> Sampler:
    model_server.responder = Sampler(answers={REFUND: PARAPHRASES})
    return model_server.responder


@pytest.fixture
def config(openai_config, pytester):
    """promptguard.yaml with model `fast` and the given `drift:` settings (no baseline_samples: the default)."""

    def make(**drift: object) -> None:
        path = openai_config()
        data = yaml.safe_load(path.read_text())
        data["drift"] = drift
        path.write_text(yaml.safe_dump(data))

    return make


def suite(write, checks: str = "[golden]", **case: object) -> None:
    extra = "".join(f", {key}: {value}" for key, value in case.items())
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND}", checks: {checks}{extra}}}
    """,
    )


def run(pytester, *args: str):
    return pytester.runpytest("--promptguard", "-p", "no:randomly", *args)


def golden_entry(pytester, case: str = "refund") -> dict:
    data = yaml.safe_load((pytester.path / "__golden__" / "s.prompt.golden.yaml").read_text("utf-8"))
    return data["cases"][case]["fast"]


def test_update_records_a_sampled_baseline_its_canonical_output_and_its_spread(pytester, write, config, sampler):
    config()
    sampler.answers = {REFUND: PARAPHRASES + WITHOUT_DAYS[:1]}
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND}", checks: [golden, {{contains: "30 days"}}, {{contains: "refund"}}]}}
          - {{id: cold, prompt: "Say hi", params: {{temperature: 0}}, checks: [golden]}}
    """,
    )
    sampler.answers["Say hi"] = ["hi"]
    run(pytester, "--promptguard-update").assert_outcomes(passed=2)
    assert sampler.requests == 5 + 1  # 5 samples at the default temperature, 1 at temperature 0
    entry = golden_entry(pytester)
    samples = entry["samples"]
    assert len(samples) == 5
    assert entry["scorer"] == "token_set_ratio" and entry["checks"] == ["contains", "contains#2"]
    assert entry["calibrated_min"] == math.floor((min(s["similarity"] for s in samples) - 5) * 10) / 10
    assert "30 days" in entry["output"]  # the canonical output is one that passed every check
    assert sorted(s.get("failed", []) == ["contains"] for s in samples) == sorted(
        "30 days" not in text for text in sampler.served if text != "hi"
    )
    cold = golden_entry(pytester, "cold")["samples"]
    assert len(cold) == 1 and "similarity" not in cold[0]


def test_the_canonical_output_is_the_medoid_and_each_sample_is_measured_held_out(pytester, write, config, sampler):
    config(baseline_samples=6)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    texts = list(sampler.served)

    def medoid(among: list[str]) -> str:
        def mean_similarity(text: str) -> float:
            return sum(similarity(text, other) for other in _without_one(among, text)) / (len(among) - 1)

        return max(among, key=mean_similarity)

    entry = golden_entry(pytester)
    assert entry["output"] == medoid(texts)
    # Each sample's similarity is to the medoid of the *other* samples: a recorded sample is measured as a
    # fresh one will be, not flattered by having helped choose the canonical output.
    held_out = sorted(round(similarity(t, medoid(_without_one(texts, t))), 1) for t in texts)
    assert sorted(s["similarity"] for s in entry["samples"]) == held_out


def _without_one(texts: list[str], text: str) -> list[str]:
    rest = list(texts)
    rest.remove(text)
    return rest


def test_stable_samples_pass_and_drifted_ones_fail_with_a_readable_verdict(pytester, write, config, sampler):
    config(baseline_samples=10)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run()
    result = run(pytester, "--promptguard-repeat", "12")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 stable"])
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester, "--promptguard-repeat", "12")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "drifted against its sampled baseline (1 case tested at FDR 1%):",
            "  similarity * → * (p = *, 10 vs 12 samples)",
            "  served model: gpt-4o-mini-2024-07-18 (unchanged)",
            "  fingerprint: fp_test1 (unchanged)",
            "  diff canonical → most typical sample now:",
            "    --- canonical (golden)",
            "    +++ most typical sample now",
        ]
    )
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 drifted"])


def test_a_check_that_stops_passing_drifts_its_pass_rate(pytester, write, config, sampler):
    config(baseline_samples=8)
    suite(write, checks='[{contains: "30 days"}]')
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run({REFUND: WITHOUT_DAYS})
    result = run(pytester, "--promptguard-repeat", "10")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  pass rate of contains 100% → 0% (p = *, 8 vs 10 samples)"])


def test_a_case_that_disagrees_with_itself_is_flaky_and_fails_only_when_configured(pytester, write, config, sampler):
    config(baseline_samples=6)
    sampler.answers = {REFUND: PARAPHRASES[:2] + WITHOUT_DAYS[:2]}
    suite(write, checks='[golden, {contains: "30 days"}]')
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)  # a baseline keeps its failing samples
    failed = [s.get("failed") for s in golden_entry(pytester)["samples"]]
    assert ["contains"] in failed and None in failed
    sampler.next_run()
    result = run(pytester, "--promptguard-repeat", "6")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 flaky"])
    config(baseline_samples=6, flaky="fail")
    sampler.next_run()
    result = run(pytester, "--promptguard-repeat", "6")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "flaky against its sampled baseline (1 case tested at FDR 1%):",
            "  the case disagrees with itself: contains passed */6 baseline samples*",
        ]
    )


def test_too_few_samples_is_inconclusive_and_fails_only_when_configured(pytester, write, config, sampler):
    config()
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester, "--promptguard-repeat", "2")
    result.assert_outcomes(passed=1)  # two samples against four cannot show anything at alpha 1%
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 inconclusive"])
    config(inconclusive="fail")
    result = run(pytester, "--promptguard-repeat", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  too few samples to tell: 5 baseline vs 2 samples cannot reach p <= 0.01 *"])


def test_repeat_auto_stops_as_soon_as_the_verdict_is_clear(pytester, write, config, sampler):
    config(baseline_samples=10)
    suite(write, repeat="auto")
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    assert sampler.requests == 10
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester)
    result.assert_outcomes(failed=1)
    assert sampler.requests < 20  # every sample is a refusal: clear long before 20
    result.stdout.fnmatch_lines(
        [f"repeat: auto made {sampler.requests} calls where a fixed repeat: 20 would have made 20"]
    )
    sampler.next_run({REFUND: PARAPHRASES})
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert 4 <= sampler.requests < 20


@pytest.mark.slow
def test_all_cases_of_a_run_share_one_false_discovery_rate_under_xdist_too(pytester, write, config, sampler):
    config(baseline_samples=5)
    prompts = [f"Question {i}: {REFUND}" for i in range(3)]
    sampler.answers = {p: PARAPHRASES for p in prompts}
    write(
        "s.prompt.yaml",
        "cases:\n" + "".join(f'  - {{id: c{i}, prompt: "{p}", checks: [golden]}}\n' for i, p in enumerate(prompts)),
    )
    write("t.prompt.yaml", f'cases:\n  - {{id: t0, prompt: "{prompts[0]}", checks: [golden]}}\n')
    run(pytester, "--promptguard-update").assert_outcomes(passed=4)
    pytester.makeconftest(RECORDER)
    for args in ([], ["-n", "2"]):
        (pytester.path / "records.jsonl").unlink(missing_ok=True)
        sampler.next_run()
        run(pytester, "--promptguard-repeat", "8", *args).assert_outcomes(passed=4)
        verdicts = {r["case"]: r["verdict"] for r in read_records(pytester)}  # workers and controller both log
        assert len(verdicts) == 4 and {v["family"] for v in verdicts.values()} == {4}, args


def test_a_slowdown_beyond_the_latency_tolerance_drifts(pytester, write, config, sampler):
    config(baseline_samples=5, latency_tolerance=0.5)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run()
    sampler.delay_s = 0.3  # far beyond the baseline even on a loaded machine
    result = run(pytester, "--promptguard-repeat", "8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  latency p95 * → * ms (×*, 95% interval ×*–×*; p = *, 5 vs 8 samples)"])


def test_resampling_alone_does_not_rewrite_a_sampled_golden(pytester, write, config, sampler):
    config(baseline_samples=5)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    before = (pytester.path / "__golden__" / "s.prompt.golden.yaml").read_bytes()
    sampler.next_run()
    run(pytester, "--promptguard-update").stdout.fnmatch_lines(["goldens: 0 added, 0 updated, 0 removed, 1 unchanged*"])
    assert (pytester.path / "__golden__" / "s.prompt.golden.yaml").read_bytes() == before
    sampler.next_run({REFUND: REFUSALS})
    run(pytester, "--promptguard-update").stdout.fnmatch_lines(["goldens: 0 added, 1 updated, 0 removed, 0 unchanged*"])


def test_one_sample_is_judged_against_the_calibrated_threshold_without_statistics(pytester, write, config, sampler):
    config()
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    calibrated = golden_entry(pytester)["calibrated_min"]
    pytester.makeconftest(RECORDER)
    sampler.next_run()
    result = run(pytester)
    result.assert_outcomes(passed=1)
    record = read_records(pytester)[0]
    assert record["verdict"] is None and "verdicts:" not in result.stdout.str()
    assert f"calibrated min {calibrated:g} against the golden" in record["checks"][0][0]["reason"]
    # Replaying a sampled golden calls nothing and judges nothing statistically.
    result = run(pytester, "--promptguard-replay", "--promptguard-repeat", "5")
    result.assert_outcomes(passed=1)
    assert "verdicts:" not in result.stdout.str()


def test_a_check_that_now_passes_where_it_mostly_failed_is_improved(pytester, write, config, sampler):
    config(baseline_samples=10)
    sampler.answers = {REFUND: PARAPHRASES[:1] + WITHOUT_DAYS}
    suite(write, checks='[golden, {contains: "30 days"}]')
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    assert sum("failed" not in s for s in golden_entry(pytester)["samples"]) <= 3
    sampler.next_run({REFUND: PARAPHRASES})
    result = run(pytester, "--promptguard-repeat", "12")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 improved"])


# --- the verdict rules on their own -------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pytest_promptguard.config.loader import DriftSettings  # noqa: E402
from pytest_promptguard.drift.verdict import Sample, decide, planned_tests, weigh  # noqa: E402
from pytest_promptguard.golden.entry import GoldenEntry, GoldenSample  # noqa: E402


def baseline(similarities: list[float], latencies: list[float] | None = None) -> GoldenEntry:
    latencies = latencies or [100.0] * len(similarities)
    sims = similarities
    return GoldenEntry(
        output="canonical",
        request_hash="h",
        recorded_at="",
        scorer="token_set_ratio",
        samples=tuple(GoldenSample(similarity=s, latency_ms=ms) for s, ms in zip(sims, latencies)),
    )


def verdict_of(
    entry: GoldenEntry,
    now: list[float],
    drift: DriftSettings,
    family: int = 1,
    cutoff_rank: int = 1,
    latencies: list[float] | None = None,
) -> dict:
    samples = [
        Sample(similarity=s, passed={}, latency_ms=(latencies or [None] * len(now))[i]) for i, s in enumerate(now)
    ]
    names = planned_tests(entry, [], drift.latency_tolerance)
    evidence = weigh(entry, samples, names, drift, drift.latency_tolerance)
    cutoff = cutoff_rank * drift.alpha / family
    return decide(evidence, cutoff if evidence.p_value <= cutoff else None, family, drift)


similarities = st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=2, max_size=12)


@settings(max_examples=60, deadline=None)
@given(similarities)
def test_samples_drawn_like_the_baseline_never_drift(values):
    drift = DriftSettings()
    verdict = verdict_of(baseline(values), values + values, drift)
    assert verdict["verdict"] != "drifted" and not verdict["fails"]


def test_drift_must_be_significant_and_beyond_the_tolerance():
    drift = DriftSettings()
    entry = baseline([90.0 + i / 10 for i in range(9)])
    small = verdict_of(entry, [87.0 + i / 10 for i in range(12)], drift)  # surely lower, but by 3 points
    assert small["tests"][0]["significant"] and small["verdict"] == "stable"
    large = verdict_of(entry, [60.0 + i / 10 for i in range(12)], drift)
    assert large["verdict"] == "drifted" and large["fails"]
    assert large["reasons"] == [f"similarity 90 → 61 (p = {large['p_value']:.2g}, 9 vs 12 samples)"]


def test_a_larger_family_needs_stronger_evidence():
    drift = DriftSettings()
    entry = baseline([90.0 + i for i in range(4)])
    now = [60.0 + i for i in range(6)]
    assert verdict_of(entry, now, drift, family=1)["verdict"] == "drifted"
    assert verdict_of(entry, now, drift, family=50)["verdict"] != "drifted"


def test_an_adaptive_case_pays_for_every_look():
    drift = DriftSettings()
    entry = baseline([90.0 + i for i in range(9)])
    samples = [Sample(similarity=60.0 + i, passed={}, latency_ms=None) for i in range(8)]
    fixed = weigh(entry, samples, ["similarity"], drift, None)
    weights = [0.04, 0.08, 0.16, 0.32, 0.4]
    first = weigh(entry, samples[:2], ["similarity"], drift, None, None, weights, 20)
    second = weigh(entry, samples[:4], ["similarity"], drift, None, first, weights, 20)
    third = weigh(entry, samples, ["similarity"], drift, None, second, weights, 20)
    assert third.tests[0].p_looks[-1] == fixed.tests[0].p_looks[-1]
    assert third.p_value == pytest.approx(min(p / w for p, w in zip(third.tests[0].p_looks, weights)))
    assert third.p_value > fixed.p_value


def test_latency_joins_the_verdict_only_with_a_tolerance():
    entry = baseline([90.0] * 6, latencies=[100.0, 102.0, 98.0, 101.0, 99.0, 100.0])
    slow = [400.0 + i for i in range(8)]
    assert "latency" not in [t["name"] for t in verdict_of(entry, [90.0] * 8, DriftSettings(), latencies=slow)["tests"]]
    verdict = verdict_of(entry, [90.0] * 8, DriftSettings(latency_tolerance=0.25), latencies=slow)
    assert verdict["verdict"] == "drifted"
    assert verdict["reasons"][0].startswith("latency p95 102 → 407 ms (×")
