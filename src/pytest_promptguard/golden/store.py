"""The golden store: one reviewable YAML file per suite under `__golden__/`, beside the suite.

Files are written whole, to a temporary file and then `os.replace`d, so a reader never sees half a file and an
interrupted run never loses one. Multi-line text is written as block literals, so a diff reads like prose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import FORMAT_VERSION
from ..core.errors import PromptguardError
from ..core.fileio import write_atomic
from ..core.results import (
    UpdateCounts,
)
from .entry import FlowMap, GoldenEntry, Scorer

GOLDEN_DIR = "__golden__"


def golden_path(suite_path: Path) -> Path:
    """`dir/__golden__/name.golden.yaml` for `dir/name.prompt.yaml` (or `.yml`)."""
    stem = suite_path.name.removesuffix(".yaml").removesuffix(".yml")
    return suite_path.parent / GOLDEN_DIR / f"{stem}.golden.yaml"


def fixture_golden_path(test_path: Path) -> Path:
    """`dir/__golden__/test_x.golden.yaml` for `dir/test_x.py`: the goldens of its `promptguard` fixture calls."""
    return test_path.parent / GOLDEN_DIR / f"{test_path.stem}.golden.yaml"


def fixture_test_of(case_key: str) -> str:
    """The test a fixture call's golden key belongs to: `test_x` for `test_x` and `test_x#2` (its second call
    of that model)."""
    test, sep, index = case_key.rpartition("#")
    return test if sep and index.isdigit() else case_key


Key = tuple[str, str]  # (case id, model name)


@dataclass
class GoldenFile:
    """All entries of one suite, keyed by (case, model)."""

    path: Path
    suite: str
    entries: dict[Key, GoldenEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, suite: str) -> GoldenFile:
        if not path.exists():
            return cls(path, suite)
        try:
            data = yaml.load(path.read_text("utf-8"), Loader=_LOADER)  # noqa: S506 - a SafeLoader
            if data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {data.get('format_version')!r}, expected {FORMAT_VERSION}")
            entries = {
                (str(case), str(model)): GoldenEntry.from_yaml(entry)
                for case, models in (data.get("cases") or {}).items()
                for model, entry in models.items()
            }
        except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PromptguardError(
                f"golden file cannot be read: {exc}",
                path=path,
                hint="restore it from version control, or delete it and record again with --promptguard-update",
            ) from None
        return cls(path, suite, entries)

    def get(self, case: str, model: str) -> GoldenEntry | None:
        return self.entries.get((case, model))

    def render(self, order: Sequence[Key]) -> str:
        """The file's text: entries in suite order (`order`), then any others sorted."""
        keys = [k for k in order if k in self.entries] + sorted(k for k in self.entries if k not in set(order))
        cases: dict[str, dict[str, Any]] = {}
        for case, model in keys:
            cases.setdefault(case, {})[model] = self.entries[(case, model)].to_yaml()
        header = (
            f"# Golden outputs of the suite '{self.suite}', recorded by pytest-promptguard.\n"
            "# Review changes like code. Re-record: pytest --promptguard --promptguard-update <suite file>\n"
        )
        body = {"format_version": FORMAT_VERSION, "suite": self.suite, "cases": cases}
        return header + yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)

    def write(self, order: Sequence[Key]) -> None:
        """Replace the file atomically: a temporary file beside it, then `os.replace`."""
        write_atomic(self.path, self.render(order))


def apply_update(
    golden: GoldenFile,
    recorded: dict[Key, GoldenEntry],
    existing_keys: Sequence[Key],
    remove_unused: bool,
    refresh_baselines: bool = False,
    similar: Scorer | None = None,
) -> UpdateCounts:
    """Merge freshly recorded entries into `golden`; drop entries of cases that no longer exist when allowed.
    `refresh_baselines` rewrites entries whose only change is in their latency, token and cost figures."""
    counts = UpdateCounts()
    for key, entry in recorded.items():
        old = golden.entries.get(key)
        if old is None:
            counts.added += 1
        elif old.differs_from(entry, similar) or refresh_baselines:
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        golden.entries[key] = entry
    if remove_unused:
        for key in [k for k in golden.entries if k not in set(existing_keys)]:
            del golden.entries[key]
            counts.removed += 1
    return counts


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text as a block literal, so a diff of the golden file reads like a diff of prose. NEL (\x85)
    # is written raw outside double quotes but read back as a line break, so such text is double-quoted
    # (where it is escaped) to come back exactly as recorded.
    style = '"' if "\x85" in text else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_flow(dumper: yaml.SafeDumper, data: FlowMap) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(FlowMap, _represent_flow)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
