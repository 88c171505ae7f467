"""The `promptguard` fixture: Python tests call models and run checks with the suites' machinery, and land in the
same goldens and reports. Each test writes a test module into a pytester folder and runs it against the local
OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
import yaml

from .meaning import REFUND_A, REFUND_Q, write_config
from .output import shows, summary
from .servers import Reply, chat_completion, last_user_message

SERVED = "gpt-4o-mini-2024-07-18"
SUMMARY_PROMPT = "Summarise: revenue was $4.2M"

# The README's example, and a second call in the same test.
EXAMPLE = """
def test_summary_keeps_the_numbers(promptguard):
    call = promptguard.call("fast", [{"role": "user", "content": "Summarise: revenue was $4.2M"}])
    promptguard.check(call, contains="4.2", golden=True, latency={"max_ms": 2000})


def test_two_calls(promptguard):
    first = promptguard.call("fast", "Name a colour.")
    second = promptguard.call("fast", "Name a fruit.", params={"max_tokens": 20})
    promptguard.check(first, golden=True)
    promptguard.check(second, golden=True)
"""


@dataclass
class Script:
    """What the server answers, by prompt (the server is threaded: never by arrival order), else an echo; the
    test changes it between runs."""

    answers: dict[str, str] = field(
        default_factory=lambda: {
            SUMMARY_PROMPT: "Revenue was $4.2M.",
            "Name a colour.": "Blue.",
            "Name a fruit.": "An apple.",
        }
    )
    fingerprint: str = "fp_1"

    def __call__(self, request: dict, headers: dict) -> Reply:
        prompt = last_user_message(request)
        text = self.answers.get(prompt, f"echo: {prompt}")
        body = chat_completion(
            text, model=f"{request['model']}-2024-07-18", fingerprint=self.fingerprint, prompt_tokens=10
        )
        return Reply(body=body)


@pytest.fixture
def script(model_server) -> Script:
    model_server.responder = Script()
    return model_server.responder


def run(pytester, *args: str):
    return pytester.runpytest("--promptguard", "-p", "no:randomly", *args)


def golden(pytester, module: str = "test_sum") -> dict:
    return yaml.safe_load((pytester.path / "__golden__" / f"{module}.golden.yaml").read_text("utf-8"))


# --- calling and checking -------------------------------------------------------------------------------


def test_a_passing_and_a_failing_test_read_like_suite_cases(pytester, model_server, openai_config, script):
    openai_config()
    pytester.makepyfile(
        test_sum="""
        def test_passes(promptguard):
            call = promptguard.call("fast", "Summarise: revenue was $4.2M")
            assert call.text == "Revenue was $4.2M."
            assert call.model_served == "gpt-4o-mini-2024-07-18" and call.tokens_in == 10
            results = promptguard.check(call, contains="4.2", latency={"max_ms": 2000})
            assert [r.name for r in results] == ["contains", "latency"]

        def test_fails(promptguard):
            call = promptguard.call("fast", [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Summarise: revenue was $4.2M"}])
            promptguard.check(call, contains=["4.2", "million"], not_contains="As an AI")
    """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    shows(
        result,
        "test_fails",
        "1 of 2 checks failed",
        "✗ contains: missing 'million'",
        "prompt:",
        "[system] Be brief.",
        "[user] Summarise: revenue was $4.2M",
        "output:",
        "Revenue was $4.2M.",
        f"call: fast (openai, asked gpt-4o-mini, served {SERVED})",
    )
    shows(result, "FAILED test_sum.py::test_fails - ChecksFailed: 1 of 2 checks failed")
    assert "Traceback" not in result.stdout.str() and "promptguard.check(call" not in result.stdout.str()
    # Both tests are cases of their module in the promptguard summary, with their one call each.
    assert re.search(r"test_sum\.py\s+fast\s+2\s+1\s+1\s+0\s+0", summary(result)), summary(result)
    assert len(model_server.requests) == 2
    assert model_server.requests[1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_checks_accumulate_and_repeat_gives_samples(pytester, model_server, openai_config, script):
    openai_config(params={"temperature": 0, "max_tokens": 50})
    pytester.makepyfile(
        test_sum="""
        def test_samples(promptguard):
            calls = promptguard.call("fast", "Summarise: revenue was $4.2M", params={"max_tokens": 64}, repeat=3)
            assert isinstance(calls, list) and len(calls) == 3
            promptguard.check(calls, contains="4.2")
            promptguard.check(calls[0], regex=r"\\$\\d")
            promptguard.check(calls, latency={"p95_ms": 5000}, cost={"max_usd": 1})
            one = promptguard.call("fast", "Name a colour.", repeat=1)
            assert isinstance(one, list) and len(one) == 1
    """
    )
    result = run(pytester, "--promptguard-report", "report.json")
    result.assert_outcomes(passed=1)
    assert [r["max_tokens"] for r in model_server.requests] == [64, 64, 64, 50]  # params merge over the model's
    assert all(r["temperature"] == 0 for r in model_server.requests)
    (case,) = json.loads((pytester.path / "report.json").read_text())["cases"]
    assert (case["suite"], case["path"], case["case"], case["model"], case["outcome"]) == (
        "test_sum.py",
        "test_sum.py",
        "test_samples",
        "fast",
        "passed",
    )
    assert [[r["name"] for r in sample] for sample in case["checks"]] == [
        ["contains", "regex"],
        ["contains"],
        ["contains"],
        [],
    ]
    assert [r["name"] for r in case["case_checks"]] == ["latency", "cost"]
    assert [(c["case"], c["model"], c["first"], c["count"]) for c in case["fixture_calls"]] == [
        ("test_samples", "fast", 0, 3),
        ("test_samples#2", "fast", 3, 1),
    ]
    assert case["pass_rate"] == 1.0 and case["messages"] == [{"role": "user", "content": SUMMARY_PROMPT}]


def test_a_provider_error_fails_the_test_with_the_suites_explanation(pytester, model_server, openai_config):
    openai_config(retries=0)
    model_server.responder = lambda request, headers: Reply(
        status=401, body={"error": {"message": "Incorrect API key"}}
    )
    pytester.makepyfile(
        test_sum="""
        def test_calls(promptguard):
            call = promptguard.call("fast", "hello")
            promptguard.check(call, contains="hello")
    """
    )
    result = run(pytester, "--promptguard-report", "report.json")
    result.assert_outcomes(failed=1)
    shows(
        result,
        "test_calls",
        "model 'fast' (openai, gpt-4o-mini) failed: ",
        "(HTTP 401)",
        "Incorrect API key",
        "this is a provider error, not a check failure: the output was never judged",
        "FAILED test_sum.py::test_calls - ModelCallFailed: model 'fast'",
    )
    assert "Traceback" not in result.stdout.str() and "promptguard.call(" not in result.stdout.str()
    (case,) = json.loads((pytester.path / "report.json").read_text())["cases"]
    assert case["outcome"] == "error" and case["calls"][0]["error"]["status"] == 401
    assert re.search(r"test_sum\.py\s+fast\s+1\s+0\s+0\s+0\s+1", summary(result)), summary(result)


def test_a_bad_check_argument_or_model_is_a_clear_error(pytester, model_server, openai_config, script):
    openai_config()
    pytester.makepyfile(
        test_sum="""
        import pytest
        from pytest_promptguard.plugin.fixture import CheckArgumentError, PromptguardFixtureError

        def test_bad_argument(promptguard):
            call = promptguard.call("fast", "hello")
            promptguard.check(call, latency={"max_ms": "fast"})

        def test_unknown_check(promptguard):
            promptguard.check(promptguard.call("fast", "hello"), containz="x")

        def test_unknown_model(promptguard):
            promptguard.call("fsat", "hello")

        def test_errors_can_be_caught(promptguard):
            call = promptguard.call("fast", "hello")
            with pytest.raises(CheckArgumentError, match="check 'fuzzy'"):
                promptguard.check(call, fuzzy={"min": 50})
            with pytest.raises(PromptguardFixtureError, match="a Call that this test's promptguard.call"):
                promptguard.check("hello", contains="x")
            with pytest.raises(PromptguardFixtureError, match="messages must be a string"):
                promptguard.call("fast", [])
            with pytest.raises(PromptguardFixtureError, match="repeat must be a whole number"):
                promptguard.call("fast", "hello", repeat=0)
    """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=3)
    shows(
        result,
        "test_bad_argument",
        'promptguard.check(call, latency={"max_ms": "fast"})',
        "CheckArgumentError: promptguard.check: check 'latency'.max_ms: 'fast' is not of type 'number'",
        "fix: latency: {max_ms: every sample at most",
    )
    shows(
        result,
        "test_unknown_check",
        "promptguard.check: unknown check 'containz' (did you mean 'contains'?)",
        "fix: use one of: ",
        "contains",
    )
    shows(
        result,
        "test_unknown_model",
        "promptguard.call: unknown model 'fsat' (did you mean 'fast'?)",
        "fix: define it under 'models' in promptguard.yaml (defined there: fast)",
    )
    assert "fixture.py" not in result.stdout.str()  # the test's own line is shown, not the plugin's insides


# --- opting in ------------------------------------------------------------------------------------------


def test_skipped_without_the_flag_unless_marked(pytester, model_server, openai_config, script):
    openai_config()
    pytester.makepyfile(
        test_sum="""
        import pytest

        def test_unmarked(promptguard):
            promptguard.call("fast", "hello")

        @pytest.mark.promptguard
        def test_marked(promptguard):
            promptguard.check(promptguard.call("fast", "Summarise: revenue was $4.2M"), contains="4.2")

        @pytest.mark.promptguard
        def test_marked_fails(promptguard):
            promptguard.check(promptguard.call("fast", "Name a colour."), contains="Red")
    """
    )
    result = pytester.runpytest("-rs", "-p", "no:randomly", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    shows(result, "SKIPPED [1] ", "promptguard fixture: run with --promptguard (this test calls models)")
    shows(result, "✗ contains: missing 'Red'")
    assert sorted(last_user_message(r) for r in model_server.requests) == ["Name a colour.", SUMMARY_PROMPT]
    assert "= promptguard =" not in result.stdout.str()  # no run: no summary, no goldens, no reports
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.promptguard: this test calls models through the promptguard fixture*"])


@pytest.mark.slow
def test_without_the_flag_the_machinery_is_not_imported(pytester):
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_light(promptguard):
            pass

        def test_modules():
            heavy = [m for m in sys.modules if m.startswith("pytest_promptguard.") and m != "pytest_promptguard.plugin"]
            assert heavy == []
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1, skipped=1)


# --- goldens --------------------------------------------------------------------------------------------


def test_update_records_goldens_beside_the_test_and_replay_answers_from_them(
    pytester, model_server, openai_config, script
):
    openai_config()
    pytester.makepyfile(test_sum=EXAMPLE)
    result = run(pytester, "--promptguard-update")
    result.assert_outcomes(passed=2)
    assert "goldens: 3 added, 0 updated, 0 removed, 0 unchanged (written: __golden__/test_sum.golden.yaml)" in summary(
        result
    )
    assert "unused" not in summary(result)  # the golden file's module is there: it is no orphan
    data = golden(pytester)
    assert data["format_version"] == 1 and data["suite"] == "test_sum.py"
    assert {case: list(models) for case, models in data["cases"].items()} == {
        "test_summary_keeps_the_numbers": ["fast"],
        "test_two_calls": ["fast"],
        "test_two_calls#2": ["fast"],
    }
    entry = data["cases"]["test_summary_keeps_the_numbers"]["fast"]
    assert (entry["output"], entry["model_served"], entry["fingerprint"]) == ("Revenue was $4.2M.", SERVED, "fp_1")
    assert data["cases"]["test_two_calls#2"]["fast"]["output"] == "An apple."

    # A live run passes against them; re-recording the same answers changes nothing.
    run(pytester).assert_outcomes(passed=2)
    before = (pytester.path / "__golden__" / "test_sum.golden.yaml").read_bytes()
    result = run(pytester, "--promptguard-update")
    assert "goldens: 0 added, 0 updated, 0 removed, 3 unchanged" in summary(result)
    assert (pytester.path / "__golden__" / "test_sum.golden.yaml").read_bytes() == before

    # Replay sends nothing: the calls answer as recorded, the checks run on them.
    script.answers.clear()
    sent = len(model_server.requests)
    pytester.makepyfile(
        test_sum=EXAMPLE
        + """

def test_replayed(promptguard):
    call = promptguard.call("fast", "Name a colour.")
    assert call.source == "replay" and call.text == "Blue."
"""
    )
    result = run(pytester, "--promptguard-replay", "-k", "not test_replayed")
    result.assert_outcomes(passed=2)
    assert len(model_server.requests) == sent
    # ... and a call without its own golden cannot be replayed: an error naming the command that records it.
    result = run(pytester, "--promptguard-replay", "-k", "test_replayed")
    result.assert_outcomes(failed=1)
    shows(
        result,
        "cannot replay: no golden recorded yet; record it: "
        "pytest --promptguard --promptguard-update 'test_sum.py::test_replayed'",
        "replaying goldens (--promptguard-replay): nothing was called, nothing was judged",
    )
    assert len(model_server.requests) == sent


def test_drift_and_a_stale_golden_fail_the_golden_check(pytester, model_server, openai_config, script):
    openai_config()
    pytester.makepyfile(test_sum=EXAMPLE)
    run(pytester, "--promptguard-update").assert_outcomes(passed=2)
    # The model now answers otherwise: drift, with the score and a diff golden → now.
    script.answers["Name a colour."] = "I would rather not say which colour I like best today."
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    shows(
        result,
        "test_two_calls",
        "✗ golden: output drifted from the golden: token_set_ratio",
        "--- golden",
        "+++ now",
        "-Blue.",
        "+I would rather not say",
    )
    assert "drift" in summary(result) and re.search(r"test_sum\.py\s+fast\s+2\s+1\s+1\s+1", summary(result)), summary(
        result
    )

    # The prompt is edited: the golden is stale, live and in replay.
    pytester.makepyfile(test_sum=EXAMPLE.replace("Summarise: revenue", "Summarise briefly: revenue"))
    script.answers["Summarise briefly: revenue was $4.2M"] = "Revenue was $4.2M."
    result = run(pytester, "-k", "numbers")
    result.assert_outcomes(failed=1)
    shows(
        result,
        "✗ golden: prompt changed since the golden was recorded; review the change, then re-record: "
        "pytest --promptguard --promptguard-update 'test_sum.py::test_summary_keeps_the_numbers'",
    )
    result = run(pytester, "--promptguard-replay", "-k", "numbers")
    result.assert_outcomes(failed=1)
    shows(result, "cannot replay: prompt changed since the golden was recorded")
    # The command it names re-records it; the test passes again.
    run(pytester, "--promptguard-update", "test_sum.py::test_summary_keeps_the_numbers").assert_outcomes(passed=1)
    run(pytester, "-k", "numbers").assert_outcomes(passed=1)


def test_a_call_no_longer_made_loses_its_golden_and_failing_tests_are_not_recorded(
    pytester, model_server, openai_config, script
):
    openai_config()
    pytester.makepyfile(test_sum=EXAMPLE)
    run(pytester, "--promptguard-update").assert_outcomes(passed=2)
    one_call = (
        EXAMPLE.split("def test_two_calls")[0]
        + """
def test_two_calls(promptguard):
    promptguard.check(promptguard.call("fast", "Name a colour."), golden=True)
"""
    )
    pytester.makepyfile(test_sum=one_call)
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert "unused golden(s): __golden__/test_sum.golden.yaml: test_two_calls#2[fast]" in summary(result)
    result = run(pytester, "--promptguard-update")
    assert "goldens: 0 added, 0 updated, 1 removed, 2 unchanged" in summary(result)
    assert list(golden(pytester)["cases"]) == ["test_summary_keeps_the_numbers", "test_two_calls"]
    # A test whose other checks fail keeps its old golden.
    script.answers[SUMMARY_PROMPT] = "Revenue grew."
    result = run(pytester, "--promptguard-update")
    result.assert_outcomes(passed=1, failed=1)
    assert golden(pytester)["cases"]["test_summary_keeps_the_numbers"]["fast"]["output"] == "Revenue was $4.2M."


def test_a_sampled_call_records_a_sampled_golden(pytester, model_server, openai_config, script):
    openai_config()
    pytester.makepyfile(
        test_sum="""
        def test_sampled(promptguard):
            calls = promptguard.call("fast", "Name a fruit.", repeat=3)
            promptguard.check(calls, golden=True)
    """
    )
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    entry = golden(pytester)["cases"]["test_sampled"]["fast"]
    assert entry["output"] == "An apple." and len(entry["samples"]) == 3 and entry["calibrated_min"] is not None
    run(pytester).assert_outcomes(passed=1)


def test_two_models_in_one_test_and_a_model_change(pytester, model_server, openai_config, script):
    openai_config(
        models={"slow": {"provider": "openai", "model": "gpt-4.1", "base_url": model_server.url, "timeout_s": 5}}
    )
    pytester.makepyfile(
        test_sum="""
        def test_both(promptguard):
            for model in ("fast", "slow"):
                promptguard.check(promptguard.call(model, "Name a colour."), golden=True)
    """
    )
    result = run(pytester, "--promptguard-update")
    result.assert_outcomes(passed=1)
    assert re.search(r"test_sum\.py\s+fast\+slow\s+1\s+1", summary(result)), summary(result)
    entries = golden(pytester)["cases"]["test_both"]
    assert (entries["fast"]["model_served"], entries["slow"]["model_served"]) == (SERVED, "gpt-4.1-2024-07-18")
    # The provider serves another build under the same names: reported, and fatal under --promptguard-strict.
    script.fingerprint = "fp_2"
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert (
        "model change: fast: fingerprint fp_1 → fp_2 (reported; fatal with --promptguard-strict) [1 case]"
        in summary(result)
    )
    result = run(pytester, "--promptguard-strict")
    result.assert_outcomes(failed=1)
    shows(result, "✗ model_change: fast: fingerprint fp_1 → fp_2 (fails under --promptguard-strict")


# --- reports and xdist ----------------------------------------------------------------------------------


def test_fixture_tests_are_in_every_report_beside_suites(pytester, write, model_server, openai_config, script):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: hello, prompt: hello, checks: [{contains: hello}]}]")
    pytester.makepyfile(test_sum=EXAMPLE.split("def test_two_calls")[0])
    result = run(
        pytester,
        "--promptguard-report",
        "r.json",
        "--promptguard-log",
        "calls.jsonl",
        "--promptguard-html",
        "r.html",
        "--promptguard-md",
        "r.md",
    )
    result.assert_outcomes(passed=1, failed=1)  # the example's golden is not recorded yet
    assert re.search(r"test_sum\.py\s+fast\s+1\s+0\s+1", summary(result)), summary(result)
    report = json.loads((pytester.path / "r.json").read_text())
    assert {(c["path"], c["case"]) for c in report["cases"]} == {
        ("s.prompt.yaml", "hello"),
        ("test_sum.py", "test_summary_keeps_the_numbers"),
    }
    log = [json.loads(line) for line in (pytester.path / "calls.jsonl").read_text().splitlines()]
    assert {(line["file"], line["case"]) for line in log} == {
        ("s.prompt.yaml", "hello"),
        ("test_sum.py", "test_summary_keeps_the_numbers"),
    }
    assert "test_summary_keeps_the_numbers" in (pytester.path / "r.html").read_text()
    assert "test_summary_keeps_the_numbers" in (pytester.path / "r.md").read_text()


@pytest.mark.slow
def test_under_xdist_update_records_and_replay_answers_with_results_in_the_json_report(
    pytester, model_server, openai_config, script
):
    openai_config()
    pytester.makepyfile(
        test_sum=EXAMPLE,
        test_other="""
        def test_other(promptguard):
            promptguard.check(promptguard.call("fast", "hello"), contains="hello", golden=True)
    """,
    )
    result = pytester.runpytest(
        "--promptguard",
        "--promptguard-update",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "--promptguard-report",
        "update.json",
    )
    result.assert_outcomes(passed=3)
    assert "goldens: 4 added, 0 updated, 0 removed, 0 unchanged" in summary(result)
    assert list(golden(pytester)["cases"]) == ["test_summary_keeps_the_numbers", "test_two_calls", "test_two_calls#2"]
    assert golden(pytester, "test_other")["cases"]["test_other"]["fast"]["output"] == "echo: hello"
    cases = json.loads((pytester.path / "update.json").read_text())["cases"]
    assert sorted((c["path"], c["case"], c["outcome"]) for c in cases) == [
        ("test_other.py", "test_other", "passed"),
        ("test_sum.py", "test_summary_keeps_the_numbers", "passed"),
        ("test_sum.py", "test_two_calls", "passed"),
    ]

    script.answers.clear()
    sent = len(model_server.requests)
    result = pytester.runpytest(
        "--promptguard",
        "--promptguard-replay",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "--promptguard-report",
        "replay.json",
    )
    result.assert_outcomes(passed=3)
    assert len(model_server.requests) == sent
    cases = json.loads((pytester.path / "replay.json").read_text())["cases"]
    assert len(cases) == 3 and all(call["source"] == "replay" for c in cases for call in c["calls"])
    assert sum(len(c["calls"]) for c in cases) == 4


# --- checks that call models: judge, semantic, golden by meaning -----------------------------------------------

RUBRIC = "Answers the refund question and names the 30-day window."
VAGUE_Q, VAGUE_A = "Can I send it back?", "Please contact our support team."
EXPECTED = "You can return items within 30 days for a full refund."
JUDGED = f"""
RUBRIC = "{RUBRIC}"


def test_refund(promptguard):
    call = promptguard.call("fast", "{REFUND_Q}")
    [judged] = promptguard.check(call, judge={{"rubric": RUBRIC, "model": "grader", "min": 0.7}})
    assert judged.passed and judged.score == 0.9


def test_vague(promptguard):
    call = promptguard.call("fast", "{VAGUE_Q}")
    promptguard.check(call, judge={{"rubric": RUBRIC, "model": "grader"}})
"""


def meaning_answers(server) -> None:
    server.answers.update({REFUND_Q: REFUND_A, VAGUE_Q: VAGUE_A})
    server.vectors.update({EXPECTED: [1.0, 0.0, 0.0], REFUND_A: [0.9, 0.1, 0.0], VAGUE_A: [0.0, 1.0, 0.0]})


def test_judge_passes_and_fails_from_a_python_test_with_its_cost_apart(pytester, meaning_server):
    write_config(pytester, meaning_server)
    meaning_answers(meaning_server)
    pytester.makepyfile(test_sum=JUDGED)
    result = run(pytester, "--promptguard-report", "r.json")
    result.assert_outcomes(passed=1, failed=1)
    shows(
        result,
        "test_vague",
        "judge 0.2 < min 0.7 (grader): does not name the return window",
        "FAILED test_sum.py::test_vague - ChecksFailed: ",
    )
    assert "Traceback" not in result.stdout.str()
    assert meaning_server.count["grader"] == 2
    # Each grader call: 100 tokens in at $10/M and 20 out at $50/M = $0.002, apart from the tests' own cost.
    assert "judge cost $0.0040 (2 grader calls)" in summary(result)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["totals"]["judge_calls"] == 2 and abs(report["totals"]["judge_cost_usd"] - 0.004) < 1e-9
    assert report["totals"]["cost_usd"] < 0.001
    cases = {c["case"]: c for c in report["cases"]}
    assert cases["test_vague"]["outcome"] == "failed"
    [record] = cases["test_refund"]["check_calls"]
    assert (record["kind"], record["model"], record["score"], record["source"]) == ("judge", "grader", 0.9, "live")


def test_semantic_passes_and_fails_from_a_python_test_with_its_cost_apart(pytester, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "emb"})
    meaning_answers(meaning_server)
    pytester.makepyfile(
        test_sum=f"""
        def test_refund(promptguard):
            call = promptguard.call("fast", "{REFUND_Q}")
            [close] = promptguard.check(call, semantic={{"expected": "{EXPECTED}", "min": 0.85}})
            assert close.reason == "cosine similarity 0.993 >= min 0.85 (emb)"

        def test_vague(promptguard):
            promptguard.check(promptguard.call("fast", "{VAGUE_Q}"), semantic={{"expected": "{EXPECTED}"}})
    """
    )
    result = run(pytester, "--promptguard-report", "r.json")
    result.assert_outcomes(passed=1, failed=1)
    shows(
        result,
        "test_vague",
        "cosine similarity 0.000 < min 0.85 (emb)",
        "FAILED test_sum.py::test_vague - ChecksFailed",
    )
    assert meaning_server.count["openai"] == 3  # the expected text once, and each output
    assert "embedding cost $0.00042 (3 embedding calls)" in summary(result)
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["totals"]["embedding_calls"] == 3
    assert all(r["kind"] == "embedding" for c in report["cases"] for r in c["check_calls"])


def test_golden_by_meaning_from_a_python_test_records_a_semantic_sampled_golden(pytester, meaning_server):
    write_config(pytester, meaning_server, {"embedding_model": "emb"})
    meaning_answers(meaning_server)
    meaning_server.variants[REFUND_Q] = [REFUND_A, EXPECTED]
    pytester.makepyfile(
        test_sum=f"""
        def test_refund(promptguard):
            calls = promptguard.call("fast", "{REFUND_Q}", repeat=2)
            promptguard.check(calls, golden={{"method": "semantic"}})
    """
    )
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    entry = golden(pytester)["cases"]["test_refund"]["fast"]
    assert entry["scorer"] == "semantic" and entry["calibrated_min"] is not None
    assert sorted(s["similarity"] for s in entry["samples"]) == [99.4, 99.4]
    # Today's answer drifted in meaning: the golden check fails by cosine similarity.
    meaning_server.variants[REFUND_Q] = [VAGUE_A]
    result = run(pytester)
    result.assert_outcomes(failed=1)
    shows(result, "output drifted from the golden: semantic ", " < calibrated min 0.944")


def test_judge_scores_are_recorded_by_update_and_replayed_without_a_grader(pytester, meaning_server):
    write_config(pytester, meaning_server)
    meaning_answers(meaning_server)
    pytester.makepyfile(test_sum=JUDGED)
    run(pytester, "--promptguard-update", "-k", "refund").assert_outcomes(passed=1, deselected=1)
    [judged] = golden(pytester)["cases"]["test_refund"]["fast"]["judge"]
    assert (judged["rubric"], judged["model"], judged["score"], judged["reason"]) == (
        RUBRIC,
        "grader",
        0.9,
        "names the 30-day window",
    )
    asked = dict(meaning_server.count)
    result = run(pytester, "--promptguard-replay", "-k", "refund", "--promptguard-report", "r.json")
    result.assert_outcomes(passed=1, deselected=1)
    assert dict(meaning_server.count) == asked  # no grader, no model
    [case] = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert (
        case["checks"][0][0]["reason"]
        == "judge 0.9 >= min 0.7 (grader, recorded in the golden): names the 30-day window"
    )
    assert case["check_calls"][0]["source"] == "replay" and case["check_calls"][0]["cost_usd"] == 0.0


def test_a_grader_that_misbehaves_is_an_error_of_the_test_not_a_failed_check(pytester, meaning_server):
    write_config(pytester, meaning_server)
    meaning_answers(meaning_server)
    meaning_server.grader = "prose"
    pytester.makepyfile(test_sum=JUDGED)
    result = run(pytester, "-k", "refund", "--promptguard-report", "r.json")
    result.assert_outcomes(failed=1, deselected=1)
    shows(
        result,
        "test_refund",
        'judge: grader \'grader\' did not answer JSON {"score": 0-1, "reason": ...}: \'The answer looks fine to me',
        "this is an error of a model the checks call, not a check failure",
        "FAILED test_sum.py::test_refund - ModelCallFailed: judge: grader 'grader'",
    )
    assert "Traceback" not in result.stdout.str() and "promptguard.check(" not in result.stdout.str()
    [case] = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert case["outcome"] == "error" and case["checks"] == [[]]
    assert [r["kind"] for r in case["check_calls"]] == ["judge"]  # the grader was paid for all the same
    assert re.search(r"test_sum\.py\s+fast\s+1\s+0\s+0\s+0\s+1", summary(result)), summary(result)
