"""Every check: a passing and a failing output, the reason the user reads, and how a failing item explains itself.

The model is a `python` provider (`bot.py` in the pytester folder) answering each prompt from a dict, so every
run is offline and deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from pytest_promptguard.checks import BuildContext, CaseInfo, CheckInput, CheckSpecError, build_check
from pytest_promptguard.checks.registry import quote
from pytest_promptguard.checks.structured import parse_json_output
from pytest_promptguard.checks.text import unified_diff
from pytest_promptguard.core.results import Call, Usage
from pytest_promptguard.core.similarity import SCORERS, similarity
from pytest_promptguard.report.failure import OUTPUT_LIMIT, cut

from .recording import RECORDER, read_records

CONFIG = """
pythonpath: [.]
default_models: [bot]
models:
  bot: {provider: python, callable: "bot:answer"}
"""


REFUND = "You can return items within 30 days for a full refund."
ORDER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["items", "total_items"],
    "properties": {
        "items": {"type": "array", "minItems": 1, "items": {"$ref": "item.schema.json"}},
        "total_items": {"type": "integer", "minimum": 1},
    },
}
ITEM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["sku", "quantity"],
    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
}
LABEL_SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["billing", "bug"]}}}


class Verdict(NamedTuple):
    """One row: a check as written in a suite, a model output, and what the check must say about it."""

    id: str
    check: Any  # `{name: argument}`, or a bare name such as "json"
    output: Any  # the text, or what the bot returns: {"text": ..., "usage": {...}}
    passed: bool
    reason: str
    score: float | None = None

    @property
    def name(self) -> str:
        return self.check if isinstance(self.check, str) else next(iter(self.check))

    @property
    def failure_line(self) -> str:
        """The line a failing item shows for this check."""
        return f"  ✗ {self.name}: {self.reason}" + (f" (score {self.score:g})" if self.score is not None else "")


def tokens(text: str) -> dict[str, Any]:
    return {"text": text, "usage": {"input_tokens": 5, "output_tokens": 7}}


ANY = ["Forgot password", "reset link"]
DAYS = r"\d+-\d+ business days"
YES = r"(?i)\byes\b"
REORDERED = "within 30 days refund"
VERDICTS = [
    Verdict("equals-pass", {"equals": "billing"}, " billing\n", True, "output equals the expected text"),
    Verdict("equals-fail", {"equals": "billing"}, "bug", False, "output 'bug' differs from 'billing'"),
    Verdict("contains-pass", {"contains": "30 days"}, REFUND, True, "contains holds"),
    Verdict("contains-list-pass", {"contains": ["30 days", "refund"]}, REFUND, True, "contains holds"),
    Verdict(
        "contains-list-fail",
        {"contains": ["30 days", "refund"]},
        "A refund within 14 days.",
        False,
        "missing '30 days'",
    ),
    Verdict("contains-case-fail", {"contains": "Refund"}, REFUND, False, "missing 'Refund'"),
    Verdict(
        "icontains-pass", {"icontains": "STANDARD shipping"}, "Standard Shipping: 3-5 days.", True, "icontains holds"
    ),
    Verdict(
        "icontains-fail",
        {"icontains": ["standard shipping", "express"]},
        "Standard Shipping.",
        False,
        "missing 'express'",
    ),
    Verdict("contains_any-pass", {"contains_any": ANY}, "We sent a reset link.", True, "contains_any holds"),
    Verdict(
        "contains_any-fail", {"contains_any": ANY}, "Call us.", False, "none of 'Forgot password', 'reset link' appears"
    ),
    Verdict("not_contains-pass", {"not_contains": ["As an AI", "sorry"]}, "Happy to help!", True, "not_contains holds"),
    Verdict(
        "not_contains-fail",
        {"not_contains": ["As an AI", "language model", "sorry"]},
        "As an AI language model, I can't.",
        False,
        "found 'As an AI', 'language model'",
    ),
    Verdict(
        "regex-pass",
        {"regex": DAYS},
        "Delivery takes 3-5 business days.",
        True,
        f"/{DAYS}/ matched '3-5 business days'",
    ),
    Verdict("regex-fail", {"regex": DAYS}, "Delivery takes a while.", False, f"/{DAYS}/ does not match the output"),
    Verdict("not_regex-pass", {"not_regex": YES}, "We do not sell gift cards.", True, f"/{YES}/ does not match"),
    Verdict("not_regex-fail", {"not_regex": YES}, "Yes, we do!", False, f"/{YES}/ matched 'Yes'"),
    Verdict(
        "fuzzy-pass",
        {"fuzzy": {"expected": REFUND}},
        "you can return items within 30 days, for a full refund",
        True,
        "token_set_ratio 100 >= min 80",
        100.0,
    ),
    Verdict(
        "fuzzy-fail",
        {"fuzzy": {"expected": REFUND}},
        "Returns are accepted for two weeks.",
        False,
        "token_set_ratio 48.2 < min 80",
        48.2,
    ),
    Verdict(
        "fuzzy-min-is-inclusive",
        {"fuzzy": {"expected": REFUND, "min": 80}},
        "Items can be returned within 30 days.",
        True,
        "token_set_ratio 80 >= min 80",
        80.0,
    ),
    Verdict(
        "fuzzy-ratio-fail",
        {"fuzzy": {"expected": "refund within 30 days", "scorer": "ratio"}},
        REORDERED,
        False,
        "ratio 66.6 < min 80",
        66.6,
    ),
    Verdict(
        "fuzzy-token_sort_ratio-pass",
        {"fuzzy": {"expected": "refund within 30 days", "scorer": "token_sort_ratio"}},
        REORDERED,
        True,
        "token_sort_ratio 100 >= min 80",
        100.0,
    ),
    Verdict(
        "fuzzy-partial_ratio-pass",
        {"fuzzy": {"expected": "30 days", "scorer": "partial_ratio", "min": 95}},
        "You have 30 days to return it.",
        True,
        "partial_ratio 100 >= min 95",
        100.0,
    ),
    Verdict(
        "fuzzy-WRatio-fail",
        {"fuzzy": {"expected": REFUND, "scorer": "WRatio", "min": 90}},
        "Items can be returned within 30 days.",
        False,
        "WRatio 76 < min 90",
        76.0,
    ),
    Verdict("json-bare-pass", "json", '{"label": "bug"}', True, "valid JSON (dict)"),
    Verdict("json-true-pass", {"json": True}, "[1, 2]", True, "valid JSON (list)"),
    Verdict(
        "json-fenced-pass",
        "json",
        'Here it is:\n```json\n{"label": "bug"}\n```\nAnything else?',
        True,
        "valid JSON (dict)",
    ),
    Verdict("json-fail", "json", "label: bug", False, "output is not JSON: Expecting value at line 1 column 1"),
    Verdict(
        "json-fenced-fail",
        "json",
        '```json\n{"label": }\n```',
        False,
        "the ```json block is not valid JSON: Expecting value at line 1 column 11",
    ),
    Verdict(
        "json_schema-pass", {"json_schema": LABEL_SCHEMA}, '{"label": "bug"}', True, "output conforms to the schema"
    ),
    Verdict(
        "json_schema-fenced-pass",
        {"json_schema": LABEL_SCHEMA},
        '```json\n{"label": "billing"}\n```',
        True,
        "output conforms to the schema",
    ),
    Verdict(
        "json_schema-fail",
        {"json_schema": LABEL_SCHEMA},
        '{"label": "spam"}',
        False,
        "$.label: 'spam' is not one of ['billing', 'bug']",
    ),
    Verdict(
        "json_schema-missing-fail", {"json_schema": LABEL_SCHEMA}, "{}", False, "$: 'label' is a required property"
    ),
    Verdict(
        "json_schema-not-json-fail",
        {"json_schema": LABEL_SCHEMA},
        "bug",
        False,
        "output is not JSON: Expecting value at line 1 column 1",
    ),
    Verdict(
        "length-pass",
        {"length": {"min_chars": 3, "max_chars": 20, "max_output_tokens": 7}},
        tokens("hello"),
        True,
        "5 chars, 7 output tokens",
    ),
    Verdict("length-min-fail", {"length": {"min_chars": 3}}, tokens("hi"), False, "2 chars < min 3"),
    Verdict("length-max-fail", {"length": {"max_chars": 10}}, tokens("hello world!"), False, "12 chars > max 10"),
    Verdict(
        "length-tokens-fail", {"length": {"max_output_tokens": 5}}, tokens("a b c"), False, "7 output tokens > max 5"
    ),
    Verdict(
        "length-both-fail",
        {"length": {"max_chars": 4, "max_output_tokens": 6}},
        tokens("a b c d e f g"),
        False,
        "13 chars > max 4; 7 output tokens > max 6",
    ),
]


def _call(output: Any) -> Call:
    if isinstance(output, str):
        return Call(model="bot", provider="python", model_asked="bot:answer", text=output)
    usage = Usage(**output["usage"])
    return Call(model="bot", provider="python", model_asked="bot:answer", text=output["text"], usage=usage)


Bot = Callable[[dict[str, Any]], None]


@pytest.fixture
def bot(pytester: pytest.Pytester) -> Bot:
    """Configure model `bot`, answering each prompt (its last message) from `answers`; record every report."""

    def make(answers: dict[str, Any]) -> None:
        (pytester.path / "promptguard.yaml").write_text(CONFIG, encoding="utf-8")
        source = (
            f"ANSWERS = {answers!r}\n\n\ndef answer(messages, params):\n    return ANSWERS[messages[-1]['content']]\n"
        )
        (pytester.path / "bot.py").write_text(source, encoding="utf-8")
        pytester.makeconftest(RECORDER)

    return make


def records(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    """The `report.promptguard` record of every item, by case id."""
    return {record["case"]: record for record in read_records(pytester)}


def failure_of(stdout: str, case: str) -> list[str]:
    """The lines of the failure section pytest printed for `case`, between its `___ suite::case[bot] ___` header
    and the next header (or the promptguard summary)."""
    sections = re.split(r"^_{3,} \S+::(\S+)\[bot\] _{3,}$", stdout.split("== promptguard ==")[0], flags=re.M)
    return dict(zip(sections[1::2], sections[2::2]))[case].splitlines()


def write_suite(pytester: pytest.Pytester, name: str, suite: dict[str, Any]) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def one_case(case_id: str, *checks: Any) -> dict[str, Any]:
    """A suite of one case whose prompt is its id."""
    return {"cases": [{"id": case_id, "prompt": case_id, "checks": list(checks)}]}


def judged(record: dict[str, Any]) -> list[tuple[str, bool, str, float | None]]:
    """(name, passed, reason, score) of every check of the record's one sample."""
    [sample] = record["checks"]
    return [(c["name"], c["passed"], c["reason"], c["score"]) for c in sample]


