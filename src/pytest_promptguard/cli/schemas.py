"""The JSON Schemas editors use to complete and check `*.prompt.yaml` and `promptguard.yaml` as you type.

The shipped schemas validate a suite's shape; each check's argument is validated by its own schema in the
check registry. The editor schemas carry both, so `- fuzzy: {` completes `expected`, `min` and `scorer`.

    python -m pytest_promptguard schemas .promptguard/schemas   # writes suite.schema.json, config.schema.json
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..checks import REGISTRY
from ..core.fileio import write_atomic
from ..core.validation import shipped_schema

EDITOR_SCHEMAS = ("suite", "config")


def editor_schema(name: str) -> dict[str, Any]:
    """The shipped schema `name`, with every registered check's argument schema in place of the generic check."""
    schema = copy.deepcopy(shipped_schema(name))
    if name == "suite":
        schema["$defs"]["checks"]["items"] = _check_item()
    return schema


def _check_item() -> dict[str, Any]:
    bare = sorted(name for name, check in REGISTRY.items() if _accepts_true(check.schema))
    return {
        "description": "a check: `- contains: text`, `- fuzzy: {expected: ..., min: 80}`, "
        "or a bare name such as `- json`",
        "anyOf": [
            {"enum": bare, "description": "a check that needs no argument"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
                "properties": {name: REGISTRY[name].schema for name in sorted(REGISTRY)},
            },
        ],
    }


def _accepts_true(schema: dict[str, Any]) -> bool:
    """Whether `- name` alone (the argument `true`) is a valid use of the check."""
    import jsonschema

    return jsonschema.Draft202012Validator(schema).is_valid(True)


def write_editor_schemas(folder: Path) -> list[Path]:
    written = []
    for name in EDITOR_SCHEMAS:
        path = folder / f"{name}.schema.json"
        write_atomic(path, json.dumps(editor_schema(name), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
