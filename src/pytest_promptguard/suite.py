"""Load a `*.prompt.yaml` suite: validate it, render every case's prompt, build its checks.

All of this happens at collection, so every mistake in a suite is a collection error that names the file,
the line and the case, before any model is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checks import REGISTRY, BuildContext, CaseInfo, Check, CheckSpecError, build_check
from .config import Config
from .errors import PromptguardError
from .template import render
from .validation import suggest, validate
from .yamlsource import YamlMap, YamlSeq, load_yaml


@dataclass(frozen=True)
class Case:
    id: str
    line: int
    info: CaseInfo
    messages: tuple[dict[str, Any], ...]
    params: dict[str, Any]
    checks: tuple[Check, ...]
    models: tuple[str, ...]
    tags: tuple[str, ...]
    skip: str | None = None
    xfail: str | None = None


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str | None
    cases: tuple[Case, ...]


def suite_name(path: Path) -> str:
    name = path.name
    for suffix in (".prompt.yaml", ".prompt.yml", ".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_suite(path: Path, config: Config) -> Suite:
    data = load_yaml(path)
    if data is None:
        raise PromptguardError("the suite is empty", path=path, hint="add 'cases:' with at least one case")
    validate(data, "suite", path)
    name = data.get("name") or suite_name(path)
    context = BuildContext(suite_path=path)
    suite_checks = _checks(data.get("checks", YamlSeq()), context, path, case=None)
    seen: dict[str, int] = {}
    cases = []
    for index, raw in enumerate(data["cases"]):
        line = data["cases"].lines[index]
        case_id = raw["id"]
        if case_id in seen:
            raise PromptguardError(
                f"duplicate case id '{case_id}' (first at line {seen[case_id]})",
                path=path, line=line, hint="give every case a unique id",
            )
        seen[case_id] = line
        try:
            cases.append(_case(raw, data, name, suite_checks, context, config))
        except PromptguardError as exc:
            raise exc.located(path, line, case_id) from None
    return Suite(path=path, name=name, description=data.get("description"), cases=tuple(cases))


def _case(
    raw: YamlMap, suite: YamlMap, suite_name: str, suite_checks: list[Check], context: BuildContext, config: Config
) -> Case:
    variables = {**suite.get("vars", {}), **raw.get("vars", {})}
    prompt_owner = raw if "prompt" in raw else suite
    if "prompt" not in prompt_owner:
        raise PromptguardError("no prompt", line=raw.line, hint="give the case or the suite a 'prompt'")
    messages = _messages(prompt_owner["prompt"], variables, prompt_owner.lines["prompt"])
    models = raw.get("models") or suite.get("models") or config.default_models
    if not models:
        raise PromptguardError(
            "no model to run against",
            line=raw.line,
            hint="name models under 'models' in the suite, or set 'default_models' in promptguard.yaml",
        )
    models_line = (raw.lines.get("models") or suite.lines.get("models")) if (raw.get("models") or suite.get("models")) else None
    for model in models:
        try:
            config.model(model)
        except PromptguardError as exc:
            raise exc.located(context.suite_path, models_line or raw.line) from None
    tags = tuple(dict.fromkeys([*suite.get("tags", []), *raw.get("tags", [])]))
    info = CaseInfo(suite=suite_name, id=raw["id"], vars=dict(variables), tags=tags)
    checks = suite_checks + _checks(raw.get("checks", YamlSeq()), context, context.suite_path, case=raw["id"])
    return Case(
        id=raw["id"],
        line=raw.line,
        info=info,
        messages=messages,
        params={**suite.get("params", {}), **raw.get("params", {})},
        checks=tuple(checks),
        models=tuple(models),
        tags=tags,
        skip=raw.get("skip"),
        xfail=raw.get("xfail"),
    )


def _messages(prompt: Any, variables: dict[str, Any], line: int) -> tuple[dict[str, Any], ...]:
    try:
        if isinstance(prompt, str):
            return ({"role": "user", "content": render(prompt, variables)},)
        return tuple({"role": m["role"], "content": render(m["content"], variables)} for m in prompt)
    except PromptguardError as exc:
        raise exc.located(line=line) from None


def _checks(entries: YamlSeq, context: BuildContext, path: Path, case: str | None) -> list[Check]:
    checks = []
    for index, entry in enumerate(entries):
        line = entries.lines[index]
        name, argument = (entry, True) if isinstance(entry, str) else next(iter(entry.items()))
        if name not in REGISTRY:
            raise PromptguardError(
                f"unknown check '{name}'{suggest(name, list(REGISTRY))}",
                path=path, line=line, case=case, hint=f"use one of: {', '.join(sorted(REGISTRY))}",
            )
        try:
            checks.append(build_check(name, argument, context))
        except CheckSpecError as exc:
            raise PromptguardError(exc.message, path=path, line=line, case=case, hint=exc.hint) from None
    return checks
