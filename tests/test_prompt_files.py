"""Prompts where the application keeps them: `{file: path}` at suite, case and message level, rendered with the
case's vars by `{{var}}` or (with `template: jinja2`) by Jinja's sandbox; the request carries the file's text, an
edit of the file makes the goldens stale, and every bad file is a clean collection error.

The broken files of the bad-input corpus (tests/corpus/bad/prompt-file-*) cover the usual mistakes one by one;
these tests run the plugin against the local model server."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from pytest_promptguard.config.loader import ConfigFinder
from pytest_promptguard.core.yamlsource import MAX_FILE_BYTES
from pytest_promptguard.suite.loader import load_suite

from .test_corpus import collection_error

REPO = Path(__file__).resolve().parent.parent
SUPPORT_MD = """\
You answer for {{company}}.
Be brief and friendly.
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--promptguard", *args)


def sent_messages(model_server) -> dict[str, list[dict]]:
    """The messages of every request the server got, keyed by the last message's text (calls run concurrently)."""
    return {request["messages"][-1]["content"]: request["messages"] for request in model_server.requests}


def error_of(result: pytest.RunResult, suite: str = "prompts/s.prompt.yaml") -> tuple[str, str]:
    """The first line of the suite's collection error, and its `fix:` line."""
    lines = collection_error(result, suite)
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    return lines[0], next(line for line in lines if line.startswith("  fix: "))


@pytest.fixture
def app(write):
    """The application's prompt file, app/prompts/support.md; the suites live in prompts/."""
    return write("app/prompts/support.md", SUPPORT_MD)


# --- where a prompt file may stand --------------------------------------------------------------------------


def test_a_suite_prompt_file_is_the_one_user_message_rendered_with_each_case_vars(
    pytester, write, model_server, openai_config, app
):
    openai_config()
    write(
        "prompts/s.prompt.yaml",
        """
        prompt: {file: ../app/prompts/support.md}
        vars: {company: Acme}
        cases:
          - id: acme
            checks: [{contains: "You answer for Acme."}]
          - id: globex
            vars: {company: Globex}
            checks: [{contains: "You answer for Globex."}]
    """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    requests = sorted((request["messages"] for request in model_server.requests), key=str)
    assert requests == [
        [{"role": "user", "content": "You answer for Acme.\nBe brief and friendly.\n"}],
        [{"role": "user", "content": "You answer for Globex.\nBe brief and friendly.\n"}],
    ]


def test_a_case_prompt_file_replaces_the_suite_prompt(pytester, write, model_server, openai_config, app):
    openai_config()
    write("prompts/other.md", "Summarise: {{text}}")
    write(
        "prompts/s.prompt.yaml",
        """
        prompt: "inline {{company}}"
        vars: {company: Acme, text: a long story}
        cases:
          - id: inline
          - id: from-file
            prompt: {file: other.md}
    """,
    )
    run(pytester).assert_outcomes(passed=2)
    assert set(sent_messages(model_server)) == {"inline Acme", "Summarise: a long story"}


def test_a_message_content_from_a_file_beside_inline_messages(pytester, write, model_server, openai_config, app):
    openai_config()
    write(
        "prompts/s.prompt.yaml",
        """
        vars: {company: Acme}
        prompt:
          - role: system
            content: {file: ../app/prompts/support.md}
          - {role: user, content: "{{question}}"}
        cases:
          - id: refund
            vars: {question: How long do I have to return an item?}
    """,
    )
    run(pytester).assert_outcomes(passed=1)
    assert sent_messages(model_server)["How long do I have to return an item?"] == [
        {"role": "system", "content": "You answer for Acme.\nBe brief and friendly.\n"},
        {"role": "user", "content": "How long do I have to return an item?"},
    ]


def test_the_prompt_shown_on_failure_is_the_rendered_file(pytester, write, model_server, openai_config, app):
    openai_config()
    write(
        "prompts/s.prompt.yaml",
        """
        prompt: {file: ../app/prompts/support.md}
        cases:
          - {id: a, vars: {company: Initech}, checks: [{contains: nowhere}]}
    """,
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*You answer for Initech.*"])


# --- goldens: an edit of the application's file makes them stale --------------------------------------------


def test_editing_the_prompt_file_marks_the_golden_stale_and_names_the_file(
    pytester, write, model_server, openai_config, app
):
    openai_config()
    write(
        "prompts/s.prompt.yaml",
        """
        vars: {company: Acme}
        prompt:
          - role: system
            content: {file: ../app/prompts/support.md}
          - {role: user, content: "Where is my order?"}
        cases:
          - {id: order, checks: [golden]}
    """,
    )
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    run(pytester).assert_outcomes(passed=1)  # unchanged: current

    app.write_text(SUPPORT_MD.replace("brief", "thorough"), encoding="utf-8")
    result = run(pytester)  # the same answer: only the application's prompt changed

    result.assert_outcomes(failed=1)
    stale = "prompt changed since the golden was recorded (its prompt comes from app/prompts/support.md)"
    result.stdout.fnmatch_lines([f"*✗ golden: {stale}; review the change, then re-record: *"])
    replayed = run(pytester, "--promptguard-replay")
    replayed.assert_outcomes(errors=1)
    replayed.stdout.fnmatch_lines([f"*cannot replay: {stale}; review the change*"])
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)  # re-recorded: current again
    run(pytester).assert_outcomes(passed=1)


def test_an_inline_prompt_stale_message_names_no_file(pytester, write, model_server, openai_config):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: a, prompt: hello, checks: [golden]}]")
    run(pytester, "--promptguard-update").assert_outcomes(passed=1)
    write("s.prompt.yaml", "cases: [{id: a, prompt: hello there, checks: [golden]}]")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    assert "prompt changed since the golden was recorded; review the change" in result.stdout.str()
    assert "its prompt comes from" not in result.stdout.str()


