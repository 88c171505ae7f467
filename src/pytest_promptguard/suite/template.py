"""`{{var}}` templates: the only substitution suites get, so a prompt reads exactly as it is sent."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..core.errors import PromptguardError
from ..core.validation import suggest

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class TemplateError(PromptguardError):
    """A template that cannot be rendered. `template_line` is its line within the template: an inline prompt's
    error is located at its YAML key instead, but a prompt file's error names the file's own line."""

    def __init__(self, message: str, *, hint: str | None = None, template_line: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.template_line = template_line


_LITERAL = "to send '{{' as text, put it in a variable: vars: {open: '{{'}, and write {{open}}"
_SHOWN = 24  # characters of the template shown from a faulty '{{'


def check_braces(template: str) -> None:
    """Every `{{` opens a `{{name}}`: one without its `}}`, one nested in another, or one around something that is
    no variable name (`{{ a.b }}`) is a TemplateError, never text sent to a model as it is."""
    position = template.find("{{")
    while position != -1:
        match = _PLACEHOLDER.match(template, position)
        if match is not None:
            position = template.find("{{", match.end())
            continue
        close, inner = template.find("}}", position + 2), template.find("{{", position + 2)
        shown = template[position : close + 2 if 0 <= close < position + _SHOWN else position + _SHOWN]
        shown += "…" if len(shown) == _SHOWN and position + _SHOWN < len(template) else ""
        if close == -1:
            message, hint = f"'{{{{' without its '}}}}' in '{shown}'", f"close it: {{{{name}}}}; {_LITERAL}"
        elif inner != -1 and inner < close:
            message, hint = (
                f"a '{{{{' inside another in '{shown}': placeholders do not nest",
                ("write one variable per placeholder, e.g. {{x}}; to combine values, combine them in 'vars'"),
            )
        else:
            message, hint = (
                f"'{shown}' is not a placeholder: a variable name is letters, digits and _",
                (f"write {{{{name}}}} for a variable under 'vars'; {_LITERAL}"),
            )
        raise TemplateError(message, hint=hint, template_line=template.count("\n", 0, position) + 1)


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill every `{{name}}`; an undefined name is an error that lists what is defined, a `{{` that opens no
    placeholder an error too (see `check_braces`)."""
    check_braces(template)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            names = sorted(str(key) for key in variables)  # YAML allows keys such as `1:`, never usable here
            defined = ", ".join(names) or "none"
            raise TemplateError(
                f"undefined variable {{{{{name}}}}}{suggest(name, names)}",
                hint=f"define '{name}' under 'vars' in the case or the suite (defined: {defined})",
                template_line=template.count("\n", 0, match.start()) + 1,
            )
        value = variables[name]
        return value if isinstance(value, str) else str(value)

    return _PLACEHOLDER.sub(replace, template)
