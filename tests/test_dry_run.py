"""`--promptguard-dry-run`: the calls, tokens and cost a run would make, and not one request sent."""

from __future__ import annotations

import pytest

from pytest_promptguard.core.wording import usd

SUITE = """
    cases:
      - {id: short, prompt: "abcdefgh", params: {max_tokens: 100}, repeat: 3}
      - {id: plain, prompt: "abcdefghijklmnop"}
"""


def test_a_dry_run_prices_the_run_and_calls_nothing(pytester, write, model_server, openai_config):
    openai_config()
    write("s.prompt.yaml", SUITE)
    write("test_plain.py", "def test_ordinary(): pass\n")
    result = pytester.runpytest("--promptguard", "--promptguard-dry-run", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.OK
    assert model_server.requests == []
    # short: 3 calls of 2 input tokens, 0-100 output tokens each; plain: 1 call of 4 input tokens, 0-256 output.
    low = (3 * 2 + 4) * 0.15 / 1e6
    high = low + (3 * 100 + 256) * 0.6 / 1e6
    assert (usd(low), usd(high)) == ("$0.0000015", "$0.00034")  # two significant digits
    result.stdout.fnmatch_lines(
        [
            "*= promptguard dry run =*",
            "model * provider * asks * cases * calls * input tok * output tok * est. cost",
            f"fast * openai * gpt-4o-mini * 2 * 4 * 10 * 0–556 {usd(low)}–{usd(high)}",
            f"dry run: nothing was called; at most 4 calls, estimated cost {usd(low)}–{usd(high)}",
            "output tokens: at least the goldens' (0 where none is recorded), at most max_tokens (else 256) a reply;*",
            "1 other test(s) collected and not run (dry run)",
        ]
    )


def test_recorded_goldens_set_the_low_end_of_output_tokens(pytester, write, model_server, openai_config):
    openai_config()
    model_server.answers["abcdefghijklmnop"] = "one two three four five"
    write("s.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update", "-p", "no:randomly").assert_outcomes(passed=2)
    requests = len(model_server.requests)
    result = pytester.runpytest("--promptguard", "--promptguard-dry-run", "-p", "no:randomly")
    assert len(model_server.requests) == requests
    # The echo server answered "echo: abcdefgh" (2 tokens out) and the five words (5 tokens out).
    result.stdout.fnmatch_lines(["fast * openai * gpt-4o-mini * 2 * 4 * 10 * 11–556 *"])


@pytest.mark.parametrize("other", [["--promptguard-update"], ["-n", "2"]])
def test_a_dry_run_refuses_options_that_would_call_or_spread(pytester, write, openai_config, other):
    openai_config()
    write("s.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "--promptguard-dry-run", *other)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*these options cannot be combined: --promptguard-dry-run*"])
