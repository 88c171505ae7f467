"""The plugin behaves like any pytest plugin: opt-in, selectable, and correct under xdist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_promptguard.checks.registry import REGISTRY

from .docs_blocks import readme_commands

REPO = Path(__file__).resolve().parents[1]

SUITE = """
tags: [greeting]
cases:
  - id: hello
    prompt: "hello"
    checks: [{contains: "echo: hello"}]
  - id: bye
    prompt: "bye"
    tags: [farewell]
    checks: [{contains: "echo: bye"}]
  - id: wrong
    prompt: "wrong"
    checks: [{contains: "never"}]
  - id: later
    prompt: "later"
    skip: "not ready"
  - id: known-bad
    prompt: "known"
    xfail: "model cannot do this yet"
    checks: [{contains: "never"}]
"""


def test_without_the_flag_nothing_changes(pytester, write):
    write("broken.prompt.yaml", "cases: [this is not: valid")
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "prompt.yaml" not in result.stdout.str()
    assert "promptguard" not in result.stdout.str().split("plugins:")[1].split("\n", 1)[1]


def test_ordinary_tests_run_beside_suites(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=3, failed=1, skipped=1, xfailed=1)
    assert sorted(r["messages"][-1]["content"] for r in model_server.requests) == ["bye", "hello", "known", "wrong"]


def test_one_file_by_path_and_node_ids(pytester, write, model_server, openai_config):
    openai_config()
    write("suites/greet.prompt.yaml", SUITE)
    write("suites/other.prompt.yml", "cases: [{id: x, prompt: x, checks: [{contains: x}]}]")
    result = pytester.runpytest("--promptguard", "suites/greet.prompt.yaml", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["suites/greet.prompt.yaml::hello[[]fast[]]", "suites/greet.prompt.yaml::bye[[]fast[]]", "*5 tests collected*"]
    )
    result = pytester.runpytest("--promptguard", "suites", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["suites/other.prompt.yml::x[[]fast[]]"])
    assert model_server.requests == []  # listing items never calls a model


def test_promptguard_files_ini_option(pytester, write, model_server, openai_config):
    openai_config()
    pytester.makeini("[pytest]\npromptguard_files = *.llm.yaml\n")
    write("a.llm.yaml", "cases: [{id: x, prompt: x, checks: [{contains: x}]}]")
    write("b.prompt.yaml", "cases: [{id: y, prompt: y}]")
    result = pytester.runpytest("--promptguard", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["a.llm.yaml::x[[]fast[]]", "*1 test collected*"])


def test_k_and_m_select_and_deselected_items_are_never_called(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "-k", "hello or wrong")
    result.assert_outcomes(passed=1, failed=1)
    assert sorted(r["messages"][-1]["content"] for r in model_server.requests) == ["hello", "wrong"]
    model_server.requests.clear()
    result = pytester.runpytest("--promptguard", "-m", "farewell")
    result.assert_outcomes(passed=1)
    assert [r["messages"][-1]["content"] for r in model_server.requests] == ["bye"]
    result = pytester.runpytest("--promptguard", "-m", "greeting and not farewell", "-q")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)


def test_last_failed_reruns_only_failures(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard").assert_outcomes(passed=2, failed=1, skipped=1, xfailed=1)
    model_server.requests.clear()
    result = pytester.runpytest("--promptguard", "--lf")
    result.assert_outcomes(failed=1)
    assert [r["messages"][-1]["content"] for r in model_server.requests] == ["wrong"]


def test_exitfirst_stops_after_first_failure(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "-x")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == 1


def test_junitxml_lists_cases_with_properties(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--junitxml=out.xml")
    xml = (pytester.path / "out.xml").read_text()
    assert 'name="hello[fast]"' in xml and 'name="wrong[fast]"' in xml
    assert "<failure" in xml and 'name="promptguard_latency_p50_ms"' in xml


@pytest.mark.slow
def test_under_xdist(pytester, write, model_server, openai_config):
    openai_config()
    write("greet.prompt.yaml", SUITE)
    write(
        "more.prompt.yaml",
        "cases:\n" + "".join(f"  - {{id: c{i}, prompt: 'p{i}', checks: [{{contains: 'p{i}'}}]}}\n" for i in range(6)),
    )
    result = pytester.runpytest("--promptguard", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1, skipped=1, xfailed=1)
    # Every call made exactly once, and the controller's summary counts every case.
    prompts = sorted(r["messages"][-1]["content"] for r in model_server.requests)
    assert prompts == sorted(["hello", "bye", "wrong", "known"] + [f"p{i}" for i in range(6)])
    result.stdout.fnmatch_lines(["*promptguard*", "greet * fast * 4 * 2 * 1 * 0 *", "more * fast * 6 * 6 * 0 * 0 *"])


def test_readme_example_command_passes_offline(pytester, monkeypatch):
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    shutil.copytree(REPO / "examples", pytester.path / "examples")
    readme = readme_commands()[0].words()[-1]  # the README's first command, after its `pip install ... &&`
    assert readme[0] == "pytest" and "--promptguard-replay" in readme, readme
    live = [arg.replace("--promptguard-replay", "--promptguard-strict") for arg in readme]  # the example app, live
    for command in (readme, live):
        result = pytester.runpytest(*command[1:], "-p", "no:cacheprovider")
        result.assert_outcomes(passed=19)
        result.stdout.fnmatch_lines(
            [
                "*promptguard*",
                "order-extraction *",
                "support-agent *",
                "support-answers *",
                "ticket-extraction *",
                "ticket-triage *",
            ]
        )
        # The README's first command shows the two figures the tool is named for: latency and cost (a replay's
        # marked as the goldens recorded them).
        mark = "[*]" if command is readme else ""
        result.stdout.re_match_lines(
            [rf"total +19 +19 +0 +0 +0 +\d+{mark} +\d+{mark} +[\d,]+ +[\d,]+ +\$0\.0\d+{mark}$"]
        )


def test_ci_examples_use_real_options(pytester):
    """The workflows in examples/ci parse, and every promptguard option they pass exists."""
    import re

    import yaml

    help_text = pytester.runpytest("--help").stdout.str()
    for workflow in sorted((REPO / "examples" / "ci").glob("*.yml")):
        text = workflow.read_text()
        yaml.safe_load(text)
        flags = set(re.findall(r"--promptguard[a-z-]*", text))
        assert flags, workflow
        for flag in flags:
            assert flag in help_text, f"{workflow.name}: {flag}"


def test_a_bug_while_loading_one_suite_costs_that_suite_only(pytester, write, model_server, openai_config, monkeypatch):
    openai_config()
    # Run in-process, the conftest registers its check in this process's registry: for this test only.
    monkeypatch.setattr(REGISTRY, "_registered", dict(REGISTRY._registered))
    pytester.makeconftest(
        """
        from pytest_promptguard.checks.registry import register

        @register("explodes", {})
        def build(argument, context):
            raise RuntimeError("kaboom")
        """
    )
    write("bad.prompt.yaml", "cases: [{id: x, prompt: x, checks: [explodes]}]")
    write("good.prompt.yaml", "cases: [{id: y, prompt: y, checks: [{contains: y}]}]")
    result = pytester.runpytest("--promptguard", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*bad.prompt.yaml: loading the suite raised RuntimeError: kaboom (a promptguard bug: please report it)*"]
    )
    assert "INTERNALERROR" not in result.stdout.str()


def test_unknown_candidate_model_names_the_option(pytester, write, model_server, openai_config):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: x, prompt: x}]")
    result = pytester.runpytest("--promptguard", "--promptguard-candidate", "fast=fats")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "promptguard.yaml:4: --promptguard-candidate fast=fats: unknown model 'fats' (did you mean 'fast'?)",
            "  fix: define it under 'models' in promptguard.yaml*",
        ]
    )
    assert model_server.requests == []


def test_a_candidate_for_a_model_no_config_defines_is_a_usage_error(pytester, write, model_server, openai_config):
    openai_config(models={"big": {"provider": "openai", "model": "gpt-4o", "base_url": model_server.url}})
    write("s.prompt.yaml", "cases: [{id: x, prompt: x}]")
    result = pytester.runpytest("--promptguard", "--promptguard-candidate", "fats=big")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--promptguard-candidate fats=big: no promptguard.yaml of the collected suites defines that model "
        "(defined: big, fast); name a model the suites use" in result.stderr.str()
    )
    assert model_server.requests == []


def test_conflicting_options_are_usage_errors(pytester, write):
    write("s.prompt.yaml", "cases: [{id: x, prompt: x}]")
    for args, why in (
        (
            ["--promptguard-update", "--promptguard-replay"],
            "*records new goldens; --promptguard-replay only reads them*",
        ),
        (["--promptguard-candidate", "a=b", "--promptguard-replay"], "*calls the candidate model*"),
        (["--promptguard-update-baselines"], "*goes with --promptguard-update*"),
    ):
        result = pytester.runpytest("--promptguard", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: these options cannot be combined: {why}"])
