"""`python -m pytest_promptguard COMMAND`: the commands that run outside pytest.

python -m pytest_promptguard init [FOLDER]
python -m pytest_promptguard schemas FOLDER
python -m pytest_promptguard merge REPORT.json ... [--report OUT.json] [--html OUT.html] [--md OUT.md]
    [--history H.jsonl]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

USAGE = """\
usage: python -m pytest_promptguard schemas FOLDER   (writes the editor JSON Schemas there)
       python -m pytest_promptguard init [FOLDER]    (writes promptguard.yaml, a starter suite and a CI workflow)
       python -m pytest_promptguard merge REPORT.json [REPORT.json ...] [--report OUT.json] [--html OUT.html]
                                          [--md OUT.md] [--history HISTORY.jsonl]
       (merges the JSON reports of --promptguard-shard runs into one run's reports)"""


def init(argv: list[str]) -> int:
    from .init import main

    return main(argv)


def schemas(argv: list[str]) -> int:
    from .schemas import write_editor_schemas

    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    for path in write_editor_schemas(Path(argv[0])):
        print(path)
    return 0


def merge_parser() -> argparse.ArgumentParser:
    """The merge command's arguments (tests/test_docs.py parses the documented merge commands with it)."""
    from .merge import merge_reports

    parser = argparse.ArgumentParser(prog="python -m pytest_promptguard merge", description=merge_reports.__doc__)
    parser.add_argument(
        "reports", nargs="+", type=Path, metavar="REPORT.json", help="the shards' --promptguard-report files"
    )
    parser.add_argument("--report", type=Path, metavar="OUT.json", help="write the merged JSON report")
    parser.add_argument("--html", type=Path, metavar="OUT.html", help="write the merged HTML report")
    parser.add_argument(
        "--md", type=Path, metavar="OUT.md", help="write the merged Markdown summary (also to $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument(
        "--history", type=Path, metavar="HISTORY.jsonl", help="append the merged run's row to a history file"
    )
    return parser


def merge(argv: list[str]) -> int:
    """Merge shard reports and write the reports asked for with the run's own writers; print the summary."""
    from ..core.wording import counted
    from ..report.summary import summarize
    from ..report.terminal import summary_lines
    from ..report.writer import ReportWriter
    from .merge import MergeError, merge_reports, read_report

    args = merge_parser().parse_args(argv)
    try:
        run = merge_reports([read_report(path) for path in args.reports])
    except MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = summarize(run.results, run.goldens)
    writer = ReportWriter(
        Path.cwd(),
        run.info.mode,
        json_path=args.report,
        html_path=args.html,
        md_path=args.md,
        history_path=args.history,
    )
    writer.finish(summary, run.results, run.info)
    for line in [
        f"merged {len(args.reports)} report(s): {counted(len(run.results), 'case')}",
        *run.notes,
        *summary_lines(summary),
        *writer.lines(),
    ]:
        print(line)
    return 1 if writer.errors else 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {"init": init, "schemas": schemas, "merge": merge}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])
