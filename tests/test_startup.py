"""A fast start: a run imports what its suites use, not everything it might need.

pytest rewrites and compiles every module of this plugin it imports, at every start where bytecode is not cached
(PYTHONDONTWRITEBYTECODE=1, as in many CI images): each module imported needlessly costs every such run
(benchmarks/bench_startup.py measures it). These tests pin what a plain run has imported when its first call goes
out, and that every check can still be found.
"""

from __future__ import annotations

import json
import sys

import pytest

from pytest_promptguard.checks import REGISTRY
from pytest_promptguard.checks.registry import FAMILIES

# Imported when a run uses them, never before the first call of a run that does not.
LAZY = [
    "jsonschema",
    "referencing",
    "pytest_promptguard.report.summary",
    "pytest_promptguard.report.terminal",
    "pytest_promptguard.report.html",
    "pytest_promptguard.report.markdown",
    "pytest_promptguard.drift.verdict",
    "pytest_promptguard.drift.stats",
    "pytest_promptguard.plugin.fixture",
    "pytest_promptguard.checks.structured",
    "pytest_promptguard.checks.golden",
    "pytest_promptguard.checks.tools",
    "pytest_promptguard.checks.judge",
    "pytest_promptguard.checks.budgets",
    "pytest_promptguard.checks.jsonpath",
]

MODEL = """
import json, sys

def answer(messages, params):
    with open("imported.json", "a") as file:  # what the process had imported when its first call went out
        file.write(json.dumps(sorted(sys.modules)) + "\\n")
    return "ok " + messages[-1]["content"]
"""


@pytest.mark.slow
def test_a_plain_run_has_imported_only_what_it_uses_when_its_first_call_goes_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(pg_model=MODEL)
    (pytester.path / "promptguard.yaml").write_text(
        json.dumps(
            {
                "pythonpath": ["."],
                "default_models": ["echo"],
                "models": {"echo": {"provider": "python", "callable": "pg_model:answer"}},
            }
        ),
        encoding="utf-8",
    )
    (pytester.path / "hello.prompt.yaml").write_text(
        "cases:\n  - {id: hello, prompt: hi, checks: [{contains: ok}, {regex: '^ok'}]}\n", encoding="utf-8"
    )
    result = pytester.runpytest_subprocess("--promptguard", "-p", "no:cacheprovider", "--promptguard-report=r.json")
    result.assert_outcomes(passed=1)
    imported = set(json.loads((pytester.path / "imported.json").read_text().splitlines()[0]))
    assert "pytest_promptguard.checks.text" in imported  # the family the suite uses
    early = [name for name in LAZY if name in imported]
    assert early == [], f"imported before the first call, though this run does not need them yet: {early}"


def test_every_check_is_found_in_the_family_that_registers_it() -> None:
    for name in REGISTRY:
        check = REGISTRY[name]
        assert check.name == name and check.build.__module__.rpartition(".")[2] == FAMILIES[name]
    assert len(REGISTRY) == len(FAMILIES) and "no_such_check" not in REGISTRY


def test_the_package_is_left_to_its_bytecode_not_to_pytest_s_assertion_rewriter(monkeypatch):
    """pytest marks a plugin's whole distribution for assertion rewriting; a rewritten module is parsed and compiled
    at every start where bytecode is not written (PYTHONDONTWRITEBYTECODE=1). The plugin takes its package back."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    from pytest_promptguard.plugin import leave_unrewritten

    hook = AssertionRewritingHook.__new__(AssertionRewritingHook)  # the marks only: no config needed
    hook._must_rewrite = {"pytest_promptguard", "other_plugin"}
    hook._marked_for_rewrite_cache = {"pytest_promptguard.core": True}
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    leave_unrewritten()
    assert hook._must_rewrite == {"other_plugin"} and hook._marked_for_rewrite_cache == {}