# --- jinja2 ---------------------------------------------------------------------------------------------------


ORDER_J2 = """\
You answer for {{ company }}.
{% if vip %}The customer is a VIP: be extra kind.
{% endif %}Their orders:
{% for order in orders %}- {{ order.id }}: {{ order.item | upper }}
{% endfor %}"""


def test_jinja2_renders_loops_conditionals_and_filters(pytester, write, model_server, openai_config):
    openai_config()
    write("app/prompts/orders.j2", ORDER_J2)
    write(
        "prompts/s.prompt.yaml",
        """
        vars: {company: Acme, vip: false}
        prompt:
          - role: system
            content: {file: ../app/prompts/orders.j2, template: jinja2}
          - {role: user, content: "{{question}}"}
        cases:
          - id: vip
            vars:
              vip: true
              question: Where are my orders?
              orders: [{id: 1, item: lamp}, {id: 2, item: desk}]
          - id: regular
            vars: {question: Anything for me?, orders: []}
    """,
    )
    run(pytester).assert_outcomes(passed=2)
    sent = sent_messages(model_server)
    assert sent["Where are my orders?"][0]["content"] == (
        "You answer for Acme.\nThe customer is a VIP: be extra kind.\nTheir orders:\n- 1: LAMP\n- 2: DESK\n"
    )
    assert sent["Anything for me?"][0]["content"] == "You answer for Acme.\nTheir orders:\n"


def test_jinja2_includes_are_looked_up_beside_the_prompt_file(pytester, write, model_server, openai_config):
    openai_config()
    write("app/prompts/partials/tone.j2", "Be {{ tone }}.")
    write("app/prompts/support.j2", 'You answer for Acme. {% include "partials/tone.j2" %}')
    write(
        "prompts/s.prompt.yaml",
        """
        prompt: {file: ../app/prompts/support.j2, template: jinja2}
        cases: [{id: a, vars: {tone: calm}}]
    """,
    )
    run(pytester).assert_outcomes(passed=1)
    assert set(sent_messages(model_server)) == {"You answer for Acme. Be calm."}


