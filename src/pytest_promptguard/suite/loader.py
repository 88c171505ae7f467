"""Load a `*.prompt.yaml` suite: validate it, render every case's prompt, build its checks.

All of this happens at collection, so every mistake in a suite is a collection error that names the file,
the line and the case, before any model is called.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..checks import REGISTRY, BuildContext, BuiltCheck, CaseInfo, CheckSpecError, build_check
from ..config.loader import CONFIG_NAME, Config
from ..core.errors import PromptguardError
from ..core.validation import suggest, validate
from ..core.yamlsource import load_yaml
from ..core.yamltree import YamlMap, YamlSeq
from .promptfiles import PromptFiles
from .template import render
from .toolspec import RequestOptions, case_options, declared_options


@dataclass(frozen=True)
class Case:
    id: str
    line: int
    info: CaseInfo
    messages: tuple[dict[str, Any], ...]
    params: dict[str, Any]
    checks: tuple[BuiltCheck, ...]
    models: tuple[str, ...]
    tags: tuple[str, ...]
    skip: str | None = None
    xfail: str | None = None
    repeat: int | str = 1  # or "auto": sample in rounds until the verdict is decided
    min_pass_rate: float | None = None  # None: not set (every sample must pass, unless a verdict judges the case)
    baseline_samples: int | None = None  # None: the config's, else by temperature
    turns: tuple[dict[str, Any], ...] = ()  # a conversation after `messages` (see conversation.py)
    turn_checks: tuple[tuple[BuiltCheck, ...], ...] = ()  # per model reply of the conversation, in order
    tools: tuple[dict[str, Any], ...] = ()  # normal forms of toolspec.py: its own, else the suite's
    tool_choice: Any = None
    response_format: Any = None
    prompt_files: tuple[
        str, ...
    ] = ()  # the application's files its prompt comes from (`{file: ...}`), as the repository names them


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str | None
    cases: tuple[Case, ...]
    budget_usd: float | None = None
    slo: dict[str, float] | None = (
        None  # {p50_ms, p95_ms, p99_ms, ttft_p50_ms, ttft_p95_ms} over its live calls per model
    )
    slo_line: int | None = None


def suite_name(path: Path) -> str:
    name = path.name
    for suffix in (".prompt.yaml", ".prompt.yml", ".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_suite(path: Path, config: Config, models: Any = None) -> Suite:
    data = load_yaml(path)
    if data is None:
        raise PromptguardError("the suite is empty", path=path, line=1, hint="add 'cases:' with at least one case")
    validate(data, "suite", path, case_of=lambda where: _case_id(data, where))
    name = data.get("name") or suite_name(path)
    drift = config.drift
    context = BuildContext(
        suite_path=path,
        golden_min=drift.min_similarity,
        golden_scorer=drift.scorer,
        rootdir=config.rootdir,
        semantic_min=drift.min_semantic,
        models=models,
    )
    suite_checks = _checks(data.get("checks", YamlSeq()), context, path, case=None)
    suite_options = declared_options(data, context)
    case_options(RequestOptions(), suite_options)  # the suite's own tool_choice against its own tools
    files = PromptFiles(path, config.rootdir)  # each prompt file read once, however many cases use it
    seen: dict[str, int] = {}
    cases = []
    for index, raw in enumerate(data["cases"]):
        line = data["cases"].lines[index]
        case_id = raw["id"]
        if case_id in seen:
            raise PromptguardError(
                f"duplicate case id '{case_id}' (first at line {seen[case_id]})",
                path=path,
                line=line,
                hint="give every case a unique id",
            )
        seen[case_id] = line
        try:
            case = _case(raw, data, name, suite_checks, context, config, files)
            cases.append(_with_options(case, raw, suite_options, context))
        except PromptguardError as exc:
            if exc.path is not None and exc.path.resolve() != path.resolve():
                raise  # a problem in the config, located there; the case is no part of that file
            raise exc.located(path, line, case_id) from None
    return Suite(
        path=path,
        name=name,
        description=data.get("description"),
        cases=tuple(cases),
        budget_usd=data.get("budget_usd"),
        slo=dict(data["slo"]) if "slo" in data else None,
        slo_line=data.lines.get("slo"),
    )


def _with_options(case: Case, raw: YamlMap, suite: RequestOptions, context: BuildContext) -> Case:
    """The case with the tools, tool_choice and response_format it runs with: its own, else the suite's."""
    options = case_options(declared_options(raw, context), suite)
    if options == RequestOptions():
        return case  # none declared (most suites): no second Case to build
    return replace(case, tools=options.tools, tool_choice=options.tool_choice, response_format=options.response_format)


