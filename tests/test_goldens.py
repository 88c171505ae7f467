"""Goldens against a local server whose behaviour changes between runs: record, replay, drift, stale
goldens, model changes, latency and cost regressions, unused entries, xdist, interrupted runs, upgrades."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_promptguard.core.results import ToolCall, percentile
from pytest_promptguard.core.similarity import shown, similarity
from pytest_promptguard.golden.entry import GoldenEntry, GoldenSample
from pytest_promptguard.golden.store import GoldenFile

from .output import shows, summary
from .recording import RECORDER, read_records
from .servers import Reply, chat_completion, last_user_message

SERVED = "gpt-4o-mini-2024-07-18"


@dataclass
class Script:
    """What the server answers; the test changes it between runs. Answers are keyed by prompt (and, for
    `by_model`, by the model requested), never by arrival order: the server is threaded."""

    answers: dict[str, str] = field(default_factory=dict)
    by_model: dict[str, dict[str, str]] = field(default_factory=dict)
    served: str | None = None  # None: serve the model asked, dated like OpenAI's snapshots
    fingerprint: str = "fp_1"
    delay_s: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)  # per model asked
    completion_tokens: dict[str, int] = field(default_factory=dict)  # per model asked

    def __call__(self, request: dict, headers: dict) -> Reply:
        prompt, model = last_user_message(request), request["model"]
        text = self.by_model.get(model, {}).get(prompt) or self.answers.get(prompt, f"echo: {prompt}")
        body = chat_completion(
            text,
            model=self.served or f"{model}-2024-07-18",
            fingerprint=self.fingerprint,
            prompt_tokens=10,
            completion_tokens=self.completion_tokens.get(model),
        )
        return Reply(body=body, delay_s=self.delays.get(model, self.delay_s))


@pytest.fixture
def script(model_server) -> Script:
    model_server.responder = Script()
    return model_server.responder


def golden_of(pytester, suite: str = "s") -> Path:
    return pytester.path / "__golden__" / f"{suite}.prompt.golden.yaml"


def load_golden(pytester, suite: str = "s") -> dict:
    return yaml.safe_load(golden_of(pytester, suite).read_text("utf-8"))


def entry(pytester, case: str, model: str = "fast", suite: str = "s") -> dict:
    return load_golden(pytester, suite)["cases"][case][model]


def run(pytester, *args: str):
    return pytester.runpytest("--promptguard", *args)


def update(pytester, *args: str):
    return run(pytester, "--promptguard-update", *args)


TWO_CASES = """
    cases:
      - {id: refund, prompt: "How long do I have to return an item?", checks: [golden]}
      - {id: password, prompt: "How do I reset my password?", checks: [golden]}
