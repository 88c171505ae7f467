"""Verdict rules: Bonferroni within an item, alpha split between the suite items and the cases, failures only
beyond the tolerance."""

from __future__ import annotations

import random

import pytest

from pytest_promptguard.drift.verdicts import (
    Finding,
    Look,
    Tolerances,
    decide_run,
    lone_bound,
    look_at_case,
    look_at_suite,
)

from .drift_null import drifted_case, null_case


def look(*findings):
    return Look(tuple(Finding(name, p, beyond, "") for name, p, beyond in findings))


def test_bonferroni_within_an_item():
    assert look(("samples", 0.01, True), ("latency", 0.3, False)).p_value == pytest.approx(0.02)
    assert lone_bound(0.01, 12, 2) == pytest.approx(0.01 / 2 / 12 / 2)


def test_alpha_split_between_suites_and_cases():
    cases = {f"c{i}": look(("samples", 0.5, True)) for i in range(11)}
    cases["c11"] = look(("samples", 0.004, True))  # 0.004 > 0.005 / 12: not alone
    suites = {"suite": look(("samples", 0.004, True))}  # <= 0.005: rejected
    failing = decide_run(cases, suites, 0.01)
    assert failing["c11"] == () and [f.name for f in failing["suite"]] == ["samples"]
    cases["c11"] = look(("samples", 0.0004, True))
    assert decide_run(cases, suites, 0.01)["c11"]


def test_significant_but_within_tolerance_passes():
    failing = decide_run({}, {"suite": look(("samples", 0.0001, False), ("latency", 0.0001, True))}, 0.01)
    assert [f.name for f in failing["suite"]] == ["latency"]


def test_cases_judged_elsewhere_count_in_the_bounds():
    cases = {"c0": look(("samples", 0.001, True))}
    assert decide_run(cases, {}, 0.01)["c0"]
    assert not decide_run(cases, {}, 0.01, case_count=12)["c0"]  # 0.001 > 0.005 / 12


def test_case_and_suite_looks():
    rng = random.Random(1)
    tolerances = Tolerances(similarity=5.0, latency=0.25)
    drifted = look_at_case(
        drifted_case(rng, 10, 8, share=0.75),
        10,
        tolerances,
        latencies=([800.0, 900.0, 1000.0] * 3, [1500.0, 1800.0, 1600.0]),
        seed="a",
    )
    assert [f.name for f in drifted.findings] == ["samples", "latency"]
    assert drifted.findings[0].beyond and drifted.findings[1].beyond
    assert drifted.p_value == pytest.approx(min(1.0, 2 * min(f.p_value for f in drifted.findings)))
    quiet = look_at_case(null_case(rng, 10, 1), 10, Tolerances(), seed="b")
    assert [f.name for f in quiet.findings] == ["samples"] and quiet.latency is None
    suite = look_at_suite(
        {"quiet": quiet.text, "drifted": look_at_case(drifted_case(rng, 10, 1, 1.0), 10, Tolerances()).text},
        [],
        Tolerances(),
    )
    assert suite.text.leading(1) == ["drifted"] and len(suite.findings) == 1