# -- each check on its own --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", VERDICTS, ids=[row.id for row in VERDICTS])
def test_check_verdict(tmp_path: Path, row: Verdict) -> None:
    argument = True if isinstance(row.check, str) else row.check[row.name]
    built = build_check(row.name, argument, BuildContext(suite_path=tmp_path / "s.prompt.yaml"))
    assert (built.name, built.scope) == (row.name, "call")
    verdict = built.run(CheckInput(call=_call(row.output), case=CaseInfo(suite="s", id="c")))
    assert (verdict.name, verdict.passed, verdict.reason, verdict.score) == (
        row.name,
        row.passed,
        row.reason,
        row.score,
    )
    if row.name in ("equals", "fuzzy") and not row.passed:
        assert verdict.diff is not None and verdict.diff.startswith("--- expected\n+++ output\n")
    else:
        assert verdict.diff is None


def test_every_check_through_pytest(pytester: pytest.Pytester, bot: Bot) -> None:
    """The same table run as one suite, a case per row: its outcome, its ✗ line and the result on its report."""
    bot({row.id: row.output for row in VERDICTS})
    cases = [{"id": row.id, "prompt": row.id, "checks": [row.check]} for row in VERDICTS]
    write_suite(pytester, "table.prompt.yaml", {"cases": cases})
    result = pytester.runpytest("--promptguard")
    failing = sum(not row.passed for row in VERDICTS)
    result.assert_outcomes(passed=len(VERDICTS) - failing, failed=failing)
    stdout = result.stdout.str()
    recorded = records(pytester)
    for row in VERDICTS:
        assert recorded[row.id]["outcome"] == ("passed" if row.passed else "failed"), row.id
        assert judged(recorded[row.id]) == [(row.name, row.passed, row.reason, row.score)]
        if not row.passed:
            assert row.failure_line in failure_of(stdout, row.id), row.id


