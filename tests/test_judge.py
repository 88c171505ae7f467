"""The `judge` check: a grader model scores the output against a rubric, through the scheduler, costed apart,
cached, recorded in goldens and replayed."""

from __future__ import annotations

import json

import yaml

from pytest_promptguard.checks.judge import DEFAULT_PROMPT, parse_grade, render

from .meaning import GRADER_ID, REFUND_A, REFUND_Q, write_config
from .output import text_of

RUBRIC = "Answers the refund question and names the 30-day window."
SUITE = f"""
cases:
  - id: refund
    prompt: "{REFUND_Q}"
    checks:
      - judge: {{rubric: "{RUBRIC}", model: grader, min: 0.7}}
  - id: vague
    prompt: "Can I send it back?"
    checks:
      - judge: {{rubric: "{RUBRIC}", model: grader, min: 0.7}}
"""


def answer(server) -> None:
    server.answers.update({REFUND_Q: REFUND_A, "Can I send it back?": "Please contact our support team."})


def test_judge_passes_and_fails_with_the_graders_reason(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    out = text_of(result)
    assert "judge 0.2 < min 0.7 (grader): does not name the return window" in out
    assert meaning_server.count["grader"] == 2
    # The grader saw the documented prompt, with the rubric and the output in it.
    prompt = next(
        r["messages"][0]["content"]
        for r in meaning_server.requests
        if r.get("model") == GRADER_ID and REFUND_A in r["messages"][0]["content"]
    )
    assert prompt == render(DEFAULT_PROMPT, RUBRIC, REFUND_A, None)


def test_judge_tolerates_code_fences_and_reports_a_reply_that_is_not_json(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    meaning_server.grader = "fenced"
    pytester.runpytest("--promptguard").assert_outcomes(passed=1, failed=1)
    meaning_server.grader = "prose"
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=2)  # a grader that misbehaves is an error, never a failed check
    assert (
        'judge: grader \'grader\' did not answer JSON {"score": 0-1, "reason": ...}: \'The answer looks fine to me'
    ) in text_of(result)
    assert "this is an error of a model the checks call, not a check failure" in text_of(result)


def test_parse_grade_accepts_fenced_and_embedded_json_only_with_a_score_in_range():
    assert parse_grade('{"score": 0.8, "reason": "ok"}') == (0.8, "ok")
    assert parse_grade('```json\n{"score": 1, "reason": "all\\n there"}\n```') == (1.0, "all there")
    assert parse_grade('Here: {"score": 0.5, "reason": "half"} done') == (0.5, "half")
    assert parse_grade('{"score": 7, "reason": "out of 10"}') is None
    assert parse_grade('{"reason": "no score"}') is None
    assert parse_grade("great answer") is None


def test_judge_prompt_is_overridable_in_the_config(pytester, write, meaning_server):
    write_config(
        pytester,
        meaning_server,
        {"judge": {"prompt": "Rubric {rubric}; expected {expected}; <answer>{output}</answer> JSON {score, reason}"}},
    )
    answer(meaning_server)
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - id: refund
            prompt: "{REFUND_Q}"
            checks: [{{judge: {{rubric: R1, model: grader, expected: "30 days"}}}}]
    """,
    )
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)
    [prompt] = [r["messages"][0]["content"] for r in meaning_server.requests if r.get("model") == GRADER_ID]
    assert prompt == f"Rubric R1; expected 30 days; <answer>{REFUND_A}</answer> JSON {{score, reason}}"


def test_judge_cost_is_apart_from_the_cases_cost_in_summary_and_json_report(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest(
        "--promptguard", "--promptguard-report=r.json", "--promptguard-md=r.md", "--promptguard-html=r.html"
    )
    result.assert_outcomes(passed=1, failed=1)
    # Each grader call: 100 tokens in at $10/M and 20 out at $50/M = $0.002.
    assert "judge cost $0.0040 (2 grader calls)" in text_of(result)
    report = json.loads((pytester.path / "r.json").read_text())
    totals = report["summary"]["totals"] if "summary" in report else report["totals"]
    assert totals["judge_calls"] == 2 and abs(totals["judge_cost_usd"] - 0.004) < 1e-9
    case_cost = sum(c["cost_usd"] or 0 for case in report["cases"] for c in case["calls"])
    assert abs(totals["cost_usd"] - case_cost) < 1e-12  # the grader's cost is not the cases'
    assert totals["cost_usd"] < 0.001
    assert "judge cost $0.0040 (2 grader calls)" in (pytester.path / "r.md").read_text()
    assert (
        "judge cost" in (pytester.path / "r.html").read_text()
        and "$0.0040 (2 grader calls)" in (pytester.path / "r.html").read_text()
    )
    [record] = [c for case in report["cases"] if case["case"] == "refund" for c in case["check_calls"]]
    assert record["kind"] == "judge" and record["model"] == "grader" and record["score"] == 0.9


def test_grader_answers_are_cached_in_memory_and_in_the_response_cache(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    # Three samples of the same answer: one grader call per output.
    pytester.runpytest("--promptguard", "--promptguard-repeat=3", "--promptguard-cache").assert_outcomes(
        passed=1, failed=1
    )
    assert meaning_server.count["grader"] == 2
    pytester.runpytest("--promptguard", "--promptguard-repeat=3", "--promptguard-cache").assert_outcomes(
        passed=1, failed=1
    )
    assert meaning_server.count["grader"] == 2  # the rerun asked no grader: all from the cache


def test_goldens_record_judge_scores_and_replay_them_without_a_grader(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=1, failed=1)
    golden = yaml.safe_load((pytester.path / "__golden__/s.prompt.golden.yaml").read_text())
    [judged] = golden["cases"]["refund"]["fast"]["judge"]
    assert judged["rubric"] == RUBRIC and judged["model"] == "grader" and judged["score"] == 0.9
    assert judged["reason"] == "names the 30-day window"
    grader_calls, chat_calls = meaning_server.count["grader"], meaning_server.count["chat"]
    result = pytester.runpytest("--promptguard", "--promptguard-replay", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1, errors=1)  # `vague` failed its judge when recording: it has no golden
    [refund] = [c for c in json.loads((pytester.path / "r.json").read_text())["cases"] if c["case"] == "refund"]
    assert (
        refund["checks"][0][0]["reason"]
        == "judge 0.9 >= min 0.7 (grader, recorded in the golden): names the 30-day window"
    )
    assert (meaning_server.count["grader"], meaning_server.count["chat"]) == (grader_calls, chat_calls)
    # A rubric the golden has no score for cannot be graded in replay: the error says so.
    write("s.prompt.yaml", SUITE.replace("min: 0.7}", 'min: 0.7, expected: "30 days"}', 1))
    result = pytester.runpytest("--promptguard", "--promptguard-replay")
    assert "judge: the golden has no judge score for this rubric and grader" in text_of(result)


def test_sampled_goldens_record_each_samples_judge_score(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    answer(meaning_server)
    write("s.prompt.yaml", SUITE)
    pytester.runpytest(
        "--promptguard", "--promptguard-update", "--promptguard-repeat=3", "-k", "refund"
    ).assert_outcomes(passed=1)
    entry = yaml.safe_load((pytester.path / "__golden__/s.prompt.golden.yaml").read_text())["cases"]["refund"]["fast"]
    [judged] = entry["judge"]
    assert [s["judge"] for s in entry["samples"]] == [{judged["key"]: 0.9}] * 3
    assert entry["checks"] == ["judge"]


def test_the_summary_warns_when_a_model_grades_itself(pytester, write, meaning_server):
    write_config(
        pytester, meaning_server, twin={"provider": "openai", "model": "gpt-4o-mini", "base_url": meaning_server.url}
    )
    answer(meaning_server)
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: refund, prompt: "{REFUND_Q}", checks: [{{judge: {{rubric: R, model: fast}}}}]}}
          - {{id: other, prompt: "{REFUND_Q} now", checks: [{{judge: {{rubric: R, model: twin}}}}]}}
    """,
    )
    result = pytester.runpytest("--promptguard")
    out = text_of(result)
    assert "a model grades its own answers: fast grades fast" in out
    assert "twin grades fast (both gpt-4o-mini)" in out


