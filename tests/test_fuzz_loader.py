"""Fuzzing the loader: whatever a suite or config holds, loading it gives a valid suite or a clean error.

A clean error is a PromptguardError that names the file (and, as str() shows it, never `line None`) and a fix.
Anything else escaping the loader would reach the user as a traceback. The runs are derandomized, so they are
the same on every machine and every run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_promptguard.checks import REGISTRY
from pytest_promptguard.config.loader import Config
from pytest_promptguard.core.errors import PromptguardError, display_path
from pytest_promptguard.suite.loader import Suite, load_suite

FUZZ = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)

CONFIG = """
default_models: [echo]
models:
  echo: {provider: python, callable: "pg_stub:echo"}
  fast: {provider: openai, model: gpt-4o-mini, base_url: "http://127.0.0.1:9"}
"""

SUITE_KEYS = [
    "name",
    "description",
    "models",
    "tags",
    "vars",
    "prompt",
    "params",
    "checks",
    "cases",
    "repeat",
    "min_pass_rate",
    "budget_usd",
    "slo",
]
CASE_KEYS = [
    "id",
    "description",
    "models",
    "tags",
    "vars",
    "prompt",
    "params",
    "checks",
    "skip",
    "xfail",
    "repeat",
    "min_pass_rate",
]
OTHER_KEYS = [
    "role",
    "content",
    "expected",
    "min",
    "scorer",
    "max_chars",
    "function",
    "type",
    "properties",
    "$ref",
    "$schema",
    "pattern",
    "required",
    "p95_ms",
    "max_ms",
    "regression",
]
TEXTS = [
    "hello",
    "echo",
    "fast",
    "nope",
    "{{name}}",
    "{{missing}}",
    "pg_stub:echo",
    "no_such:thing",
    "(unclosed",
    "a+b",
    "schemas/none.json",
    "../../outside.json",
    "/etc/passwd",
    "user",
    "system",
    "token_set_ratio",
    "x y",
    "case-1",
    "",
    "a\0b",
]
SCHEMAS = [
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}},
    {"type": "objekt"},
    {"$ref": "#/$defs/missing"},
    {"$ref": "#/type/x"},
    {"$ref": "../../outside.json"},
    {"$schema": ["x"]},
    {"pattern": "(("},
    {"type": "string", "pattern": "^a+$"},
]


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten, so that most inputs get past the schema to the checks, templates and models."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 0 else good)


def one_check(name: str, argument: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda value: {name: value}, argument)


keys = st.sampled_from(SUITE_KEYS + CASE_KEYS + OTHER_KEYS + sorted(REGISTRY)) | st.text(max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(), st.sampled_from(TEXTS), st.text(max_size=12)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)
good_checks = st.one_of(
    st.sampled_from(["json", "golden", {"golden": {"min": 50}}, {"python": "no_such:judge"}]),
    one_check("contains", st.sampled_from(TEXTS) | st.lists(st.sampled_from(TEXTS), max_size=2)),
    one_check("regex", st.sampled_from(["a+", "(unclosed", "[a-", "(?P<1>x)", "x{2,1}"])),
    one_check(
        "fuzzy",
        st.fixed_dictionaries(
            {"expected": st.sampled_from(TEXTS)},
            optional={"min": st.integers(-10, 120), "scorer": st.sampled_from(["ratio", "WRatio", "levenshtein"])},
        ),
    ),
    one_check(
        "json_schema",
        st.sampled_from(SCHEMAS + ["none.json", "../../outside.json", "/etc/passwd", "a\0b"])
        | st.dictionaries(st.sampled_from(OTHER_KEYS), values, max_size=3),
    ),
    one_check("length", st.dictionaries(st.sampled_from(["min_chars", "max_chars", "max_words"]), st.integers(-1, 9))),
    one_check("latency", st.dictionaries(st.sampled_from(["max_ms", "p95_ms", "regression"]), st.floats(-1, 9))),
)
bad_checks = st.sampled_from(sorted(REGISTRY)) | st.dictionaries(keys, values, min_size=1, max_size=2) | values
checks = st.lists(mostly(good_checks, bad_checks), max_size=4)
messages = st.fixed_dictionaries(
    {
        "role": mostly(st.sampled_from(["user", "system", "assistant"]), st.just("usr") | values),
        "content": mostly(st.sampled_from(TEXTS), values),
    }
)
prompts = mostly(st.sampled_from(TEXTS) | st.lists(messages, min_size=1, max_size=3), values)
common = {
    "models": mostly(st.sampled_from([["echo"], ["fast", "echo"]]), st.sampled_from([["nope"], [], "echo"]) | values),
    "tags": mostly(st.lists(st.sampled_from(["smoke", "t1"]), max_size=2), st.just(["slow tests"]) | values),
    "vars": mostly(st.dictionaries(st.sampled_from(["name", "x"]), scalars, max_size=2), values),
    "params": mostly(st.dictionaries(st.sampled_from(["max_tokens", "temperature"]), scalars, max_size=2), values),
    "checks": checks,
    "repeat": mostly(st.integers(1, 3), st.integers(-2, 2000) | values),
    "min_pass_rate": mostly(st.floats(0, 1), st.floats(-1, 2) | values),
}
cases = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from(["a", "b", "case-1"]), st.just("my case") | values)},
    optional={"prompt": prompts, "skip": mostly(st.just("later"), values), **common},
)
suite_fields = st.fixed_dictionaries(
    {"cases": mostly(st.lists(mostly(cases, values), min_size=1, max_size=4), values), "prompt": prompts},
    optional={
        "name": mostly(st.just("suite"), st.just("") | values),
        "budget_usd": mostly(st.floats(0.01, 5), st.floats() | values),
        "slo": mostly(st.dictionaries(st.sampled_from(["p50_ms", "p95_ms"]), st.floats(1, 900), min_size=1), values),
        **common,
    },
)
junk = mostly(st.just({}), st.dictionaries(keys, values, max_size=2))
suites = mostly(st.builds(lambda fields, extra: {**extra, **fields}, suite_fields, junk), values)
model_specs = st.fixed_dictionaries(
    {"provider": mostly(st.sampled_from(["python", "openai"]), st.just("opnai") | values)},
    optional={
        "model": mostly(st.just("gpt-4o-mini"), values),
        "callable": mostly(st.sampled_from(["pg_stub:echo", "nope"]), values),
        "base_url": mostly(st.sampled_from(["${PG_FUZZ_NEVER_SET}", "${PG_FUZZ_NEVER_SET:-http://x}"]), values),
        "timeout_s": mostly(st.floats(0.1, 60), values),
        "price": mostly(
            st.fixed_dictionaries({"input_per_mtok": st.floats(0, 5), "output_per_mtok": st.floats(0, 5)}), values
        ),
        "params": values,
    },
)
configs = st.fixed_dictionaries(
    {"models": mostly(st.dictionaries(st.sampled_from(["echo", "fast"]), mostly(model_specs, values)), values)},
    optional={
        "default_models": mostly(st.lists(st.sampled_from(["echo", "fast", "nope"]), max_size=2), values),
        "pythonpath": mostly(st.just(["."]), values),
        "drift": mostly(st.fixed_dictionaries({}, optional={"min_similarity": st.floats(0, 100)}), values),
    },
)
GOOD_SUITE = """\
name: support
vars: {company: Acme}
prompt:
  - {role: system, content: "You answer for {{company}}."}
  - {role: user, content: "{{question}}"}