"""
ANSWERS = {
    "How long do I have to return an item?": "You can return any item within 30 days of delivery for a full refund.",
    "How do I reset my password?": "1. Open the sign-in page.\n2. Click 'Forgot password'.\n3. Follow the link.",
}


# --- recording ------------------------------------------------------------------------------------------


def test_update_records_one_reviewable_golden_file_per_suite(pytester, write, model_server, openai_config, script):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    write("other.prompt.yaml", "cases: [{id: x, prompt: x}]")
    result = update(pytester)
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    assert (
        "goldens: 3 added, 0 updated, 0 removed, 0 unchanged (written: __golden__/other.prompt.golden.yaml, "
        "__golden__/s.prompt.golden.yaml)" in summary(result)
    )
    assert sorted(p.name for p in (pytester.path / "__golden__").iterdir()) == [
        "other.prompt.golden.yaml",
        "s.prompt.golden.yaml",
    ]
    text = golden_of(pytester).read_text("utf-8")
    # Stable, suite order; multi-line output as a block literal a reviewer reads as prose.
    assert list(yaml.safe_load(text)["cases"]) == ["refund", "password"]  # suite order, not sorted
    assert "    output: |-\n        1. Open the sign-in page.\n        2. Click 'Forgot password'.\n        3." in text
    data = load_golden(pytester)
    assert data["format_version"] == 1 and data["suite"] == "s"
    refund = data["cases"]["refund"]["fast"]
    assert refund["output"] == ANSWERS["How long do I have to return an item?"]
    assert data["cases"]["password"]["fast"]["output"] == ANSWERS["How do I reset my password?"]
    assert refund["model_asked"] == "gpt-4o-mini"
    assert refund["model_served"] == SERVED
    assert refund["fingerprint"] == "fp_1"
    assert refund["finish_reason"] == "stop"
    assert len(refund["request_hash"]) == 16
    assert refund["request_hash"] != data["cases"]["password"]["fast"]["request_hash"]
    assert time.strptime(refund["recorded_at"], "%Y-%m-%dT%H:%M:%SZ")
    [sample] = refund["samples"]
    assert sample["tokens_in"] == 10 and sample["tokens_out"] == 14
    assert refund["latency_p50_ms"] == refund["latency_p95_ms"] == pytest.approx(sample["latency_ms"], abs=0.01)
    assert 0 < sample["latency_ms"] < 1000
    assert refund["tokens_out"] == 14
    assert refund["cost_usd"] == pytest.approx((10 * 0.15 + 14 * 0.60) / 1e6)  # gpt-4o-mini's price
    assert sample["cost_usd"] == refund["cost_usd"]
    # The file's own header tells a reviewer what it is and how to re-record it.
    assert text.startswith("# Golden outputs of the suite 's'")
    assert "--promptguard-update" in text.splitlines()[1]


def test_update_with_identical_outputs_reports_them_unchanged_and_leaves_the_file_alone(
    pytester, write, model_server, openai_config, script
):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    update(pytester).assert_outcomes(passed=2)
    before, stamp = golden_of(pytester).read_bytes(), golden_of(pytester).stat().st_mtime_ns
    script.delay_s = 0.05  # latency moves on every live call: no reason to rewrite a reviewed file
    result = update(pytester)
    result.assert_outcomes(passed=2)
    assert "goldens: 0 added, 0 updated, 0 removed, 2 unchanged" in summary(result)
    assert "written:" not in summary(result)
    assert golden_of(pytester).read_bytes() == before
    assert golden_of(pytester).stat().st_mtime_ns == stamp


def test_update_adds_new_cases_and_rewrites_changed_ones(pytester, write, model_server, openai_config, script):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    update(pytester).assert_outcomes(passed=2)
    first = load_golden(pytester)["cases"]
    script.answers["How do I reset my password?"] = "Click 'Forgot password' on the sign-in page."
    write("s.prompt.yaml", TWO_CASES + '      - {id: hours, prompt: "When are you open?", checks: [golden]}\n')
    script.answers["When are you open?"] = "We are open 9 to 5, Monday to Friday."
    result = update(pytester)
    result.assert_outcomes(passed=3)
    assert "goldens: 1 added, 1 updated, 0 removed, 1 unchanged (written: __golden__/s.prompt.golden.yaml)" in summary(
        result
    )
    cases = load_golden(pytester)["cases"]
    assert list(cases) == ["refund", "password", "hours"]
    assert cases["password"]["fast"]["output"] == "Click 'Forgot password' on the sign-in page."
    assert cases["hours"]["fast"]["output"] == "We are open 9 to 5, Monday to Friday."
    assert cases["refund"]["fast"] == first["refund"]["fast"]  # unchanged: not even its latency moves


def test_a_case_failing_its_other_checks_is_not_recorded(pytester, write, model_server, openai_config, script):
    openai_config()
    suite = """
        cases:
          - {id: refund, prompt: "How long do I have to return an item?", checks: [{contains: "30 days"}, golden]}
    """
    write("s.prompt.yaml", suite)
    script.answers.update(ANSWERS)
    update(pytester).assert_outcomes(passed=1)
    before = golden_of(pytester).read_bytes()
    script.answers["How long do I have to return an item?"] = "Returns are accepted for two weeks."
    write("s.prompt.yaml", suite.rstrip() + '\n          - {id: new, prompt: "new?", checks: [{contains: "never"}]}\n')
    result = update(pytester)
    result.assert_outcomes(failed=2)
    assert result.ret == 1
    shows(result, "s::refund[fast]", "✗ contains:", "30 days", "output:", "Returns are accepted for two weeks.")
    assert "goldens:" not in summary(result)  # nothing recorded, nothing written
    assert golden_of(pytester).read_bytes() == before


def test_unused_goldens_are_reported_and_removed_only_when_the_whole_suite_ran(
    pytester, write, model_server, openai_config, script
):
    openai_config(models={"big": {"provider": "openai", "model": "gpt-4o", "base_url": model_server.url}})
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", "    models: [fast, big]" + TWO_CASES + '      - {id: hours, prompt: "open?"}\n')
    update(pytester).assert_outcomes(passed=6)
    assert {(c, m) for c, models in load_golden(pytester)["cases"].items() for m in models} == {
        (c, m) for c in ("refund", "password", "hours") for m in ("fast", "big")
    }
    # The case `password` is deleted and the suite stops using `big`.
    write(
        "s.prompt.yaml",
        """
        models: [fast]
        cases:
          - {id: refund, prompt: "How long do I have to return an item?", checks: [golden]}
          - {id: hours, prompt: "open?"}
    """,
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    text = summary(result)
    assert "unused golden" in text
    for unused in ("refund[big]", "password[fast]", "password[big]", "hours[big]"):
        assert f"__golden__/s.prompt.golden.yaml: {unused}" in text
    unused_line = text[text.index("unused golden") :].split("\n")[0]
    assert "refund[fast]" not in unused_line and "hours[fast]" not in unused_line
    assert "run the whole suite with --promptguard-update to remove them" in text
    # Only part of the suite ran: its unused entries stay, and are still reported.
    result = update(pytester, "-k", "refund")
    result.assert_outcomes(passed=1)
    assert "goldens: 0 added, 0 updated, 0 removed, 1 unchanged" in summary(result)
    assert "__golden__/s.prompt.golden.yaml: password[fast]" in summary(result)
    assert len([m for models in load_golden(pytester)["cases"].values() for m in models]) == 6
    # The whole suite ran: they go.
    result = update(pytester)
    result.assert_outcomes(passed=2)
    assert "goldens: 0 added, 0 updated, 4 removed, 2 unchanged (written: __golden__/s.prompt.golden.yaml)" in summary(
        result
    )
    assert "unused golden" not in summary(result)
    assert {c: list(m) for c, m in load_golden(pytester)["cases"].items()} == {"refund": ["fast"], "hours": ["fast"]}


# --- drift ----------------------------------------------------------------------------------------------


def test_golden_check_passes_while_similar_and_fails_on_drift_with_score_threshold_and_diff(
    pytester, write, model_server, openai_config, script
):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    update(pytester).assert_outcomes(passed=2)
    script.answers["How long do I have to return an item?"] = (
        "You can return any item within 30 days of its delivery for a full refund."
    )
    run(pytester).assert_outcomes(passed=2)  # reworded a little: token_set_ratio stays above 90
    script.answers["How long do I have to return an item?"] = "Sorry, all sales are final."
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*✗ golden: output drifted from the golden: token_set_ratio * < min 90 (score *)",
            "*--- golden",
            "*+++ now",
            "*-You can return any item within 30 days of delivery for a full refund.",
            "*+Sorry, all sales are final.",
        ]
    )
    assert re.search(r"s +fast +2 +1 +1 +1 ", summary(result))  # counted as drift in the summary table


def test_golden_threshold_and_scorer_per_check_and_from_the_config(
    pytester, write, model_server, openai_config, script
):
    openai_config()
    script.answers["q"] = "The parcel ships on Monday from Berlin."
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: default, prompt: q, checks: [golden]}
          - {id: lenient, prompt: q, checks: [{golden: {min: 80}}]}
          - {id: other-scorer, prompt: q, checks: [{golden: {min: 70, scorer: ratio}}]}
    """,
    )
    update(pytester).assert_outcomes(passed=3)
    # token_set_ratio 83.08 (shown cut to one decimal: 83), ratio 61.5
    script.answers["q"] = "Your parcel ships on Tuesday from Berlin with DHL express, tracked."
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    shows(
        result, "s::default[fast]", "✗ golden: output drifted from the golden: token_set_ratio 83 < min 90 (score 83)"
    )
    shows(result, "s::other-scorer[fast]", "✗ golden: output drifted from the golden: ratio 61.5 < min 70 (score 61.5)")
    # drift.min_similarity sets the default threshold of every `golden: true`.
    config = yaml.safe_load((pytester.path / "promptguard.yaml").read_text())
    config["drift"]["min_similarity"] = 80
    (pytester.path / "promptguard.yaml").write_text(yaml.safe_dump(config))
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    assert "FAILED s.prompt.yaml::other-scorer[fast]" in result.stdout.str()


