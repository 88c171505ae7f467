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


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill every `{{name}}`; an undefined name is an error that lists what is defined."""

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