checks:
  - not_contains: "As an AI"
cases:
  - id: refund-window
    vars: {question: "How long?"}
    tags: [refunds]
    checks:
      - contains: "30 days"
      - fuzzy: {expected: "Within 30 days.", min: 70}
      - json_schema: {type: object, properties: {a: {$ref: "#/$defs/a"}}, $defs: {a: {type: string}}}
  - id: order
    prompt: "Order: {{text}} &x *y"
    vars: {text: "2 apples", list: &items [1, 2]}
    params: {n: *items}
    repeat: 3
"""
EDIT_CHARACTERS = "\t\n :-[]{}&*!|>'\"#%@`,?{{}}\x00\x07\ufeff\u2028é"  # YAML syntax, control characters, a BOM
Edit = tuple[int, int, str]  # at, delete this many characters, insert
text_edits = st.tuples(st.integers(0, len(GOOD_SUITE)), st.integers(0, 3), st.text(EDIT_CHARACTERS, max_size=4))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Config]:
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "promptguard.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return root, Config.load(config, rootdir=root)


def assert_loads_cleanly(path: Path, config: Config) -> None:
    """A valid suite, or a clean error naming the suite or its config."""
    try:
        suite = load_suite(path, config)
    except PromptguardError as exc:
        assert exc.path is not None and exc.path.resolve() in (path.resolve(), config.path.resolve()), str(exc)
        assert str(exc).startswith(display_path(exc.path)), str(exc)
        assert "line None" not in str(exc)
        assert exc.hint, f"no fix in: {exc}"
    else:
        assert isinstance(suite, Suite) and suite.cases


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@FUZZ
@given(data=suites)
def test_generated_suites_load_or_fail_cleanly(workspace: tuple[Path, Config], data: Any) -> None:
    root, config = workspace
    path = root / "fuzz.prompt.yaml"
    path.write_text(dump(data), encoding="utf-8")
    assert_loads_cleanly(path, config)


@FUZZ
@given(edits=st.lists(text_edits, max_size=4))
def test_edited_suite_text_loads_or_fails_cleanly(workspace: tuple[Path, Config], edits: list[Edit]) -> None:
    """Typos at the character level: inserted YAML syntax, deleted spans, control characters, a BOM."""
    root, config = workspace
    text = GOOD_SUITE
    for position, deleted, inserted in edits:
        text = text[:position] + inserted + text[position + deleted :]
    path = root / "edited.prompt.yaml"
    path.write_text(text, encoding="utf-8")
    assert_loads_cleanly(path, config)


@settings(FUZZ, max_examples=100)
@given(data=configs)
def test_generated_configs_load_or_fail_cleanly(workspace: tuple[Path, Config], data: Any) -> None:
    root = workspace[0] / "config"
    root.mkdir(exist_ok=True)
    path = root / "promptguard.yaml"
    path.write_text(dump(data), encoding="utf-8")
    suite = root / "s.prompt.yaml"
    suite.write_text("cases: [{id: a, prompt: hello}]\n", encoding="utf-8")
    saved = list(sys.path)  # a valid `pythonpath` goes onto sys.path
    try:
        config = Config.load(path, rootdir=root)
    except PromptguardError as exc:
        assert exc.path == path and exc.hint, str(exc)
        return
    finally:
        sys.path[:] = saved
    assert_loads_cleanly(suite, config)
    for name in config.model_names:
        try:
            config.model(name)
        except PromptguardError as exc:
            assert exc.path == path and exc.hint, str(exc)


def test_the_suite_the_edits_start_from_is_valid(workspace: tuple[Path, Config]) -> None:
    root, config = workspace
    path = root / "unedited.prompt.yaml"
    path.write_text(GOOD_SUITE, encoding="utf-8")
    assert [case.id for case in load_suite(path, config).cases] == ["refund-window", "order"]
