"""Faulty providers: every fault of tests/faults.py against every HTTP provider, through `pytest --promptguard`, on
the default transport (aiohttp); on httpx's own, the faults that meet the transport itself.

Each run has two items: `again` meets the fault on its first RETRIES attempts (so a retried fault clears on the
last attempt allowed), `always` meets it on every attempt. Whatever the fault, the run completes, every item
ends as a pass, a judged failure or a clean error naming the model, the URL and the fault, within the call's
time bound, and the promptguard summary counts the errors and the retries. tests/README.md holds the figures;
regenerate them with PROMPTGUARD_FAULT_TABLE=<file> (see there).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import httpx
import pytest
import yaml

from pytest_promptguard.call.scheduler import Scheduler
from pytest_promptguard.config.spec import ModelSpec
from pytest_promptguard.providers import make_provider
from pytest_promptguard.providers.http import MAX_BODY_BYTES

from .faults import ANSWER_FIELD, FAULTS, PROVIDERS, SLOW, Fault, FaultServer, RefusingPort, base_url
from .recording import TIMED_RECORDER, calls_time_s, read_records

RETRIES, MAX_BACKOFF_S = 2, 0.05
TIMEOUT_S = 0.3  # per attempt, for the faults that are waited out (SLOW)
AMPLE_TIMEOUT_S = 5.0  # for the others, which must end by themselves, long before (QUICK_S)
QUICK_S = 1.5  # the calls of a fault that is not waited out end within this


# What reaches httpx's own transport (call/transport.py) differently from aiohttp's: connections, framing, body
# bounds, encodings, redirects, Retry-After. The rest (statuses, JSON shapes) is decided above the transport.
HTTPX_FAULTS = {
    "429-retry-after-ms",
    "503-huge-body",
    "refused",
    "reset-before-answer",
    "reset-mid-body",
    "short-body",
    "garbage",
    "bad-gzip",
    "hang-mid-body",
    "huge-declared",
    "huge-chunked",
    "redirect-307",
}
MATRIX = [(fault, "aiohttp") for fault in FAULTS] + [(fault, "httpx") for fault in FAULTS if fault.name in HTTPX_FAULTS]


def timeout_s(fault: Fault) -> float:
    return TIMEOUT_S if fault.name in SLOW else AMPLE_TIMEOUT_S


def bound_s(fault: Fault) -> float:
    """The bound on a whole call (retries and backoff included), as the scheduler enforces it."""
    spec = ModelSpec(
        name="x", provider="openai", timeout_s=timeout_s(fault), retries=RETRIES, max_backoff_s=MAX_BACKOFF_S
    )
    return spec.total_timeout_s


SUITE = """
cases:
  - {id: again, prompt: again, checks: [{contains: "ok: "}]}
  - {id: always, prompt: always, checks: [{contains: "ok: "}]}
