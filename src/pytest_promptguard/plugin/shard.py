"""`--promptguard-shard K/N`: run one of N stable, balanced slices of the selection, one per CI machine.

The slice is made of whole test files, so a suite never straddles shards: its golden file, its unused-golden
check and its SLO item see all of its cases in one process. Every test file (suites and Python tests that use
the `promptguard` fixture alike) is sharded, so each item runs on exactly one shard and the merged report
(`python -m pytest_promptguard merge`) counts it once.

Assignment rule (balanced, deterministic): the files of the selection are weighed by their item count
(case x model), sorted by weight, heaviest first, ties by their path relative to rootdir, and each goes to the
shard with the fewest items so far (ties to the lowest shard). Every machine that collects the same files
computes the same assignment, whatever its file system's order, and the shards' wall times stay close, which a
hash of the path would not promise for a few large suites. Adding a suite may move other suites between shards;
that is harmless, since every shard of one CI run collects the same tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

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


def assign(weights: dict[str, int], count: int) -> dict[str, int]:
    """File -> shard number (0-based), by the rule in the module docstring."""
    loads = [0] * count
    shards: dict[str, int] = {}
    for path in sorted(weights, key=lambda path: (-weights[path], path)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        shards[path] = shard
        loads[shard] += weights[path]
    return shards


def select(items: Sequence[pytest.Item], shard: Shard) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """The items of `shard` and the others, each in collection order."""
    weights: dict[str, int] = {}
    for item in items:
        path = file_of(item.nodeid)
        weights[path] = weights.get(path, 0) + 1
    shards = assign(weights, shard.count)
    kept, dropped = [], []
    for item in items:
        (kept if shards[file_of(item.nodeid)] == shard.index - 1 else dropped).append(item)
    return kept, dropped


class ShardHooks:
    """Registered when `--promptguard-shard` is given: deselects the other shards' items, as `-k` does.

    It runs last among the selection hooks, so `-k`, `-m` and paths choose first and the shards split what is left;
    under xdist every worker collects the same tree and deselects the same items, so their collections agree.
    """

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        kept, dropped = select(items, self.shard)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_report_header(self) -> str:
        return f"promptguard shard {self.shard}"
