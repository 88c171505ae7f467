"""Sampled baselines and statistical verdicts, end to end: a local server answers like a model at
temperature > 0 (a seeded mix of paraphrases per prompt), goldens are recorded from several samples, and
later runs are judged stable, drifted, flaky, inconclusive; `repeat: auto` stops when the verdict is clear."""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass, field
from importlib import resources

import jsonschema
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
    by_model: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # a model's own answers, when given
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
        answers = self.by_model.get(request.get("model"), self.answers)
        text = rng.choice(answers.get(prompt, [f"echo: {prompt}"]))
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


def test_update_records_a_sampled_baseline_its_canonical_output_its_samples_and_its_spread(
    pytester, write, config, sampler
):
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
    assert sampler.requests == 20 + 1  # 20 samples at the default temperature (the power analysis), 1 at 0
    entry = golden_entry(pytester)
    samples = entry["samples"]
    assert len(samples) == 20
    assert entry["scorer"] == "token_set_ratio" and entry["checks"] == ["contains", "contains#2"]
    assert entry["calibrated_min"] == math.floor((min(s["similarity"] for s in samples) - 5) * 10) / 10
    assert "30 days" in entry["output"]  # the canonical output is one that passed every check
    assert sorted(s.get("failed", []) == ["contains"] for s in samples) == sorted(
        "30 days" not in text for text in sampler.served if text != "hi"
    )
    # Every sample's text is kept (each distinct one once), for the set verdicts.
    outputs = [entry["output"], *entry["other_outputs"]]
    assert len(set(outputs)) == len(outputs) and samples[0]["output"] == 0
    assert sorted(outputs[s["output"]] for s in samples) == sorted(t for t in sampler.served if t != "hi")
    cold = golden_entry(pytester, "cold")
    assert len(cold["samples"]) == 1 and "similarity" not in cold["samples"][0] and "other_outputs" not in cold


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
    result.assert_outcomes(passed=2)  # the case, and the suite's drift item
    result.stdout.fnmatch_lines(
        [
            "verdicts: 1 case tested (FDR 1%): 1 stable",
            "suite verdicts: 1 suite × model pooled (FDR 1%): none drifted",
        ]
    )
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester, "--promptguard-repeat", "12")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "drifted against its sampled baseline (1 case tested at FDR 1%):",
            "  drift score +* points; 12 of 12 samples unlike every baseline sample; *",
            "  what moved: *refusal 0% → * of samples*",
            "  served model: gpt-4o-mini-2024-07-18 (unchanged)",
            "  fingerprint: fp_test1 (unchanged)",
            "  the sample that stands for the change: * of 12 samples now look like this; no baseline sample did",
            "  diff nearest baseline sample → that sample:",
            "    --- nearest baseline sample",
            "    +++ this sample now *",
            "  power: with 10 baseline samples and 12 new samples this case would detect *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "fast drifted across the suite 's' (1 case pooled; 1 suite × model tested at FDR 1%):",
            "  drift score +* points a case over 1 case (most: refund)",
        ]
    )
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 drifted"])


def test_a_check_that_stops_passing_drifts(pytester, write, config, sampler):
    config(baseline_samples=8)
    suite(write, checks='[{contains: "30 days"}]')
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run({REFUND: WITHOUT_DAYS})
    result = run(pytester, "--promptguard-repeat", "10")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["  what moved: *fails contains 0% → 100% of samples*"])


def test_a_case_that_disagrees_with_itself_is_flaky_and_fails_only_when_configured(pytester, write, config, sampler):
    config(baseline_samples=6)
    sampler.answers = {REFUND: PARAPHRASES[:2] + WITHOUT_DAYS[:2]}
    suite(write, checks='[golden, {contains: "30 days"}]')
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)  # a baseline keeps its failing samples
    failed = [s.get("failed") for s in golden_entry(pytester)["samples"]]
    assert ["contains"] in failed and None in failed
    sampler.next_run()
    result = run(pytester, "--promptguard-repeat", "6")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 flaky"])
    config(baseline_samples=6, flaky="fail")
    sampler.next_run()
    result = run(pytester, "--promptguard-repeat", "6")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "flaky against its sampled baseline (1 case tested at FDR 1%):",
            "  the case disagrees with itself: contains passed */6 baseline samples*",
        ]
    )


def test_too_few_samples_is_inconclusive_says_what_it_could_see_and_fails_only_when_configured(
    pytester, write, config, sampler
):
    config(baseline_samples=5)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester, "--promptguard-repeat", "2")
    result.assert_outcomes(passed=2)  # two samples against five cannot show anything at alpha 1%
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 inconclusive"])
    config(baseline_samples=5, inconclusive="fail")
    result = run(pytester, "--promptguard-repeat", "2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "inconclusive against its sampled baseline (1 case tested at FDR 1%):",
            "  with 5 baseline samples and 2 new samples this case cannot reach p <= 0.005 (best possible p = *)"
            ": it is judged with its suite*",
        ]
    )


