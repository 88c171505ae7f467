"""How the statistical verdicts (CaseResult.verdict) reach the reports: figures, terminal, Markdown, HTML,
the JSON report and the history; and that a run without verdicts reports exactly as before."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest

from pytest_promptguard.report.charts import history_changes
from pytest_promptguard.report.files import RunInfo, history_row, report_document
from pytest_promptguard.report.html import html_report
from pytest_promptguard.report.markdown import markdown
from pytest_promptguard.report.summary import summarize
from pytest_promptguard.report.terminal import WIDTH, summary_lines, totals_line

from .test_reports import case_result

DRIFT_REASON = "similarity 94 → 61 (p = 0.002, 5 vs 5 samples)"
FLAKY_REASON = "pass rate: contains 100% → 60% (p = 0.04, 5 vs 5 samples)"


def verdict(
    name: str = "stable",
    *,
    reasons: tuple[str, ...] = (),
    calls_if_fixed: int | None = None,
    tests: list[dict] | None = None,
    alpha: float = 0.01,
    family: int = 12,
) -> dict:
    """A verdict as verdict.py fills it in."""
    return {
        "verdict": name,
        "fails": name == "drifted",
        "alpha": alpha,
        "family": family,
        "p_value": 0.002 if name == "drifted" else 0.4,
        "samples": 5,
        "baseline_samples": 5,
        "calls_if_fixed": calls_if_fixed,
        "tests": tests
        if tests is not None
        else [
            {
                "name": "similarity",
                "p_value": 0.4,
                "effect": -1.0,
                "ci": [-4.0, 2.0],
                "then": 94.0,
                "now": 93.0,
                "significant": False,
                "beyond_tolerance": False,
            },
        ],
        "reasons": list(reasons),
    }


SIMILARITY_DROP = {
    "name": "similarity",
    "p_value": 0.002,
    "effect": -33.0,
    "ci": [-45.0, -20.5],
    "then": 94.0,
    "now": 61.0,
    "significant": True,
    "beyond_tolerance": True,
}


def twelve_cases() -> list:
    """The example run: 12 cases sampled with repeat: auto (max 20) that made 64 calls in all;
    10 stable, 1 drifted (its golden checks all passed: drift seen only by the statistics), 1 flaky."""
    results = [
        case_result("flaky-one", samples=8, verdict=verdict("flaky", reasons=(FLAKY_REASON,), calls_if_fixed=20)),
        case_result(
            "refund",
            outcome="failed",
            samples=6,
            verdict=verdict(
                "drifted",
                reasons=(DRIFT_REASON, "latency p95 812 → 1,204 ms"),
                calls_if_fixed=20,
                tests=[SIMILARITY_DROP],
            ),
        ),
    ]
    results += [case_result(f"c{i}", samples=5, verdict=verdict(calls_if_fixed=20)) for i in range(10)]
    return results


def test_figures_count_verdicts_in_a_stable_order_and_verdict_drift_counts_as_drift():
    summary = summarize(twelve_cases())
    assert list(summary.totals.verdicts.items()) == [("stable", 10), ("drifted", 1), ("flaky", 1)]  # no zeros
    assert summary.groups[0].verdicts == summary.totals.verdicts
    assert summary.totals.drifted == 1  # no golden check failed: the verdict alone says drift
    assert summary.totals.to_dict()["verdicts"] == {"stable": 10, "drifted": 1, "flaky": 1}


def test_verdict_summary_counts_calls_made_and_calls_a_fixed_repeat_would_have_made():
    results = twelve_cases() + [case_result("fixed", samples=5, verdict=verdict())]  # repeat: 5, not auto
    verdicts = summarize(results).verdicts
    assert (verdicts.tested, verdicts.alpha) == (13, 0.01)
    assert verdicts.counts == {"stable": 11, "drifted": 1, "flaky": 1}
    assert verdicts.calls_made == 69  # every case with a verdict
    assert (verdicts.auto_calls, verdicts.calls_if_fixed, verdicts.fixed_repeat) == (64, 240, 20)  # the auto ones
    assert summarize(results).to_dict()["verdicts"]["calls_if_fixed"] == 240
    assert summarize([case_result("fixed", samples=5, verdict=verdict())]).verdicts.calls_if_fixed is None


def test_terminal_prints_the_verdict_sentences_within_100_columns():
    lines = summary_lines(summarize(twelve_cases()))
    assert "verdicts: 12 cases tested (FDR 1%): 10 stable, 1 drifted, 1 flaky" in lines
    assert "repeat: auto made 64 calls where a fixed repeat: 20 would have made 240" in lines
    assert all(len(line) <= WIDTH for line in lines)


def test_terminal_without_auto_has_no_repeat_line_and_says_max_when_repeats_differ():
    lines = summary_lines(summarize([case_result("a", samples=5, verdict=verdict(alpha=0.05))]))
    assert "verdicts: 1 case tested (FDR 5%): 1 stable" in lines
    assert not any(line.startswith("repeat: auto") for line in lines)
    mixed = [
        case_result("a", samples=3, verdict=verdict(calls_if_fixed=10)),
        case_result("b", samples=4, verdict=verdict(calls_if_fixed=20)),
    ]
    assert "repeat: auto made 7 calls where a fixed repeat: max would have made 30" in summary_lines(summarize(mixed))


def test_quiet_totals_line_names_drifted_and_flaky():
    line = totals_line(summarize(twelve_cases()))
    assert line.startswith("promptguard: 12 cases, 11 passed, 1 failed, 1 drifted, 1 flaky; p50 100 ms")
    quiet = summary_lines(summarize(twelve_cases()), quiet=True)
    assert " ".join(part.strip() for part in quiet) == line  # -q: still only the totals line (wrapped at 100)


def test_markdown_has_the_sentence_and_a_table_of_the_cases_that_are_not_stable():
    results = twelve_cases()
    results[0].verdict["reasons"] = ["pass rate | contains 100% → 60%"]  # a pipe must not break the table
    text = markdown(summarize(results), results)
    assert "### Verdicts\n\nverdicts: 12 cases tested (FDR 1%): 10 stable, 1 drifted, 1 flaky\n\n" in text
    assert "repeat: auto made 64 calls where a fixed repeat: 20 would have made 240" in text
    table = [line for line in text.splitlines() if line.startswith("| s | ")]
    rows = [line for line in table if "| fast | drifted |" in line or "| fast | flaky |" in line]
    assert rows == [  # drift first, then flakiness; stable cases are not listed
        f"| s | refund | fast | drifted | {DRIFT_REASON} |",
        "| s | flaky-one | fast | flaky | pass rate \\| contains 100% → 60% |",
    ]
    assert "| suite | case | model | verdict | reason |" in text


def test_html_shows_badges_reasons_and_the_tests_behind_a_verdict():
    results = twelve_cases()
    results[0].verdict["reasons"] = ["<script>alert(1)</script> flaky"]
    page = html_report(summarize(results), results, "2026-03-03T02:00:00Z", None)
    assert '<span class="badge v-drifted">drifted</span>' in page
    assert '<span class="badge v-flaky">flaky</span>' in page and '<span class="badge v-stable">stable</span>' in page
    assert "<p>verdicts: 12 cases tested (FDR 1%): 10 stable, 1 drifted, 1 flaky</p>" in page
    assert "<p>repeat: auto made 64 calls where a fixed repeat: 20 would have made 240</p>" in page
    assert page.index('<div class="verdicts">') < page.index("<h2>Suites</h2>")  # the sentence is at the top
    assert "similarity 94 → 61 (p = 0.002, 5 vs 5 samples)" in page and "latency p95 812 → 1,204 ms" in page
    # the test table: test, then → now, effect with its interval, p-value
    assert "<th>test</th><th>then → now</th><th>effect [interval]</th><th>p-value</th>" in page
    assert (
        '<tr class="significant"><td>similarity</td><td class="n">94 → 61</td><td class="n">-33 [-45, -20.5]</td><td class="n">0.002</td>'
        in page
    )
    assert "combined p = 0.002 · 5 baseline vs 5 samples · FDR 1% over 12 cases" in page
    # the not-stable cases are linked from the top to their row
    anchor = re.search(r'<a href="#(case-\d+)"><span class="badge v-drifted">', page).group(1)
    assert f'<tr id="{anchor}"><td>s</td><td>refund</td>' in page
    assert "<th>verdict</th>" in page
    assert "<details open><summary>verdict drifted: similarity 94 → 61" in page  # drift is shown unfolded
    assert "<details><summary>verdict stable: 0 of 1 tests significant</summary>" in page  # stable stays folded
    # escaped, and self-contained
    assert "&lt;script&gt;alert(1)&lt;/script&gt; flaky" in page
    assert not re.search(r"<script|<link|\bsrc=|https?://", page)


def history(rows: list[tuple[str, str, str, int]]) -> list[dict]:
    """History rows as --promptguard-history writes them, one per (time, served, fingerprint, drifted cases)."""
    written = []
    for time, served, fingerprint, drifted in rows:
        results = [
            case_result(
                f"c{i}",
                samples=5,
                served=served,
                fingerprint=fingerprint,
                verdict=verdict("drifted" if i < drifted else "stable", reasons=(DRIFT_REASON,) * (i < drifted)),
            )
            for i in range(6)
        ]
        written.append(json.loads(json.dumps(history_row(summarize(results), RunInfo(time, "abc123", "live")))))
    return written


def test_history_row_carries_served_fingerprints_verdicts_and_similarity():
    results = [
        case_result("a", samples=5, fingerprint="fp_b", verdict=verdict("drifted")),
        case_result("b", samples=5, verdict=verdict()),
    ]
    results[0].golden = {"state": "ok", "similarity": 61.0}
    results[1].golden = {"state": "ok", "similarity": 93.0}
    group = history_row(summarize(results), RunInfo("2026-03-03T02:00:00Z", None, "live"))["groups"][0]
    assert group["served"] == ["gpt-4o-mini-2024-07-18"]
    assert group["fingerprints"] == ["fp_a", "fp_b"]
    assert group["verdicts"] == {"stable": 1, "drifted": 1}
    assert (group["drifted"], group["mean_similarity"]) == (1, 77.0)


def test_html_trend_marks_the_run_where_the_fingerprint_changed_and_the_drift_that_day():
    rows = history(
        [
            ("2026-03-01T02:00:00Z", "gpt-4o-mini-2024-07-18", "fp_a", 0),
            ("2026-03-02T02:00:00Z", "gpt-4o-mini-2024-07-18", "fp_a", 0),
            ("2026-03-03T02:00:00Z", "gpt-4o-mini-2024-07-18", "fp_b", 4),
        ]
    )
    results = [case_result("a", samples=5)]
    page = html_report(summarize(results), results, "2026-03-03T02:00:00Z", None, rows)
    sentence = "s[fast]: fingerprint changed on 2026-03-03 (fp_a → fp_b); 4 cases drifted the same day"
    assert f'<ol class="changes"><li>{sentence}</li></ol>' in page
    assert page.count('<g class="change">') == 1  # one marker, on the third run
    marker = re.search(r'<g class="change"><title>(.*?)</title><line x1="([\d.]+)"', page)
    assert marker.group(1) == sentence and float(marker.group(2)) == 550.0  # x of the last of 3 runs
    assert 'aria-label="pass rate trend over 3 runs"' in page


def test_served_model_change_without_drift_and_what_cannot_fake_a_change():
    rows = history(
        [
            ("2026-03-01T02:00:00Z", "gpt-4o-mini-2024-07-18", "fp_a", 0),
            ("2026-03-02T02:00:00Z", "gpt-4o-mini-2025-01-31", "fp_a", 0),
        ]
    )
    assert [c.sentence() for c in history_changes(rows)] == [
        "s[fast]: served model changed on 2026-03-02 (gpt-4o-mini-2024-07-18 → gpt-4o-mini-2025-01-31); no case drifted",
    ]
    outage = json.loads(json.dumps(rows[1]))
    outage["groups"][0].update(served=[], fingerprints=[])  # every call failed: nothing was served
    replay = json.loads(json.dumps(rows[0]))
    replay.update(mode="replay")
    replay["groups"][0].update(fingerprints=["fp_golden"])  # replayed calls carry the golden's fingerprint
    steady = history([("2026-03-05T02:00:00Z", "gpt-4o-mini-2024-07-18", "fp_a", 0)])
    assert history_changes([rows[0], outage, replay, *steady]) == []
    older = json.loads(json.dumps(rows[1]))
    del older["groups"][0]["verdicts"]  # a row written before verdicts existed: its drifted count stands
    older["groups"][0].update(drifted=2)
    assert history_changes([rows[0], older])[0].sentence().endswith("; 2 cases drifted the same day")


def test_json_report_with_verdicts_follows_its_schema():
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    info = RunInfo("2026-03-03T02:00:00Z", None, "live")
    results = twelve_cases()
    document = json.loads(json.dumps(report_document(summarize(results), results, info)))
    validator.validate(document)
    assert document["verdicts"]["counts"] == {"stable": 10, "drifted": 1, "flaky": 1}
    assert document["totals"]["verdicts"] == {"stable": 10, "drifted": 1, "flaky": 1}
    drifted = next(c for c in document["cases"] if c["case"] == "refund")
    assert drifted["verdict"]["tests"][0]["ci"] == [-45.0, -20.5]
    for path, bad in (
        (("cases", 0, "verdict", "verdict"), "sideways"),
        (("cases", 0, "verdict", "alpha"), 2),
        (("cases", 0, "verdict", "fails"), "yes"),
        (("totals", "verdicts", "stable"), 0),
        (("verdicts", "tested"), "12"),
    ):
        broken = json.loads(json.dumps(document))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
    del document["verdicts"], document["totals"]["verdicts"]  # a report written before verdicts existed
    validator.validate(document)


def test_a_run_without_verdicts_reports_as_before():
    results = [case_result("a"), case_result("b", outcome="failed", fingerprint="fp_b")]
    summary = summarize(results)
    assert summary.verdicts is None and summary.totals.verdicts == {}
    assert summary.to_dict()["verdicts"] is None
    lines = summary_lines(summary)
    assert not any(line.startswith(("verdicts:", "repeat: auto")) for line in lines)
    assert totals_line(summary).startswith("promptguard: 2 cases, 1 passed, 1 failed; ")
    text = markdown(summary, results)
    assert "Verdicts" not in text and "repeat: auto" not in text
    page = html_report(summary, results, "2026-03-03T02:00:00Z", None)
    assert '<div class="verdicts">' not in page and "<th>verdict</th>" not in page and 'class="badge' not in page
    assert "<th>outcome</th><th>similarity</th>" in page  # the cases table keeps its columns
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(
        json.loads(json.dumps(report_document(summary, results, RunInfo("2026-03-03T02:00:00Z", None, "live"))))
    )
