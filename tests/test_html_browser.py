"""The HTML report as a person sees it: rendered by a real headless Chromium, read back as text."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pytest_promptguard.report.browser import find_browser, run_browser

from .servers import Reply, chat_completion, last_user_message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_browser() is None or shutil.which("pdftotext") is None,
        reason="needs Chromium and pdftotext (Debian: chromium, poppler-utils; .ci/run installs them)",
    ),
]

SUITE = """
tags: [support]
checks: [{golden: true}]
cases:
  - {id: refund-window, prompt: "refund?", tags: [refunds]}
  - {id: opening-hours, prompt: "hours?"}
"""


def test_a_person_sees_the_failure_and_the_figures(pytester, write, model_server, openai_config):
    openai_config(price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})
    answers = {"refund?": "You can return items within 30 days for a full refund.", "hours?": "We are open 9-5."}
    model_server.responder = lambda request, headers: Reply(
        body=chat_completion(answers[last_user_message(request)], prompt_tokens=10, completion_tokens=5)
    )
    write("support.prompt.yaml", SUITE)
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=2)
    answers["refund?"] = "Returns are accepted for store credit within 14 days."
    result = pytester.runpytest("--promptguard", "--promptguard-html=out/report.html", "--promptguard-html-screenshot")
    result.assert_outcomes(passed=1, failed=1)
    page = pytester.path / "out/report.html"
    source = page.read_text()
    assert not re.search(r"<script|<link|\bsrc=|https?://", source)  # self-contained: nothing to fetch

    pdf = pytester.path / "out/report.pdf"
    run_browser(find_browser(), page, f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    assert "promptguard report: 1 failing" in flat
    assert "Failures (1)" in flat
    assert "support.prompt.yaml::refund-window[fast] — failed" in flat
    assert "golden: output drifted from the golden: token_set_ratio" in flat
    # The side-by-side diff: golden on the left, now on the right.
    assert re.search(r"golden\s+now", text)
    assert "You can return items within 30 days" in flat and "Returns are accepted for store credit" in flat
    # The headline cards: figures above their labels.
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    labels = lines.index("cases passed failed drifted errors")
    assert lines[labels - 1] == "2 1 1 1 0"
    assert "$0.0000" in lines[labels + 1] and lines[labels + 2] == "latency p50 latency p95 tokens in / out cost"
    assert "Suites" in flat and "support fast 2 1 1 1 0" in flat
    assert "Latency" in flat and "Cost per tag" in flat

    png = pytester.path / "out/report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    result.stdout.fnmatch_lines(["reports: out/report.html, out/report.png"])
