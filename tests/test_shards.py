"""Scale-out: `--promptguard-shard K/N` splits a run by suite file; `python -m pytest_promptguard merge` joins
the shards' JSON reports into the report one unsharded run writes, figure for figure."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest
import yaml

from pytest_promptguard.cli import main as cli_main
from pytest_promptguard.core.results import percentile
from pytest_promptguard.plugin.shard import assign

from .servers import Reply, chat_completion, last_user_message


def cases(prefix: str, count: int, tags: str = "") -> str:
    return "checks: [{golden: true}]\ncases:\n" + "".join(
        f"  - {{id: {prefix}{i}, prompt: '{prefix} {i}', {tags}checks: [{{contains: '{prefix} {i}'}}]}}\n"
        for i in range(count)
    )


@pytest.fixture
def suites(write, model_server, openai_config):
    """Four suites of 6, 4, 3 and 1 cases; answers echo the prompt (one of them wrong) at 10 tokens in, 5 out."""
    openai_config(price={"input_per_mtok": 1.0, "output_per_mtok": 2.0})

    def answer(request, headers):
        message = last_user_message(request)
        return Reply(
            body=chat_completion(
                "nope" if message == "beta 2" else f"echo {message}", prompt_tokens=10, completion_tokens=5
            )
        )

    model_server.responder = answer
    write("suites/alpha.prompt.yaml", cases("alpha", 6, "tags: [billing], "))
    write("suites/beta.prompt.yaml", cases("beta", 4))
    write("suites/gamma.prompt.yaml", cases("gamma", 3, "tags: [billing, search], "))
    write("delta.prompt.yaml", cases("delta", 1))


def recorded_latency(pytester, latency_ms: dict[str, float], default: float = 100.0) -> None:
    """Set every golden sample's latency by suite name (else `default`): shards weigh files by it, and a real
    recording's timings vary from run to run."""
    for path in pytester.path.rglob("__golden__/*.golden.yaml"):
        data = yaml.safe_load(path.read_text())
        for entries in data["cases"].values():
            for entry in entries.values():
                for sample in entry["samples"]:
                    sample["latency_ms"] = latency_ms.get(data["suite"], default)
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def collected(pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--promptguard", "--collect-only", "-q", *args)
    return [line for line in result.stdout.lines if "::" in line]


def test_assignment_is_balanced_whole_files_and_independent_of_order():
    weights = {"a.prompt.yaml": 6, "b.prompt.yaml": 4, "c.prompt.yaml": 3, "d.prompt.yaml": 1}
    shards = assign(weights, 2)
    assert shards == assign(dict(reversed(weights.items())), 2)
    assert shards == {"a.prompt.yaml": 0, "b.prompt.yaml": 1, "c.prompt.yaml": 1, "d.prompt.yaml": 0}  # 7 and 7
    assert set(assign(weights, 6).values()) == {0, 1, 2, 3}  # more shards than files: some are empty


def test_shards_split_the_files_and_report_the_rest_as_deselected(pytester, suites, model_server):
    everything = collected(pytester)
    first, second = collected(pytester, "--promptguard-shard", "1/2"), collected(pytester, "--promptguard-shard=2/2")
    assert sorted(first + second) == sorted(everything) and not set(first) & set(second)
    assert {n.split("::")[0] for n in first}.isdisjoint({n.split("::")[0] for n in second})  # whole files
    assert (len(first), len(second)) == (7, 7)
    pytester.runpytest("--promptguard", "--promptguard-update")
    recorded_latency(pytester, {})  # every case as fast as the others: weighed by time, as by count
    model_server.requests.clear()
    result = pytester.runpytest("--promptguard", "--promptguard-shard", "1/2")
    result.assert_outcomes(passed=7, deselected=7)
    result.stdout.fnmatch_lines(["promptguard shard 1/2"])  # in the header, so a CI log says which shard it is
    assert sorted(r["messages"][-1]["content"] for r in model_server.requests) == sorted(
        [f"alpha {i}" for i in range(6)] + ["delta 0"]
    )


def test_shards_with_k_select_first_and_split_what_is_left(pytester, suites):
    assert collected(pytester, "-k", "beta", "--promptguard-shard", "1/3") == [
        f"suites/beta.prompt.yaml::beta{i}[fast]" for i in range(4)
    ]
    assert collected(pytester, "-k", "beta", "--promptguard-shard", "3/3") == []


def test_shards_are_balanced_by_the_time_goldens_recorded(pytester, suites):
    """Counted, delta (1 case) joins alpha (6); timed, its one slow case fills a shard, and the other three
    suites share the second. The same goldens give the same shards on every machine."""
    result = pytester.runpytest("--promptguard", "--collect-only", "-q", "--promptguard-shard=1/2")
    result.stdout.fnmatch_lines(["promptguard shard 1/2: whole files, balanced by their item count (no golden*"])
    assert {n.split("::")[0] for n in collected(pytester, "--promptguard-shard=1/2")} == {
        "suites/alpha.prompt.yaml",
        "delta.prompt.yaml",
    }
    pytester.runpytest("--promptguard", "--promptguard-update")
    recorded_latency(pytester, {"delta": 2000.0}, default=10.0)  # alpha 60 ms, beta 40, gamma 30; delta 2,000
    result = pytester.runpytest("--promptguard", "--collect-only", "-q", "--promptguard-shard=2/2")
    result.stdout.fnmatch_lines(["promptguard shard 2/2: whole files, balanced by the latency their goldens recorded"])
    first, second = (collected(pytester, f"--promptguard-shard={k}/2") for k in (1, 2))
    assert first == ["delta.prompt.yaml::delta0[fast]"]
    assert {n.split("::")[0] for n in second} == {f"suites/{s}.prompt.yaml" for s in ("alpha", "beta", "gamma")}
    # A case without a golden latency weighs as much as the average case with one: two more in gamma (5 x 10 ms)
    # do not move it, and its shard assignment never depends on the machine.
    write = pytester.path / "suites/gamma.prompt.yaml"
    write.write_text(write.read_text() + "  - {id: new1, prompt: n1}\n  - {id: new2, prompt: n2}\n")
    assert collected(pytester, "--promptguard-shard=1/2") == first


def test_weights_by_time_count_the_samples_asked_now(pytester, suites):
    pytester.runpytest("--promptguard", "--promptguard-update")
    recorded_latency(pytester, {}, default=10.0)  # alpha 60 ms, beta 40, gamma 30, delta 10
    assert {n.split("::")[0] for n in collected(pytester, "--promptguard-shard=1/2")} == {
        "suites/alpha.prompt.yaml",
        "delta.prompt.yaml",
    }
    gamma = pytester.path / "suites/gamma.prompt.yaml"
    gamma.write_text(gamma.read_text().replace("{id: gamma", "{repeat: 5, id: gamma"))  # 3 x 5 x 10 ms = 150 ms
    assert {n.split("::")[0] for n in collected(pytester, "--promptguard-shard=1/2")} == {"suites/gamma.prompt.yaml"}


@pytest.mark.parametrize("value", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_bad_shard_is_a_usage_error_naming_the_option(pytester, suites, value):
    result = pytester.runpytest("--promptguard", f"--promptguard-shard={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--promptguard-shard {value}: expected K/N with 1 <= K <= N" in result.stderr.str()


def test_shard_without_promptguard_is_a_usage_error(pytester, suites):
    result = pytester.runpytest("--promptguard-shard=1/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "add --promptguard" in result.stderr.str()


@pytest.mark.slow
def test_shard_under_xdist_runs_the_same_items(pytester, suites, model_server):
    pytester.runpytest("--promptguard", "--promptguard-update")
    recorded_latency(pytester, {})
    model_server.requests.clear()
    result = pytester.runpytest("--promptguard", "--promptguard-shard", "2/2", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1)
    assert sorted(r["messages"][-1]["content"] for r in model_server.requests) == sorted(
        [f"beta {i}" for i in range(4)] + [f"gamma {i}" for i in range(3)]
    )


TIMED = ("latency_p50_ms", "latency_p95_ms")  # the only figures that depend on when the server answered


def without_timing(document: dict) -> dict:
    """The report minus what legitimately differs between two runs: when it ran, and how long each call took."""
    document = json.loads(json.dumps(document))
    for name in ("created_at", "slowest_calls"):
        document.pop(name)
    for figures in [document["totals"], *document["groups"]]:
        for name in TIMED:
            figures.pop(name)
    for case in document["cases"]:
        for call in case["calls"]:
            for name in ("latency_ms", "ttft_ms", "started_at"):
                call.pop(name)
        if case.get("golden"):
            case["golden"] = {k: v for k, v in case["golden"].items() if "latency" not in k}
    document["cases"].sort(key=lambda c: (c["path"], c["case"], c["model"]))
    return document


def test_merged_shards_report_the_figures_of_one_unsharded_run(pytester, suites, write, capsys):
    pytester.runpytest("--promptguard", "--promptguard-update").assert_outcomes(passed=13, failed=1)
    write(
        "delta.prompt.yaml", cases("delta", 0) + "  - {id: other, prompt: 'delta 0', checks: [{contains: 'delta'}]}\n"
    )
    # Now delta's golden holds an unused entry (delta0): the shard that runs delta must report it.
    common = ("--promptguard", "--promptguard-repeat", "2")
    pytester.runpytest(*common, "--promptguard-report=whole.json").assert_outcomes(passed=12, failed=2)
    for shard in ("1/2", "2/2"):
        pytester.runpytest(*common, f"--promptguard-shard={shard}", f"--promptguard-report=shard{shard[0]}.json")
    code = cli_main(
        [
            "merge",
            "shard2.json",
            "shard1.json",
            "--report",
            "merged.json",
            "--md",
            "merged.md",
            "--html",
            "merged.html",
            "--history",
            "history.jsonl",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (
        "merged 2 report(s): 14 cases" in printed
        and "reports: merged.json, merged.md, history.jsonl, merged.html" in printed
    )

    whole, merged = (json.loads((pytester.path / name).read_text()) for name in ("whole.json", "merged.json"))
    schema = json.loads(resources.files("pytest_promptguard").joinpath("schemas/report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(merged)
    assert without_timing(merged) == without_timing(whole)
    assert merged["totals"]["cases"] == 14 and merged["totals"]["failed"] == 2 and merged["totals"]["calls"] == 28
    assert any("unused golden" in w and "delta0" in w for w in merged["warnings"])
    assert [t["tag"] for t in merged["cost_by_tag"]] == ["billing", "(untagged)", "search"]
    # Latency figures are computed from the merged calls, exactly as a run computes them.
    calls = [c for case in merged["cases"] for c in case["calls"] if c["source"] == "live" and c["error"] is None]
    latencies = [c["latency_ms"] for c in calls]
    assert merged["totals"]["latency_p95_ms"] == round(percentile(latencies, 95), 1)
    assert [s["latency_ms"] for s in merged["slowest_calls"]] == sorted((round(v, 1) for v in latencies), reverse=True)[
        :5
    ]
    assert "beta2" in (pytester.path / "merged.md").read_text()  # the failure, from shard 2
    (row,) = [json.loads(line) for line in (pytester.path / "history.jsonl").read_text().splitlines()]
    assert row["time"] == max(json.loads((pytester.path / f"shard{k}.json").read_text())["created_at"] for k in (1, 2))
    assert [g["cases"] for g in row["groups"]] == [g["cases"] for g in whole["groups"]]


def test_merge_refuses_another_format_version_and_the_same_shard_twice(pytester, suites, capsys):
    pytester.runpytest("--promptguard", "--promptguard-shard=1/2", "--promptguard-report=one.json")
    document = json.loads((pytester.path / "one.json").read_text())
    (pytester.path / "future.json").write_text(json.dumps({**document, "format_version": 2}))
    assert cli_main(["merge", "one.json", "future.json"]) == 1
    assert "future.json: format_version 2, but pytest-promptguard" in capsys.readouterr().err
    assert cli_main(["merge", "one.json", "one.json"]) == 1
    assert "one.json and one.json both hold " in capsys.readouterr().err
    assert cli_main(["merge", "missing.json"]) == 1
    assert "missing.json: cannot read it" in capsys.readouterr().err


def test_the_command_dispatcher_prints_usage():
    done = subprocess.run([sys.executable, "-m", "pytest_promptguard", "nonsense"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "python -m pytest_promptguard merge REPORT.json" in done.stderr and "schemas FOLDER" in done.stderr


def test_the_streamed_json_report_is_the_report_document():
    """The JSON report is written one case at a time (10,000 cases stay within memory): same document."""
    from pytest_promptguard.report.files import RunInfo, report_chunks, report_document
    from pytest_promptguard.report.summary import summarize

    from .test_reports import case_result

    info = RunInfo("2026-01-01T00:00:00Z", None, "live")
    for results in ([], [case_result("a")], [case_result("a"), case_result("b", outcome="failed", samples=2)]):
        text = "".join(report_chunks(summarize(results), results, info))
        assert json.loads(text) == json.loads(json.dumps(report_document(summarize(results), results, info)))
