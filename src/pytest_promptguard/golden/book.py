"""The goldens of one run: read by the items, recorded at session end by the one process that sees every
result (the xdist controller, or the only process), so goldens are written once, whole, and atomically."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from ..config.spec import DriftSettings
from ..core.errors import PromptguardError, display_path
from ..core.fileio import folder_lock
from ..core.results import CaseResult, GoldenReport, UpdateCounts
from ..core.similarity import SEMANTIC, similarity
from .entry import GoldenEntry
from .recording import record, top_up
from .store import GOLDEN_DIR, GoldenFile, Key, apply_update, fixture_golden_path, fixture_test_of, golden_path


@dataclass(frozen=True)
class PlannedGolden:
    """One case × model of a suite, as its golden entry sees it."""

    case: str
    model: str  # the model called (results are keyed by it)
    baseline: str  # the model whose golden entry judges it (itself, unless it is a candidate)
    drift: DriftSettings
    skipped: bool = False


@dataclass(frozen=True)
class SuiteGoldens:
    """A suite file as the golden book needs it: where its goldens live, and its planned cases in suite order."""

    path: Path
    name: str
    planned: list[PlannedGolden]


class GoldenBook:
    def __init__(self, rootdir: Path, update: bool, refresh_baselines: bool = False, top_up: bool = False) -> None:
        self.rootdir = rootdir
        self.update = update
        self.refresh_baselines = refresh_baselines
        self.top_up = top_up  # add the run's samples to current sampled baselines rather than replace them
        self.report = GoldenReport()
        self._files: dict[Path, GoldenFile] = {}  # by suite path

    def file(self, suite_path: Path, suite_name: str) -> GoldenFile:
        """The suite's golden file, read once (raises PromptguardError when it cannot be read)."""
        if suite_path not in self._files:
            self._files[suite_path] = GoldenFile.load(golden_path(suite_path), suite_name)
        return self._files[suite_path]

    def fixture_file(self, test_path: Path) -> GoldenFile:
        """The golden file of a Python test module's `promptguard` fixture calls, read once (raises
        PromptguardError when it cannot be read)."""
        if test_path not in self._files:
            self._files[test_path] = GoldenFile.load(fixture_golden_path(test_path), test_path.name)
        return self._files[test_path]

    def finish(
        self,
        results: Sequence[CaseResult],
        plans_of: Callable[[str], SuiteGoldens | None],
        drift_of: Callable[[str], DriftSettings] = lambda path: DriftSettings(),
    ) -> None:
        by_file: dict[str, list[CaseResult]] = defaultdict(list)
        for result in results:
            by_file[result.path].append(result)
        recorded_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        folders: set[Path] = set()
        for path, file_results in by_file.items():
            folders.add((self.rootdir / path).parent)
            if any(r.fixture_calls is not None for r in file_results):
                self._finish_fixture(self.rootdir / path, file_results, drift_of(path), recorded_at)
                continue
            if not self.update and not golden_path(self.rootdir / path).exists():
                continue  # no golden to find unused entries in: no need to look at the suite again
            suite = plans_of(path)
            if suite is None:
                continue
            golden = self.file(suite.path, suite.name)
            order = [(p.case, p.baseline) for p in suite.planned]
            if self.update:
                self._record(golden, file_results, suite.planned, order, recorded_at)
            else:
                self._note_unused(golden, order)
        self._note_orphans(folders)

    def _note_orphans(self, folders: set[Path]) -> None:
        """Golden files beside the suites that ran whose own suite file is gone."""
        for folder in sorted(folders):
            for path in sorted((folder / GOLDEN_DIR).glob("*.golden.yaml")):
                stem = path.name.removesuffix(".golden.yaml")
                if not any((folder / f"{stem}{suffix}").exists() for suffix in (".yaml", ".yml", ".py")):
                    self.report.unused.append(
                        f"{display_path(path)}: the whole file (its suite {stem}.yaml is gone; delete it)"
                    )

    def _record(
        self,
        golden: GoldenFile,
        results: list[CaseResult],
        planned: list[PlannedGolden],
        order: list[Key],
        recorded_at: str,
    ) -> None:
        # A case is recorded only when it passed its other checks: a failure keeps the old golden.
        drift = {(p.case, p.model): p.drift for p in planned}
        recorded = {
            (r.case, r.model): _entry(r, recorded_at, drift[(r.case, r.model)])
            for r in results
            if r.outcome == "passed"
            and r.calls
            and all(c.error is None for c in r.calls)
            and (r.case, r.model) in drift
        }
        ran = {(r.case, r.model) for r in results}
        whole_suite_ran = all((p.case, p.baseline) in ran for p in planned if not p.skipped)

        def update(current: GoldenFile) -> UpdateCounts:
            entries = {k: self._topped_up(current.entries.get(k), e, drift[k]) for k, e in recorded.items()}
            return apply_update(current, entries, order, whole_suite_ran, self.refresh_baselines, _similar)

        current = self._merge(golden, order, update)
        if current is not None and not whole_suite_ran:
            self._note_unused(current, order)

    def _topped_up(self, old: GoldenEntry | None, new: GoldenEntry, drift: DriftSettings) -> GoldenEntry:
        """With --promptguard-top-up, `new`'s samples added to `old`'s where `old` is a current sampled baseline."""
        if not self.top_up or old is None or new.scorer is None:
            return new
        similar = (lambda a, b: _similar(a, b, new.scorer)) if new.scorer != SEMANTIC else None
        merged = top_up(old, new, similar, drift.similarity_tolerance, drift.max_baseline_samples) if similar else None
        return merged or new

    def _merge(
        self, golden: GoldenFile, order: Sequence[Key], update: Callable[[GoldenFile], UpdateCounts]
    ) -> GoldenFile | None:
        """Apply `update` to the golden file as it is on disk now and write it whole and atomically when anything
        changed; the file as written, or None (and an error in the report) when it cannot be written."""
        try:
            # Another run may update this file at the same time: take turns, and merge into what is on disk
            # now rather than into what this run read at collection.
            with folder_lock(golden.path.parent):
                for litter in golden.path.parent.glob(f".{golden.path.name}.*.tmp"):
                    litter.unlink()  # left by a run killed while writing; no writer is active while we hold the lock
                current = GoldenFile.load(golden.path, golden.suite)
                counts = update(current)
                if counts.added or counts.updated or counts.removed:
                    current.write(order)
                    self.report.written.append(display_path(golden.path))
        except OSError as exc:
            self.report.errors.append(
                f"{display_path(golden.path)}: cannot write goldens ({exc.strerror or exc}); the file is unchanged: "
                "make its folder writable and record again"
            )
            return None
        except PromptguardError as exc:
            self.report.errors.append(f"{exc}; nothing was recorded in it")
            return None
        self.report.counts.add(counts)
        return current

    def _finish_fixture(
        self, test_path: Path, results: list[CaseResult], drift: DriftSettings, recorded_at: str
    ) -> None:
        """The goldens of a Python test module's `promptguard` fixture calls. Recording, each test that passed
        replaces its entries whole (a call it no longer makes loses its entry); otherwise the entries of tests
        that passed without making that call are listed as unused. Tests that did not run are left alone: which
        tests still exist is not known here."""
        passed = [r for r in results if r.outcome == "passed" and all(c.error is None for c in r.calls)]
        tests = {r.case for r in passed}
        if self.update:
            recorded = {
                (g["case"], g["model"]): _entry(call, recorded_at, drift)
                for r in passed
                for g, call in _fixture_groups(r)
            }

            def update(current: GoldenFile) -> UpdateCounts:
                kept = [k for k in current.entries if k in recorded or fixture_test_of(k[0]) not in tests]
                return apply_update(current, recorded, kept + list(recorded), True, self.refresh_baselines, _similar)

            # In key order, not the order results arrived in (which varies under xdist): no churn in the diff.
            self._merge(GoldenFile(fixture_golden_path(test_path), test_path.name), [], update)
            return
        if not fixture_golden_path(test_path).exists():
            return
        try:
            golden = self.fixture_file(test_path)
        except PromptguardError:
            return  # the tests reading it failed on it already
        made = {(g["case"], g["model"]) for r in passed for g in r.fixture_calls or ()}
        self.report.unused += [
            f"{display_path(golden.path)}: {case}[{model}]"
            for case, model in golden.entries
            if fixture_test_of(case) in tests and (case, model) not in made
        ]

    def _note_unused(self, golden: GoldenFile, order: list[tuple[str, str]]) -> None:
        existing = set(order)
        self.report.unused += [
            f"{display_path(golden.path)}: {case}[{model}]"
            for case, model in golden.entries
            if (case, model) not in existing
        ]


