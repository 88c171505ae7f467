"""Prompts where the application keeps them: `{file: path}` in a suite.

`prompt: {file: ../app/prompts/support.md}` (or `content: {file: ...}` in a message) makes a suite test the very
text the application sends, not a copy that drifts away from it. The file is rendered with the case's variables
like an inline prompt (`{{var}}`), or as a Jinja template (`template: jinja2`) when that is how the application
renders it. The rendered text is part of the request, so its hash changes when the file is edited, and the
goldens recorded from the old text are reported stale.

Every problem is a PromptguardError located at the `file:` key of the reference (the suite loader adds the
suite file and the case), whose message names the prompt file and, where known, its line.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import PromptguardError
from ..core.repofiles import MissingFile, repository_file, shown_path
from ..core.validation import suggest
from ..core.yamlsource import read_text
from ..core.yamltree import YamlMap
from .template import TemplateError, render

JINJA_EXTRA = "pip install 'pytest-promptguard[jinja2]'"


class PromptFiles:
    """The prompt files of one suite while it loads: each found (relative to the suite, inside the rootdir),
    read and compiled once, however many cases use it. A new load reads them afresh, so an edit is seen."""

    def __init__(self, suite_path: Path, rootdir: Path | None) -> None:
        self.suite_path = suite_path
        self.rootdir = rootdir
        self._paths: dict[str, Path] = {}  # as written in the suite -> resolved
        self._texts: dict[Path, str] = {}
        self._jinja: dict[Path, Any] = {}  # a prompt file's folder -> the Jinja environment that loads from it

    def path(self, reference: YamlMap) -> Path:
        """The file `reference` (`{file: ...}`) names; an error at its `file:` key when it cannot be used."""
        written = reference["file"]
        if written not in self._paths:
            try:
                self._paths[written] = repository_file(
                    written,
                    self.suite_path.parent,
                    self.rootdir,
                    kind="prompt file",
                    missing_hint="give its path relative to the suite file: prompt: {file: path}",
                )
            except PromptguardError as exc:
                raise exc.located(line=_key_line(reference, "file")) from None
        return self._paths[written]

    def shown(self, reference: YamlMap) -> str:
        """The file's path as the repository names it (`app/prompts/support.md`), for messages."""
        return shown_path(self.path(reference), self.rootdir)

    def render(self, reference: YamlMap, variables: Mapping[str, Any]) -> str:
        """The file's text rendered with the case's variables by the reference's template engine."""
        path = self.path(reference)
        if reference.get("template", "promptguard") == "jinja2":
            return self._render_jinja(reference, path, variables)
        try:
            return render(self._text(path), variables)
        except TemplateError as exc:
            raise self._problem(reference, exc.message, exc.hint, path, exc.template_line) from None
        except PromptguardError as exc:  # the file cannot be read: too large, not UTF-8, unreadable
            raise self._problem(reference, exc.message, exc.hint, path, exc.line) from None

    def _text(self, path: Path) -> str:
        if path not in self._texts:
            self._texts[path] = read_text(path)  # bounded like a suite: 10 MiB, UTF-8
        return self._texts[path]

    def _render_jinja(self, reference: YamlMap, path: Path, variables: Mapping[str, Any]) -> str:
        environment = self._environment(reference, path.parent)
        context = {name: value for name, value in variables.items() if isinstance(name, str)}
        try:
            return environment.get_template(path.name).render(context)
        except Exception as exc:  # noqa: BLE001 - a template's expressions may fail in any way Python can
            message, hint, file, line = _jinja_problem(exc, context)
            raise self._problem(reference, message, hint, file or path, line) from None

    def _environment(self, reference: YamlMap, folder: Path) -> Any:
        if folder not in self._jinja:
            try:
                self._jinja[folder] = jinja_environment(folder, self.rootdir)
            except ImportError:
                raise PromptguardError(
                    "template: jinja2 needs the jinja2 package, which is not installed",
                    line=_key_line(reference, "template"),
                    hint=f"install the extra: {JINJA_EXTRA}",
                ) from None
        return self._jinja[folder]

    def _problem(
        self, reference: YamlMap, message: str, hint: str | None, file: Path, line: int | None
    ) -> PromptguardError:
        """An error at the reference's `file:` key naming the prompt file (or the template it included) and line."""
        where = f"prompt file {reference['file']}"
        if file.resolve() != self.path(reference):
            where += f", in {shown_path(file.resolve(), self.rootdir)}"
        where += f", line {line}" if line else ""
        return PromptguardError(f"{where}: {message}", line=_key_line(reference, "file"), hint=hint)