# -- what a failing item shows ---------------------------------------------------------------------------------------


def test_failure_shows_all_failed_checks_prompt_output_and_diffs(pytester: pytest.Pytester, bot: Bot) -> None:
    bot({"How long do I have to return a lamp?": "Returns are accepted\nfor two weeks."})
    checks = [
        {"contains": "30 days"},
        {"not_contains": "As an AI"},
        {"equals": "You can return items\nwithin 30 days."},
        {"fuzzy": {"expected": REFUND}},
    ]
    prompt = [
        {"role": "system", "content": "You answer for {{company}}. Be brief."},
        {"role": "user", "content": "How long do I have to return {{item}}?"},
    ]
    case = {"id": "refund", "vars": {"item": "a lamp"}, "checks": checks}
    write_suite(pytester, "support.prompt.yaml", {"vars": {"company": "Acme"}, "prompt": prompt, "cases": [case]})
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["FAILED support.prompt.yaml::refund?bot? - 3 of 4 checks failed"])
    shown = failure_of(result.stdout.str(), "refund")
    expected_in_order = [
        "3 of 4 checks failed",
        "  ✗ contains: missing '30 days'",
        "  ✗ equals: output 'Returns are accepted for two weeks.' differs from 'You can return items within 30 days.'",
        "    --- expected",
        "    +++ output",
        "    -You can return items",
        "    -within 30 days.",
        "    +Returns are accepted",
        "    +for two weeks.",
        "  ✗ fuzzy: token_set_ratio 48.2 < min 80 (score 48.2)",
        "    --- expected",
        "    +++ output",
        f"    -{REFUND}",
        "    +Returns are accepted",
        "prompt:",
        "  [system] You answer for Acme. Be brief.",
        "  [user] How long do I have to return a lamp?",
        "output:",
        "    Returns are accepted",
        "    for two weeks.",
    ]
    at = -1
    for line in expected_in_order:
        assert line in shown[at + 1 :], f"{line!r} missing or out of order in:\n" + "\n".join(shown)
        at = shown.index(line, at + 1)
    assert shown[at + 1].startswith("call: bot (python, asked bot:answer")
    assert not any("not_contains" in line for line in shown)  # a passing check is not listed
    assert "Traceback" not in result.stdout.str()


