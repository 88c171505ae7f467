"""The editor JSON Schemas: written by `python -m pytest_promptguard schemas`, published in docs/schemas/,
and good enough for an editor to accept every example and flag a misspelt check argument."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from pytest_promptguard.cli.schemas import EDITOR_SCHEMAS, editor_schema

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_writes_the_schemas(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest_promptguard", "schemas", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.schema.json", "suite.schema.json"]
    assert json.loads((tmp_path / "suite.schema.json").read_text()) == editor_schema("suite")
    usage = subprocess.run([sys.executable, "-m", "pytest_promptguard"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: python -m pytest_promptguard schemas FOLDER" in usage.stderr


def test_the_published_schemas_are_current():
    for name in EDITOR_SCHEMAS:
        published = json.loads((ROOT / "docs" / "schemas" / f"{name}.schema.json").read_text())
        assert published == editor_schema(name), "regenerate: python -m pytest_promptguard schemas docs/schemas"


def test_every_example_is_valid_and_a_misspelt_check_argument_is_not():
    suite = jsonschema.Draft202012Validator(editor_schema("suite"))
    for path in sorted((ROOT / "examples" / "prompts").glob("*.prompt.yaml")):
        assert not list(suite.iter_errors(yaml.safe_load(path.read_text()))), path
    config = jsonschema.Draft202012Validator(editor_schema("config"))
    assert not list(
        config.iter_errors(yaml.safe_load((ROOT / "examples" / "prompts" / "promptguard.yaml").read_text()))
    )
    misspelt = {"cases": [{"id": "x", "prompt": "p", "checks": [{"fuzzy": {"expectd": "refund"}}]}]}
    assert list(suite.iter_errors(misspelt))
    unknown = {"cases": [{"id": "x", "prompt": "p", "checks": ["jsn"]}]}
    assert list(suite.iter_errors(unknown))