def _case_id(data: Any, where: Sequence[Any]) -> str | None:
    """The id of the case that `where` (a path into the suite data) lies in, when it has a usable one."""
    if len(where) < 2 or where[0] != "cases" or not isinstance(data, dict):
        return None
    cases = data.get("cases")
    if not isinstance(cases, list) or not isinstance(where[1], int) or not 0 <= where[1] < len(cases):
        return None
    raw = cases[where[1]]
    case_id = raw.get("id") if isinstance(raw, dict) else None
    return case_id if isinstance(case_id, str) else None


def _case(
    raw: YamlMap,
    suite: YamlMap,
    suite_name: str,
    suite_checks: list[BuiltCheck],
    context: BuildContext,
    config: Config,
    files: PromptFiles | None = None,
) -> Case:
    variables = {**suite.get("vars", {}), **raw.get("vars", {})}
    prompt_owner = raw if "prompt" in raw else suite
    if "prompt" not in prompt_owner and "turns" not in raw:
        raise PromptguardError(
            "no prompt", line=raw.line, hint="give the case or the suite a 'prompt' (or the case 'turns')"
        )
    messages = (
        _messages(prompt_owner["prompt"], variables, prompt_owner.lines["prompt"], files)
        if "prompt" in prompt_owner
        else ()
    )
    turns, turn_checks = _turns(raw["turns"], variables, context, files) if "turns" in raw else ((), ())
    models = raw.get("models") or suite.get("models") or config.default_models
    if not models and config.path is None:
        raise PromptguardError(
            f"no model to run against: no {CONFIG_NAME} found",
            line=raw.line,
            hint=f"create {CONFIG_NAME} beside the suite (or above it, up to the rootdir) with 'models' and "
            "'default_models', or pass --promptguard-config PATH",
        )
    if not models:
        raise PromptguardError(
            "no model to run against",
            line=raw.line,
            hint=f"name models under 'models' in the suite, or set 'default_models' in {CONFIG_NAME}",
        )
    if raw.get("models") or suite.get("models"):
        models_path, models_line = context.suite_path, raw.lines.get("models") or suite.lines.get("models")
    else:  # the config's default_models name them: a wrong name is fixed there
        models_path, models_line = config.path, config.data.lines.get("default_models")
    for model in models:
        try:
            config.model(model)
        except PromptguardError as exc:
            raise exc.located(models_path, models_line) from None
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
        repeat=raw.get("repeat", suite.get("repeat", 1)),
        min_pass_rate=raw.get("min_pass_rate", suite.get("min_pass_rate")),
        baseline_samples=raw.get("baseline_samples", suite.get("baseline_samples")),
        prompt_files=_prompt_files(prompt_owner.get("prompt"), files),
        turns=turns,
        turn_checks=turn_checks,
    )