def test_long_output_is_cut_with_a_marker(pytester: pytest.Pytester, bot: Bot) -> None:
    long = "".join(f"{i:05d} " for i in range(1000))  # 6000 characters on one line
    bot({"ramble": long})
    write_suite(pytester, "long.prompt.yaml", one_case("ramble", {"length": {"max_chars": 100}}))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(failed=1)
    shown = failure_of(result.stdout.str(), "ramble")
    assert "  ✗ length: 6000 chars > max 100" in shown
    output = shown[shown.index("output:") + 1 :]
    assert output[:2] == ["    " + long[:OUTPUT_LIMIT], f"    … [{6000 - OUTPUT_LIMIT} more characters cut]"]


def test_suite_checks_apply_to_every_case_before_its_own(pytester: pytest.Pytester, bot: Bot) -> None:
    bot({"a": "Happy to help within 30 days.", "b": "As an AI, I cannot say."})
    cases = [
        {"id": "a", "prompt": "a", "checks": [{"contains": "30 days"}]},
        {"id": "b", "prompt": "b", "checks": [{"regex": "cannot"}]},
        {"id": "c", "prompt": "a"},
    ]
    suite_checks = [{"not_contains": "As an AI"}, {"length": {"max_chars": 100}}]
    write_suite(pytester, "s.prompt.yaml", {"checks": suite_checks, "cases": cases})
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=2, failed=1)
    recorded = records(pytester)
    assert [name for name, *_ in judged(recorded["a"])] == ["not_contains", "length", "contains"]
    assert [name for name, *_ in judged(recorded["c"])] == ["not_contains", "length"]
    assert [(name, passed) for name, passed, *_ in judged(recorded["b"])] == [
        ("not_contains", False),
        ("length", True),
        ("regex", True),
    ]
    assert "  ✗ not_contains: found 'As an AI'" in failure_of(result.stdout.str(), "b")


