"""The bad-input corpus: every broken suite or config in corpus/bad/ is a clean collection error, and the good
suite beside it still runs.

Each folder of corpus/bad/ is one case: the broken files (a suite `*.prompt.yaml`, and where needed a
promptguard.yaml, schema files, a Python module) and `expected.yaml`, which says what collecting the suite
must report:

    file: promptguard.yaml   # the file the error points into, relative to the folder (default: the suite)
    line: 4                  # the line it names (default: the one line of `file` marked `# <-`; null: none known)
    case: a                  # the case it names, if any
    message: ["..."]         # fragments of the error's first line
    fix: "..."               # a fragment of its one `fix:` line
    pad: 11000000            # the `@PAD@` in the folder's files becomes this many 'x' (too big to keep in git)

A case runs in its own folder beside the files of corpus/good/: a config, a Python model stub and a good suite
of two cases that must pass.
"""

from __future__ import annotations

import shutil
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pytest_promptguard.core.errors import PromptguardError
from pytest_promptguard.core.yamlsource import load_yaml

CORPUS = Path(__file__).parent / "corpus"
GOOD = CORPUS / "good"
BAD = sorted(folder for folder in (CORPUS / "bad").iterdir() if folder.is_dir())
MARK = b"# <-"
PAD = b"@PAD@"


@dataclass(frozen=True)
class Expected:
    """What collecting one corpus case must report."""

    name: str  # the case's folder, and the folder it runs in
    suite: str
    file: str
    line: int | None
    case: str | None
    message: list[str]
    fix: str
    pad: int | None

    @classmethod
    def read(cls, folder: Path) -> Expected:
        spec = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
        suites = [path.name for path in folder.glob("*.prompt.yaml")]
        assert len(suites) == 1, f"{folder.name}: one *.prompt.yaml per case, found {suites}"
        file = spec.get("file", suites[0])
        return cls(
            name=folder.name,
            suite=suites[0],
            file=file,
            line=spec["line"] if "line" in spec else marked_line((folder / file).read_bytes()),
            case=spec.get("case"),
            message=spec["message"],
            fix=spec["fix"],
            pad=spec.get("pad"),
        )


def marked_line(data: bytes) -> int:
    """The number of the one line of `data` marked `# <-` (bytes: some corpus files are not UTF-8)."""
    found = [number for number, line in enumerate(data.splitlines(), 1) if line.rstrip().endswith(MARK)]
    assert len(found) == 1, f"the mark {MARK!r} must be on exactly one line, found it on {found}"
    return found[0]


def install(root: Path, folder: Path, pad: int | None) -> None:
    """Copy one case into `root/<its name>/`, padded where it asks to be."""
    target = root / folder.name
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("expected.yaml"))
    if pad:
        for path in (p for p in target.rglob("*") if p.is_file() and PAD in p.read_bytes()):
            path.write_bytes(path.read_bytes().replace(PAD, b"x" * pad))


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pytester folder with the good files in it."""
    monkeypatch.delenv("PG_CORPUS_NEVER_SET", raising=False)
    shutil.copytree(GOOD, pytester.path, dirs_exist_ok=True)
    return pytester.path


def collection_error(result: pytest.RunResult, suite: str) -> list[str]:
    """The lines pytest shows under `ERROR collecting <suite>`."""
    lines = result.stdout.lines
    header = next((i for i, line in enumerate(lines) if line.strip("_ ") == f"ERROR collecting {suite}"), None)
    assert header is not None, f"no 'ERROR collecting {suite}' in:\n{result.stdout.str()}"
    body = []
    for line in lines[header + 1 :]:
        if line.startswith(("_", "=")):
            break
        body.append(line)
    return body


def assert_clean(result: pytest.RunResult) -> None:
    """Nothing of the plugin's insides reaches the user."""
    output = result.stdout.str() + result.stderr.str()
    for leak in ("Traceback", "INTERNALERROR", "line None"):
        assert leak not in output, output


def assert_reported(result: pytest.RunResult, expected: Expected) -> None:
    """The case's error names the file, the line where known, the case, the problem and the fix."""
    error = collection_error(result, f"{expected.name}/{expected.suite}")
    first = error[0]
    where = f"{expected.name}/{expected.file}" + (f":{expected.line}" if expected.line else "")
    case = f"case '{expected.case}': " if expected.case else ""
    assert first.startswith(f"{where}: {case}"), first
    for fragment in expected.message:
        assert fragment in first, f"{fragment!r} not in {first!r}"
    fixes = [line for line in error if line.startswith("  fix: ")]
    assert len(fixes) == 1 and expected.fix in fixes[0], error


def test_the_corpus_is_big_enough() -> None:
    assert len(BAD) >= 40


@pytest.mark.parametrize("folder", BAD, ids=[folder.name for folder in BAD])
def test_each_broken_file_is_a_clean_collection_error(pytester: pytest.Pytester, project: Path, folder: Path) -> None:
    expected = Expected.read(folder)
    install(project, folder, expected.pad)

    result = pytester.runpytest("--promptguard")

    assert_clean(result)
    result.assert_outcomes(passed=2, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_reported(result, expected)


def test_the_whole_corpus_at_once(pytester: pytest.Pytester, project: Path) -> None:
    """Every broken suite side by side, in one run: each is reported, and the good suite still runs."""
    cases = [Expected.read(folder) for folder in BAD]
    for folder, expected in zip(BAD, cases):
        install(project, folder, expected.pad)

    result = pytester.runpytest("--promptguard")

    assert_clean(result)
    result.assert_outcomes(passed=2, errors=len(cases))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for expected in cases:
        assert_reported(result, expected)


def test_ordinary_anchors_aliases_and_merges_still_load(tmp_path: Path) -> None:
    """The bounds leave everyday YAML alone: shared checks and `<<` merges whose own keys override."""
    cases = "".join(
        f"  - {{id: c{i}, params: {{<<: *defaults, max_tokens: {i}}}, checks: *shared}}\n" for i in range(500)
    )
    path = tmp_path / "s.prompt.yaml"
    path.write_text(
        "params: &defaults {temperature: 0, max_tokens: 100}\n"
        "checks: &shared [{contains: a}, {not_contains: b}]\n"
        "cases:\n" + cases,
        encoding="utf-8",
    )
    data = load_yaml(path)
    assert data["cases"][7]["params"] == {"temperature": 0, "max_tokens": 7}
    assert data["cases"][499]["checks"] == [{"contains": "a"}, {"not_contains": "b"}]


@pytest.mark.parametrize("name", ["yaml-bomb", "yaml-deep-nesting"])
def test_hostile_yaml_is_refused_quickly_in_little_memory(name: str) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PromptguardError):
            load_yaml(CORPUS / "bad" / name / "broken.prompt.yaml")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024