def _fixture_groups(result: CaseResult) -> list[tuple[dict, CaseResult]]:
    """A fixture test's result split by `promptguard.call(...)`: each call's golden key, and a result holding
    just its samples, their checks and its request hash (what a golden entry is recorded from)."""
    groups = []
    for group in result.fixture_calls or ():
        samples = slice(group["first"], group["first"] + group["count"])
        checks = result.checks[samples] if result.checks else []
        groups.append(
            (
                group,
                replace(
                    result,
                    calls=result.calls[samples],
                    checks=checks,
                    request_digest=group["request_digest"],
                    semantic_similarities=group.get("semantic_similarities"),  # its samples', measured by the fixture
                ),
            )
        )
    return groups


def _similar(a: str, b: str, scorer: str) -> float:
    """Two canonical outputs' similarity by a golden's scorer. Semantic ones cannot be embedded at session end
    (the scheduler is closed): a new semantic canonical output counts as a change, and is rewritten."""
    return (100.0 if a == b else 0.0) if scorer == SEMANTIC else similarity(a, b, scorer)


def _entry(result: CaseResult, recorded_at: str, drift: DriftSettings) -> GoldenEntry:
    matrix = result.semantic_similarities
    if matrix is not None:  # judged by meaning: the samples' semantic similarities, measured by the item
        index = {call.text: i for i, call in enumerate(result.calls)}
        return record(
            result, recorded_at, lambda a, b: matrix[index[a]][index[b]], SEMANTIC, drift.similarity_tolerance
        )
    return record(
        result, recorded_at, lambda a, b: similarity(a, b, drift.scorer), drift.scorer, drift.similarity_tolerance
    )