ORDER = '{"customer": "Ann Lee", "items": [{"sku": "APPLE", "qty": 2}, {"sku": "PEAR", "qty": 3}], "express": false}'


@pytest.mark.parametrize(
    ("now", "passes", "shown", "score"),
    [
        pytest.param(
            '{"express": false, "items": [{"qty": 2, "sku": "APPLE"}, {"qty": 3, "sku": "PEAR"}],\n'
            ' "customer": "Ann Lee"}',
            True,
            "JSON matches the golden",
            100,
            id="reordered-keys",
        ),
        pytest.param(
            '```json\n{"customer": "Ann  Lee.", "items": [{"sku": "APPLE", "qty": 2}, {"sku": "PEAR", "qty": 3}], '
            '"express": false}\n```',
            True,
            "JSON matches the golden",
            100,
            id="fenced-and-string-reworded",
        ),
        pytest.param(
            ORDER.replace('"qty": 3', '"qty": 4'),
            False,
            "JSON drifted from the golden: $.items[1].qty: 3 → 4",
            0,
            id="changed-number",
        ),
        pytest.param(
            ORDER.replace('"qty": 2', '"quantity": 2'),
            False,
            "JSON drifted from the golden: $.items[0].qty: key missing; $.items[0].quantity: new key",
            0,
            id="renamed-key",
        ),
        pytest.param(
            ORDER.replace("false", '"no"'),
            False,
            "JSON drifted from the golden: $.express: was boolean, now string",
            0,
            id="changed-type",
        ),
        pytest.param(
            ORDER.replace("Ann Lee", "Bob Stone"),
            False,
            "JSON drifted from the golden: $.customer: 'Ann Lee' → 'Bob Stone' (token_set_ratio 25 < 90)",
            25,
            id="changed-string",
        ),
        pytest.param(
            '{"customer": "Ann Lee", "items": [{"sku": "APPLE", "qty": 2}], "express": false}',
            False,
            "JSON drifted from the golden: $.items: 2 items, now 1",
            0,
            id="dropped-item",
        ),
        pytest.param(
            ORDER[:-1],
            False,
            "the golden is JSON, the output no longer is: output is not JSON: ",
            0,
            id="truncated",
        ),
    ],
)
def test_json_outputs_are_compared_as_structures(
    pytester, write, model_server, openai_config, script, now, passes, shown, score
):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: order, prompt: order, checks: [golden]}]\n")
    script.answers["order"] = ORDER
    update(pytester).assert_outcomes(passed=1)
    script.answers["order"] = now
    pytester.makeconftest(RECORDER)
    result = run(pytester)
    result.assert_outcomes(passed=int(passes), failed=int(not passes))
    [check] = read_records(pytester)[0]["checks"][0]
    assert check["name"] == "golden" and check["passed"] is passes
    assert check["reason"].startswith(shown), check["reason"]
    assert check["score"] == score
    if not passes:
        shows(result, f"✗ golden: {shown}", "--- golden", "+++ now", "-" + ORDER, "+" + now)


def test_json_numbers_within_tolerance(pytester, write, model_server, openai_config, script):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: price, prompt: p, checks: [{golden: {tolerance: 0.5}}]}]\n")
    script.answers["p"] = '{"total": 10.0, "currency": "EUR"}'
    update(pytester).assert_outcomes(passed=1)
    script.answers["p"] = '{"total": 10.4, "currency": "EUR"}'
    run(pytester).assert_outcomes(passed=1)
    script.answers["p"] = '{"total": 10.6, "currency": "EUR"}'
    result = run(pytester)
    result.assert_outcomes(failed=1)
    shows(result, "✗ golden: JSON drifted from the golden: $.total: 10.0 → 10.6")


