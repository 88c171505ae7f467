"""The sharp edges a new user meets (issue 18): what cannot heal is not retried, an Anthropic base URL works with or
without `/v1`, and a run that could not measure (an outage) is told apart from one that drifted.

The configuration mistakes caught at load (base_url, model references, templates) are cases of the bad-input corpus
(tests/corpus/bad/config-base-url-*, config-*-model-unknown, template-*).
"""

from __future__ import annotations

import json
from importlib import resources

import httpx
import jsonschema
import pytest

from pytest_promptguard.call.scheduler import Scheduler
from pytest_promptguard.config.loader import ModelSpec
from pytest_promptguard.providers import make_provider
from pytest_promptguard.providers.anthropic import messages_url
from pytest_promptguard.providers.http import can_heal

from .servers import Reply, anthropic_message, chat_completion

# --- what is retried -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "heals"),
    [
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("garbage"), True),
        (httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."), False),
        (httpx.InvalidURL("Invalid non-printable ASCII character in URL"), False),
    ],
)
def test_one_predicate_says_what_may_heal(failure, heals):
    assert can_heal(failure) is heals


def ask(spec: ModelSpec) -> list:
    scheduler = Scheduler(concurrency=4)
    try:
        provider = make_provider(spec)
        scheduler.submit("k", provider, spec.request(({"role": "user", "content": "hi"},)), samples=1)
        return scheduler.calls("k")
    finally:
        scheduler.close()


def openai_spec(base_url: str) -> ModelSpec:
    return ModelSpec(name="m", provider="openai", model="gpt-4o-mini", base_url=base_url, retries=3, max_backoff_s=0.01)


@pytest.mark.parametrize(("status", "attempts"), [(400, 1), (404, 1), (422, 1), (408, 4), (409, 4), (429, 4), (503, 4)])
def test_a_client_error_is_sent_once_and_a_passing_one_until_the_retries_run_out(model_server, status, attempts):
    model_server.responder = lambda request, headers: Reply(status=status, body={"error": {"message": "no"}})
    (call,) = ask(openai_spec(model_server.url))
    assert len(model_server.requests) == attempts and call.attempts == attempts
    assert (call.error.status, call.error.transient) == (status, attempts > 1)


def test_a_url_that_cannot_be_sent_to_is_not_retried():
    """The load refuses such a base_url (corpus: config-base-url-*); a spec built by hand still never retries it."""
    (call,) = ask(openai_spec("ftp://127.0.0.1/v1"))
    assert call.attempts == 1 and call.error.kind == "config" and not call.error.transient
    assert "cannot send a request to ftp://127.0.0.1/v1/chat/completions" in call.error.message
    assert "not retried: correct the model's base_url" in call.error.message


# --- the Anthropic base URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/v1", "/"])
def test_the_anthropic_base_url_works_with_or_without_v1(model_server, suffix):
    model_server.responder = lambda request, headers: Reply(body=anthropic_message("hello"))
    spec = ModelSpec(
        name="c", provider="anthropic", model="claude-x", base_url=(model_server.root + suffix).rstrip("/")
    )
    (call,) = ask(spec)
    assert call.error is None and call.text == "hello"
    assert model_server.paths == ["/v1/messages"]


def test_the_anthropic_messages_url_as_the_sdk_and_as_promptguard_write_it():
    assert messages_url("https://api.anthropic.com") == "https://api.anthropic.com/v1/messages"
    assert messages_url("https://api.anthropic.com/v1") == "https://api.anthropic.com/v1/messages"
    assert messages_url("https://proxy.example/anthropic") == "https://proxy.example/anthropic/v1/messages"


# --- outage or drift -------------------------------------------------------------------------------------------

SUITE = """
cases:
  - {id: up, prompt: up, checks: [{contains: up}]}
  - {id: down, prompt: down, checks: [{contains: down}]}
"""
LINE = "could not measure: 1 case failed for provider errors that may pass (1 HTTP 503) and nothing else"


@pytest.fixture
def outage(write, model_server, openai_config):
    """`down` answers HTTP 503 on every attempt (3 attempts); `up` answers."""
    openai_config(retries=2)

    def respond(request, headers):
        if request["messages"][-1]["content"] == "down":
            return Reply(status=503, body={"error": {"message": "overloaded"}})
        return Reply(body=chat_completion("up"))

    model_server.responder = respond
    write("s.prompt.yaml", SUITE)


def test_an_outage_exits_with_the_status_asked_for_and_every_report_says_so(pytester, outage):
    result = pytester.runpytest(
        "--promptguard",
        "--promptguard-outage-exit-code=75",
        "--promptguard-report=r.json",
        "--promptguard-md=r.md",
        "--promptguard-html=r.html",
    )
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == 75
    result.stdout.fnmatch_lines([LINE + "*", "*exit status 75: an outage (--promptguard-outage-exit-code)"])
    report = json.loads((pytester.path / "r.json").read_text())
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["outage"] == {"errors": 1, "causes": {"HTTP 503": 1}}
    down = next(case for case in report["cases"] if case["case"] == "down")
    assert down["calls"][0]["error"]["transient"] is True and down["calls"][0]["attempts"] == 3
    assert LINE in (pytester.path / "r.md").read_text() and LINE in (pytester.path / "r.html").read_text()


def test_without_the_option_an_outage_fails_as_before_and_still_says_so(pytester, outage):
    result = pytester.runpytest("--promptguard", "-q")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([LINE + "*"])
    assert "exit status" not in result.stdout.str()


def test_the_ini_option_sets_the_status_and_the_command_line_overrides_it(pytester, outage):
    pytester.makeini("[pytest]\npromptguard_outage_exit_code = 75\n")
    assert pytester.runpytest("--promptguard").ret == 75
    assert pytester.runpytest("--promptguard", "--promptguard-outage-exit-code=99").ret == 99


def test_a_drift_or_any_other_failure_beside_the_outage_fails_the_run(pytester, write, outage):
    write("s.prompt.yaml", SUITE.replace("checks: [{contains: up}]", "checks: [{contains: never}]"))
    result = pytester.runpytest("--promptguard", "--promptguard-outage-exit-code=75")
    result.assert_outcomes(failed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "could not measure" not in result.stdout.str()
    write("s.prompt.yaml", SUITE)
    write("test_other.py", "def test_app(): assert False\n")
    result = pytester.runpytest("--promptguard", "--promptguard-outage-exit-code=75")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # a failing test of the application is no outage


def test_an_error_that_needs_a_person_is_no_outage(pytester, write, model_server, openai_config):
    openai_config()
    model_server.responder = lambda request, headers: Reply(status=401, body={"error": {"message": "bad key"}})
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--promptguard-outage-exit-code=75")
    result.assert_outcomes(errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "could not measure" not in result.stdout.str()


@pytest.mark.parametrize("value", ["0", "1", "5", "256", "soon"])
def test_an_outage_status_pytest_uses_or_no_shell_can_see_is_a_usage_error(pytester, outage, value):
    result = pytester.runpytest("--promptguard", f"--promptguard-outage-exit-code={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "is no exit status of 6-255 (pytest's own are 0-5); 75 (EX_TEMPFAIL)" in result.stderr.str()