def test_repeat_auto_stops_quiet_cases_early_and_looks_at_drifted_ones_to_the_end(pytester, write, config, sampler):
    config(baseline_samples=10)
    suite(write, repeat="auto")
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    assert sampler.requests == 10
    sampler.next_run({REFUND: REFUSALS})
    result = run(pytester)
    result.assert_outcomes(failed=2)
    assert sampler.requests == 20  # every look holds refusals: no stop for lack of evidence, drift at the last look
    sampler.next_run({REFUND: PARAPHRASES})
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert 4 <= sampler.requests < 20  # quiet: stopped once nothing was unlike the baseline
    result.stdout.fnmatch_lines(
        [f"repeat: auto made {sampler.requests} calls where a fixed repeat: 20 would have made 20"]
    )


@pytest.mark.slow
def test_all_cases_of_a_run_share_one_error_rate_under_xdist_too(pytester, write, config, sampler):
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
        run(pytester, "--promptguard-repeat", "8", *args).assert_outcomes(passed=4 + 2)  # and 2 drift items
        verdicts = {r["case"]: r["verdict"] for r in read_records(pytester)}  # workers and controller both log
        assert len(verdicts) == 4 and {v["family"] for v in verdicts.values()} == {4}, args


def test_a_slowdown_beyond_the_latency_tolerance_drifts_and_the_case_check_does_not_judge_it_twice(
    pytester, write, config, sampler
):
    config(baseline_samples=5, latency_tolerance=0.5)
    suite(write, checks="[golden, {latency: {regression: 0.5}}]")
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    pytester.makeconftest(RECORDER)
    sampler.next_run()
    sampler.delay_s = 0.3  # far beyond the baseline even on a loaded machine
    result = run(pytester, "--promptguard-repeat", "8")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["  latency x* (95% interval x*-x*; 5 vs 8 samples)"])
    record = read_records(pytester)[0]
    assert record["case_checks"] == []  # the p95 regression check is left to the verdict: one latency gate


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


def test_one_sample_is_judged_with_its_suite_not_against_one_canonical_output(pytester, write, config, sampler):
    config(baseline_samples=10)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    pytester.makeconftest(RECORDER)
    sampler.next_run()
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert sampler.requests == 1  # no extra call for any of it
    record = read_records(pytester)[0]
    assert record["verdict"]["verdict"] == "inconclusive" and record["verdict"]["samples"] == 1
    assert record["checks"][0][0]["reason"] == "judged against the baseline's samples as a set: see the verdict"
    result.stdout.fnmatch_lines(["suite verdicts: 1 suite × model pooled (FDR 1%): none drifted"])
    # Replaying a sampled golden calls nothing and judges nothing statistically; the report shows the bar the
    # golden check used (the calibrated min), and the score as the check rounded it.
    result = run(pytester, "--promptguard-replay", "--promptguard-repeat", "5", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1)
    assert "verdicts:" not in result.stdout.str()
    case = json.loads((pytester.path / "r.json").read_text("utf-8"))["cases"][0]
    golden_check = case["checks"][0][0]
    assert case["golden"]["min_similarity"] == golden_entry(pytester)["calibrated_min"] == golden_check["bar"]
    assert case["golden"]["similarity"] == golden_check["score"]


def test_one_sample_a_case_half_of_them_refusals_turns_the_suite_red(pytester, write, config, sampler):
    config(baseline_samples=10)
    prompts = [f"Question {i}: {REFUND}" for i in range(12)]
    sampler.answers = {p: PARAPHRASES for p in prompts}
    write(
        "s.prompt.yaml",
        "cases:\n" + "".join(f'  - {{id: c{i}, prompt: "{p}", checks: [golden]}}\n' for i, p in enumerate(prompts)),
    )
    run(pytester, "--promptguard-update").assert_outcomes(passed=12)
    sampler.next_run({p: (REFUSALS if i % 2 else PARAPHRASES) for i, p in enumerate(prompts)})
    result = run(pytester, "--promptguard-report=r.json")
    assert sampler.requests == 12
    result.assert_outcomes(passed=12, failed=1)  # no case alone can tell; the suite pooled can
    report = json.loads((pytester.path / "r.json").read_text("utf-8"))
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.validate(report, schema)
    (suite_verdict,) = report["suite_verdicts"]
    assert (
        suite_verdict["fails"]
        and suite_verdict["cases"] == 12
        and suite_verdict["item"] == "s.prompt.yaml::drift[fast]"
    )
    assert {c["verdict"]["verdict"] for c in report["cases"]} == {"inconclusive"}
    result.stdout.fnmatch_lines(
        [
            "fast drifted across the suite 's' (12 cases pooled; 1 suite × model tested at FDR 1%):",
            "  drift score +* points a case over 12 cases (most: c*, c*, c*)",
            "suite verdicts: 1 suite × model pooled (FDR 1%): 1 drifted: s?fast? (most: *)",
        ]
    )


