"""pytest-xdist support: whole suite files go to fixed workers, all at once.

xdist's default `load` scheduling hands items out a few at a time, so a worker could only start the calls
of the handful it holds. Here the controller and every worker compute the same partition of the collection
(by suite file, balanced by item count), the controller sends each worker its whole share up front, and the
worker primes its scheduler with exactly that share right after collection. A suite never straddles
workers, so its SLO item sees all of its calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

WORKERINPUT_FLAG = "promptguard_suite_scheduling"


def partition(nodeids: Sequence[str], workers: int) -> list[list[int]]:
    """Item indexes per worker: each file, in collection order, to the worker with the fewest items so far."""
    files: dict[str, list[int]] = {}
    for index, nodeid in enumerate(nodeids):
        files.setdefault(nodeid.split("::", 1)[0], []).append(index)
    shares: list[list[int]] = [[] for _ in range(workers)]
    for indexes in files.values():
        min(shares, key=len).extend(indexes)
    return [sorted(share) for share in shares]


def worker_index(workerid: str) -> int:
    return int(workerid.removeprefix("gw"))


class SuiteScheduling(LoadScheduling):
    """Sends each worker its whole share of suite files at once (see the module docstring)."""

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a replaced worker: fall back to plain load balancing
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        nodes = sorted(self.nodes, key=lambda node: worker_index(node.gateway.id))
        for node, share in zip(nodes, partition(self.collection, len(nodes))):
            if share:
                self.node2pending[node].extend(share)
                node.send_runtest_some(share)
        for node in nodes:
            node.shutdown()


class XdistHooks:
    """Registered on the controller only when xdist is active and `--dist load` (the `-n` default) is used."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> SuiteScheduling:
        return SuiteScheduling(config, log)

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_FLAG] = True


def worker_share(config: pytest.Config, items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """On a worker: the items the controller will send it, or [] when it cannot know them in advance."""
    workerinput = config.workerinput  # type: ignore[attr-defined]
    if not workerinput.get(WORKERINPUT_FLAG):
        return []
    shares = partition([item.nodeid for item in items], int(workerinput["workercount"]))
    return [items[i] for i in shares[worker_index(workerinput["workerid"])]]
