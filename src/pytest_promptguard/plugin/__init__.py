"""The pytest entry point: options, and the run's hooks when `--promptguard` is given.

pytest imports this module on every run, so it imports nothing heavy: without `--promptguard` only the
options, the `promptguard` marker and the `promptguard` fixture are registered, nothing is collected and
nothing else is imported (see `hooks.py`; the fixture imports `fixture.py` only for a test that calls models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DEFAULT_CONCURRENCY = 32
DEFAULT_CACHE_TTL_S = 7 * 24 * 3600.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("promptguard", "prompt regression suites (pytest-promptguard)")
    group.addoption("--promptguard", action="store_true", help="collect and run *.prompt.yaml suites")
    group.addoption("--promptguard-config", metavar="PATH", type=Path, help="use this promptguard.yaml for every suite")
    group.addoption(
        "--promptguard-concurrency",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help=f"calls in flight at once in each process (default {DEFAULT_CONCURRENCY}); "
        "models also have max_concurrency",
    )
    group.addoption(
        "--promptguard-repeat",
        metavar="N",
        type=_repeat,
        help="sample every call N times, or 'auto': in rounds until the verdict is decided (overrides repeat:; "
        "with --promptguard-update, the baseline samples to record)",
    )
    group.addoption(
        "--promptguard-max-cost",
        metavar="USD",
        type=float,
        help="the most this run may spend (per process under xdist); once spent, no new call is sent",
    )
    group.addoption(
        "--promptguard-cache",
        action="store_true",
        help="reuse responses to identical requests from .promptguard/cache/ (not timed in latency figures)",
    )
    group.addoption(
        "--promptguard-cache-ttl",
        metavar="AGE",
        type=parse_duration,
        default=DEFAULT_CACHE_TTL_S,
        help="how long cached responses stay valid: 3600, 90m, 12h, 7d (default 7d)",
    )
    group.addoption(
        "--promptguard-update",
        action="store_true",
        help="record goldens (__golden__/ beside each suite) for the cases run whose other checks pass",
    )
    group.addoption(
        "--promptguard-update-baselines",
        action="store_true",
        help="with --promptguard-update: also re-record latency, token and cost figures of unchanged outputs",
    )
    group.addoption(
        "--promptguard-replay",
        action="store_true",
        help="send no request: every call answers as its golden recorded it (CI without keys)",
    )
    group.addoption(
        "--promptguard-strict",
        action="store_true",
        help="fail when a served model or fingerprint differs from the golden's (drift.model_change: fail)",
    )
    group.addoption(
        "--promptguard-candidate",
        metavar="MODEL=CANDIDATE",
        action="append",
        type=_candidate,
        default=[],
        help="run CANDIDATE wherever a suite uses MODEL, judge it against MODEL's goldens, report the upgrade",
    )
    group.addoption(
        "--promptguard-latency-tolerance",
        metavar="FRACTION",
        type=float,
        help="fail cases whose p95 latency exceeds the golden's by more than FRACTION (0.25 = +25%%) plus 50 ms",
    )
    group.addoption(
        "--promptguard-dry-run",
        action="store_true",
        help="collect and render every prompt, print the calls, tokens and cost a run would make; call nothing",
    )
    group.addoption(
        "--promptguard-shard",
        metavar="K/N",
        help="run shard K of N (1 <= K <= N): whole test files, balanced by the latency their goldens recorded "
        "(by item count without goldens), the same on every machine; "
        "merge the shards' reports with `python -m pytest_promptguard merge`",
    )
    group.addoption(
        "--promptguard-outage-exit-code",
        metavar="N",
        type=_outage_exit_code,
        help="exit with status N (e.g. 75, EX_TEMPFAIL) when the only failures are provider errors that may pass "
        "(timeouts, lost connections, HTTP 5xx/408/409/429): an outage to retry, not a drift to page for "
        "(ini: promptguard_outage_exit_code)",
    )
    group.addoption(
        "--promptguard-report", metavar="PATH", type=Path, help="write the run as JSON (schema: report.schema.json)"
    )
    group.addoption(
        "--promptguard-log", metavar="PATH", type=Path, help="write one JSON line per call: the explainability log"
    )
    group.addoption("--promptguard-html", metavar="PATH", type=Path, help="write a self-contained HTML report")
    group.addoption(
        "--promptguard-html-screenshot",
        action="store_true",
        help="also write a PNG of the HTML report beside it (needs Chromium)",
    )
    group.addoption(
        "--promptguard-md",
        metavar="PATH",
        type=Path,
        help="write a Markdown summary (it also goes to $GITHUB_STEP_SUMMARY when that is set)",
    )
    group.addoption(
        "--promptguard-history",
        metavar="PATH",
        type=Path,
        help="append one row per run (pass rates, similarity, p95, cost) for nightly trends; the HTML report draws it",
    )
    parser.addini(
        "promptguard_files", type="args", default=["*.prompt.yaml", "*.prompt.yml"], help="glob patterns of suite files"
    )
    parser.addini(
        "promptguard_outage_exit_code",
        type="string",
        default="",
        help="the exit status of a run whose only failures are provider errors that may pass (see "
        "--promptguard-outage-exit-code, which overrides it)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _repeat(text: str) -> int | str:
    return "auto" if text.strip().lower() == "auto" else _positive_int(text)


def _outage_exit_code(text: str) -> int:
    from ..run.options import outage_exit_code  # only when the option is given: nothing is imported otherwise

    return outage_exit_code(text)


def _candidate(text: str) -> tuple[str, str]:
    model, sep, candidate = text.partition("=")
    if not sep or not model or not candidate:
        raise ValueError(text)
    return model.strip(), candidate.strip()


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '12h', '7d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "promptguard: this test calls models through the promptguard fixture: run it even without --promptguard",
    )
    shard = config.getoption("promptguard_shard")
    if not config.getoption("promptguard"):
        if shard is not None:
            raise pytest.UsageError("--promptguard-shard splits the promptguard run: add --promptguard")
        return
    if shard is not None:
        from .shard import Shard, ShardHooks

        config.pluginmanager.register(ShardHooks(Shard.parse(shard)), "promptguard-shard")
    from .hooks import PromptguardPlugin

    config.pluginmanager.register(PromptguardPlugin(config), "promptguard-run")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") == "load":
        from .xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(), "promptguard-xdist")


SKIP_REASON = "promptguard fixture: run with --promptguard (this test calls models)"


@pytest.fixture
def promptguard(request: pytest.FixtureRequest) -> Any:
    """Call models and run promptguard checks from a Python test, with the run's scheduler, checks, goldens and
    reports: `call = promptguard.call("fast", messages)`, then `promptguard.check(call, contains="4.2")`.

    Without `--promptguard` the test is skipped, unless it is marked `@pytest.mark.promptguard`; the machinery is
    imported only when a test uses it (see `fixture.py`).
    """
    if not request.config.getoption("promptguard") and request.node.get_closest_marker("promptguard") is None:
        pytest.skip(SKIP_REASON)
    from .fixture import PromptGuard

    return PromptGuard.for_test(request.node)