def test_a_missing_golden_fails_with_the_command_that_records_it(pytester, write, model_server, openai_config, script):
    openai_config()
    write("suites/s.prompt.yaml", "cases: [{id: refund, prompt: q, checks: [golden]}]\n")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    shows(
        result,
        "✗ golden: no golden recorded yet; record it: "
        "pytest --promptguard --promptguard-update 'suites/s.prompt.yaml::refund[fast]'",
    )
    # The command it names does record it.
    update(pytester, "suites/s.prompt.yaml::refund[fast]").assert_outcomes(passed=1)
    assert (pytester.path / "suites" / "__golden__" / "s.prompt.golden.yaml").exists()
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("edit", "stale"),
    [
        pytest.param(
            lambda write, config: write("s.prompt.yaml", TWO_CASES.replace("an item?", "a gift?")), 1, id="prompt"
        ),
        pytest.param(
            lambda write, config: write("s.prompt.yaml", "    params: {temperature: 0.7}" + TWO_CASES), 2, id="params"
        ),
        pytest.param(lambda write, config: config(model="gpt-4.1-mini"), 2, id="model-id"),
    ],
)
def test_a_stale_golden_fails_saying_the_prompt_changed(
    pytester, write, model_server, openai_config, script, edit, stale
):
    openai_config()
    script.answers.update(ANSWERS)
    script.answers["How long do I have to return a gift?"] = ANSWERS["How long do I have to return an item?"]
    write("s.prompt.yaml", TWO_CASES)
    update(pytester).assert_outcomes(passed=2)
    edit(write, openai_config)
    result = run(pytester)  # the same answers: only the request changed
    result.assert_outcomes(passed=2 - stale, failed=stale)
    shows(
        result,
        "s::refund[fast]",
        "✗ golden: prompt changed since the golden was recorded; review the change, "
        "then re-record: pytest --promptguard --promptguard-update 's.prompt.yaml::refund[fast]'",
    )
    update(pytester).assert_outcomes(passed=2)  # re-recorded: current again
    run(pytester).assert_outcomes(passed=2)


# --- model changes --------------------------------------------------------------------------------------


def test_a_model_change_is_reported_and_fatal_under_strict_or_config(
    pytester, write, model_server, openai_config, script
):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    update(pytester).assert_outcomes(passed=2)
    assert entry(pytester, "refund")["model_served"] == SERVED
    # Same model name in the config, same answers; the provider now serves another snapshot.
    script.served, script.fingerprint = "gpt-4o-mini-2025-01-31", "fp_2"
    result = run(pytester)
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    assert (
        "model change: fast: served model gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31; "
        "fingerprint fp_1 → fp_2 (reported; fatal with --promptguard-strict) [2 cases]" in summary(result)
    )
    result = run(pytester, "--promptguard-strict")
    result.assert_outcomes(failed=2)
    assert result.ret == 1
    shows(
        result,
        "s::refund[fast]",
        "✗ model_change: fast: served model gpt-4o-mini-2024-07-18 → "
        "gpt-4o-mini-2025-01-31; fingerprint fp_1 → fp_2 (fails under --promptguard-strict / "
        "drift.model_change: fail)",
    )
    # A fingerprint alone is a change too; drift.model_change: fail makes it fatal without the flag.
    script.served = SERVED
    config = yaml.safe_load((pytester.path / "promptguard.yaml").read_text())
    (pytester.path / "promptguard.yaml").write_text(
        yaml.safe_dump({**config, "drift": {**config["drift"], "model_change": "fail"}})
    )
    result = run(pytester)
    result.assert_outcomes(failed=2)
    shows(result, "✗ model_change: fast: fingerprint fp_1 → fp_2 (fails under")
    assert "served model" not in summary(result).split("model change:")[1]
    # Re-recorded, the new model is the golden's.
    update(pytester).assert_outcomes(passed=2)
    assert entry(pytester, "refund")["fingerprint"] == "fp_2"
    result = run(pytester, "--promptguard-strict")
    result.assert_outcomes(passed=2)
    assert "model change" not in summary(result)


# --- replay ---------------------------------------------------------------------------------------------


