"""The docs cannot rot: every YAML block and every command in README.md and docs/*.md is validated or run here.

A fenced block says what it is with an HTML comment on the line before it (the site does not show it):

    <!-- suite -->                    a whole suite: written into a copy of examples/prompts/ (so `schemas/...`,
                                      `tools/...` and `../app/...` resolve) and collected by `pytest --promptguard
                                      --collect-only`, with a config that defines every model it names
    <!-- config -->                   a whole promptguard.yaml: in a folder beside examples/prompts/, validated and
                                      loaded, every model built into its provider (python callables imported)
    <!-- config: after init -->       the same, in a folder `python -m pytest_promptguard init` wrote first (its
                                      starter application is what the config's python model imports)
    <!-- golden -->                   a whole golden file: read by the golden store, with exactly the keys it writes
    <!-- workflow -->                 a GitHub Actions workflow: every `run:` is a command, validated as below
    <!-- fragment: checks -->         a list of checks: collected as the checks of one case of a suite
    <!-- fragment: workflow steps --> a list of workflow steps: every `run:` is a command, validated as below
    <!-- file: PATH -->               a file a suite block reads (PATH relative to examples/prompts/): written first
    <!-- run by: TEST_FILE -->        a Python example that TEST_FILE runs, verbatim

A YAML or Python block without a marker, or a fence without a language, fails: say what it is. `text` blocks
(terminal output) and `jinja` blocks need no marker.

Commands are every line of a shell block and every inline code span that starts like one of this project's
commands (`pytest `, `python -m pytest`, `python -m pytest_promptguard`, `python benchmarks/...`, `pip install`):

- `pytest ...`, `python -m pytest ...`: parsed and configured by pytest with this plugin (and xdist) loaded, so an
  unknown option, a bad value or options that cannot go together fail as they would for a user; paths into the
  repository's own folders must exist.
- `python -m pytest_promptguard schemas DIR` and `init` run (into a temporary folder, init finding no key and no
  Ollama); `merge ...` is parsed by its parser.
- `python SCRIPT.py ARGS`: the script exists, and its own argparse parser accepts ARGS (it stops right there).
- `pip install ...`: this project's extras exist; other packages are ones pyproject.toml names.
- `export VAR=...`: something in src/ or examples/ reads VAR. `git`, `mkdocs` and `ruff` lines are left as they are (they
  are not this project's commands); any other program fails: teach this test to check it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import runpy
import shlex
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_promptguard.checks import REGISTRY
from pytest_promptguard.cli import main as cli_main
from pytest_promptguard.cli import merge_parser
from pytest_promptguard.cli.schemas import editor_schema
from pytest_promptguard.config.loader import Config
from pytest_promptguard.golden.store import GoldenFile
from pytest_promptguard.plugin.options import run_options
from pytest_promptguard.plugin.shard import Shard
from pytest_promptguard.providers import make_provider
from pytest_promptguard.providers.local_embeddings import installed as sentence_transformers_installed

from .docs_blocks import REPO, SHELLS, Block, Command, blocks, commands, pages, readme_commands, shell_commands

BLOCKS = [block for page in pages() for block in blocks(page)]
COMMANDS = [command for page in pages() for command in commands(page)]
KINDS = {"suite", "config", "config: after init", "golden", "workflow", "fragment: checks", "fragment: workflow steps"}
OTHER_PROGRAMS = {"git", "mkdocs", "ruff"}  # lines of a shell block that are not this project's commands
REPO_FOLDERS = {"examples", "tests", "benchmarks", "docs", "tools", "src"}


def of_kind(*kinds: str) -> list[Block]:
    return [b for b in BLOCKS if b.marker in kinds]


def ids(items: list[Block] | list[Command]) -> list[str]:
    return [item.where for item in items]


# --- every block says what it is ------------------------------------------------------------------------------


def test_every_block_says_what_it_is():
    wrong = []
    for block in BLOCKS:
        if not block.lang:
            wrong.append(f"{block.where}: a fence without a language: say yaml, bash, python, text, ...")
        elif block.marker and block.marker.startswith(("file:", "run by:")):
            continue
        elif block.lang == "yaml" and block.marker not in KINDS:
            wrong.append(
                f"{block.where}: say what this YAML block is on the line before it: <!-- suite -->, <!-- config -->, "
                "<!-- golden -->, <!-- fragment: checks --> ... (the list is in tests/test_docs.py's docstring)"
            )
        elif block.lang == "python":
            wrong.append(f"{block.where}: a Python block needs <!-- run by: TEST_FILE --> (a test that runs it)")
        elif block.lang not in {"yaml", "text", "jinja", "json"} | SHELLS:
            wrong.append(f"{block.where}: a {block.lang!r} block: no test reads it (use yaml, bash, python or text)")
    assert not wrong, "\n".join(wrong)


def test_the_readme_starts_with_the_two_commands_and_stays_short():
    readme = (REPO / "README.md").read_text("utf-8")
    assert len(readme.splitlines()) <= 250
    assert readme.splitlines()[2] == "```bash", "the README's first lines are the two commands a newcomer runs"
    first, second = (" ".join(words) for c in readme_commands() for words in [shlex.split(c.text, comments=True)])
    assert first == "pip install -e .[dev] && pytest --promptguard --promptguard-replay examples/prompts"
    assert second.startswith("python -m pytest tests")
    ci = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
    assert second in ci, ".ci/run runs exactly the README's test command"


def test_every_page_is_in_the_site_and_every_relative_link_resolves():
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text("utf-8"))["nav"]
    listed = set(re.findall(r"[\w-]+\.md", json.dumps(nav)))
    assert {p.name for p in (REPO / "docs").glob("*.md")} == listed, "mkdocs.yml: every page of docs/ in the nav"
    for page in pages():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if not re.match(r"^[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: link to {target}: no such file"


# --- suites: collected as a user's would be --------------------------------------------------------------------


def _as_suite(block: Block) -> str:
    if block.marker == "suite":
        return block.text
    return "cases:\n  - id: docs-example\n    prompt: a docs example\n    checks:\n" + textwrap.indent(
        block.text, "      "
    )


def _model_names(suite: Any) -> set[str]:
    """The models a suite block names: in `models:` lists and as `judge` graders."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("models"), list):
                names.update(node["models"])
            judge = node.get("judge")
            if isinstance(judge, dict) and isinstance(judge.get("model"), str):
                names.add(judge["model"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(suite)
    return names


def test_every_suite_and_checks_block_is_valid_and_collects(pytester: pytest.Pytester):
    suites = of_kind("suite", "fragment: checks")
    shutil.copytree(REPO / "examples", pytester.path / "examples")
    folder = pytester.path / "examples" / "prompts"
    for block in BLOCKS:
        if block.marker and block.marker.startswith("file:"):
            path = folder / block.marker.removeprefix("file:").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, "utf-8")
    schema = jsonschema.Draft202012Validator(editor_schema("suite"))
    files, names, wrong = {}, {"fast", "grader", "embed"}, []
    for block in suites:
        text = _as_suite(block)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            wrong.append(f"{block.where}: not YAML: {exc}")
            continue
        wrong += [f"{block.where}: {e.json_path}: {e.message}" for e in schema.iter_errors(data)]
        names |= _model_names(data)
        name = f"{block.page.stem}-L{block.line}.prompt.yaml"
        (folder / name).write_text(text, "utf-8")
        files[name] = block
    assert not wrong, "\n".join(wrong)
    # Every model a block names, at an address nothing listens on: collection calls nothing.
    models = {n: {"provider": "openai", "model": n, "base_url": "http://127.0.0.1:9/v1"} for n in sorted(names)}
    config = {"default_models": ["fast"], "embedding_model": "embed", "judge": {"model": "grader"}, "models": models}
    (folder / "docs-models.yaml").write_text(yaml.safe_dump({"pythonpath": [".", "../app"], **config}), "utf-8")
    run = pytester.inline_run(
        "--promptguard",
        "--collect-only",
        "-p",
        "no:cacheprovider",
        "--promptguard-config",
        str(folder / "docs-models.yaml"),
        *(str(folder / name) for name in files),
    )
    errors = [r for r in run.getreports("pytest_collectreport") if r.failed]
    assert not errors, "\n".join(f"{_block_of(r.nodeid, files)}: {r.longreprtext}" for r in errors)
    collected = {c.item.nodeid.split("::")[0].rsplit("/", 1)[-1] for c in run.getcalls("pytest_itemcollected")}
    assert set(files) <= collected, [files[name].where for name in set(files) - collected]


def _block_of(nodeid: str, files: dict[str, Block]) -> str:
    name = nodeid.split("::")[0].rsplit("/", 1)[-1]
    return files[name].where if name in files else nodeid


# --- configs: loaded, every model built -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block", of_kind("config", "config: after init"), ids=ids(of_kind("config", "config: after init"))
)
def test_config_block_loads(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    errors = list(jsonschema.Draft202012Validator(editor_schema("config")).iter_errors(yaml.safe_load(block.text)))
    assert not errors, f"{block.where}: " + "; ".join(f"{e.json_path}: {e.message}" for e in errors)
    shutil.copytree(REPO / "examples" / "app", tmp_path / "app")
    path = tmp_path / "docs" / "promptguard.yaml"
    path.parent.mkdir()
    if block.marker == "config: after init":
        _run_init(path.parent, monkeypatch)
    path.write_text(block.text, "utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))  # Config.load puts `pythonpath` first on it
    before = set(sys.modules)
    try:
        config = Config.load(path, rootdir=tmp_path)
        for name in config.data.get("models", {}):
            spec = config.model(name)
            if spec.provider != "sentence-transformers" or sentence_transformers_installed():
                make_provider(spec)
        if "embedding_model" in config.data:
            assert config.embedding_model is not None
        if "model" in config.judge:
            config.model(config.judge["model"])
        config.drift  # noqa: B018 - the settings are read, and checked, here
    finally:
        for module in set(sys.modules) - before:  # the example application, imported from tmp_path
            if str(tmp_path) in str(getattr(sys.modules[module], "__file__", "") or ""):
                del sys.modules[module]


# --- goldens: read by the store, with exactly its keys ---------------------------------------------------------


@pytest.mark.parametrize("block", of_kind("golden"), ids=ids(of_kind("golden")))
def test_golden_block_reads(block: Block, tmp_path: Path):
    path = tmp_path / "__golden__" / "docs.prompt.golden.yaml"
    path.parent.mkdir()
    path.write_text(block.text, "utf-8")
    golden = GoldenFile.load(path, "docs")
    raw = yaml.safe_load(block.text)["cases"]
    assert golden.entries, block.where
    for (case, model), entry in golden.entries.items():
        written, shown = entry.to_yaml(), raw[case][model]
        assert list(shown) == list(written), f"{block.where}: {case}/{model}: the store writes {list(written)}"
        assert [list(s) for s in shown["samples"]] == [list(s) for s in written["samples"]], block.where


# --- python examples: run by a test ----------------------------------------------------------------------------


PYTHON = [b for b in BLOCKS if b.lang == "python" and b.marker and b.marker.startswith("run by:")]


@pytest.mark.parametrize("block", PYTHON, ids=ids(PYTHON))
def test_python_block_is_run_by_a_test(block: Block):
    runner = REPO / block.marker.removeprefix("run by:").strip()
    assert block.text.strip() in runner.read_text("utf-8"), f"{block.where}: not found verbatim in {runner.name}"
    compile(block.text, block.where, "exec")


# --- commands ---------------------------------------------------------------------------------------------------


def _workflow_commands(block: Block) -> list[Command]:
    data = yaml.safe_load(block.text)
    runs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("run"), str):
                runs.append(node["run"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(data)
    assert runs, f"{block.where}: a workflow without a `run:` step"
    return [c for run in runs for c in shell_commands(block.page, block.line, run)]


WORKFLOW_COMMANDS = [c for b in of_kind("workflow", "fragment: workflow steps") for c in _workflow_commands(b)]
ALL_COMMANDS = COMMANDS + WORKFLOW_COMMANDS


@pytest.mark.parametrize(
    "command", ALL_COMMANDS, ids=[f"{c.where} {c.text.split(' #')[0].strip()[:60]}" for c in ALL_COMMANDS]
)
def test_command(command: Command, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    for words in command.words():
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before a command
            words = words[1:]
        program, args = words[0], words[1:]
        if program == "pytest" or words[:3] == ["python", "-m", "pytest"]:
            _pytest_command(command, args if program == "pytest" else words[3:], pytester)
        elif words[:3] == ["python", "-m", "pytest_promptguard"]:
            _cli_command(command, words[3:], pytester.path)
        elif program == "python" and args and args[0].endswith(".py"):
            _script_command(command, args[0], args[1:], monkeypatch)
        elif program == "pip":
            _pip_command(command, args)
        elif program == "export":
            variable = args[0].split("=")[0]
            assert _mentioned(variable), f"{command.where}: nothing in src/ or examples/ reads ${variable}"
        else:
            assert program in OTHER_PROGRAMS, f"{command.where}: {program!r}: not a command this test knows"


def _pytest_command(command: Command, args: list[str], pytester: pytest.Pytester) -> None:
    try:
        config = pytester.parseconfigure(*args)
    except (pytest.UsageError, SystemExit) as exc:
        raise AssertionError(f"{command.where}: `{command.text}`: {exc}") from None
    if config.getoption("promptguard", False):
        try:
            run_options(config)
            if config.getoption("promptguard_shard", None):
                Shard.parse(config.getoption("promptguard_shard"))
        except pytest.UsageError as exc:
            raise AssertionError(f"{command.where}: `{command.text}`: {exc}") from None
    for arg in config.args:
        if Path(arg).parts and Path(arg).parts[0] in REPO_FOLDERS:
            assert (REPO / arg).exists(), f"{command.where}: {arg}: no such path in the repository"


def _cli_command(command: Command, args: list[str], tmp: Path) -> None:
    assert args, f"{command.where}: python -m pytest_promptguard needs a command"
    if args[0] == "merge":
        try:
            merge_parser().parse_args(args[1:])
        except SystemExit as exc:
            raise AssertionError(f"{command.where}: `{command.text}`: the merge command refuses its arguments") from exc
    elif args[0] == "init":
        with pytest.MonkeyPatch.context() as monkeypatch:
            _run_init(tmp / (args[1] if len(args) > 1 else "."), monkeypatch)
    else:
        assert args[0] == "schemas", f"{command.where}: unknown command {args[0]!r}"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as stderr:
            code = cli_main(["schemas", *(str(tmp / a) for a in args[1:])])
        assert code == 0, f"{command.where}: `{command.text}`: {stderr.getvalue()}"


def _run_init(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m pytest_promptguard init FOLDER` as on a machine with no key and no Ollama."""
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens there
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as stderr:
        code = cli_main(["init", str(folder)])
    assert code == 0, stderr.getvalue()


class _Parsed(Exception):
    """Raised right after a script's own parser accepted its arguments, so that the script does not run."""


def _script_command(command: Command, script: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = REPO / script
    assert path.is_file(), f"{command.where}: {script}: no such script"
    if not args:
        return
    assert "parse_args(" in path.read_text("utf-8"), f"{command.where}: {script} takes no arguments"
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, *given: Any, **options: Any) -> Any:
        parse(self, *given, **options)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(_Parsed):
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit:
            raise AssertionError(f"{command.where}: `{command.text}`: {stderr.getvalue()}") from None


def _pip_command(command: Command, args: list[str]) -> None:
    pyproject = (REPO / "pyproject.toml").read_text("utf-8")
    extras = set(re.findall(r"^([a-z][a-z0-9-]*) = \[", _section(pyproject, "project.optional-dependencies"), re.M))
    assert args and args[0] == "install", f"{command.where}: pip {args[:1]}: only `pip install` is documented"
    words = iter(args[1:])
    for word in words:
        if word in ("--index-url", "-i", "--extra-index-url"):
            next(words)
            continue
        if word.startswith("-"):
            continue
        name, _, wanted = word.partition("[")
        if name in (".", "pytest-promptguard"):
            for extra in filter(None, wanted.rstrip("]").split(",")):
                assert extra in extras, f"{command.where}: pyproject.toml has no extra [{extra}]"
        else:
            assert name in pyproject, f"{command.where}: pip install {name}: pyproject.toml does not name it"


def _section(toml: str, name: str) -> str:
    """The text of one `[name]` table of a TOML file."""
    return toml.split(f"\n[{name}]\n")[1].split("\n[")[0]


def _mentioned(variable: str) -> bool:
    for folder in ("src", "examples"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".yaml", ".yml", ".md"} and variable in path.read_text("utf-8", errors="ignore"):
                return True
    return False


# --- the reference is complete ----------------------------------------------------------------------------------


def test_every_option_and_check_is_documented_and_every_option_mentioned_exists(pytester: pytest.Pytester):
    parser = pytester.parseconfig()._parser
    options = {name for opt in parser.getgroup("promptguard").options for name in opt.names()}
    text = "\n".join(page.read_text("utf-8") for page in pages())
    mentioned = set(re.findall(r"--promptguard[a-z-]*", text))
    assert not mentioned - options, f"the docs mention options that do not exist: {sorted(mentioned - options)}"
    assert not options - mentioned, f"options no page documents: {sorted(options - mentioned)}"
    checks = (REPO / "docs" / "checks.md").read_text("utf-8")
    missing = [name for name in REGISTRY if f"| `{name}`" not in checks and f"/ `{name}`" not in checks]
    assert not missing, f"docs/checks.md: checks missing from the table: {missing}"


def test_json_blocks_parse():
    for block in BLOCKS:
        if block.lang == "json":
            json.loads(block.text)


def test_the_contributing_page_covers_every_test_file_and_marker():
    page = (REPO / "docs" / "contributing.md").read_text("utf-8")
    described = set(re.findall(r"^\| `(test_\w+\.py)` \|", page, re.M))
    files = {path.name for path in (REPO / "tests").glob("test_*.py")}
    assert not files - described, f"docs/contributing.md: add a row for each of {sorted(files - described)}"
    assert not described - files, f"docs/contributing.md: no such test file: {sorted(described - files)}"
    markers = set(
        re.findall(
            r'^\s*"(\w+): ', _section((REPO / "pyproject.toml").read_text("utf-8"), "tool.pytest.ini_options"), re.M
        )
    )
    assert markers and all(f"| `{marker}` |" in page for marker in markers), markers
