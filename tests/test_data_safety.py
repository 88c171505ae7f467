"""Goldens survive what happens to real runs: SIGKILL at any moment, two runs updating at once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # every test here runs pytest in subprocesses, dozens of times

APP = """
import time
def answer(messages, params):
    time.sleep(0.002)
    return "answer to " + messages[-1]["content"] + params.get("suffix", "")
"""
CONFIG = """
pythonpath: [.]
default_models: [app]
models:
  app: {provider: python, callable: "app:answer", params: {suffix: "SUFFIX"}}
drift: {baseline_samples: 1}  # one call a case: what is at stake here is the file, not the samples
"""


def suite(cases: int) -> str:
    return "checks: [{golden: true}]\ncases:\n" + "".join(
        f"  - {{id: c{i:03}, prompt: 'q{i}'}}\n" for i in range(cases)
    )


def pytest_command(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "--promptguard",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        *args,
    ]


def golden_of(folder: Path) -> Path:
    return folder / "__golden__" / "s.prompt.golden.yaml"


def test_sigkill_at_random_moments_never_leaves_a_broken_or_lost_golden(pytester, write):
    write("app.py", APP)
    write("promptguard.yaml", CONFIG)
    write("s.prompt.yaml", suite(300))
    assert (
        subprocess.run(pytest_command("--promptguard-update"), cwd=pytester.path, capture_output=True).returncode == 0
    )
    golden = golden_of(pytester.path)
    generations = {golden.read_bytes()}
    started = time.monotonic()
    subprocess.run(pytest_command("--promptguard-update"), cwd=pytester.path, capture_output=True)
    full_run = time.monotonic() - started
    rng = random.Random(20261125)
    kills = 0
    for attempt in range(20):
        # Each run records new outputs (the suffix changes), so a completed write is a new generation.
        (pytester.path / "promptguard.yaml").write_text(CONFIG.replace("SUFFIX", f"-{attempt}"))
        process = subprocess.Popen(
            pytest_command("--promptguard-update"),
            cwd=pytester.path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, full_run * 1.1))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.wait()
        text = golden.read_bytes()
        data = yaml.safe_load(text)  # whole and parseable, whatever the moment
        assert len(data["cases"]) == 300
        outputs = {entry["app"]["output"] for entry in data["cases"].values()}
        suffixes = {o.split("answer to q", 1)[1].lstrip("0123456789") for o in outputs}
        assert len(suffixes) == 1  # one generation, never a mix of two
        generations.add(text)
    assert kills >= 5  # most runs were really killed somewhere along the way
    # The next run cleans up what a killed writer left behind, and records normally.
    assert (
        subprocess.run(pytest_command("--promptguard-update"), cwd=pytester.path, capture_output=True).returncode == 0
    )
    assert not list(golden.parent.glob(".*.tmp"))


def test_two_runs_updating_one_golden_file_at_once_lose_nothing(pytester, write):
    write("app.py", APP)
    write("promptguard.yaml", CONFIG)
    write("s.prompt.yaml", suite(60))
    for round_ in range(3):
        golden_of(pytester.path).unlink(missing_ok=True)
        runs = [
            subprocess.Popen(
                pytest_command("--promptguard-update", "-k", selection),
                cwd=pytester.path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for selection in ("c000 or c001 or c002", "c003 or c004 or c005")
        ]
        outputs = [run.communicate(timeout=60)[0].decode() for run in runs]
        assert all(run.returncode == 0 for run in runs), outputs
        recorded = yaml.safe_load(golden_of(pytester.path).read_text())["cases"]
        assert sorted(recorded) == [f"c{i:03}" for i in range(6)], (round_, outputs)
