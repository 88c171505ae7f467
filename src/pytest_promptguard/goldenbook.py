"""The goldens of one run: read by the items, recorded at session end by the one process that sees every
result (the xdist controller, or the only process), so goldens are written once, whole, and atomically."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .errors import PromptguardError, display_path
from .fileio import folder_lock
from .golden import GOLDEN_DIR, GoldenEntry, GoldenFile, UpdateCounts, apply_update, golden_path
from .checks.fuzzy import similarity
from .config import DriftSettings
from .results import CaseResult

if TYPE_CHECKING:
    from .run import Planned
    from .suite import Suite


@dataclass
class GoldenReport:
    """What the run did to and found in the golden files, for the summary."""

    counts: UpdateCounts = field(default_factory=UpdateCounts)
    written: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # "file::case[model]" entries of cases that no longer exist
    errors: list[str] = field(default_factory=list)


class GoldenBook:
    def __init__(self, rootdir: Path, update: bool, refresh_baselines: bool = False) -> None:
        self.rootdir = rootdir
        self.update = update
        self.refresh_baselines = refresh_baselines
        self.report = GoldenReport()
        self._files: dict[Path, GoldenFile] = {}  # by suite path

    def file(self, suite: "Suite") -> GoldenFile:
        """The suite's golden file, read once (raises PromptguardError when it cannot be read)."""
        if suite.path not in self._files:
            self._files[suite.path] = GoldenFile.load(golden_path(suite.path), suite.name)
        return self._files[suite.path]

    def finish(self, results: Sequence[CaseResult], plans_of: Callable[[str], tuple["Suite", list["Planned"]] | None]) -> None:
        by_file: dict[str, list[CaseResult]] = defaultdict(list)
        for result in results:
            by_file[result.path].append(result)
        recorded_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        folders: set[Path] = set()
        for path, file_results in by_file.items():
            folders.add((self.rootdir / path).parent)
            if not self.update and not golden_path(self.rootdir / path).exists():
                continue  # no golden to find unused entries in: no need to look at the suite again
            loaded = plans_of(path)
            if loaded is None:
                continue
            suite, planned = loaded
            golden = self.file(suite)
            order = [(p.case.id, p.baseline.name) for p in planned]
            if self.update:
                self._record(golden, file_results, planned, order, recorded_at)
            else:
                self._note_unused(golden, order)
        self._note_orphans(folders)

    def _note_orphans(self, folders: set[Path]) -> None:
        """Golden files beside the suites that ran whose own suite file is gone."""
        for folder in sorted(folders):
            for path in sorted((folder / GOLDEN_DIR).glob("*.golden.yaml")):
                stem = path.name.removesuffix(".golden.yaml")
                if not any((folder / f"{stem}{suffix}").exists() for suffix in (".yaml", ".yml")):
                    self.report.unused.append(f"{display_path(path)}: the whole file (its suite {stem}.yaml is gone; delete it)")

    def _record(
        self, golden: GoldenFile, results: list[CaseResult], planned: list["Planned"], order: list[tuple[str, str]], recorded_at: str
    ) -> None:
        # A case is recorded only when it passed its other checks: a failure keeps the old golden.
        drift = {(p.case.id, p.spec.name): p.drift for p in planned}
        recorded = {
            (r.case, r.model): _entry(r, recorded_at, drift[(r.case, r.model)])
            for r in results
            if r.outcome == "passed" and r.calls and all(c.error is None for c in r.calls) and (r.case, r.model) in drift
        }
        ran = {(r.case, r.model) for r in results}
        whole_suite_ran = all((p.case.id, p.baseline.name) in ran for p in planned if not p.case.skip)
        try:
            # Another run may update this file at the same time: take turns, and merge into what is on disk
            # now rather than into what this run read at collection.
            with folder_lock(golden.path.parent):
                for litter in golden.path.parent.glob(f".{golden.path.name}.*.tmp"):
                    litter.unlink()  # left by a run killed while writing; no writer is active while we hold the lock
                current = GoldenFile.load(golden.path, golden.suite)
                counts = apply_update(current, recorded, order, whole_suite_ran, self.refresh_baselines, similarity)
                if counts.added or counts.updated or counts.removed:
                    current.write(order)
                    self.report.written.append(display_path(golden.path))
        except OSError as exc:
            self.report.errors.append(
                f"{display_path(golden.path)}: cannot write goldens ({exc.strerror or exc}); the file is unchanged: "
                "make its folder writable and record again"
            )
            return
        except PromptguardError as exc:
            self.report.errors.append(f"{exc}; nothing was recorded in it")
            return
        self.report.counts.add(counts)
        if not whole_suite_ran:
            self._note_unused(current, order)

    def _note_unused(self, golden: GoldenFile, order: list[tuple[str, str]]) -> None:
        existing = set(order)
        self.report.unused += [
            f"{display_path(golden.path)}: {case}[{model}]" for case, model in golden.entries if (case, model) not in existing
        ]


def _entry(result: CaseResult, recorded_at: str, drift: DriftSettings) -> GoldenEntry:
    return GoldenEntry.from_result(
        result, recorded_at, lambda a, b: similarity(a, b, drift.scorer), drift.scorer, drift.similarity_tolerance
    )

