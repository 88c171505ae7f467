"""What a run tells a person and a CI page: the terminal summary, JSON report, call log, Markdown, history."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
import yaml

from pytest_promptguard.core.results import Call, CaseResult, CheckResult, Usage
from pytest_promptguard.core.wording import counted, usd

from .servers import Reply, chat_completion, last_user_message

SUITE = """
tags: [support]
checks: [{golden: true}]
cases:
  - {id: refund, prompt: "refund?", tags: [refunds], checks: [{contains: "30 days"}]}
  - {id: hours, prompt: "hours?", checks: [{contains: "9-5"}]}
  - {id: broken, prompt: "broken?", checks: [{contains: "never said"}]}
"""
ANSWERS = {"refund?": "Refunds within 30 days.", "hours?": "We are open 9-5.", "broken?": "No idea."}


@pytest.fixture
def priced(model_server, openai_config):
    """Model `fast` at $1/$2 per million tokens, answering from ANSWERS with 10 tokens in and 5 out."""
    openai_config(price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion(ANSWERS[last_user_message(request)], prompt_tokens=10, completion_tokens=5)
    )


def run_with_reports(pytester, *args: str):
    return pytester.runpytest(
        "--promptguard",
        "--promptguard-report=out/report.json",
        "--promptguard-log=out/calls.jsonl",
        "--promptguard-md=out/summary.md",
        "--promptguard-html=out/report.html",
        *args,
    )


def case_result(
    case: str,
    *,
    suite: str = "s",
    model: str = "fast",
    outcome: str = "passed",
    samples: int = 1,
    served: str = "gpt-4o-mini-2024-07-18",
    fingerprint: str = "fp_a",
    verdict: dict | None = None,
) -> CaseResult:
    """A case as an item leaves it, for unit tests of the reports without a run: `samples` live answers of
    10 tokens in and 5 out at 100 ms, one `contains` check per sample that fails only when the outcome does."""
    calls = [
        Call(
            model=model,
            provider="openai",
            model_asked="gpt-4o-mini",
            text="ok",
            model_served=served,
            fingerprint=fingerprint,
            latency_ms=100.0,
            usage=Usage(10, 5),
            cost_usd=0.00002,
        )
        for _ in range(samples)
    ]
    checks = [
        [CheckResult("contains", outcome != "failed", "found 'ok'" if outcome != "failed" else "missing 'ok'")]
        for _ in calls
    ]
    return CaseResult(
        suite=suite,
        path=f"{suite}.prompt.yaml",
        case=case,
        model=model,
        tags=[],
        request_digest="0" * 16,
        messages=[{"role": "user", "content": f"{case}?"}],
        calls=calls,
        checks=checks,
        verdict=verdict,
        outcome=outcome,
    )


def test_terminal_summary_fits_100_columns_and_has_everything(pytester, write, priced):
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update")
    result = pytester.runpytest("--promptguard", "--promptguard-repeat", "2")
    result.assert_outcomes(passed=2, failed=1)
    section = result.stdout.str().split(" promptguard ")[1].split(" short test summary info ")[0]
    result.stdout.fnmatch_lines(
        [
            "suite*model*cases*pass*fail*drift*err*p50 ms*p95 ms*tok in*tok out*cost",
            "s * fast * 3 * 2 * 1 * 0 * 0 * * * 60 * 30 * $0.00012",
            "cost by tag: support $0.00012 (6 calls), refunds $0.000040 (2 calls)",  # significant digits
            "slowest calls:",
        ]
    )
    assert all(len(line) <= 100 for line in section.splitlines())
    assert "\x1b[" not in section  # no colour when not a terminal


def test_quiet_shortens_to_the_totals_line(pytester, write, priced):
    write("s.prompt.yaml", SUITE.replace("checks: [{golden: true}]\n", ""))
    result = pytester.runpytest("--promptguard", "-q")
    result.stdout.fnmatch_lines(["promptguard: 3 cases, 2 passed, 1 failed; p50 * ms, p95 * ms; tokens 30 in,*"])
    assert "cost by tag" not in result.stdout.str()


def test_json_report_follows_its_schema_and_holds_every_case_call_and_check(pytester, write, priced):
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update")
    run_with_reports(pytester, "--promptguard-repeat", "2").assert_outcomes(passed=2, failed=1)
    report = json.loads((pytester.path / "out/report.json").read_text())
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["format_version"] == 1 and report["mode"] == "live"
    totals = report["totals"]
    assert (totals["cases"], totals["passed"], totals["failed"], totals["calls"]) == (3, 2, 1, 6)
    assert totals["tokens_in"] == 60 and totals["cost_usd"] == pytest.approx(6 * (10 * 1 + 5 * 2) / 1e6)
    assert {c["case"]: len(c["calls"]) for c in report["cases"]} == {"refund": 2, "hours": 2, "broken": 2}
    broken = next(c for c in report["cases"] if c["case"] == "broken")
    assert broken["outcome"] == "failed"
    assert [r["name"] for r in broken["checks"][0]] == ["golden", "contains"]
    assert broken["checks"][0][1] == {
        "name": "contains",
        "passed": False,
        "reason": "missing 'never said'",
        "score": None,
        "diff": None,
    }
    assert {t["tag"]: t["calls"] for t in report["cost_by_tag"]} == {"support": 6, "refunds": 2}
    assert len(report["slowest_calls"]) == 5


def test_replay_shows_the_recorded_latency_and_cost_marked_and_apart(pytester, write, priced):
    """A replay times and pays nothing: it shows what the goldens recorded, marked `*`, in every report, and the
    JSON keeps those figures apart from the run's own (which stay empty)."""
    write("s.prompt.yaml", SUITE.replace("  - {id: broken", "  # - {id: broken"))
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=2)
    golden = yaml.safe_load((pytester.path / "__golden__/s.prompt.golden.yaml").read_text())
    latencies = sorted(e["fast"]["samples"][0]["latency_ms"] for e in golden["cases"].values())
    p50 = f"{round(sum(latencies) / 2, 1):,.0f}*"  # as the summary rounds it: to 0.1 ms, then shown whole
    result = run_with_reports(pytester, "--promptguard-replay")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"s * fast * 2 * 2 * 0 * 0 * 0 * {p50} * * 20 * 10 * $0.000040*",
            "[*] recorded: 2 calls replayed from goldens; latency and cost marked [*] are as the goldens recorded",
        ]
    )
    report = json.loads((pytester.path / "out/report.json").read_text())
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    totals = report["totals"]
    assert (totals["latency_p50_ms"], totals["cost_usd"], totals["timed_calls"]) == (None, 0.0, 0)  # this run's
    assert totals["recorded_calls"] == 2 and totals["recorded_cost_usd"] == pytest.approx(4e-5)
    assert totals["recorded_latency_p50_ms"] == pytest.approx(sum(latencies) / 2, abs=0.05)
    assert totals["recorded_latency_p95_ms"] == pytest.approx(
        latencies[0] + 0.95 * (latencies[1] - latencies[0]), abs=0.05
    )
    markdown = (pytester.path / "out/summary.md").read_text()
    assert f"| s | fast | 2 | 2 | 0 | 0 | 0 | {p50} |" in markdown and "| $0.000040* |" in markdown
    assert "\\* recorded: 2 calls replayed from goldens" in markdown  # a footnote, not a list item
    page = (pytester.path / "out/report.html").read_text()
    assert f'<td class="n">{p50}</td>' in page and "$0.000040*" in page and "* recorded: 2 calls replayed" in page

    run_with_reports(pytester).assert_outcomes(passed=2)  # live: this run's figures, nothing marked
    totals = json.loads((pytester.path / "out/report.json").read_text())["totals"]
    assert totals["recorded_calls"] == 0 and totals["latency_p50_ms"] > 0
    assert totals["cost_usd"] == pytest.approx(4e-5)
    assert "*" not in (pytester.path / "out/summary.md").read_text().split("### ")[0]


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "$0"), (4.1e-5, "$0.000041"), (0.0123, "$0.012"), (0.456, "$0.46"), (12.345, "$12.35"), (1234.5, "$1,234.50")],
)
def test_costs_print_with_significant_digits(amount, text):
    assert usd(amount) == text
    assert (counted(1, "call"), counted(2, "call"), counted(0, "call")) == ("1 call", "2 calls", "0 calls")