"""


@dataclass(frozen=True)
class Ending:
    outcome: str  # passed, failed (the checks judged the answer) or error
    attempts: int


def expected(fault: Fault, case: str) -> Ending:
    if fault.ending == "retried":
        if case == "again" and not fault.refused:
            return Ending("passed", RETRIES + 1)  # cleared on the last attempt allowed
        return Ending("error", RETRIES + 1)
    return {"fatal": Ending("error", 1), "answer": Ending("passed", 1), "judged": Ending("failed", 1)}[fault.ending]


def endpoint(provider: str, root: str) -> str:
    spec = ModelSpec(name=provider, provider=provider, model=model_id(provider), base_url=base_url(provider, root))
    return make_provider(spec).endpoint


def model_id(provider: str) -> str:
    return f"{provider}-test-1"


# --- measured figures, for tests/README.md ---------------------------------------------------------------

MEASURED: dict[tuple[str, str], dict] = {}


@pytest.fixture(scope="module", autouse=True)
def fault_table() -> Iterator[None]:
    yield
    target = os.environ.get("PROMPTGUARD_FAULT_TABLE")
    if target and MEASURED:
        with open(target, "w", encoding="utf-8") as out:
            out.write(table(MEASURED))


def table(measured: dict[tuple[str, str], dict]) -> str:
    lines = [
        "| fault | transport | providers | expected ending (`again` / `always`) | runs completed | items lost "
        "| calls' time | asserted bound |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fault, transport in MATRIX:
        if (fault.name, transport) not in measured:
            continue
        row = measured[fault.name, transport]
        ending = f"{_ending(expected(fault, 'again'))} / {_ending(expected(fault, 'always'))}"
        bound = bound_s(fault) if fault.name in SLOW else QUICK_S
        lines.append(
            f"| {fault.name} | {transport} | {', '.join(PROVIDERS)} | {ending} | {row['completed']}/1 "
            f"({row['items']} items) | {row['lost']} | {row['elapsed_s']:.2f} s | < {bound:.1f} s |"
        )
    rows = measured.values()
    lines += [
        "",
        f"{len(rows)} fault runs × {len(PROVIDERS)} providers: {sum(r['completed'] for r in rows)}/{len(rows)} "
        f"runs completed, {sum(r['items'] for r in rows)} items, {sum(r['lost'] for r in rows)} lost; "
        f"slowest calls {max(r['elapsed_s'] for r in rows):.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def _ending(ending: Ending) -> str:
    word = {"passed": "pass", "failed": "judged, check fails", "error": "error"}[ending.outcome]
    return f"{word} after {ending.attempts}"


# --- the matrix: every fault, each run against the four providers at once ----------------------------------


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.mark.parametrize(("fault", "transport"), MATRIX, ids=[f"{f.name}-{t}" for f, t in MATRIX])
def test_a_faulty_provider_costs_no_item(pytester, write, fault_server, fault, transport):
    refusing = RefusingPort() if fault.refused else None
    root = refusing.root if refusing else fault_server.root
    models = {
        provider: {
            "provider": provider,
            "model": model_id(provider),
            "base_url": base_url(provider, root),
            "timeout_s": timeout_s(fault),
            "retries": RETRIES,
            "max_backoff_s": MAX_BACKOFF_S,
            "transport": transport,
        }
        for provider in PROVIDERS
    }
    (pytester.path / "promptguard.yaml").write_text(
        yaml.safe_dump({"default_models": list(PROVIDERS), "models": models}), encoding="utf-8"
    )
    write("faults.prompt.yaml", SUITE)
    pytester.makeconftest(TIMED_RECORDER)
    fault_server.plan("again", fault, times=RETRIES)
    fault_server.plan("always", fault, times=None)
    try:
        result = pytester.runpytest("--promptguard", "-p", "no:xdist")  # xdist's plugin only slows each run
    finally:
        if refusing:
            refusing.close()
    output = result.stdout.str() + result.stderr.str()
    items = 2 * len(PROVIDERS)

    # The run completes: a plain pass/fail exit, no internal error, no traceback.
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    # Every item is accounted for, by pytest and in promptguard's own records.
    outcomes = result.parseoutcomes()
    lost = items - sum(outcomes.get(k, 0) for k in ("passed", "failed", "errors", "error"))
    records = {(r["model"], r["case"]): r for r in read_records(pytester)}
    assert lost == 0 and len(records) == items, output
    ends = {case: expected(fault, case) for case in ("again", "always")}
    for provider in PROVIDERS:
        for case, ending in ends.items():
            # Each item ends as the fault says, after the attempts it says.
            [call] = records[provider, case]["calls"]
            assert (records[provider, case]["outcome"], call["attempts"]) == (ending.outcome, ending.attempts), (
                provider,
                case,
                call,
            )
            if ending.outcome != "error":
                assert call["error"] is None and call["text"] == ("" if fault.ending == "judged" else f"ok: {case}")
                continue
            # An error names the model, the URL and the fault, and is an error of the item alone.
            section = _error_section(output, provider, case)
            attempts = f" after {ending.attempts} attempts" if ending.attempts > 1 else ""
            assert f"model '{provider}' ({provider}, {model_id(provider)}) failed{attempts}: " in section, section
            assert endpoint(provider, root) in section, section
            for fragment in fault.says:
                assert fragment.format(field=ANSWER_FIELD[provider]) in section, (fragment, section)
            assert "this is a provider error, not a check failure" in section, section
    # The calls (the eight at once) end within the bound on a call; quickly when the fault never waits out a timeout.
    elapsed = calls_time_s(pytester)
    assert elapsed < bound_s(fault)
    if fault.name not in SLOW:
        assert elapsed < QUICK_S
    # The summary counts them: outcomes per model, and the retries.
    count = {o: sum(e.outcome == o for e in ends.values()) for o in ("passed", "failed", "error")}
    result.stdout.fnmatch_lines_random(
        [
            f"faults * {provider} * 2 * {count['passed']} * {count['failed']} * 0 * {count['error']} *"
            for provider in PROVIDERS
        ]
    )
    retried = [e for e in ends.values() if e.attempts > 1] * len(PROVIDERS)
    line = f"warning: {len(retried)} call(s) needed retries ({sum(e.attempts - 1 for e in retried)} retries in all)"
    assert (line in output) == bool(retried) and ("needed retries" in output) == bool(retried), output
    if fault.ending == "answer":
        assert f"warning: {items} call(s) reported no token usage; their tokens are estimated" in output
        assert all(r["calls"][0]["usage"]["estimated"] for r in records.values())

    MEASURED[fault.name, transport] = {"completed": 1, "items": items, "lost": lost, "elapsed_s": elapsed}


def _error_section(output: str, model: str, case: str) -> str:
    match = re.search(
        rf"_+ ERROR at setup of faults::{case}\[{model}\] _+\n(.*?)(?=\n_{{3,}} |\n={{3,}} )", output, re.DOTALL
    )
    assert match, output
    return match.group(1)


# --- what the matrix rests on ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_an_attempt_is_bounded_by_timeout_s_alone(transport):
    """httpx's own timeouts (5 s between bytes by default) are off, and aiohttp's (5 minutes a request): a model may
    take 30 s to start answering when timeout_s allows it; asyncio bounds each whole attempt instead (the
    slow-loris rows above)."""
    spec = ModelSpec(name="m", provider="openai", model="x", base_url="http://127.0.0.1:9/v1", transport=transport)
    client = Scheduler(1)._client(make_provider(spec))
    assert client is not None and client.timeout == httpx.Timeout(None)
    assert client.follow_redirects is False
    if transport == "aiohttp":

        async def session_timeout() -> aiohttp.ClientTimeout:
            session = client._wire._open()  # type: ignore[attr-defined]
            await session.close()
            return session.timeout

        assert asyncio.run(session_timeout()) == aiohttp.ClientTimeout(total=None)


def test_the_body_limit_is_16_mib():
    assert MAX_BODY_BYTES == 16 << 20  # the fault table and the "larger than 16 MiB" messages say so


def test_a_bug_of_ours_costs_one_item_not_the_run(pytester, write, fault_server, monkeypatch):
    """Whatever escapes a provider (here a parser that crashes) is that call's error, not a lost item."""
    from pytest_promptguard.providers import openai

    def crash(data, endpoint, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(openai, "parse_chat_completion", crash)
    spec = {"provider": "openai", "model": "m-1", "base_url": base_url("openai", fault_server.root), "retries": RETRIES}
    (pytester.path / "promptguard.yaml").write_text(
        yaml.safe_dump({"default_models": ["openai"], "models": {"openai": spec}}), encoding="utf-8"
    )
    write("faults.prompt.yaml", SUITE)
    result = pytester.runpytest("--promptguard", "-p", "no:xdist")
    result.assert_outcomes(errors=2)
    assert "INTERNALERROR" not in result.stdout.str() and "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            f"model 'openai' (openai, m-1) failed: internal: calling {fault_server.root}/v1/chat/completions raised "
            "RuntimeError: boom (a promptguard bug: please report it)",
        ]
        * 2
    )
    assert fault_server.attempts == {("openai", "again"): 1, ("openai", "always"): 1}  # not retried
