"""The one place where pytest's command line becomes run state: the run's options, its reports, and the one
stash key under which every part of the plugin finds the run of this process."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from ..report.writer import ReportWriter
from ..run.options import RunOptions
from ..run.options import outage_exit_code as parse_outage_exit_code
from ..run.session import Run

RUN = pytest.StashKey[Run]()  # on the config: the run of this process


def run_options(config: pytest.Config) -> RunOptions:
    """The run's options from the command line; a UsageError for options that cannot go together."""
    option = config.getoption
    update, replay, candidates = (
        option("promptguard_update"),
        option("promptguard_replay"),
        dict(option("promptguard_candidate")),
    )
    for conflict, why in (
        (
            option("promptguard_update_baselines") and not update,
            "--promptguard-update-baselines goes with --promptguard-update",
        ),
        (update and replay, "--promptguard-update records new goldens; --promptguard-replay only reads them"),
        (candidates and update, "--promptguard-candidate judges a candidate against goldens; it does not record them"),
        (
            candidates and replay,
            "--promptguard-candidate calls the candidate model; --promptguard-replay calls nothing",
        ),
        (option("promptguard_dry_run") and update, "--promptguard-dry-run calls nothing, so it records nothing"),
        (
            option("promptguard_dry_run") and option("numprocesses", None),
            "--promptguard-dry-run runs in one process: drop -n",
        ),
    ):
        if conflict:
            raise pytest.UsageError(f"these options cannot be combined: {why}")
    override = option("promptguard_config")
    if override is not None and not override.is_file():
        raise pytest.UsageError(
            f"--promptguard-config {override}: no such file; pass the path of a promptguard.yaml, "
            "relative to the folder pytest runs in or absolute"
        )
    return RunOptions(
        config=override,
        concurrency=option("promptguard_concurrency"),
        repeat=option("promptguard_repeat"),
        max_cost_usd=option("promptguard_max_cost"),
        cache_dir=config.rootpath / ".promptguard" / "cache" if option("promptguard_cache") else None,
        cache_ttl_s=option("promptguard_cache_ttl"),
        update=update,
        update_baselines=option("promptguard_update_baselines"),
        replay=replay,
        strict=option("promptguard_strict"),
        candidates=candidates,
        latency_tolerance=option("promptguard_latency_tolerance"),
        dry_run=option("promptguard_dry_run"),
    )


def outage_exit_code(config: pytest.Config) -> int | None:
    """The exit status of a run that could not measure (report/outage.py): the option's, else the ini's, else None
    (such a run fails as any other)."""
    code = config.getoption("promptguard_outage_exit_code")
    if code is not None:
        return code
    written = str(config.getini("promptguard_outage_exit_code")).strip()
    if not written:
        return None
    try:
        return parse_outage_exit_code(written)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"promptguard_outage_exit_code = {written} in the ini file: {exc}") from None


def report_writer(config: pytest.Config, options: RunOptions) -> ReportWriter:
    """The reports the command line asked for."""
    option = config.getoption
    return ReportWriter(
        config.rootpath,
        "replay" if options.replay else "update" if options.update else "candidate" if options.candidates else "live",
        json_path=option("promptguard_report"),
        html_path=option("promptguard_html"),
        md_path=option("promptguard_md"),
        history_path=option("promptguard_history"),
        log_path=option("promptguard_log"),
        want_screenshot=option("promptguard_html_screenshot"),
    )


def start_run(config: pytest.Config) -> Run:
    """The `--promptguard` run of this process, kept under RUN."""
    run = config.stash[RUN] = Run(config.rootpath, run_options(config))
    return run


def run_of(config: pytest.Config) -> Run:
    """The run of this process: the `--promptguard` run; or, for a test marked `promptguard` in a session without
    `--promptguard`, a run of its own, made at its first use: it calls and checks, reads goldens (and replays them),
    records none and writes no report."""
    run = config.stash.get(RUN, None)
    if run is None:
        options = replace(run_options(config), update=False, update_baselines=False, dry_run=False)
        run = config.stash[RUN] = Run(config.rootpath, options)
        config.add_cleanup(run.close)
    return run