def _key_line(reference: YamlMap, key: str) -> int | None:
    return reference.lines.get(key) or reference.line or None


def jinja_environment(folder: Path, rootdir: Path | None) -> Any:
    """Jinja as a suite may use it: sandboxed (a template cannot reach Python's internals), strict (an undefined
    variable is an error, not empty text), without HTML escaping (a prompt is no web page). `{% include %}`,
    `{% extends %}` and `{% import %}` find templates in `folder`, inside the repository, bounded like suites.

    Raises ImportError when jinja2 is not installed (it is the optional extra `jinja2`).
    """
    from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
    from jinja2.sandbox import SandboxedEnvironment

    class RepositoryLoader(BaseLoader):
        def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
            try:
                path = repository_file(
                    template,
                    folder,
                    rootdir,
                    kind="template",
                    relative_to="the prompt file's folder",
                    missing_hint="name templates relative to the folder of the prompt file",
                )
            except MissingFile:
                raise TemplateNotFound(template) from None  # so that `{% include ... ignore missing %}` works
            return read_text(path), str(path), lambda: True

    return SandboxedEnvironment(
        loader=RepositoryLoader(), undefined=StrictUndefined, autoescape=False, auto_reload=False
    )


def _jinja_problem(exc: Exception, variables: Mapping[str, Any]) -> tuple[str, str | None, Path | None, int | None]:
    """Message, fix, template file and line of a Jinja failure, in words a suite's author can act on."""
    from jinja2 import TemplateNotFound, TemplateSyntaxError, UndefinedError
    from jinja2.sandbox import SecurityError

    file, line = _template_frame(exc)
    if isinstance(exc, TemplateSyntaxError):
        file, line = (Path(exc.filename) if exc.filename else file), exc.lineno
        return f"Jinja syntax error: {exc.message}", "fix the template's syntax at that line", file, line
    if isinstance(exc, PromptguardError):  # a template it includes cannot be used: outside, too large, not UTF-8
        return exc.message, exc.hint, exc.path or file, exc.line or line
    if isinstance(exc, UndefinedError):
        return _undefined(str(exc.message or exc), variables) + (file, line)
    if isinstance(exc, TemplateNotFound):
        return (
            f"included template {exc.name} not found",
            "name included templates relative to the prompt file's folder, or add `ignore missing`",
            file,
            line,
        )
    if isinstance(exc, SecurityError):
        return (
            f"refused by Jinja's sandbox: {exc}",
            "the template runs sandboxed: use plain values and filters",
            file,
            line,
        )
    return (
        f"the template failed: {type(exc).__name__}: {exc}",
        "fix the expression at that line, or the variables it is given under 'vars'",
        file,
        line,
    )


def _undefined(message: str, variables: Mapping[str, Any]) -> tuple[str, str]:
    """An undefined variable's message and fix, naming the variables that are defined."""
    names = sorted(variables)
    defined = ", ".join(names) or "none"
    if message.startswith("'") and message.endswith("' is undefined"):
        name = message[1 : -len("' is undefined")]
        return (
            f"undefined variable '{name}' in the Jinja template{suggest(name, names)}",
            f"define '{name}' under 'vars' in the case or the suite (defined: {defined})",
        )
    return f"undefined value in the Jinja template: {message}", f"define it under 'vars' (defined: {defined})"


def _template_frame(exc: BaseException) -> tuple[Path | None, int | None]:
    """The template file and line that a Jinja runtime error was raised at: Jinja rewrites the traceback so that
    template frames point at the template source; the deepest one is where it failed."""
    found: tuple[Path | None, int | None] = (None, None)
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if "__jinja_exception__" in frame.f_globals:  # a frame Jinja made to point at the template
            found = (Path(frame.f_code.co_filename), line)
    return found
