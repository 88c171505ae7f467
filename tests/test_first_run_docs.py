"""What docs/getting-started.md, docs/ci.md and docs/configuration.md quote is what the code prints and reads (their
configs and commands are checked with every other page's by test_docs.py)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pytest_promptguard.cli.init import init
from pytest_promptguard.config.loader import Config
from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.plugin.options import outage_exit_code
from pytest_promptguard.plugin.shard import Shard, ShardHooks
from pytest_promptguard.report.outage import Outage
from pytest_promptguard.report.terminal import WIDTH

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "docs" / name for name in ("getting-started.md", "ci.md", "configuration.md")]
FENCE = re.compile(r"(?:<!-- (?P<marker>[^>]+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.DOTALL)


def blocks(lang: str, marker: str | None = None) -> list[str]:
    return [
        m["body"]
        for page in PAGES
        for m in FENCE.finditer(page.read_text("utf-8"))
        if m["lang"] == lang and (marker is None or m["marker"] == marker)
    ]


def text_block(page: str, start: str) -> str:
    (found,) = [b for b in FENCE.finditer((REPO / "docs" / page).read_text("utf-8")) if b["body"].startswith(start)]
    return found["body"]


def test_the_ini_example_sets_the_outage_status(pytester: pytest.Pytester) -> None:
    pytester.makeini(text_block("ci.md", "[pytest]"))
    config = pytester.parseconfig("--promptguard")
    assert outage_exit_code(config) == 75
    config._ensure_unconfigure()


def test_the_quoted_output_is_what_the_code_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    quoted = text_block("getting-started.md", "found no API key")
    assert quoted.splitlines() == init(tmp_path, {}, probe=False)
    line = Outage(1, {"HTTP 503": 1}).line()
    wrapped = textwrap.wrap(line, WIDTH, subsequent_indent="  ", break_on_hyphens=False)
    assert text_block("ci.md", "could not measure") == "\n".join(wrapped)
    hooks = ShardHooks(Shard(2, 4))
    hooks.by_time = True
    assert text_block("ci.md", "promptguard shard") == hooks.pytest_report_collectionfinish()
    monkeypatch.chdir(REPO / "tests/corpus/bad/config-base-url-not-a-url")
    with pytest.raises(PromptguardError) as error:
        Config.load(Path("promptguard.yaml"))
    assert text_block("configuration.md", "promptguard.yaml:6") == str(error.value)
