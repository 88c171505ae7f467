"""Which promptguard.yaml applies to a suite, what it may say, and which models a case runs on."""

from __future__ import annotations

import pytest

# A `python` model that says who it is: `callable: pg_models:<name>`.
MODELS = """
def top(messages, params):
    return "top answers " + messages[-1]["content"]

def team(messages, params):
    return "team answers " + messages[-1]["content"]

def override(messages, params):
    return "override answers " + messages[-1]["content"]
"""


def python_config(pythonpath: str = ".", module: str = "pg_models", **models: str) -> str:
    """A promptguard.yaml with `python` models `name=function` calling `<module>:<function>`; the first is the
    default."""
    entries = "".join(
        f"  {name}:\n    provider: python\n    callable: {module}:{function}\n" for name, function in models.items()
    )
    return f"pythonpath: [{pythonpath}]\ndefault_models: [{next(iter(models))}]\nmodels:\n{entries}"


def suite(expected: str) -> str:
    return f"""
    cases:
      - id: ask
        prompt: hi
        checks:
          - equals: {expected} answers hi
    """


def first_error_line(result: pytest.RunResult, suite_path: str) -> str:
    lines = result.stdout.lines
    header = next(i for i, line in enumerate(lines) if line.strip("_ ") == f"ERROR collecting {suite_path}")
    return lines[header + 1]


def test_nearest_config_wins(pytester, write):
    write("pg_models.py", MODELS)
    write("promptguard.yaml", python_config(bot="top"))
    write("team/promptguard.yaml", python_config("..", bot="team"))  # the same model name, another model
    write("a.prompt.yaml", suite("top"))
    write("team/b.prompt.yaml", suite("team"))
    write("team/deeper/c.prompt.yaml", suite("team"))  # no config in deeper/: team/'s is the nearest
    result = pytester.runpytest("--promptguard", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "a.prompt.yaml::ask[[]bot[]] PASSED*",
            "team/b.prompt.yaml::ask[[]bot[]] PASSED*",
            "team/deeper/c.prompt.yaml::ask[[]bot[]] PASSED*",
        ]
    )


def test_config_above_rootdir_is_ignored(pytester, write):
    write("pg_models.py", MODELS)
    write("promptguard.yaml", python_config(top="top"))
    write("proj/s.prompt.yaml", suite("top"))

    pytester.runpytest("--promptguard", "proj").assert_outcomes(passed=1)  # rootdir is pytester.path: found

    write("proj/pytest.ini", "[pytest]\n")  # now rootdir is proj/, below the config
    result = pytester.runpytest("--promptguard", "proj")
    result.stdout.fnmatch_lines(["rootdir: */proj*"])
    result.assert_outcomes(errors=1)
    assert first_error_line(result, "s.prompt.yaml") == (
        "proj/s.prompt.yaml:2: case 'ask': no model to run against: no promptguard.yaml found"
    )
    result.stdout.fnmatch_lines(["  fix: create promptguard.yaml beside the suite*--promptguard-config PATH"])


def test_rootdir_option_bounds_the_search_too(pytester, write):
    write("pg_models.py", MODELS)
    write("promptguard.yaml", python_config(top="top"))
    write("proj/s.prompt.yaml", suite("top"))
    result = pytester.runpytest("--promptguard", f"--rootdir={pytester.path / 'proj'}", "proj")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no model to run against: no promptguard.yaml found*"])


def test_config_option_overrides_the_nearest(pytester, write):
    write("pg_models.py", MODELS)
    write("promptguard.yaml", python_config(bot="top"))
    write("team/promptguard.yaml", python_config("..", bot="team"))
    # any file name; its pythonpath is relative to the file itself
    write("ci/models/pg_ci_models.py", MODELS)
    write("ci/promptguard-ci.yaml", python_config("models", module="pg_ci_models", bot="override"))
    write("a.prompt.yaml", suite("override"))
    write("team/b.prompt.yaml", suite("override"))
    result = pytester.runpytest("--promptguard", "--promptguard-config", "ci/promptguard-ci.yaml")
    result.assert_outcomes(passed=2)


