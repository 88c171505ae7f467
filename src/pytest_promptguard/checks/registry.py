"""The check registry: every check family registers its name, the schema of its argument and a builder.

Checks are built once at collection (so a bad regex or a missing schema file is a collection error with a
line number) and then applied to every call of the case. A family's module is imported when a suite first names one
of its checks (FAMILIES says which module that is): a run pays only for the families its suites use, which counts
at every start where bytecode is not cached (pytest then rewrites and compiles each module of the plugin it imports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..core.fastschema import Predicate, compile_schema
from ..core.results import Call, CheckResult
from ..golden.entry import GoldenEntry

if TYPE_CHECKING:
    import jsonschema


@dataclass(frozen=True)
class CaseInfo:
    """What a check may know about the case it judges (custom `python` checks receive it)."""

    suite: str
    id: str
    vars: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoldenRef:
    """The golden a case is judged against, and in what state it is."""

    entry: GoldenEntry | None
    stale: bool = False  # the request changed since the entry was recorded
    recording: bool = False  # --promptguard-update: the golden is being recorded, not judged
    record_command: str = "pytest --promptguard --promptguard-update"
    prompt_files: tuple[str, ...] = ()  # the application's files the prompt comes from: an edit there makes it stale

    def turn(self, index: int) -> GoldenRef:
        """The golden of a conversation's `index`-th reply (none when the golden has no such reply)."""
        entry = self.entry
        if entry is not None:
            turn = entry.turns[index] if index < len(entry.turns) else None
            entry = (
                None
                if turn is None
                else replace(
                    entry, output=turn.output, tool_calls=turn.tool_calls, turns=(), samples=(), calibrated_min=None
                )
            )
        return replace(self, entry=entry)

    def unusable(self) -> str | None:
        """Why there is nothing to compare with, or None when the entry can be used."""
        if self.entry is None:
            return f"no golden recorded yet; record it: {self.record_command}"
        if self.stale:
            source = f" (its prompt comes from {' and '.join(self.prompt_files)})" if self.prompt_files else ""
            return (
                f"prompt changed since the golden was recorded{source}; review the change, then re-record: "
                f"{self.record_command}"
            )
        return None


@dataclass(frozen=True)
class CheckInput:
    """Everything one check looks at for one call."""

    call: Call
    case: CaseInfo
    golden: GoldenRef | None = None


@dataclass(frozen=True)
class CaseInput:
    """What a case-scope check looks at: every sample of the case (latency percentiles, for one)."""

    calls: tuple[Call, ...]
    case: CaseInfo
    golden: GoldenRef | None = None


@dataclass(frozen=True)
class BuildContext:
    """Where a check is declared (to resolve files relative to the suite) and the config's defaults."""

    suite_path: Path
    golden_min: float = 90.0
    golden_scorer: str = "token_set_ratio"
    rootdir: Path | None = None  # files a check reads must lie below it (None: anywhere)
    semantic_min: float = 0.85  # default min (cosine) of golden checks with method: semantic
    models: Any = None  # what checks may ask of models (modelchecks.CheckModels); None where none can be asked


class CheckSpecError(Exception):
    """A check declared wrongly; the suite loader adds file, line and case."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


Check = Callable[[CheckInput], CheckResult]
Scope = Literal["call", "case"]


@dataclass(frozen=True)
class CheckType:
    name: str
    schema: dict[str, Any]
    build: Callable[[Any, BuildContext], Callable[..., CheckResult]]
    scope: Scope = "call"  # "call": judged on every sample; "case": judged once on all samples


@dataclass(frozen=True)
class BuiltCheck:
    name: str
    scope: Scope
    run: Callable[..., CheckResult]  # (CheckInput) for scope "call", (CaseInput) for scope "case"
    argument: Any = None  # as declared in the suite


# Every check, and the module of the package (its family) that registers it.
FAMILIES: dict[str, str] = {
    **dict.fromkeys(("equals", "contains", "icontains", "contains_any", "not_contains", "regex", "not_regex"), "text"),
    "fuzzy": "fuzzy",
    "golden": "golden",
    "semantic": "semantic",
    "json": "structured",
    "json_schema": "structured",
    "json_path": "jsonpath",
    "judge": "judge",
    "python": "python",
    **dict.fromkeys(("length", "latency", "cost"), "budgets"),
    **dict.fromkeys(("tool_call", "no_tool_call", "tool_calls"), "tools"),
}


class Registry(Mapping[str, CheckType]):
    """Every check by name: this package's (looking one up imports its family, which registers it), and any a
    conftest or plugin registers itself."""

    def __init__(self) -> None:
        self._registered: dict[str, CheckType] = {}

    def __getitem__(self, name: str) -> CheckType:
        if name not in self._registered and name in FAMILIES:
            import_module(f"{__package__}.{FAMILIES[name]}")
        return self._registered[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in FAMILIES or name in self._registered)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*FAMILIES, *self._registered]))

    def __len__(self) -> int:
        return len(FAMILIES.keys() | self._registered.keys())

    def add(self, check: CheckType) -> None:
        self._registered[check.name] = check


REGISTRY = Registry()


def register(name: str, schema: dict[str, Any], scope: Scope = "call") -> Callable[[Callable], Callable]:
    """Register a builder `build(argument, context) -> check` under `name` (this package's own checks are listed in
    FAMILIES too)."""

    def decorator(build: Callable[[Any, BuildContext], Callable[..., CheckResult]]) -> Callable:
        REGISTRY.add(CheckType(name, schema, build, scope))
        return build

    return decorator


@cache
def _argument_check(name: str) -> Predicate | None:
    return compile_schema(REGISTRY[name].schema)


@cache
def _argument_validator(name: str) -> jsonschema.Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(REGISTRY[name].schema)


def build_check(name: str, argument: Any, context: BuildContext) -> BuiltCheck:
    """Validate `argument` against the check's schema and build it; raise CheckSpecError when wrong. A valid argument
    is recognised without jsonschema (see fastschema.py), which runs only to explain a wrong one."""
    check_type = REGISTRY[name]
    fast = _argument_check(name)
    error = None
    if fast is None or not fast(argument):
        from jsonschema.exceptions import best_match

        error = best_match(_argument_validator(name).iter_errors(argument))
    if error is not None:
        where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise CheckSpecError(
            f"check '{name}'{where}: {error.message}",
            hint=check_type.schema.get("description"),
        )
    return BuiltCheck(name, check_type.scope, check_type.build(argument, context), argument)


def result(name: str, passed: bool, reason: str, score: float | None = None, diff: str | None = None) -> CheckResult:
    return CheckResult(name=name, passed=passed, reason=reason, score=score, diff=diff)


def quote(text: str, limit: int = 60) -> str:
    """A short, single-line quotation of `text` for a reason line."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
