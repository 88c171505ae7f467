"""The golden store: one reviewable YAML file per suite under `__golden__/`, beside the suite.

A golden entry is what a case answered for one model when it was recorded: the output a reviewer reads in
a pull request (multi-line text as block literals), the model that served it, the hash of the request that
produced it (so an edited prompt is detected as stale), and the latency, token and cost figures that later
runs are compared with. Files are written whole, to a temporary file and then `os.replace`d, so a reader
never sees half a file and an interrupted run never loses one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Iterable, Sequence

import yaml

from . import FORMAT_VERSION
from .errors import PromptguardError
from .fileio import write_atomic
from .results import Call, CaseResult, ToolCall, Usage, percentile

GOLDEN_DIR = "__golden__"

# What makes an entry different enough to rewrite it. Latency, tokens and cost move on every live call;
# rewriting them would put noise in every pull request, so they are refreshed only with a real change.
MATERIAL_FIELDS = ("output", "tool_calls", "request_hash", "model_asked", "model_served", "fingerprint", "finish_reason")


@dataclass(frozen=True)
class GoldenSample:
    """The figures of one recorded call."""

    latency_ms: float
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class GoldenEntry:
    output: str
    request_hash: str
    recorded_at: str
    model_asked: str | None = None
    model_served: str | None = None
    fingerprint: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    samples: tuple[GoldenSample, ...] = ()

    @property
    def latencies(self) -> list[float]:
        return [s.latency_ms for s in self.samples]

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies, 95)

    @property
    def tokens_in(self) -> float | None:
        return _mean(s.tokens_in for s in self.samples)

    @property
    def tokens_out(self) -> float | None:
        return _mean(s.tokens_out for s in self.samples)

    @property
    def cost_usd(self) -> float | None:
        return _mean(s.cost_usd for s in self.samples)

    def differs_from(self, other: "GoldenEntry") -> bool:
        return any(getattr(self, name) != getattr(other, name) for name in MATERIAL_FIELDS)

    def replayed_calls(self, model: str, provider: str, count: int) -> list[Call]:
        """`count` calls answering as recorded, one recorded sample after another, marked as replayed."""
        samples = self.samples or (GoldenSample(latency_ms=0.0),)
        return [
            Call(
                model=model,
                provider=provider,
                model_asked=self.model_asked,
                text=self.output,
                tool_calls=self.tool_calls,
                model_served=self.model_served,
                fingerprint=self.fingerprint,
                finish_reason=self.finish_reason,
                latency_ms=sample.latency_ms,
                usage=Usage(input_tokens=sample.tokens_in, output_tokens=sample.tokens_out),
                cost_usd=sample.cost_usd,
                source="replay",
                started_at=self.recorded_at,
            )
            for sample in (samples[i % len(samples)] for i in range(count))
        ]

    def to_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"output": self.output}
        if self.tool_calls:
            data["tool_calls"] = [{"name": t.name, "arguments": t.arguments} for t in self.tool_calls]
        data.update(
            model_asked=self.model_asked,
            model_served=self.model_served,
            fingerprint=self.fingerprint,
            finish_reason=self.finish_reason,
            request_hash=self.request_hash,
            recorded_at=self.recorded_at,
            latency_p50_ms=_round(self.latency_p50_ms),
            latency_p95_ms=_round(self.latency_p95_ms),
            tokens_in=_round(self.tokens_in),
            tokens_out=_round(self.tokens_out),
            cost_usd=self.cost_usd,
            samples=[_Flow(_sample_yaml(s)) for s in self.samples],
        )
        return data

    @classmethod
    def from_yaml(cls, data: dict[str, Any]) -> "GoldenEntry":
        return cls(
            output=str(data["output"]),
            request_hash=str(data["request_hash"]),
            recorded_at=str(data.get("recorded_at", "")),
            model_asked=data.get("model_asked"),
            model_served=data.get("model_served"),
            fingerprint=data.get("fingerprint"),
            finish_reason=data.get("finish_reason"),
            tool_calls=tuple(ToolCall(name=t["name"], arguments=t.get("arguments")) for t in data.get("tool_calls") or ()),
            samples=tuple(GoldenSample(**s) for s in data.get("samples") or ()),
        )

    @classmethod
    def from_result(cls, result: CaseResult, recorded_at: str) -> "GoldenEntry":
        """The entry a passing case records: the first sample's output, every sample's figures."""
        first = result.calls[0]
        return cls(
            output=first.text,
            request_hash=result.request_digest,
            recorded_at=recorded_at,
            model_asked=first.model_asked,
            model_served=first.model_served,
            fingerprint=first.fingerprint,
            finish_reason=first.finish_reason,
            tool_calls=tuple(ToolCall(name=t.name, arguments=t.arguments) for t in first.tool_calls),
            samples=tuple(
                GoldenSample(latency_ms=round(c.latency_ms, 2), tokens_in=c.tokens_in, tokens_out=c.tokens_out, cost_usd=c.cost_usd)
                for c in result.calls
            ),
        )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def _round(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 2)


def _sample_yaml(sample: GoldenSample) -> dict[str, Any]:
    return {k: v for k, v in sample.__dict__.items() if v is not None}


def golden_path(suite_path: Path) -> Path:
    """`dir/__golden__/name.golden.yaml` for `dir/name.prompt.yaml` (or `.yml`)."""
    stem = suite_path.name.removesuffix(".yaml").removesuffix(".yml")
    return suite_path.parent / GOLDEN_DIR / f"{stem}.golden.yaml"


Key = tuple[str, str]  # (case id, model name)


@dataclass
class GoldenFile:
    """All entries of one suite, keyed by (case, model)."""

    path: Path
    suite: str
    entries: dict[Key, GoldenEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, suite: str) -> "GoldenFile":
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


@dataclass
class UpdateCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def add(self, other: "UpdateCounts") -> None:
        self.added += other.added
        self.updated += other.updated
        self.removed += other.removed
        self.unchanged += other.unchanged


def apply_update(
    golden: GoldenFile,
    recorded: dict[Key, GoldenEntry],
    existing_keys: Sequence[Key],
    remove_unused: bool,
    refresh_baselines: bool = False,
) -> UpdateCounts:
    """Merge freshly recorded entries into `golden`; drop entries of cases that no longer exist when allowed.
    `refresh_baselines` rewrites entries whose only change is in their latency, token and cost figures."""
    counts = UpdateCounts()
    for key, entry in recorded.items():
        old = golden.entries.get(key)
        if old is None:
            counts.added += 1
        elif old.differs_from(entry) or refresh_baselines:
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


class _Flow(dict):
    """A mapping written on one line (`{latency_ms: 812.3, tokens_out: 14}`), to keep files short."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text as a block literal, so a diff of the golden file reads like a diff of prose. NEL (\x85)
    # is written raw outside double quotes but read back as a line break, so such text is double-quoted
    # (where it is escaped) to come back exactly as recorded.
    style = '"' if "\x85" in text else "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