def _turns(
    entries: YamlSeq, variables: dict[str, Any], context: BuildContext, files: PromptFiles | None = None
) -> tuple[tuple[dict[str, Any], ...], tuple[tuple[BuiltCheck, ...], ...]]:
    """A conversation's turns, rendered, each marked with whether the model replies after it, and the checks of
    each reply. The model replies after a user message (unless a fixed assistant message follows) and after a
    run of tool results (unless one more result or a fixed assistant message follows)."""
    kinds = [next(k for k in ("user", "assistant", "tool") if k in entry) for entry in entries]
    turns, checks = [], []
    for index, (entry, kind) in enumerate(zip(entries, kinds)):
        line = entries.lines[index]
        after = kinds[index + 1] if index + 1 < len(kinds) else None
        if kind == "tool" and (index == 0 or kinds[index - 1] not in ("user", "tool")):
            raise PromptguardError(
                "a tool result must follow a user message (whose reply calls the tool) or another tool result",
                line=line,
                hint="put the tool result right after the user turn that makes the model call the tool",
            )
        reply = (kind == "user" and after != "assistant") or (kind == "tool" and after not in ("tool", "assistant"))
        if "checks" in entry and not reply:
            raise PromptguardError(
                f"turn {index + 1} has checks but the model does not reply after it",
                line=line,
                hint="put the checks on the turn the model answers: a user message or the last tool result",
            )
        if kind == "tool":
            result = entry["tool"]["result"]
            content = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            turn = {"role": "tool", "name": entry["tool"]["name"], "content": content, "reply": reply}
        else:
            turn = {"role": kind, "content": _content(entry[kind], variables, line, files)}
            if kind == "user":
                turn["reply"] = reply
        turns.append(turn)
        if reply:
            checks.append(tuple(_checks(entry.get("checks", YamlSeq()), context, context.suite_path, case=None)))
    if not checks:
        raise PromptguardError(
            "no turn asks the model for a reply",
            line=entries.lines[0] if entries else None,
            hint="add a user turn after the last fixed assistant message",
        )
    return tuple(turns), tuple(checks)


def _messages(
    prompt: Any, variables: dict[str, Any], line: int, files: PromptFiles | None = None
) -> tuple[dict[str, Any], ...]:
    """The rendered messages; a template error is located at the prompt, or at its message in a list, and a
    prompt file's error at its `file:` key."""
    if not isinstance(prompt, list):  # a string or {file: ...}: one user message
        return ({"role": "user", "content": _content(prompt, variables, line, files)},)
    messages = []
    for index, message in enumerate(prompt):
        at = prompt.lines[index] if isinstance(prompt, YamlSeq) else line
        messages.append({"role": message["role"], "content": _content(message["content"], variables, at, files)})
    return tuple(messages)


def _content(value: str | YamlMap, variables: dict[str, Any], line: int, files: PromptFiles | None) -> str:
    """One message's text: an inline template, or the application's prompt file (`{file: ...}`), rendered."""
    try:
        if isinstance(value, str):
            return render(value, variables)
        assert files is not None, "a {file: ...} prompt needs the suite's PromptFiles"
        return files.render(value, variables)
    except PromptguardError as exc:
        raise exc.located(line=line) from None


def _prompt_files(prompt: Any, files: PromptFiles | None) -> tuple[str, ...]:
    """The application's files a prompt comes from, as the repository names them (for the stale-golden message)."""
    if files is None:
        return ()
    contents = (
        [prompt] if isinstance(prompt, dict) else [m["content"] for m in prompt] if isinstance(prompt, list) else []
    )
    return tuple(dict.fromkeys(files.shown(c) for c in contents if isinstance(c, dict)))


def _checks(entries: YamlSeq, context: BuildContext, path: Path, case: str | None) -> list[BuiltCheck]:
    checks = []
    for index, entry in enumerate(entries):
        line = entries.lines[index]
        name, argument = (entry, True) if isinstance(entry, str) else next(iter(entry.items()))
        if name not in REGISTRY:
            raise PromptguardError(
                f"unknown check '{name}'{suggest(name, list(REGISTRY))}",
                path=path,
                line=line,
                case=case,
                hint=f"use one of: {', '.join(sorted(REGISTRY))}",
            )
        try:
            checks.append(build_check(name, argument, context))
        except CheckSpecError as exc:
            raise PromptguardError(exc.message, path=path, line=line, case=case, hint=exc.hint) from None
    return checks
