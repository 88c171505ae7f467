"""The examples of the README and the docs site, read from their Markdown: fenced blocks with the marker that says
what each is, and the commands (every line of a shell block, and inline code that starts like one of ours).
tests/test_docs.py validates or runs each; the markers are described there."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHELLS = {"bash", "sh", "shell", "console"}
# Inline code that is one of this project's commands (other inline code is a name, a key or a fragment of one).
COMMAND_START = re.compile(
    r"^(pytest\s|python -m pytest\s|python -m pytest_promptguard(\s|$)|python (benchmarks|tools|examples)/|pip install\s)"
)
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<marker>.+?)\s*-->\s*$")
_SNIPPET = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')
_INLINE = re.compile(r"(?<!`)(`+)(?!`)(?P<code>.+?)(?<!`)\1(?!`)", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, the marker before it, and its text (snippets included)."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    marker: str | None
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One command line as a reader would type it."""

    page: Path
    line: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    def words(self) -> list[list[str]]:
        """The command's simple commands, split at `&&` and `;`, GitHub expressions (`${{ matrix.shard }}`) read as 1."""
        text = re.sub(r"\$\{\{[^}]*\}\}", "1", self.text)
        words = shlex.split(text, comments=True)
        parts: list[list[str]] = [[]]
        for word in words:
            if word in ("&&", ";"):
                parts.append([])
            else:
                parts[-1].append(word)
        return [p for p in parts if p]


def pages() -> list[Path]:
    """The README and every page of the docs site."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text("utf-8").splitlines()
    found, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body, end = [], index + 1
        while end < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end].lstrip())
            end += 1
        previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.match(previous)
        text = "\n".join(_expand_snippets(body)) + "\n"
        found.append(Block(page, index + 1, opening["lang"].lower(), marker["marker"] if marker else None, text))
        index = end + 1
    return found


def _expand_snippets(body: list[str]) -> list[str]:
    """mkdocs' `--8<-- "path"` lines (pymdownx.snippets) replaced by the file they include, as the site shows it."""
    out = []
    for line in body:
        snippet = _SNIPPET.match(line)
        out.extend((REPO / snippet["path"]).read_text("utf-8").splitlines() if snippet else [line])
    return out


def commands(page: Path) -> list[Command]:
    """Every line of the page's shell blocks, and its inline code that starts like one of this project's commands."""
    found = []
    for block in blocks(page):
        if block.lang in SHELLS:
            found += shell_commands(block.page, block.line + 1, block.text)
    text = _without_fences(page.read_text("utf-8"))
    for match in _INLINE.finditer(text):
        code = " ".join(match["code"].split())
        if "\n\n" not in match["code"] and COMMAND_START.match(code):
            found.append(Command(page, text.count("\n", 0, match.start()) + 1, code))
    return found


def shell_commands(page: Path, first_line: int, text: str) -> list[Command]:
    """The commands of a shell script: continuation lines joined, comment-only and blank lines left out."""
    found, pending, start = [], "", first_line
    for offset, line in enumerate(text.splitlines()):
        if not pending:
            start = first_line + offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            found.append(Command(page, start, command))
    return found


def _without_fences(text: str) -> str:
    """The page with its fenced blocks blanked out (line numbers kept), so only prose is searched for inline code."""
    lines, out, fence = text.splitlines(), [], None
    for line in lines:
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening["fence"]
            out.append("")
        elif fence is not None:
            if re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", line):
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def readme_commands() -> list[Command]:
    """The README's first shell block: the commands a newcomer runs first."""
    first = next(b for b in blocks(REPO / "README.md") if b.lang in SHELLS)
    return shell_commands(first.page, first.line + 1, first.text)
