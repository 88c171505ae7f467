"""Bad input is a collection error naming the file, the line and the fix: never a traceback, and other suites run.

Every broken file marks the line the error must point at with `# <-`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

STUB = """
def echo(messages, params):
    return "echo: " + messages[-1]["content"]
"""

CONFIG = """
pythonpath: [.]
default_models: [echo]
models:
  echo:
    provider: python
    callable: pg_stub:echo
  ghost:
    provider: python
    callable: no_such_module:reply  # <- ghost
  hollow:
    provider: python
    callable: pg_stub:no_such_function  # <- hollow
  remote:
    provider: openai
    model: gpt-4o-mini
    base_url: ${PG_TEST_UNSET_BASE_URL}  # <- remote
"""

GOOD = """
cases:
  - id: hello
    prompt: "hello"
    checks:
      - contains: "echo: hello"
  - id: bye
    prompt: "bye"
    checks:
      - equals: "echo: bye"
"""

MARK = "# <-"


@dataclass
class Broken:
    text: str  # the broken suite, broken.prompt.yaml (or sub/broken.prompt.yaml when `files` holds sub/)
    words: list[str]  # in the error's first line
    fix: str  # in its `fix:` line
    case: str | None = None  # the case the error names
    where: str = "broken.prompt.yaml"  # the file the error points into: it holds the `# <-` mark ...
    mark: str = MARK  # ... this one
    line: int | None = None  # or the line is given here
    files: dict[str, str] = field(default_factory=dict)
    suite: str = "broken.prompt.yaml"


BROKEN = {
    # YAML syntax
    "unterminated-quote": Broken(
        """
        cases:
          - id: a
            prompt: "hello  # <-
        """,
        ["invalid YAML", "quoted scalar", "end of stream"],
        "close the quote opened at line 3",
    ),
    "colon-in-plain-value": Broken(
        """
        cases:
          - id: a
            prompt: Answer: yes or no  # <-
        """,
        ["invalid YAML", "mapping values are not allowed here"],
        "quote a value that contains ': '",
    ),
    "tab-indent": Broken(
        "cases:\n  - id: a\n\tprompt: hello  # <-\n",
        ["invalid YAML", "found character '\\t' that cannot start any token"],
        "indent with spaces",
    ),
    "control-character": Broken(
        'cases:\n  - id: a\n    prompt: "ring \x07"  # <-\n',
        ["invalid YAML", "unacceptable character '\\x07'"],
        "remove it, or write it as an escape",
    ),
    "duplicate-yaml-key": Broken(
        """
        cases:
          - id: a
            prompt: hello
            prompt: goodbye  # <-
        """,
        ["duplicate key 'prompt'", "first at line 3"],
        "remove one of them",
    ),
    # the suite schema
    "empty-file": Broken("", ["the suite is empty"], "add 'cases:'", line=1),
    "unknown-key": Broken(
        """
        cases:
          - id: fine
            prompt: hello
          - id: a
            prompt: hello
            chekcs:  # <-
              - contains: hello
        """,
        ["unknown key 'chekcs'", "cases[1]", "(did you mean 'checks'?)"],
        "use one of: checks,",
        case="a",
    ),
    "cases-wrong-type": Broken(
        """
        name: typed
        cases: 3  # <-
        """,
        ["'cases' must be a list, not a number"],
        "add at least one case",
    ),
    "no-cases": Broken(
        """
        prompt: hello  # <-
        """,
        ["'cases' is required"],
        "add 'cases'",
    ),
    "case-without-id": Broken(
        """
        prompt: hello
        cases:
          - id: fine
          - vars: {x: 1}  # <-
        """,
        ["'id' is required", "cases[1]"],
        "add 'id'",
    ),
    "case-id-with-space": Broken(
        """
        prompt: hello
        cases:
          - id: fine
          - id: my case  # <-
        """,
        ["'my case'", "cases[1].id", "does not match"],
        "case ids use letters, digits",
    ),
    "unknown-role": Broken(
        """
        cases:
          - id: a
            prompt:
              - {role: system, content: Be brief.}
              - {role: usr, content: hello}  # <-
        """,
        ["'usr'", "is not allowed", "(did you mean 'user'?)"],
        "use one of: system, user, assistant",
        case="a",
    ),
    "check-with-two-names": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - {contains: hello, regex: hel+o}  # <-
        """,
        ["too many properties", "cases[0].checks[0]"],
        "a check:",
        case="a",
    ),
    # what the suite refers to
    "unknown-check": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - contains: hello
              - containz: hello  # <-
        """,
        ["unknown check 'containz'", "(did you mean 'contains'?)"],
        "use one of:",
        case="a",
    ),
    "unknown-model": Broken(
        """
        prompt: hello
        cases:
          - id: fine
          - id: a
            models: [ecko]  # <-
        """,
        ["unknown model 'ecko'", "(did you mean 'echo'?)"],
        "define it under 'models' in promptguard.yaml (defined there: echo, ghost, hollow, remote)",
        case="a",
    ),
    "undefined-variable": Broken(
        """
        vars: {name: Ada}
        cases:
          - id: a
            prompt: "Hello {{nmae}}"  # <-
        """,
        ["undefined variable {{nmae}}", "(did you mean 'name'?)"],
        "define 'nmae' under 'vars' in the case or the suite (defined: name)",
        case="a",
    ),
    "undefined-variable-in-a-message": Broken(
        """
        prompt:
          - {role: system, content: "You help {{company}}."}
          - {role: user, content: "{{question}}"}  # <-
        vars: {company: Acme}
        cases:
          - id: a
            vars: {questoin: "Where is my order?"}
        """,
        ["undefined variable {{question}}", "(did you mean 'questoin'?)"],
        "define 'question' under 'vars'",
        case="a",
    ),
    "variable-names-that-are-not-strings": Broken(
        """
        vars: {1: one}
        cases:
          - id: a
            prompt: "{{one}}"  # <-
        """,
        ["undefined variable {{one}}"],
        "(defined: 1)",
        case="a",
    ),
    "duplicate-case-id": Broken(
        """
        prompt: hello
        cases:
          - id: a
          - id: b
          - id: a  # <-
        """,
        ["duplicate case id 'a'", "first at line 3"],
        "give every case a unique id",
    ),
    "missing-schema-file": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - json_schema: schemas/order.schema.json  # <-
        """,
        ["schema file schemas/order.schema.json not found"],
        "relative to the suite file",
        case="a",
    ),
    "invalid-inline-schema": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - json_schema: {type: objekt}  # <-
        """,
        ["invalid JSON Schema"],
        "fix the schema",
        case="a",
    ),
    "invalid-regex": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - regex: '(unclosed'  # <-
        """,
        ["invalid regular expression '(unclosed'", "missing )"],
        "fix the pattern",
        case="a",
    ),
    "check-argument-missing": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - fuzzy: {min: 50}  # <-
        """,
        ["check 'fuzzy'", "'expected' is a required property"],
        "fuzzy: {expected: text",
        case="a",
    ),
    "check-callable-not-a-reference": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - python: pg_stub.echo  # <-
        """,
        ["check 'python'", "'pg_stub.echo' does not match"],
        "python: 'module:function'",
        case="a",
    ),
    "check-callable-module-missing": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - python: no_such_checks:polite  # <-
        """,
        ["cannot import 'no_such_checks'", "ModuleNotFoundError"],
        "add its folder to 'pythonpath' in promptguard.yaml",
        case="a",
    ),
    "check-callable-function-missing": Broken(
        """
        prompt: hello
        cases:
          - id: a
            checks:
              - python: pg_stub:polite  # <-
        """,
        ["'pg_stub' has no attribute 'polite'"],
        "check the function name after the colon",
        case="a",
    ),
    # the config, for the models the suite uses
    "unknown-provider": Broken(
        """
        cases:
          - id: a
            prompt: hello
        """,
        ["'opnai'", "models.local.provider", "is not allowed", "(did you mean 'openai'?)"],
        "use one of: openai,",
        where="sub/promptguard.yaml",
        files={
            "sub/promptguard.yaml": """
                default_models: [local]
                models:
                  local:
                    provider: opnai  # <-
                    model: llama3
            """
        },
        suite="sub/broken.prompt.yaml",
    ),
    "provider-callable-module-missing": Broken(
        """
        models: [ghost]
        cases:
          - id: a
            prompt: hello
        """,
        ["cannot import 'no_such_module' for callable 'no_such_module:reply'", "ModuleNotFoundError"],
        "add its folder to 'pythonpath' in promptguard.yaml",
        where="promptguard.yaml",
        mark="# <- ghost",
    ),
    "provider-callable-function-missing": Broken(
        """
        models: [hollow]
        cases:
          - id: a
            prompt: hello
        """,
        ["'pg_stub' has no attribute 'no_such_function'"],
        "check the function name after the colon",
        where="promptguard.yaml",
        mark="# <- hollow",
    ),
    "env-var-unset": Broken(
        """
        cases:
          - id: a
            prompt: hello
            models: [remote]
        """,
        ["environment variable PG_TEST_UNSET_BASE_URL is not set", "${PG_TEST_UNSET_BASE_URL}"],
        "export PG_TEST_UNSET_BASE_URL, or give a default: ${PG_TEST_UNSET_BASE_URL:-value}",
        where="promptguard.yaml",
        mark="# <- remote",
    ),
    "no-prompt": Broken(
        """
        cases:
          - id: a  # <-
            vars: {x: 1}
        """,
        ["no prompt"],
        "give the case or the suite a 'prompt'",
        case="a",
    ),
}


def collection_error(result: pytest.RunResult, suite: str) -> list[str]:
    """The lines pytest shows under `ERROR collecting <suite>`."""
    lines = result.stdout.lines
    header = next((i for i, line in enumerate(lines) if line.strip("_ ") == f"ERROR collecting {suite}"), None)
    assert header is not None, f"no 'ERROR collecting {suite}' in:\n{result.stdout.str()}"
    body = []
    for line in lines[header + 1 :]:
        if line.startswith(("_", "=")):
            break
        body.append(line)
    return body


def marked_line(text: str, mark: str) -> int:
    """The number of the one line of `text` that ends with `mark`."""
    found = [number for number, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith(mark)]
    assert len(found) == 1, f"mark {mark!r} must be on exactly one line"
    return found[0]


@pytest.fixture
def project(write, monkeypatch):
    """A folder with a working config, model stub and a good suite of two passing cases."""
    monkeypatch.delenv("PG_TEST_UNSET_BASE_URL", raising=False)
    write("pg_stub.py", STUB)
    write("promptguard.yaml", CONFIG)
    write("good.prompt.yaml", GOOD)


@pytest.mark.parametrize("broken", BROKEN.values(), ids=BROKEN.keys())
def test_bad_input_is_a_collection_error_naming_file_line_and_fix(pytester, write, project, broken):
    for name, text in {**broken.files, broken.suite: broken.text}.items():
        write(name, text)
    line = broken.line or marked_line((pytester.path / broken.where).read_text(), broken.mark)

    result = pytester.runpytest("--promptguard")

    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    assert "line None" not in output
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    error = collection_error(result, broken.suite)
    first = error[0]
    case = f"case '{broken.case}': " if broken.case else ""
    assert first.startswith(f"{broken.where}:{line}: {case}"), first
    for words in broken.words:
        assert words in first, f"{words!r} not in {first!r}"
    fixes = [text for text in error if text.startswith("  fix: ")]
    assert len(fixes) == 1 and broken.fix in fixes[0], error


def test_every_broken_suite_is_reported_and_the_good_one_runs(pytester, write, project):
    a = write("a.prompt.yaml", BROKEN["unknown-check"].text).read_text()
    b = write("b.prompt.yaml", BROKEN["duplicate-case-id"].text).read_text()
    c = write("c/c.prompt.yaml", BROKEN["tab-indent"].text).read_text()
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=2, errors=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert collection_error(result, "a.prompt.yaml")[0].startswith(
        f"a.prompt.yaml:{marked_line(a, MARK)}: case 'a': unknown check 'containz'"
    )
    assert collection_error(result, "b.prompt.yaml")[0].startswith(
        f"b.prompt.yaml:{marked_line(b, MARK)}: duplicate case id 'a'"
    )
    assert collection_error(result, "c/c.prompt.yaml")[0].startswith(
        f"c/c.prompt.yaml:{marked_line(c, MARK)}: invalid YAML"
    )
    assert "Traceback" not in result.stdout.str()


def test_collect_only_reports_bad_input_too(pytester, write, project):
    write("broken.prompt.yaml", BROKEN["undefined-variable"].text)
    result = pytester.runpytest("--promptguard", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["good.prompt.yaml::hello[[]echo[]]", "good.prompt.yaml::bye[[]echo[]]"])
    assert collection_error(result, "broken.prompt.yaml")[0].startswith("broken.prompt.yaml:4: case 'a': undefined")
    assert "Traceback" not in result.stdout.str()


def test_suites_are_not_collected_without_the_flag(pytester, write, project):
    write("broken.prompt.yaml", BROKEN["unterminated-quote"].text)
    write("sub/broken.prompt.yaml", "cases: 3\n")
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "prompt.yaml" not in result.stdout.str()