# -- python checks ----------------------------------------------------------------------------------------------------

JUDGES = """
def polite(output, case):
    return "please" in output


def score(output, case):
    return len(output) / 10


def explain(output, case):
    return output.startswith("Dear"), f"greeting for {case.vars['name']} in case {case.id} of {case.suite}"


def boom(output, case):
    raise ValueError("judge crashed")


def undecided(output, case):
    return None


def wordy(output, case):
    if output == "crash":
        raise RuntimeError("first line\\n  second line")
    return False, "first line\\n  second line"
"""

SCORE_07 = {"function": "judges:score", "min": 0.7}
PYTHON_VERDICTS = [
    Verdict("bool-pass", {"python": "judges:polite"}, "yes please", True, "judges:polite returned True"),
    Verdict("bool-fail", {"python": "judges:polite"}, "no", False, "judges:polite returned False"),
    Verdict("score-pass", {"python": SCORE_07}, "12345678", True, "judges:score scored 0.8 >= min 0.7", 0.8),
    Verdict("score-fail", {"python": SCORE_07}, "123456", False, "judges:score scored 0.6 < min 0.7", 0.6),
    Verdict(
        "score-without-min", {"python": "judges:score"}, "123456789", False, "judges:score scored 0.9 < min 1", 0.9
    ),
    Verdict(
        "tuple-pass",
        {"python": "judges:explain"},
        "Dear Ada",
        True,
        "judges:explain: greeting for Ada in case tuple-pass of py",
    ),
    Verdict(
        "tuple-fail",
        {"python": "judges:explain"},
        "Hi Ada",
        False,
        "judges:explain: greeting for Ada in case tuple-fail of py",
    ),
    Verdict("raises", {"python": "judges:boom"}, "anything", False, "judges:boom raised ValueError: judge crashed"),
    Verdict(
        "returns-none",
        {"python": "judges:undecided"},
        "anything",
        False,
        "judges:undecided returned NoneType; return bool, a 0-1 score or (bool, message)",
    ),
    Verdict(
        "message-on-one-line", {"python": "judges:wordy"}, "anything", False, "judges:wordy: first line second line"
    ),
    Verdict(
        "exception-on-one-line",
        {"python": "judges:wordy"},
        "crash",
        False,
        "judges:wordy raised RuntimeError: first line second line",
    ),
]


def test_python_checks(pytester: pytest.Pytester, bot: Bot) -> None:
    """A custom check gets the output and the case; bool, score with min, (bool, message), or an exception."""
    bot({row.id: row.output for row in PYTHON_VERDICTS})
    (pytester.path / "judges.py").write_text(JUDGES, encoding="utf-8")
    cases = [
        {"id": row.id, "prompt": row.id, "vars": {"name": "Ada"}, "checks": [row.check]} for row in PYTHON_VERDICTS
    ]
    write_suite(pytester, "py.prompt.yaml", {"cases": cases})
    result = pytester.runpytest("--promptguard")
    failing = sum(not row.passed for row in PYTHON_VERDICTS)
    result.assert_outcomes(passed=len(PYTHON_VERDICTS) - failing, failed=failing, errors=0)
    stdout = result.stdout.str()
    assert "Traceback" not in stdout and "INTERNALERROR" not in stdout
    recorded = records(pytester)
    for row in PYTHON_VERDICTS:
        assert judged(recorded[row.id]) == [("python", row.passed, row.reason, row.score)], row.id
        if not row.passed:
            assert row.failure_line in failure_of(stdout, row.id), row.id