def test_jinja2_undefined_variable_names_the_template_line(pytester, write, openai_config):
    openai_config()
    write("app/prompts/orders.j2", ORDER_J2)
    write(
        "prompts/s.prompt.yaml",
        """
        prompt:
          file: ../app/prompts/orders.j2
          template: jinja2
        cases:
          - {id: a, vars: {company: Acme, vip: true, order: []}}
    """,
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    first, fix = error_of(result)
    assert first == (
        "prompts/s.prompt.yaml:2: case 'a': prompt file ../app/prompts/orders.j2, line 4: undefined variable "
        "'orders' in the Jinja template (did you mean 'order'?)"
    )
    assert fix == "  fix: define 'orders' under 'vars' in the case or the suite (defined: company, order, vip)"


def test_jinja2_undefined_variable_in_an_included_template_names_that_file(pytester, write, openai_config):
    openai_config()
    write("app/prompts/partials/tone.j2", "Sign as:\n{{ agent }}")
    write("app/prompts/support.j2", '{% include "partials/tone.j2" %}')
    write("prompts/s.prompt.yaml", "prompt: {file: ../app/prompts/support.j2, template: jinja2}\ncases: [{id: a}]\n")
    first, _ = error_of(run(pytester))
    assert first.startswith(
        "prompts/s.prompt.yaml:1: case 'a': prompt file ../app/prompts/support.j2, in app/prompts/partials/tone.j2, "
        "line 2: undefined variable 'agent'"
    )


def test_jinja2_syntax_error_names_the_template_line(pytester, write, openai_config):
    openai_config()
    write("app/prompts/broken.j2", "Hello.\n\n{% for x in items %}{{ x }}\n")
    write(
        "prompts/s.prompt.yaml",
        """
        cases:
          - id: a
            prompt: {file: ../app/prompts/broken.j2, template: jinja2}
    """,
    )
    first, fix = error_of(run(pytester))
    assert first.startswith(
        "prompts/s.prompt.yaml:3: case 'a': prompt file ../app/prompts/broken.j2, line 3: "
        "Jinja syntax error: Unexpected end of template"
    ), first
    assert fix == "  fix: fix the template's syntax at that line"


def test_jinja2_runs_sandboxed(pytester, write, openai_config):
    openai_config()
    write("app/prompts/evil.j2", "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    write("prompts/s.prompt.yaml", "prompt: {file: ../app/prompts/evil.j2, template: jinja2}\ncases: [{id: a}]\n")
    first, fix = error_of(run(pytester))
    assert "prompt file ../app/prompts/evil.j2, line 1: " in first and "unsafe" in first, first
    assert "sandboxed" in fix


def test_a_jinja2_include_outside_the_repository_is_refused(pytester, write, openai_config):
    openai_config()
    write("app/prompts/support.j2", '{% include "../../../secret.txt" %}')
    write("prompts/s.prompt.yaml", "prompt: {file: ../app/prompts/support.j2, template: jinja2}\ncases: [{id: a}]\n")
    first, fix = error_of(run(pytester))
    assert (
        "prompt file ../app/prompts/support.j2, line 1: template ../../../secret.txt is outside the repository" in first
    ), first
    assert "keep templates inside the repository" in fix


def test_jinja2_not_installed_says_to_install_the_extra(pytester, write, openai_config, monkeypatch):
    openai_config()
    write("app/prompts/support.j2", "Hello {{ name }}")
    write(
        "prompts/s.prompt.yaml",
        """
        cases:
          - id: a
            vars: {name: Ada}
            prompt:
              file: ../app/prompts/support.j2
              template: jinja2
    """,
    )
    monkeypatch.setitem(sys.modules, "jinja2", None)  # `import jinja2` now fails as if it were not installed
    monkeypatch.setitem(sys.modules, "jinja2.sandbox", None)
    first, fix = error_of(run(pytester))
    assert (
        first == "prompts/s.prompt.yaml:6: case 'a': template: jinja2 needs the jinja2 package, which is not installed"
    )
    assert fix == "  fix: install the extra: pip install 'pytest-promptguard[jinja2]'"


def test_without_template_jinja2_a_prompt_file_is_not_read_as_jinja(pytester, write, model_server, openai_config):
    openai_config()
    write("app/prompts/literal.md", "Reply with {% raw %} and {{name}}.")
    write("prompts/s.prompt.yaml", "prompt: {file: ../app/prompts/literal.md}\ncases: [{id: a, vars: {name: Ada}}]\n")
    run(pytester).assert_outcomes(passed=1)
    assert set(sent_messages(model_server)) == {"Reply with {% raw %} and Ada."}


# --- which files may be read ------------------------------------------------------------------------------


def test_an_undefined_variable_in_a_prompt_file_names_its_line(pytester, write, openai_config, app):
    openai_config()
    write(
        "prompts/s.prompt.yaml",
        """
        cases:
          - id: a
            vars: {compnay: Acme}
            prompt: {file: ../app/prompts/support.md}
    """,
    )
    first, fix = error_of(run(pytester))
    assert first == (
        "prompts/s.prompt.yaml:4: case 'a': prompt file ../app/prompts/support.md, line 1: undefined "
        "variable {{company}} (did you mean 'compnay'?)"
    )
    assert fix == "  fix: define 'company' under 'vars' in the case or the suite (defined: compnay)"


def test_a_prompt_file_outside_the_repository_is_refused_even_through_a_symlink(
    pytester, write, openai_config, tmp_path_factory
):
    openai_config()
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.md"
    secret.write_text("a secret", encoding="utf-8")
    (pytester.path / "app").mkdir()
    os.symlink(secret, pytester.path / "app" / "linked.md")
    write("prompts/s.prompt.yaml", "cases:\n  - {id: a, prompt: {file: ../app/linked.md}}\n")
    first, fix = error_of(run(pytester))
    assert first.startswith(
        "prompts/s.prompt.yaml:2: case 'a': prompt file ../app/linked.md is outside the repository "
        f"(it resolves to {secret.resolve()}"
    ), first
    assert fix == "  fix: keep prompt files inside the repository and give their path relative to the suite file"


def test_a_prompt_file_that_is_a_folder_is_not_found(pytester, write, openai_config):
    openai_config()
    (pytester.path / "app" / "prompts").mkdir(parents=True)
    write("prompts/s.prompt.yaml", "cases:\n  - {id: a, prompt: {file: ../app/prompts}}\n")
    first, fix = error_of(run(pytester))
    assert first.startswith("prompts/s.prompt.yaml:2: case 'a': prompt file ../app/prompts not found (looked at "), (
        first
    )
    assert fix == "  fix: give its path relative to the suite file: prompt: {file: path}"


def test_a_prompt_file_over_the_size_limit_is_refused(pytester, write, openai_config):
    openai_config()
    big = pytester.path / "app" / "big.md"
    big.parent.mkdir()
    big.write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    write("prompts/s.prompt.yaml", "prompt: {file: ../app/big.md}\ncases: [{id: a}]\n")
    first, fix = error_of(run(pytester))
    assert first == (
        "prompts/s.prompt.yaml:1: case 'a': prompt file ../app/big.md: file of 10,485,761 bytes is larger "
        "than the limit of 10 MiB"
    )
    assert fix == "  fix: split it into several smaller files"


def test_a_bad_prompt_file_fails_only_its_own_suite(pytester, write, model_server, openai_config):
    openai_config()
    write("prompts/s.prompt.yaml", "prompt: {file: missing.md}\ncases: [{id: a}]\n")
    write("prompts/good.prompt.yaml", "cases: [{id: b, prompt: hello}]\n")
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    first, _ = error_of(result)
    assert first.startswith("prompts/s.prompt.yaml:1: case 'a': prompt file missing.md not found")


def test_a_misspelt_file_key_suggests_the_right_one(pytester, write, openai_config):
    openai_config()
    write("prompts/s.prompt.yaml", "cases:\n  - id: a\n    prompt: {fiel: x.md}\n")
    first, fix = error_of(run(pytester))
    assert first == "prompts/s.prompt.yaml:3: case 'a': unknown key 'fiel' at 'cases[0].prompt' (did you mean 'file'?)"
    assert fix == "  fix: use one of: file, template"


# --- the example ------------------------------------------------------------------------------------------


def test_the_example_suite_sends_the_system_prompt_the_example_app_sends() -> None:
    """examples/prompts/support.prompt.yaml tests the support bot's own prompt file, not a copy of it."""
    spec = importlib.util.spec_from_file_location("example_support", REPO / "examples/app/acme/support.py")
    assert spec is not None and spec.loader is not None
    support = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    path = REPO / "examples/prompts/support.prompt.yaml"
    suite = load_suite(path, ConfigFinder(REPO).for_suite(path))
    assert {case.messages[0]["content"] for case in suite.cases} == {support.system_prompt("Acme")}
    assert {case.prompt_files for case in suite.cases} == {("examples/app/acme/prompts/support.md",)}