def test_call_log_has_one_line_per_call_with_prompt_and_output(pytester, write, priced):
    write("s.prompt.yaml", SUITE)
    run_with_reports(pytester, "--promptguard-repeat", "2")
    lines = [json.loads(line) for line in (pytester.path / "out/calls.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    line = next(line for line in lines if line["case"] == "refund")
    for key in (
        "time",
        "suite",
        "case",
        "model",
        "provider",
        "model_served",
        "fingerprint",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "cost_usd",
        "attempts",
        "source",
        "error",
        "prompt",
        "output",
    ):
        assert key in line
    assert line["prompt"] == [{"role": "user", "content": "refund?"}]
    assert line["output"] == "Refunds within 30 days."
    assert (line["model"], line["provider"], line["source"], line["attempts"]) == ("fast", "openai", "live", 1)
    assert line["model_served"] == "test-model-2024-01-01" and line["fingerprint"] == "fp_test1"


def test_markdown_goes_to_the_github_step_summary(pytester, write, priced, monkeypatch):
    write("s.prompt.yaml", SUITE)
    step_summary = pytester.path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    pytester.runpytest("--promptguard")
    text = step_summary.read_text()
    assert text.startswith("earlier step\n")  # appended, as GitHub expects
    assert "## ❌ promptguard: 0/3 passed, 3 failed, 0 drifted, 0 errors" in text  # no golden yet: not drift
    assert "| s | fast | 3 |" in text
    assert "### Failures (3)" in text and "no golden recorded yet" in text


def test_markdown_file(pytester, write, priced):
    write("s.prompt.yaml", SUITE.replace("checks: [{golden: true}]\n", ""))
    run_with_reports(pytester)
    text = (pytester.path / "out/summary.md").read_text()
    assert text.startswith("## ❌ promptguard: 2/3 passed, 1 failed, 0 drifted, 0 errors")
    assert "- `s.prompt.yaml::broken[fast]` (failed): contains: missing 'never said'" in text
    assert "| support | 3 | $0.000060 |" in text


def test_history_appends_a_row_per_run_and_the_html_draws_it(pytester, write, priced):
    write("s.prompt.yaml", SUITE.replace("checks: [{golden: true}]\n", ""))
    for _ in range(3):
        pytester.runpytest(
            "--promptguard", "--promptguard-history=h/history.jsonl", "--promptguard-html=out/report.html"
        )
    rows = [json.loads(line) for line in (pytester.path / "h/history.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    group = rows[-1]["groups"][0]
    assert (group["suite"], group["model"], group["cases"], group["pass_rate"]) == (
        "s",
        "fast",
        3,
        pytest.approx(2 / 3, abs=1e-3),
    )
    assert group["served"] == ["test-model-2024-01-01"] and group["fingerprints"] == ["fp_test1"]
    assert {"time", "git_commit", "mode"} <= rows[0].keys()
    page = (pytester.path / "out/report.html").read_text()
    assert 'aria-label="pass rate trend over 3 runs"' in page


def test_report_that_cannot_be_written_is_an_error(pytester, write, priced):
    write("s.prompt.yaml", SUITE.replace("checks: [{golden: true}]\n", "").replace("never said", "No idea"))
    (pytester.path / "blocked").write_text("a file where a folder should be")
    result = pytester.runpytest("--promptguard", "--promptguard-report=blocked/r.json", "--promptguard-md=ok.md")
    result.assert_outcomes(passed=3)
    assert result.ret == 1  # asked for, not written: never a silent pass
    result.stdout.fnmatch_lines(["error: cannot write blocked/r.json: *", "reports: ok.md"])


def test_no_secret_reaches_any_file_or_the_terminal(pytester, write, model_server, monkeypatch):
    """Canary keys for every provider; the server fails and echoes the request headers in its error body."""
    canaries = {
        "OPENAI_KEY": "sk-canary-openai-1",
        "ANTHROPIC_KEY": "sk-ant-canary-2",
        "GEMINI_KEY": "AIza-canary-3",
        "OLLAMA_KEY": "ollama-canary-4",
    }
    for variable, value in canaries.items():
        monkeypatch.setenv(variable, value)
    step_summary = pytester.path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))

    def echo(request, headers):
        if last_user_message(request) == "bad":
            return Reply(status=400, body={"error": {"message": f"bad request, headers were {json.dumps(headers)}"}})
        return Reply(body=chat_completion("fine"))

    model_server.responder = echo
    base = model_server.url
    write(
        "promptguard.yaml",
        yaml.safe_dump(
            {
                "default_models": ["openai", "anthropic", "gemini", "ollama"],
                "models": {
                    "openai": {
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "base_url": base,
                        "api_key_env": "OPENAI_KEY",
                    },
                    "anthropic": {
                        "provider": "anthropic",
                        "model": "claude-haiku-4-5",
                        "base_url": base,
                        "api_key_env": "ANTHROPIC_KEY",
                    },
                    "gemini": {
                        "provider": "gemini",
                        "model": "gemini-2.5-flash",
                        "base_url": base,
                        "api_key_env": "GEMINI_KEY",
                    },
                    "ollama": {
                        "provider": "ollama",
                        "model": "llama3.2",
                        "base_url": model_server.root,
                        "api_key_env": "OLLAMA_KEY",
                    },
                },
            }
        ),
    )
    write("s.prompt.yaml", "cases:\n  - {id: good, prompt: ok}\n  - {id: bad, prompt: bad}\n")
    outputs = []
    for args in (["--promptguard-update", "--promptguard-cache"], ["--promptguard-cache"], ["--promptguard-replay"]):
        result = run_with_reports(pytester, "--junitxml=out/junit.xml", "--promptguard-history=out/h.jsonl", *args)
        outputs.append(result.stdout.str() + result.stderr.str())
    assert any("[redacted]" in text for text in outputs)  # the echoed key was there to leak
    written = [p for p in pytester.path.rglob("*") if p.is_file() and not p.name.endswith((".py", ".pyc"))]
    assert any(p.name.endswith(".golden.yaml") for p in written) and any(".promptguard" in str(p) for p in written)
    for canary in canaries.values():
        for text in outputs:
            assert canary not in text
        for path in written:
            assert canary not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_figures_are_the_same_with_and_without_xdist(pytester, write, model_server, openai_config):
    openai_config(price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion(f"answer to {last_user_message(request)}", prompt_tokens=7, completion_tokens=3)
    )
    for name in ("a", "b", "c"):
        write(
            f"{name}.prompt.yaml",
            f"tags: [{name}]\ncases:\n"
            + "".join(
                f"  - {{id: c{i}, prompt: '{name}{i}', checks: [{{contains: '{name}{i if i % 4 else 99}'}}]}}\n"
                for i in range(8)
            ),
        )
    reports = {}
    for workers in ("0", "2"):
        pytester.runpytest(
            "--promptguard",
            "-n",
            workers,
            "-p",
            "no:cacheprovider",
            f"--promptguard-report=r{workers}.json",
            "--promptguard-repeat",
            "2",
        )
        reports[workers] = json.loads((pytester.path / f"r{workers}.json").read_text())

    def figures(report):
        timing = ("latency_p50_ms", "latency_p95_ms")  # wall times differ from run to run by nature
        groups = [{k: v for k, v in g.items() if k not in timing} for g in report["groups"] + [report["totals"]]]
        cases = sorted((c["path"], c["case"], c["outcome"], len(c["calls"]), c["pass_rate"]) for c in report["cases"])
        return groups, report["cost_by_tag"], cases

    assert figures(reports["0"]) == figures(reports["2"])
    assert reports["0"]["totals"]["timed_calls"] == reports["2"]["totals"]["timed_calls"] == 48