def test_replay_sends_nothing_and_runs_the_checks_on_the_goldens(pytester, write, model_server, openai_config, script):
    openai_config()
    script.answers.update(ANSWERS)
    write(
        "s.prompt.yaml",
        """
        cases:
          - id: refund
            prompt: "How long do I have to return an item?"
            repeat: 2
            checks: [{contains: "30 days"}, golden]
          - {id: password, prompt: "How do I reset my password?", checks: [golden]}
    """,
    )
    update(pytester).assert_outcomes(passed=2)
    sent = len(model_server.requests)
    script.answers.clear()  # a live run would now drift
    pytester.makeconftest(RECORDER)
    result = run(pytester, "--promptguard-replay")
    result.assert_outcomes(passed=2)
    assert len(model_server.requests) == sent  # nothing was sent
    by_case = {r["case"]: r for r in read_records(pytester)}
    assert [c["source"] for c in by_case["refund"]["calls"]] == ["replay", "replay"]
    refund = by_case["refund"]["calls"][0]
    assert refund["text"] == ANSWERS["How long do I have to return an item?"]
    assert refund["model_served"] == SERVED and refund["fingerprint"] == "fp_1"
    assert refund["latency_ms"] == entry(pytester, "refund")["samples"][0]["latency_ms"]
    assert [r["name"] for r in by_case["refund"]["checks"][0]] == ["contains", "golden"]  # checks ran
    assert "* recorded: 3 calls replayed from goldens; latency and cost marked * are as the goldens recorded" in (
        summary(result)
    )
    # The checks are today's: a check the golden output does not meet fails, from the golden alone.
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: refund, prompt: "How long do I have to return an item?", repeat: 2, checks: [{contains: "60 days"}]}
    """,
    )
    result = run(pytester, "--promptguard-replay")
    result.assert_outcomes(failed=1)
    shows(
        result,
        "✗ contains:",
        "60 days",
        "call: fast (openai, asked gpt-4o-mini, served gpt-4o-mini-2024-07-18)",
        "from replay",
    )
    assert len(model_server.requests) == sent


def test_replay_of_a_missing_or_stale_golden_is_an_error_naming_the_fix(
    pytester, write, model_server, openai_config, script
):
    openai_config()
    script.answers.update(ANSWERS)
    write("s.prompt.yaml", TWO_CASES)
    update(pytester, "-k", "refund").assert_outcomes(passed=1)
    write("s.prompt.yaml", TWO_CASES.replace("an item?", "a gift?"))
    sent = len(model_server.requests)
    result = run(pytester, "--promptguard-replay")
    result.assert_outcomes(errors=2)
    assert result.ret == 1
    assert len(model_server.requests) == sent
    shows(
        result,
        "ERROR at setup of s::refund[fast]",
        "cannot replay: prompt changed since the golden was recorded; review the change, then re-record: "
        "pytest --promptguard --promptguard-update 's.prompt.yaml::refund[fast]'",
        "replaying goldens (--promptguard-replay): nothing was called, nothing was judged",
    )
    shows(
        result,
        "ERROR at setup of s::password[fast]",
        "cannot replay: no golden recorded yet; record it: "
        "pytest --promptguard --promptguard-update 's.prompt.yaml::password[fast]'",
    )


# --- latency and cost baselines -------------------------------------------------------------------------

LATENCY_SUITE = """
    cases:
      - {id: sampled, prompt: a, repeat: 6, baseline_samples: 6, checks: [{latency: {regression: 0.25}}]}
      - {id: once, prompt: b, checks: [{latency: {regression: 0.25}}]}
      - {id: unchecked, prompt: c, repeat: 6, baseline_samples: 6}
"""


def _p95(samples: list[dict]) -> float:
    return percentile([s["latency_ms"] for s in samples], 95)


def test_latency_regression_against_the_goldens_p95(pytester, write, model_server, openai_config, script):
    openai_config()
    write("s.prompt.yaml", LATENCY_SUITE)
    # 200 ms a call, as a model takes: a busy machine's noise stays within the tolerance (25 % + 50 ms = 100 ms),
    # where around calls of a few ms it did not.
    script.delay_s = 0.2
    update(pytester).assert_outcomes(passed=3)
    sampled = entry(pytester, "sampled")
    assert len(sampled["samples"]) == 6
    golden_p95 = _p95(sampled["samples"])
    assert sampled["latency_p95_ms"] == pytest.approx(golden_p95, abs=0.01)
    # As fast as before: within p95 x 1.25 + 50 ms. (The suite's drift item is deselected: it pools the cases
    # judged against sampled baselines, whose latency the verdicts judge: tests/test_verdicts.py.)
    pytester.makeconftest(RECORDER)
    run(pytester, "-k", "not drift").assert_outcomes(passed=3)
    records = {r["case"]: r for r in read_records(pytester)}
    assert (
        "thin evidence from one sample: set repeat: 5 for a steadier p95" in records["once"]["case_checks"][0]["reason"]
    )
    # A case judged against a sampled baseline has one latency gate: its verdict, on whole distributions.
    assert records["sampled"]["case_checks"] == [] and records["sampled"]["verdict"]["tests"][1]["name"] == "latency"
    # Slower than every golden's p95 × 1.25 + 50 ms, by 150 ms at least.
    worst = max(_p95(entry(pytester, case)["samples"]) for case in ("sampled", "once", "unchecked"))
    script.delay_s = (worst * 1.25 + 200) / 1000
    result = run(pytester, "-k", "not drift")
    result.assert_outcomes(passed=1, failed=2)
    text = result.stdout.str()
    assert re.search(
        r"✗ latency: latency regression: p95 \d+ ms .* \(1 vs 1 samples\); thin evidence from one "
        r"sample",
        text,
    )
    shows(result, "s::sampled[fast]", "drifted against its sampled baseline", "  latency x")
    # The command line sets a tolerance for every case that has no latency check of its own.
    result = run(pytester, "--promptguard-latency-tolerance", "0.25", "-k", "not drift")
    result.assert_outcomes(failed=3)
    shows(result, "s::unchecked[fast]", "  latency x")
    result = run(pytester, "--promptguard-latency-tolerance", "1000", "-k", "not drift")
    result.assert_outcomes(passed=1, failed=2)  # the cases' own checks still apply


def test_cached_and_replayed_calls_never_count_as_latency(pytester, write, model_server, openai_config, script):
    openai_config()
    write("s.prompt.yaml", "cases: [{id: c, prompt: a, repeat: 2, checks: [{latency: {regression: 0.1}}]}]")
    script.delay_s = 0.5
    run(pytester, "--promptguard-cache").assert_outcomes(passed=1)  # fills the cache with slow answers
    script.delay_s = 0.0
    update(pytester).assert_outcomes(passed=1)  # a fast baseline
    assert entry(pytester, "c")["latency_p95_ms"] * 1.1 + 50 < 500  # the cached answers would break it
    pytester.makeconftest(RECORDER)
    for flag in ("--promptguard-cache", "--promptguard-replay"):
        run(pytester, flag).assert_outcomes(passed=1)
    cached, replayed = read_records(pytester)
    assert {c["source"] for c in cached["calls"]} == {"cache"} and min(c["latency_ms"] for c in cached["calls"]) >= 500
    assert cached["case_checks"][0]["reason"] == "no live call to time (cached or replayed calls are not timed)"
    assert {c["source"] for c in replayed["calls"]} == {"replay"}
    assert replayed["case_checks"][0]["reason"] == "no live call to time (cached or replayed calls are not timed)"


def test_cost_regression_against_the_goldens_tokens_and_cost(pytester, write, model_server, openai_config, script):
    openai_config()
    write(
        "s.prompt.yaml",
        """
        cases:
          - {id: c, prompt: a, repeat: 2, checks: [{cost: {regression: 0.25}}]}
    """,
    )
    script.completion_tokens["gpt-4o-mini"] = 40
    update(pytester).assert_outcomes(passed=1)
    golden = entry(pytester, "c")
    per_call = (10 * 0.15 + 40 * 0.60) / 1e6
    assert golden["tokens_out"] == 40 and golden["cost_usd"] == pytest.approx(per_call)
    script.completion_tokens["gpt-4o-mini"] = 48  # +20%: within tolerance
    run(pytester).assert_outcomes(passed=1)
    script.completion_tokens["gpt-4o-mini"] = 60  # +50% tokens out, +47% cost
    result = run(pytester)
    result.assert_outcomes(failed=1)
    shows(
        result,
        "✗ cost: cost regression: tokens out 60 vs baseline 40 (+50%, allowed +25%); "
        f"cost regression: cost per call ${(10 * 0.15 + 60 * 0.60) / 1e6:.6g} vs baseline ${per_call:.6g} "
        "(+47%, allowed +25%)",
    )


# --- writing safely -------------------------------------------------------------------------------------

WRITERS_CONFTEST = """
from pytest_promptguard.golden import store as golden

