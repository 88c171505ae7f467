"""What the command line asked of one run (plugin/options.py reads it from pytest, once)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    """What the command line asked of this run."""

    concurrency: int
    config: Path | None = None
    repeat: int | str | None = None  # a number, or "auto"
    max_cost_usd: float | None = None
    cache_dir: Path | None = None  # None: the response cache is off
    cache_ttl_s: float = 0.0
    update: bool = False
    update_baselines: bool = False
    replay: bool = False
    strict: bool = False
    candidates: dict[str, str] = field(default_factory=dict)  # model -> the candidate that replaces it
    latency_tolerance: float | None = None
    dry_run: bool = False


def outage_exit_code(text: str) -> int:
    """The exit status of a run that could not measure (`--promptguard-outage-exit-code`): 6-255, since pytest's own
    are 0-5 and a status above 255 does not reach the shell."""
    try:
        code = int(text)
    except ValueError:
        code = -1
    if not 6 <= code <= 255:
        raise argparse.ArgumentTypeError(
            f"{text!r} is no exit status of 6-255 (pytest's own are 0-5); 75 (EX_TEMPFAIL) means 'try again later'"
        )
    return code
