"""`{{var}}` templates: the only substitution suites get, so a prompt reads exactly as it is sent."""

from __future__ import annotations

import re
from typing import Any, Mapping

from .errors import PromptguardError
from .validation import suggest

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Fill every `{{name}}`; an undefined name is an error that lists what is defined."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            names = sorted(str(key) for key in variables)  # YAML allows keys such as `1:`, never usable here
            defined = ", ".join(names) or "none"
            raise PromptguardError(
                f"undefined variable {{{{{name}}}}}{suggest(name, names)}",
                hint=f"define '{name}' under 'vars' in the case or the suite (defined: {defined})",
            )
        value = variables[name]
        return value if isinstance(value, str) else str(value)

    return _PLACEHOLDER.sub(replace, template)