def test_an_exhausted_budget_stops_grader_calls(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    meaning_server.answers.update({f"q{i}": f"within 30 days {i}" for i in range(3)})
    write(
        "s.prompt.yaml",
        f"""
        cases:
          - {{id: a, prompt: q0, checks: [{{judge: {{rubric: "{RUBRIC}", model: grader}}}}]}}
          - {{id: b, prompt: q1, checks: [{{judge: {{rubric: "{RUBRIC}", model: grader}}}}]}}
          - {{id: c, prompt: q2, checks: [{{judge: {{rubric: "{RUBRIC}", model: grader}}}}]}}
    """,
    )
    result = pytester.runpytest("--promptguard", "--promptguard-max-cost=0.001", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=2)  # out of budget, the grader is not called: an error, not a fail
    assert meaning_server.count["grader"] == 1
    assert "grader 'grader' failed: budget exhausted" in text_of(result)


def test_an_unknown_or_missing_grader_is_a_collection_error_naming_file_line_and_fix(pytester, write, meaning_server):
    write_config(pytester, meaning_server)
    write(
        "s.prompt.yaml",
        """
        cases:
          - id: refund
            prompt: hi
            checks:
              - judge: {rubric: R, model: gradr}
    """,
    )
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    out = text_of(result)
    assert "s.prompt.yaml:5: case 'refund': check 'judge': grader unknown model 'gradr' (did you mean 'grader'?)" in out
    assert "fix: define it under 'models' in promptguard.yaml" in out
    write("s.prompt.yaml", "cases: [{id: refund, prompt: hi, checks: [{judge: {rubric: R}}]}]")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert "check 'judge': no grader model" in text_of(result)
    assert "set judge: {model: NAME} in promptguard.yaml" in text_of(result)
