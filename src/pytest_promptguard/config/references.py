"""What a `promptguard.yaml` points at, checked when it loads: the models it names and the addresses it calls.

A name that is not a model (`default_models`, `embedding_model`, `judge: {model}`, a `--promptguard-candidate`)
or a `base_url` that is no http(s) address would otherwise surface late, as a check that cannot run or a call
retried until it gives up. Here each is an error naming the file and the line, before any suite runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ..core.errors import PromptguardError, display_path
from ..core.validation import suggest
from ..core.yamltree import YamlMap, line_of


def check_references(data: YamlMap, path: Path, candidates: Mapping[str, str]) -> None:
    """Every model name the config uses is one it defines."""
    models = data.get("models", YamlMap())
    defined = list(models)

    def refuse(name: str, what: str, line: int | None) -> None:
        if name not in models:
            known = ", ".join(defined) or "none"
            raise PromptguardError(
                f"{what}: unknown model '{name}'{suggest(name, defined)}",
                path=path,
                line=line,
                hint=f"define it under 'models' in {display_path(path)} (defined there: {known})",
            )

    for index, name in enumerate(data.get("default_models", [])):
        refuse(name, "default_models", line_of(data, ["default_models", index]))
    if "embedding_model" in data:
        refuse(data["embedding_model"], "embedding_model", line_of(data, ["embedding_model"]))
    if "model" in data.get("judge", {}):
        refuse(data["judge"]["model"], "judge", line_of(data, ["judge", "model"]))
    for model, candidate in candidates.items():
        if model in models:  # a config without the model is one the candidate does not apply to
            refuse(candidate, f"--promptguard-candidate {model}={candidate}", line_of(data, ["models", model]))


def url_problem(url: str) -> str | None:
    """Why `url` is no address promptguard can call (None when it is one): http or https, with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what checks it
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"has the scheme '{parts.scheme}:', not http or https" if parts.scheme else "has no http:// or https://"
    if not parts.hostname:
        return "has no host"
    if any(c.isspace() for c in url):
        return "has a space in it"
    return None


def check_base_url(model: str, written: str, url: str, path: Path, line: int | None) -> None:
    """A PromptguardError at the model's `base_url` line when `url` (`written`, its `${VAR}`s filled) is no
    http(s) address with a host."""
    problem = url_problem(url)
    if problem is not None:
        shown = written if url == written else f"{written} (= {url})"
        raise PromptguardError(
            f"model '{model}': base_url '{shown}' {problem}",
            path=path,
            line=line,
            hint="write the API's address with its scheme and host, e.g. https://api.openai.com/v1, "
            "http://127.0.0.1:11434 (or leave base_url out for the provider's own)",
        )