def pytest_configure(config):
    role = "worker" if hasattr(config, "workerinput") else "controller"
    write = golden.GoldenFile.write

    def logged(self, order):
        with open("writers.log", "a") as log:
            log.write(f"{role} {self.path.name}\\n")
        write(self, order)

    golden.GoldenFile.write = logged
"""


@pytest.mark.slow
def test_update_under_xdist_leaves_one_correct_file_per_suite_written_by_the_controller(
    pytester, write, model_server, openai_config, script
):
    openai_config()

    def suite(name: str, n: int) -> None:
        write(f"{name}.prompt.yaml", "cases:\n" + "".join(f"  - {{id: c{i}, prompt: '{name}{i}'}}\n" for i in range(n)))

    suite("a", 6)
    suite("b", 5)
    update(pytester).assert_outcomes(passed=11)
    before_a = golden_of(pytester, "a").read_bytes()
    suite("b", 6)  # a new case c5
    script.answers["b3"] = "a new answer"
    pytester.makeconftest(WRITERS_CONFTEST)
    result = pytester.runpytest("--promptguard", "--promptguard-update", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    assert "goldens: 1 added, 1 updated, 0 removed, 10 unchanged (written: __golden__/b.prompt.golden.yaml)" in summary(
        result
    )
    # Both suites ran on workers; only the controller wrote, once, the one file that changed.
    assert (pytester.path / "writers.log").read_text().splitlines() == ["controller b.prompt.golden.yaml"]
    assert sorted(p.name for p in (pytester.path / "__golden__").iterdir()) == [
        "a.prompt.golden.yaml",
        "b.prompt.golden.yaml",
    ]
    assert golden_of(pytester, "a").read_bytes() == before_a
    cases = load_golden(pytester, "b")["cases"]
    assert list(cases) == [f"c{i}" for i in range(6)]
    assert [cases[f"c{i}"]["fast"]["output"] for i in range(6)] == [
        "echo: b0",
        "echo: b1",
        "echo: b2",
        "a new answer",
        "echo: b4",
        "echo: b5",
    ]


@pytest.mark.slow
def test_a_run_killed_mid_update_leaves_the_old_golden_intact(pytester, write, model_server, openai_config, script):
    openai_config(max_concurrency=1)
    write("s.prompt.yaml", "cases:\n" + "".join(f"  - {{id: c{i}, prompt: 'p{i}'}}\n" for i in range(20)))
    update(pytester).assert_outcomes(passed=20)
    before = golden_of(pytester).read_bytes()
    script.answers.update({f"p{i}": f"changed {i}" for i in range(20)})
    script.delay_s = 0.1
    sent = len(model_server.requests)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--promptguard", "--promptguard-update", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while len(model_server.requests) < sent + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "the run ended before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    assert golden_of(pytester).read_bytes() == before
    assert sorted(p.name for p in (pytester.path / "__golden__").iterdir()) == ["s.prompt.golden.yaml"]


@pytest.mark.slow
def test_a_run_interrupted_mid_update_loses_no_golden(pytester, write, model_server, openai_config, script):
    openai_config(max_concurrency=1)
    write("s.prompt.yaml", "cases:\n" + "".join(f"  - {{id: c{i}, prompt: 'p{i}'}}\n" for i in range(20)))
    update(pytester).assert_outcomes(passed=20)
    before = load_golden(pytester)["cases"]
    script.answers.update({f"p{i}": f"changed {i}" for i in range(20)})
    script.delay_s = 0.1
    sent = len(model_server.requests)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--promptguard", "--promptguard-update", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(model_server.requests) < sent + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    after = load_golden(pytester)["cases"]
    assert list(after) == list(before)  # no entry lost (an interrupted suite did not run whole)
    for case, models in after.items():
        assert models["fast"]["output"] in (before[case]["fast"]["output"], f"changed {case[1:]}")
    assert sorted(p.name for p in (pytester.path / "__golden__").iterdir()) == ["s.prompt.golden.yaml"]


def test_a_golden_folder_that_cannot_be_written_is_a_clear_error(
    pytester, write, model_server, openai_config, script, monkeypatch
):
    openai_config()
    write("s.prompt.yaml", TWO_CASES)
    update(pytester, "-k", "refund").assert_outcomes(passed=1)
    folder, before = pytester.path / "__golden__", golden_of(pytester).read_bytes()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: refuse as the OS refuses everyone else
        mkstemp = tempfile.mkstemp

        def refusing(*args, **kwargs):
            if Path(kwargs.get("dir") or ".").resolve() == folder.resolve():
                raise PermissionError(errno.EACCES, "Permission denied", str(folder))
            return mkstemp(*args, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refusing)
    try:
        result = update(pytester)
    finally:
        folder.chmod(0o755)
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    assert (
        "error: __golden__/s.prompt.golden.yaml: cannot write goldens (Permission denied); the file is unchanged: "
        "make its folder writable and record again" in summary(result)
    )
    assert "written:" not in summary(result)
    assert golden_of(pytester).read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["s.prompt.golden.yaml"]


@pytest.mark.parametrize(
    "text",
    [
        "cases: [unclosed\n",
        "format_version: 1\ncases: {refund: {fast: {output: hi}}}\n",
        "format_version: 99\ncases: {}\n",
        "",
    ],
    ids=["bad-yaml", "entry-without-hash", "other-version", "empty"],
)
def test_a_corrupt_golden_file_is_a_collection_error_naming_it_and_the_fix(
    pytester, write, model_server, openai_config, script, text
):
    openai_config()
    write("s.prompt.yaml", TWO_CASES)
    write("other.prompt.yaml", "cases: [{id: x, prompt: x}]")
    write("__golden__/s.prompt.golden.yaml", text)
    for args in ((), ("--promptguard-update",), ("--promptguard-replay",)):
        result = run(pytester, *args)
        result.assert_outcomes(errors=1, passed=1)  # the other suite still runs
        shows(
            result,
            "ERROR collecting s.prompt.yaml",
            "__golden__/s.prompt.golden.yaml: golden file cannot be read: ",
            "fix: restore it from version control, or delete it and record again with --promptguard-update",
        )
        assert result.ret != 0
    assert golden_of(pytester).read_text() == text  # never overwritten


def test_golden_file_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "__golden__" / "s.prompt.golden.yaml"
    golden = GoldenFile(path, "s")
    golden.entries[("c", "fast")] = GoldenEntry(output="old", request_hash="h1", recorded_at="2026-01-01T00:00:00Z")
    golden.write([("c", "fast")])
    original = path.read_bytes()
    golden.entries[("c", "fast")] = GoldenEntry(output="new", request_hash="h2", recorded_at="2026-01-02T00:00:00Z")

    def crash(source, target):
        assert Path(source).read_text("utf-8") == golden.render([("c", "fast")])  # the whole text, flushed
        raise OSError(errno.EIO, "disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        golden.write([("c", "fast")])
    assert path.read_bytes() == original
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    monkeypatch.undo()
    golden.write([("c", "fast")])
    assert GoldenFile.load(path, "s").get("c", "fast").output == "new"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# --- before a model upgrade -----------------------------------------------------------------------------

UPGRADE_ANSWERS = {  # prompt: (fast's answer, fast-next's answer)
    "same": ("Returns are accepted within 30 days.", "Returns are accepted within 30 days."),
    "reworded": ("Standard shipping takes 3 to 5 business days.", "Expect your parcel in about a week."),
    "broken": ("You can return items within 30 days.", "You can return items within a month."),
    "fixed": ("Our hotline is open from 9 to 5.", "Our Acme hotline is open from 9 to 5."),
}


def test_candidate_is_judged_against_the_models_goldens_in_an_upgrade_report(
    pytester, write, model_server, openai_config, script
):
    openai_config(
        price={"input_per_mtok": 1.0, "output_per_mtok": 2.0},
        models={
            "fast-next": {
                "provider": "openai",
                "model": "gpt-next",
                "base_url": model_server.url,
                "timeout_s": 5,
                "price": {"input_per_mtok": 2.0, "output_per_mtok": 4.0},
            }
        },
    )
    script.by_model = {
        "gpt-4o-mini": {prompt: answers[0] for prompt, answers in UPGRADE_ANSWERS.items()},
        "gpt-next": {prompt: answers[1] for prompt, answers in UPGRADE_ANSWERS.items()},
    }
    script.completion_tokens = {"gpt-4o-mini": 20, "gpt-next": 30}
    script.delays = {"gpt-next": 0.15}
    write(
        "s.prompt.yaml",
        """
        checks: [golden]
        cases:
          - {id: same, prompt: same}
          - {id: reworded, prompt: reworded}
          - {id: broken, prompt: broken, checks: [{contains: "30 days"}]}
          - {id: fixed, prompt: fixed}
    """,
    )
    update(pytester).assert_outcomes(passed=4)
    # Today the support team wants the company named: fast's recorded answer to `fixed` no longer passes.
    write(
        "s.prompt.yaml",
        """
        checks: [golden]
        cases:
          - {id: same, prompt: same}
          - {id: reworded, prompt: reworded}
          - {id: broken, prompt: broken, checks: [{contains: "30 days"}]}
          - {id: fixed, prompt: fixed, checks: [{contains: "Acme"}]}
    """,
    )
    golden = load_golden(pytester)["cases"]
    sent = len(model_server.requests)
    pytester.makeconftest(RECORDER)
    result = run(pytester, "--promptguard-candidate", "fast=fast-next")
    # Only the candidate is called, and it is judged by fast's goldens.
    assert [r["model"] for r in model_server.requests[sent:]] == ["gpt-next"] * 4
    result.assert_outcomes(passed=2, failed=2)  # `reworded` and `broken` drifted from fast's goldens
    assert result.ret == 1
    shows(result, "s::reworded[fast-next]", "✗ golden: output drifted from the golden")
    by_case = {r["case"]: r for r in read_records(pytester)}
    assert {r["baseline_model"] for r in by_case.values()} == {"fast"}

    similarity_of = {case: similarity(old, new) for case, (old, new) in UPGRADE_ANSWERS.items()}
    assert similarity_of["same"] == similarity_of["fixed"] == 100 and similarity_of["reworded"] < 90
    text = summary(result)
    assert "upgrade fast → fast-next: REGRESSIONS: 1 of 4 cases pass with fast and not with fast-next" in text
    assert "pass → fail: s::broken" in text
    assert "fail → pass: s::fixed" in text
    # As the golden check rounds them (cut to one decimal): one rounding in every report.
    sims = [shown(similarity(old, new)) for old, new in UPGRADE_ANSWERS.values()]
    lowest = min(UPGRADE_ANSWERS, key=lambda case: shown(similarity(*UPGRADE_ANSWERS[case])))
    assert f"similarity to the goldens: mean {sum(sims) / 4:.1f}, lowest {min(sims):g} (s::{lowest})" in text
    # Latency: fast's golden samples against the candidate's live calls; tokens and cost per call.
    then = [s["latency_ms"] for case in golden.values() for s in case["fast"]["samples"]]
    now = [c["latency_ms"] for r in by_case.values() for c in r["calls"]]
    assert min(now) >= 150

    def delta(old: float, new: float, unit: str = "", digits: int = 0) -> str:
        return f"{unit}{old:,.{digits}f} → {unit}{new:,.{digits}f} ({new / old - 1:+.0%})"

    assert (
        f"latency p50 {delta(percentile(then, 50), percentile(now, 50))} ms, "
        f"p95 {delta(percentile(then, 95), percentile(now, 95))} ms" in text
    )
    old_cost, new_cost = (10 * 1.0 + 20 * 2.0) / 1e6, (10 * 2.0 + 30 * 4.0) / 1e6
    assert f"tokens out/call {delta(20, 30, digits=1)}" in text and "20.0 → 30.0 (+50%)" in text
    assert f"cost/call {delta(old_cost, new_cost, '$', 6)}" in text and "$0.000050 → $0.000140 (+180%)" in text
    # Every case with its similarity and verdict, worst first: fast's outcome today → the candidate's.
    rows = re.findall(r"^ {4}(\w+) +s::(\w+) +similarity +([\d.]+) +(\w+) → (\w+)$", result.stdout.str(), re.M)
    assert rows == [
        ("broken", "broken", f"{shown(similarity(*UPGRADE_ANSWERS['broken'])):g}", "pass", "fail"),
        ("fixed", "fixed", f"{shown(similarity(*UPGRADE_ANSWERS['fixed'])):g}", "fail", "pass"),
        ("changed", "reworded", f"{shown(similarity(*UPGRADE_ANSWERS['reworded'])):g}", "pass", "pass"),
        ("same", "same", "100", "pass", "pass"),
    ]


@settings(max_examples=300, deadline=None)
@example(output="total\x85due", served=None)  # NEL: read back as a line break unless escaped
@example(output="line with trailing space \n  indented\n\n", served="yes")
@given(output=st.text(), served=st.none() | st.text())
def test_a_golden_file_gives_back_exactly_what_was_recorded(output, served):
    with tempfile.TemporaryDirectory() as folder:
        golden = GoldenFile(Path(folder) / "s.prompt.golden.yaml", "s")
        recorded = GoldenEntry(
            output=output,
            request_hash="0123abcd",
            recorded_at="2026-01-01T00:00:00Z",
            model_served=served,
            tool_calls=(ToolCall(name="lookup", arguments={"query": output, "n": 2}),),
            samples=(GoldenSample(latency_ms=12.5, tokens_in=3, tokens_out=4, cost_usd=1e-06),),
        )
        golden.entries[("c", "fast")] = recorded
        golden.write([("c", "fast")])
        again = GoldenFile.load(golden.path, "s").get("c", "fast")
    assert again == recorded and not again.differs_from(recorded)
