"""What the command line asked of one run (plugin/options.py reads it from pytest, once)."""

from __future__ import annotations

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