# -- json_schema from files -------------------------------------------------------------------------------------------


def test_json_schema_file_refs_a_second_local_file(pytester: pytest.Pytester, bot: Bot) -> None:
    good = {"items": [{"sku": "APPLE", "quantity": 2}], "total_items": 2}
    bad = {"items": [{"sku": "APPLE", "quantity": 0}, {"quantity": "3"}], "total_items": 3}
    bot({"good": "```json\n" + json.dumps(good, indent=2) + "\n```", "bad": json.dumps(bad)})
    schemas = pytester.path / "suites" / "schemas"
    schemas.mkdir(parents=True)
    (schemas / "order.schema.json").write_text(json.dumps(ORDER_SCHEMA), encoding="utf-8")
    (schemas / "item.schema.json").write_text(json.dumps(ITEM_SCHEMA), encoding="utf-8")
    cases = [{"id": "good", "prompt": "good"}, {"id": "bad", "prompt": "bad"}]
    suite_checks = ["json", {"json_schema": "schemas/order.schema.json"}]
    write_suite(pytester, "suites/orders.prompt.yaml", {"checks": suite_checks, "cases": cases})
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(passed=1, failed=1)
    recorded = records(pytester)
    assert [passed for _, passed, *_ in judged(recorded["good"])] == [True, True]
    reason = (
        "$.items[0].quantity: 0 is less than the minimum of 1; "
        "$.items[1]: 'sku' is a required property; "
        "$.items[1].quantity: '3' is not of type 'integer'"
    )
    assert "  ✗ json_schema: " + reason in failure_of(result.stdout.str(), "bad")


def test_json_schema_yaml_file_lists_every_violation(pytester: pytest.Pytester, bot: Bot) -> None:
    bot({"q": json.dumps({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})})
    write_suite(pytester, "strings.schema.yaml", {"type": "object", "additionalProperties": {"type": "string"}})
    write_suite(pytester, "s.prompt.yaml", one_case("q", {"json_schema": "strings.schema.yaml"}))
    pytester.runpytest("--promptguard").assert_outcomes(failed=1)
    assert judged(records(pytester)["q"]) == [
        (
            "json_schema",
            False,
            "$.a: 1 is not of type 'string'; $.b: 2 is not of type 'string'; $.c: 3 is not of type 'string'; "
            "$.d: 4 is not of type 'string'; $.e: 5 is not of type 'string'",
            None,
        )
    ]


def test_json_schema_errors_in_document_order_up_to_ten() -> None:
    built = build_check(
        "json_schema", {"type": "array", "items": {"type": "integer"}}, BuildContext(Path("s.prompt.yaml"))
    )
    verdict = built.run(CheckInput(call=_call(json.dumps([1] + ["x"] * 12)), case=CaseInfo(suite="s", id="c")))
    listed = "; ".join(f"$[{i}]: 'x' is not of type 'integer'" for i in range(1, 11))
    assert verdict.reason == listed + " (+2 more)"  # $[2] before $[10]: indexes in numeric order