def test_a_faster_model_beyond_the_latency_tolerance_is_improved(pytester, write, config, sampler):
    config(baseline_samples=6, latency_tolerance=0.25)
    suite(write)
    sampler.delay_s = 0.3
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    sampler.next_run()
    sampler.delay_s = 0.0
    result = run(pytester, "--promptguard-repeat", "8")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["verdicts: 1 case tested (FDR 1%): 1 improved"])


def test_a_candidate_with_samples_is_judged_worse_better_or_the_same_against_the_model_it_replaces(
    pytester, write, openai_config, model_server, sampler
):
    path = openai_config(models={"next": {"provider": "openai", "model": "gpt-next", "base_url": model_server.url}})
    data = yaml.safe_load(path.read_text())
    data["drift"] = {"baseline_samples": 10}
    path.write_text(yaml.safe_dump(data))
    prompts = {"kept": f"Kept: {REFUND}", "lost": f"Lost: {REFUND}", "won": f"Won: {REFUND}"}
    mostly_without = PARAPHRASES[:1] + WITHOUT_DAYS  # "30 days" in about a fifth of the answers
    sampler.answers = {prompts["kept"]: PARAPHRASES, prompts["lost"]: PARAPHRASES, prompts["won"]: mostly_without}
    write(
        "s.prompt.yaml",
        "checks: [golden, {contains: '30 days'}]\ncases:\n"
        + "".join(f'  - {{id: {case}, prompt: "{prompt}"}}\n' for case, prompt in prompts.items()),
    )
    run(pytester, "--promptguard-update").assert_outcomes(passed=3)
    sampler.by_model["gpt-next"] = {
        prompts["kept"]: PARAPHRASES,
        prompts["lost"]: WITHOUT_DAYS,  # the candidate no longer says "30 days"
        prompts["won"]: PARAPHRASES,  # ... and says it where the current model did not
    }
    pytester.makeconftest(RECORDER)
    result = run(pytester, "--promptguard-candidate", "fast=next", "--promptguard-repeat", "10")
    outcomes = {r["case"]: r["verdict"]["upgrade"]["outcome"] for r in read_records(pytester)}
    assert outcomes == {"kept": "same", "lost": "worse", "won": "better"}
    result.stdout.fnmatch_lines(
        ["  judged on samples against fast's: 1 worse, 1 better, 0 changed, 1 same (FDR-controlled)"]
    )
    shows = result.stdout.str()
    assert "worse than the model it would replace: pass rate of contains 100% → 0%" in shows


def test_top_up_grows_a_current_sampled_baseline_keeping_its_canonical_output(pytester, write, config, sampler):
    config(baseline_samples=5, max_baseline_samples=8)
    suite(write)
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    before = golden_entry(pytester)
    sampler.next_run()
    result = run(pytester, "--promptguard-update", "--promptguard-top-up", "--promptguard-repeat", "5")
    result.stdout.fnmatch_lines(["goldens: 0 added, 1 updated, 0 removed, 0 unchanged*"])
    after = golden_entry(pytester)
    assert len(after["samples"]) == 8  # 5 + 5, bounded by drift.max_baseline_samples
    assert after["output"] == before["output"] and after["samples"][:5] == before["samples"]
    outputs = [after["output"], *after.get("other_outputs", [])]
    assert all(outputs[s["output"]] in PARAPHRASES for s in after["samples"])
    assert after["calibrated_min"] <= before["calibrated_min"]
    # A baseline that is no longer current (another prompt) is recorded afresh, not topped up.
    write("s.prompt.yaml", f'cases:\n  - {{id: refund, prompt: "{REFUND} Please.", checks: [golden]}}\n')
    sampler.answers[f"{REFUND} Please."] = PARAPHRASES
    run(pytester, "--promptguard-update", "--promptguard-top-up").assert_outcomes(passed=1)
    assert len(golden_entry(pytester)["samples"]) == 5


def test_top_up_goes_with_update(pytester, write, config, sampler):
    config()
    suite(write)
    result = run(pytester, "--promptguard-top-up")
    result.stderr.fnmatch_lines(["*--promptguard-top-up goes with --promptguard-update*"])