def test_missing_config_option_file_is_a_clear_error(pytester, write):
    write("s.prompt.yaml", suite("top"))
    result = pytester.runpytest("--promptguard", "--promptguard-config", "ci/nope.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --promptguard-config ci/nope.yaml: no such file; pass the path of a promptguard.yaml*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("config", "models", "expected", "fix"),
    [
        (
            None,
            "",
            "s.prompt.yaml:2: case 'ask': no model to run against: no promptguard.yaml found",
            "  fix: create promptguard.yaml beside the suite (or above it, up to the rootdir)*--promptguard-config*",
        ),
        (
            None,
            "models: [gpt]\n",
            "s.prompt.yaml:1: case 'ask': unknown model 'gpt': no promptguard.yaml found",
            "  fix: create promptguard.yaml beside the suite (or above it)*--promptguard-config PATH",
        ),
        (
            "# nothing here yet\n",
            "",
            "s.prompt.yaml:2: case 'ask': no model to run against",
            "  fix: name models under 'models' in the suite, or set 'default_models' in promptguard.yaml",
        ),
    ],
    ids=["no-config", "no-config-named-model", "empty-config"],
)
def test_no_usable_config_says_how_to_fix_it(pytester, write, config, models, expected, fix):
    if config is not None:
        write("promptguard.yaml", config)
    write("s.prompt.yaml", models + "cases:\n  - id: ask\n    prompt: hi\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert first_error_line(result, "s.prompt.yaml") == expected
    result.stdout.fnmatch_lines([fix])
    assert "Traceback" not in result.stdout.str()


def test_default_models_in_config_naming_an_undefined_model(pytester, write):
    write("pg_models.py", MODELS)
    write("promptguard.yaml", python_config(top="top").replace("default_models: [top]", "default_models: [tpo]"))
    write("s.prompt.yaml", suite("top"))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert (
        first_error_line(result, "s.prompt.yaml")
        == "promptguard.yaml:2: default_models: unknown model 'tpo' (did you mean 'top'?)"
    )
    result.stdout.fnmatch_lines(["  fix: define it under 'models' in promptguard.yaml (defined there: top)"])


ENV_CONFIG = """
default_models: [remote]
models:
  remote:
    provider: openai
    model: ${PG_TEST_MODEL:-gpt-4o-mini}
    base_url: ${PG_TEST_BASE_URL}
    timeout_s: 5
    params:
      user: team-${PG_TEST_TEAM:-core}-${PG_TEST_STAGE}
      temperature: 0
  unused:
    provider: openai
    model: m
    base_url: ${PG_TEST_NEVER_SET}
"""


@pytest.mark.parametrize(
    ("env", "model", "user"),
    [
        ({}, "gpt-4o-mini", "team-core-nightly"),
        ({"PG_TEST_MODEL": "llama3", "PG_TEST_TEAM": "search"}, "llama3", "team-search-nightly"),
        ({"PG_TEST_MODEL": "", "PG_TEST_TEAM": ""}, "gpt-4o-mini", "team-core-nightly"),  # empty: as in the shell
    ],
    ids=["defaults", "set", "empty"],
)
def test_env_references_are_interpolated(pytester, write, model_server, monkeypatch, env, model, user):
    for name in ("PG_TEST_MODEL", "PG_TEST_TEAM", "PG_TEST_NEVER_SET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PG_TEST_BASE_URL", model_server.url)
    monkeypatch.setenv("PG_TEST_STAGE", "nightly")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    write("promptguard.yaml", ENV_CONFIG)
    write("s.prompt.yaml", "cases:\n  - id: ask\n    prompt: hi\n    checks: [{contains: 'echo: hi'}]\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1)  # the unused model's unset variable does not matter
    assert model_server.requests == [
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "user": user, "temperature": 0}
    ]


def test_unset_env_reference_without_default_names_variable_and_line(pytester, write, model_server, monkeypatch):
    monkeypatch.delenv("PG_TEST_STAGE", raising=False)
    monkeypatch.setenv("PG_TEST_BASE_URL", model_server.url)
    write("promptguard.yaml", ENV_CONFIG)
    write("s.prompt.yaml", "cases:\n  - id: ask\n    prompt: hi\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    lines = (pytester.path / "promptguard.yaml").read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "${PG_TEST_STAGE}" in text)
    assert first_error_line(result, "s.prompt.yaml") == (
        f"promptguard.yaml:{line}: environment variable PG_TEST_STAGE is not set (used as ${{PG_TEST_STAGE}})"
    )
    result.stdout.fnmatch_lines(["  fix: export PG_TEST_STAGE, or give a default: ${PG_TEST_STAGE:-value}"])
    assert model_server.requests == []


def test_pythonpath_is_relative_to_the_config(pytester, write):
    write("proj/lib/pg_app/__init__.py", "")
    write(
        "proj/lib/pg_app/bot.py",
        """
        def answer(messages, params):
            return "Thanks for asking: " + messages[-1]["content"]
        """,
    )
    write(
        "proj/lib/pg_app_checks.py",
        """
        def polite(output, case):
            return output.startswith("Thanks"), "says thanks first"
        """,
    )
    write(
        "proj/promptguard.yaml",
        """
        pythonpath: [lib]
        default_models: [app]
        models:
          app:
            provider: python
            callable: pg_app.bot:answer
        """,
    )
    write(
        "proj/suites/s.prompt.yaml",
        """
        cases:
          - id: ask
            prompt: where is my order?
            checks:
              - python: pg_app_checks:polite
              - equals: "Thanks for asking: where is my order?"
        """,
    )
    pytester.runpytest("--promptguard").assert_outcomes(passed=1)


def test_callable_outside_pythonpath_cannot_import(pytester, write):
    write("proj/lib/pg_app2/__init__.py", "")
    write("proj/lib/pg_app2/bot.py", "def answer(messages, params):\n    return 'hi'\n")
    write(
        "proj/promptguard.yaml",
        """
        default_models: [app]
        models:
          app:
            provider: python
            callable: pg_app2.bot:answer
        """,
    )
    write("proj/s.prompt.yaml", "cases:\n  - id: ask\n    prompt: hi\n")
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    assert first_error_line(result, "proj/s.prompt.yaml").startswith(
        "proj/promptguard.yaml:5: cannot import 'pg_app2.bot' for callable 'pg_app2.bot:answer'"
    )
    result.stdout.fnmatch_lines(["  fix: *add its folder to 'pythonpath' in promptguard.yaml"])


PRECEDENCE_MODELS = """
from pathlib import Path

def answer(messages, params):
    with Path("calls.log").open("a") as log:
        log.write(f"{params['who']} {messages[-1]['content']}\\n")
    return "ok"
"""

PRECEDENCE_CONFIG = """
pythonpath: [.]
default_models: [a]
models:
  a: {provider: python, callable: pg_who:answer, params: {who: a}}
  b: {provider: python, callable: pg_who:answer, params: {who: b}}
  c: {provider: python, callable: pg_who:answer, params: {who: c}}
"""


def test_case_models_over_suite_models_over_default_models(pytester, write):
    write("pg_who.py", PRECEDENCE_MODELS)
    write("promptguard.yaml", PRECEDENCE_CONFIG)
    write(
        "defaults.prompt.yaml",
        """
        cases:
          - id: x
            prompt: from-defaults
        """,
    )
    write(
        "named.prompt.yaml",
        """
        models: [b]
        cases:
          - id: y
            prompt: from-suite
          - id: z
            prompt: from-case
            models: [a, c]
        """,
    )
    result = pytester.runpytest("--promptguard", "-v")
    result.assert_outcomes(passed=4)
    ran = [line.split()[0] for line in result.stdout.lines if " PASSED" in line]
    assert ran == [
        "defaults.prompt.yaml::x[a]",
        "named.prompt.yaml::y[b]",
        "named.prompt.yaml::z[a]",
        "named.prompt.yaml::z[c]",
    ]
    calls = sorted((pytester.path / "calls.log").read_text().splitlines())
    assert calls == ["a from-case", "a from-defaults", "b from-suite", "c from-case"]


def test_keyword_selects_an_item_by_model(pytester, write):
    write("pg_who.py", PRECEDENCE_MODELS)
    write("promptguard.yaml", PRECEDENCE_CONFIG)
    write("s.prompt.yaml", "cases:\n  - id: z\n    prompt: hi\n    models: [a, c]\n")
    result = pytester.runpytest("--promptguard", "-k", "z and c", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    assert (pytester.path / "calls.log").read_text() == "c hi\n"