def test_json_schema_unresolvable_ref_is_a_collection_error(pytester: pytest.Pytester, bot: Bot) -> None:
    bot({"q": "{}"})
    (pytester.path / "order.schema.json").write_text(json.dumps(ORDER_SCHEMA), encoding="utf-8")
    write_suite(pytester, "s.prompt.yaml", one_case("q", {"json_schema": "order.schema.json"}))
    result = pytester.runpytest("--promptguard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["s.prompt.yaml:*case 'q'*cannot resolve $ref 'item.schema.json' in the schema*"])


# -- a check declared wrongly ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "argument", "message"),
    [
        ("fuzzy", {"expected": "x", "scorer": "levenshtein"}, "check 'fuzzy'.scorer: 'levenshtein' is not one of"),
        ("fuzzy", {"expected": "x", "min": 120}, "check 'fuzzy'.min: 120 is greater than the maximum of 100"),
        ("fuzzy", {"min": 50}, "check 'fuzzy': 'expected' is a required property"),
        ("contains", [], "check 'contains'"),
        ("regex", "(unclosed", "invalid regular expression '(unclosed'"),
        ("length", {}, "check 'length'"),
        ("length", {"max_words": 3}, "check 'length'"),
        ("json", False, "check 'json'"),
        ("json_schema", "missing.schema.json", "schema file missing.schema.json not found"),
        ("json_schema", {"type": "nonsense"}, "invalid JSON Schema"),
        ("python", "no_such_module_xyz:judge", "cannot import 'no_such_module_xyz'"),
        ("python", {"function": "json:loads", "min": 2}, "check 'python'"),
    ],
)
def test_wrong_check_arguments_are_spec_errors(tmp_path: Path, name: str, argument: Any, message: str) -> None:
    with pytest.raises(CheckSpecError) as excinfo:
        build_check(name, argument, BuildContext(suite_path=tmp_path / "s.prompt.yaml"))
    assert message in excinfo.value.message


# -- the pure helpers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  \n[1, 2]\n", [1, 2]),
        ('"just a string"', "just a string"),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```JSON\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here is the order:\n\n```json\n{\n  "a": [1, 2]\n}\n```\nLet me know.', {"a": [1, 2]}),
        ('Inline: ```json\n{"a": 1}```', {"a": 1}),
        ('```json\r\n{"a": 1}\r\n```\r\n', {"a": 1}),
        ('Call it:\n```bash\ncurl -d @order.json\n```\nIt returns:\n```json\n{"a": 1}\n```', {"a": 1}),
        ('```json\n{"a": }\n```\nFixed:\n```json\n{"a": 2}\n```', {"a": 2}),
    ],
)
def test_parse_json_output_accepts(text: str, value: Any) -> None:
    assert parse_json_output(text) == (value, None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "output is not JSON: Expecting value at line 1 column 1"),
        ('{"a": 1} and more', "output is not JSON: Extra data at line 1 column 10"),
        (
            "```json\n{'a': 1}\n```",
            "the ```json block is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        ("```python\nprint({})\n```", "output is not JSON: Expecting value at line 1 column 1"),
    ],
)
def test_parse_json_output_rejects(text: str, problem: str) -> None:
    assert parse_json_output(text) == (None, problem)


def test_similarity_ignores_case_and_punctuation() -> None:
    for scorer in SCORERS:
        assert similarity("Hello World!", "hello world", scorer) == 100.0
    for scorer in ("token_sort_ratio", "token_set_ratio"):  # punctuation becomes a space; token scorers never see it
        assert similarity("Hello, World!", "hello world", scorer) == 100.0
    assert similarity("refund within 30 days", "within 30 days refund", "token_sort_ratio") == 100.0
    assert similarity("refund within 30 days", "within 30 days refund", "ratio") < 80
    assert similarity("30 days", "you have 30 days to return it") == 100.0  # token_set_ratio by default
    assert 0.0 <= similarity("abc", "xyz") < 10


def test_unified_diff_and_cut_and_quote() -> None:
    diff = unified_diff("a\nb\nc", "a\nB\nc")
    assert diff.splitlines() == ["--- expected", "+++ output", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]
    assert unified_diff("same", "same") == ""
    assert cut("x" * OUTPUT_LIMIT) == "x" * OUTPUT_LIMIT
    assert cut("abcdef", 4) == "abcd\n… [2 more characters cut]"
    assert quote("a\n  b\tc") == "'a b c'"
    assert quote("x" * 100, limit=10) == repr("x" * 9 + "…")
