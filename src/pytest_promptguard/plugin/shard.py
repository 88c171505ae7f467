"""`--promptguard-shard K/N`: run one of N stable, balanced slices of the selection, one per CI machine.

The slice is made of whole test files, so a suite never straddles shards: its golden file, its unused-golden
check and its SLO item see all of its cases in one process. Every test file (suites and Python tests that use
the `promptguard` fixture alike) is sharded, so each item runs on exactly one shard and the merged report
(`python -m pytest_promptguard merge`) counts it once.

Assignment rule (balanced, deterministic): each file of the selection is weighed by the time its calls are
expected to take, when goldens recorded latencies: per item, the golden's mean latency times the samples asked
(an item without one counts as the mean of the items with one); with no golden latency at all, by its item count
(case x model). Files are sorted by weight, heaviest first, ties by their path relative to rootdir, and each goes to
the shard with the least weight so far (ties to the lowest shard). One slow suite then gets a shard of its own
instead of holding a whole CI matrix back. The goldens are committed, so every machine that collects the same
files computes the same assignment, whatever its file system's order or its own speed; a hash of the path would
not keep the shards' wall times close. Adding a suite, or re-recording goldens, may move suites between shards;
that is harmless, since every shard of one CI run collects the same tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

import pytest

from .items import PromptItem, SloItem

OPTION = "--promptguard-shard"


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'2/4' -> Shard(2, 4); anything else is a UsageError naming the option and the expected shape."""
        index, sep, count = text.strip().partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            shard = None
        if not sep or shard is None or not 1 <= shard.index <= shard.count:
            raise pytest.UsageError(
                f"{OPTION} {text}: expected K/N with 1 <= K <= N, e.g. {OPTION} 1/4 on the first of four CI machines"
            )
        return shard

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def file_of(nodeid: str) -> str:
    """The test file of a node id, relative to rootdir: 'suites/a.prompt.yaml::case[fast]' -> 'suites/a.prompt.yaml'."""
    return nodeid.split("::", 1)[0]


def assign(weights: dict[str, float], count: int) -> dict[str, int]:
    """File -> shard number (0-based), by the rule in the module docstring."""
    loads = [0.0] * count
    shards: dict[str, int] = {}
    for path in sorted(weights, key=lambda path: (-weights[path], path)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        shards[path] = shard
        loads[shard] += weights[path]
    return shards


def weigh(items: Sequence[pytest.Item]) -> tuple[dict[str, float], bool]:
    """File -> its weight, and whether the weights are expected milliseconds (True) or item counts."""
    expected = [_expected_ms(item) for item in items]
    known = [ms for item, ms in zip(items, expected) if ms is not None and isinstance(item, PromptItem)]
    average = fmean(known) if known else 0.0
    weights: dict[str, float] = {}
    for item, ms in zip(items, expected):
        path = file_of(item.nodeid)
        weight = (ms if ms is not None else average) if known else 1
        weights[path] = weights.get(path, 0) + weight
    # Whole milliseconds: the same on every machine, however its floats round the sums' last digits.
    return {path: round(weight) for path, weight in weights.items()}, bool(known)


def _expected_ms(item: pytest.Item) -> float | None:
    """A case's expected time (None without a golden latency); none for an SLO item, which calls nothing."""
    if isinstance(item, SloItem):
        return 0.0
    return item.judge.expected_ms() if isinstance(item, PromptItem) else None


def select(items: Sequence[pytest.Item], shard: Shard) -> tuple[list[pytest.Item], list[pytest.Item], bool]:
    """The items of `shard` and the others, each in collection order, and whether they were weighed by time."""
    weights, by_time = weigh(items)
    shards = assign(weights, shard.count)
    kept, dropped = [], []
    for item in items:
        (kept if shards[file_of(item.nodeid)] == shard.index - 1 else dropped).append(item)
    return kept, dropped, by_time


class ShardHooks:
    """Registered when `--promptguard-shard` is given: deselects the other shards' items, as `-k` does.

    It runs last among the selection hooks, so `-k`, `-m` and paths choose first and the shards split what is left;
    under xdist every worker collects the same tree and deselects the same items, so their collections agree.
    """

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.by_time: bool | None = None  # how the files were weighed, once they were

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept, dropped, self.by_time = select(items, self.shard)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_report_header(self) -> str:
        return f"promptguard shard {self.shard}"

    def pytest_report_collectionfinish(self) -> str | None:
        if self.by_time is None:
            return None
        basis = "the latency their goldens recorded" if self.by_time else "their item count (no golden latency yet)"
        return f"promptguard shard {self.shard}: whole files, balanced by {basis}"
