"""Bad input beyond one run per broken file: `--collect-only` reports it too, and without `--promptguard`
suites are never read.

Every broken file and the error it must produce lives in tests/corpus/bad/, run by test_corpus.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_corpus import BAD, GOOD, collection_error, install


def broken(name: str) -> Path:
    return next(folder for folder in BAD if folder.name == name)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    shutil.copytree(GOOD, pytester.path, dirs_exist_ok=True)
    return pytester.path


def test_collect_only_reports_bad_input_too(pytester: pytest.Pytester, project: Path) -> None:
    install(project, broken("undefined-variable"), pad=None)
    result = pytester.runpytest("--promptguard", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["good.prompt.yaml::hello[[]echo[]]", "good.prompt.yaml::bye[[]echo[]]"])
    assert collection_error(result, "undefined-variable/broken.prompt.yaml")[0].startswith(
        "undefined-variable/broken.prompt.yaml:4: case 'a': undefined"
    )
    assert "Traceback" not in result.stdout.str()


def test_suites_are_not_collected_without_the_flag(pytester: pytest.Pytester, project: Path) -> None:
    install(project, broken("yaml-unterminated-quote"), pad=None)
    install(project, broken("cases-wrong-type"), pad=None)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert "prompt.yaml" not in result.stdout.str()
