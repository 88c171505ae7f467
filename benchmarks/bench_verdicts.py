"""End to end: do the drift verdicts keep issue 15's promises in real `pytest --promptguard` runs?

A local OpenAI-compatible server (its own process, real sockets) answers every request as
`benchmarks/noise.py`'s `NoiseModel` would: it looks the prompt up, answers with the scenario's text and
sleeps the answer's latency (scaled by `--latency-scale` to keep wall time sane; the shape is kept). Each
night runs the suite the issue describes (12 cases, one `golden: true` check each, temperature 0.7 in the
model's params, alpha 0.01, every other setting at its default, `baseline_samples` included) with
`pytest.main` in this process, and reads the JSON report (`--promptguard-report`) and the exit status. A night
is red when any item failed (a case, the suite's `drift[model]` item, a case's latency check).

A baseline is recorded with `--promptguard-update` and judged on `--reuse` consecutive nights (the engine
simulation measured reuse: `sim_drift.py --baseline-reuse`); a world (the model's paraphrase mix and its
baseline) is shared by every section's night of the same number, so the drift scenarios are judged against
the same baselines as the quiet nights. Each night's answers are seeded by its section and number: a night's
runs with and without repeat, and with and without the latency check, see the same answers.

Sections (`--scenarios`; nights from `--nights` for `none`, `--scenario-nights` for the others):
- `none`: quiet nights; with `repeat: auto` and without repeat (`--repeat`), each with the cases' latency check
  (`latency: {regression: 0.25}`, "latency joined") and without it (`--latency joined` to run only the former).
- `content`, `format`, `subtle`, `latency`: issue 15's drift scenarios, latency joined, both repeat modes.
- `refusal`: half the answers become refusals; without repeat only (issue 15, point 9).
- `shift`: the older benchmark's scenario: its own simple paraphrase model (no latency), `--shift` of the
  answers become refusals, `repeat: auto`, judged as it was (quiet nights with a drifted case, shifted cases
  found drifted, calls per case) over `--scenario-nights` quiet and as many shifted nights.

    nice -n 10 python benchmarks/bench_verdicts.py              # the whole proof (see DRIFT.md for its time)
    nice -n 10 python benchmarks/bench_verdicts.py --quick      # a smoke run, under a minute
    nice -n 10 python benchmarks/bench_verdicts.py --nights 0 --scenarios content --scenario-nights 40
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import fmean

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # this checkout's plugin, not an install

from noise import NoiseModel  # noqa: E402

CASES = 12
ALPHA = 0.01
TEMPERATURE = 0.7
LATENCY_TOLERANCE = 0.25
TARGETS = {  # share of nights red, as issue 15 sets them
    ("none", "auto"): ("<=", 0.01),
    ("none", "single"): ("<=", 0.01),
    ("content", "auto"): (">=", 0.95),
    ("format", "auto"): (">=", 0.90),
    ("subtle", "auto"): (">=", 0.80),
    ("latency", "auto"): (">=", 0.95),
    ("refusal", "single"): (">=", 0.80),
}

# -- the older benchmark's model: a handful of paraphrases per prompt, refusals on a shift ----------------------

LEGACY_TOPICS = [
    ("return an item", "return any item", "30 days", "a full refund"),
    ("reset my password", "reset your password", "the sign-in page", "a reset link by email"),
    ("change my delivery address", "change the delivery address", "your order page", "before the parcel ships"),
    ("cancel my subscription", "cancel the subscription", "account settings", "the end of the billing period"),
    ("track my parcel", "track the parcel", "the tracking link", "updates every few hours"),
    ("pay by invoice", "pay by invoice", "the checkout page", "14 days to pay"),
    ("get a receipt", "download a receipt", "your order history", "a PDF copy"),
    ("contact a human", "reach our support team", "the help centre", "an answer within a day"),
    ("use a gift card", "redeem a gift card", "the payment step", "the remaining balance"),
    ("exchange a size", "exchange an item for another size", "the returns portal", "a free replacement"),
    ("delete my account", "delete your account", "privacy settings", "removal within 30 days"),
    ("report a damaged item", "report a damaged item", "the order page", "a replacement or refund"),
]
LEGACY_OPENERS = ["", "Sure! ", "Of course. ", "Happy to help: ", "Good question. "]
LEGACY_VERBS = [
    "You can {act} from {where}",
    "To {act}, go to {where}",
    "{Act} via {where}",
    "Simply {act} using {where}",
]
LEGACY_ENDINGS = [
    "and you will get {what}.",
    "and you get {what}.",
    "; expect {what}.",
    "which gives you {what}.",
    "- you'll receive {what}.",
]
LEGACY_REFUSALS = [
    "I'm sorry, I can't help with {topic}. Please contact support.",
    "Unfortunately I am not able to answer questions about how to {topic}.",
    "That is outside what I can do. Try our FAQ for {topic}.",
    "I cannot assist with that request.",
]


def legacy_prompt(index: int) -> str:
    return f"{index}: How do I {LEGACY_TOPICS[index % len(LEGACY_TOPICS)][0]}?"


def legacy_answer(index: int, rng: random.Random, shift: float) -> str:
    topic, act, where, what = LEGACY_TOPICS[index % len(LEGACY_TOPICS)]
    if rng.random() < shift:
        return rng.choice(LEGACY_REFUSALS).format(topic=topic)
    verb = rng.choice(LEGACY_VERBS).format(act=act, Act=act[0].upper() + act[1:], where=where)
    return f"{rng.choice(LEGACY_OPENERS)}{verb} {rng.choice(LEGACY_ENDINGS).format(what=what)}"


# -- the server ------------------------------------------------------------------------------------------------


class Server(ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


def serve() -> None:
    """The model server (run as `--serve`, in its own process so that its threads never wait for the GIL of the
    pytest run they answer): POST /control sets the world and the run; POST /v1/chat/completions answers."""
    state: dict = {"world": "0", "tag": "", "scenario": "none", "share": 0.5, "noise": "model", "scale": 1.0}
    counts: Counter[str] = Counter()
    models: dict[str, NoiseModel] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/control":
                with lock:
                    state.update(request)
                    counts.clear()
                self._send({"ok": True})
                return
            prompt = request["messages"][-1]["content"]
            index = int(prompt.split(":", 1)[0])
            with lock:
                counts[prompt] += 1
                rng = random.Random(f"{state['world']}/{state['tag']}/{prompt}/{counts[prompt]}")
                now = dict(state)
                if now["noise"] == "model" and now["world"] not in models:
                    models[now["world"]] = NoiseModel(seed=now["world"], cases=CASES)
            if now["noise"] == "legacy":
                text, latency_s = legacy_answer(index, rng, now["share"]), 0.0
            else:
                answer = models[now["world"]].answer(index, rng, now["scenario"], now["share"])
                text, latency_s = answer.text, answer.latency_ms / 1000 * now["scale"]
            time.sleep(latency_s)
            self._send(
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "model": "bench-model-2026-01-01",
                    "system_fingerprint": "fp_bench",
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": len(text.split())},
                }
            )

        def _send(self, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http = Server(("127.0.0.1", 0), Handler)
    print(http.server_address[1], flush=True)
    http.serve_forever()


class ServerProcess:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    def set(self, **state: object) -> None:
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/control", data=json.dumps(state).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()

    def stop(self) -> float:
        """Stop the server; its CPU seconds (user + sys)."""
        self.process.terminate()
        self.process.wait(timeout=10)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


# -- the suites and the runs -----------------------------------------------------------------------------------


def write_folder(folder: Path, url: str, prompts: list[str], latency: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "promptguard.yaml").write_text(
        json.dumps(
            {
                "default_models": ["model"],
                "models": {
                    "model": {
                        "provider": "openai",
                        "model": "bench-model",
                        "base_url": f"{url}/v1",
                        "params": {"temperature": TEMPERATURE},
                        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
                    }
                },
                "drift": {"alpha": ALPHA},
            }
        )
    )
    checks = f"[golden, {{latency: {{regression: {LATENCY_TOLERANCE}}}}}]" if latency else "[golden]"
    lines = ["cases:"] + [
        f"  - {{id: case-{i}, prompt: {json.dumps(p)}, checks: {checks}}}" for i, p in enumerate(prompts)
    ]
    (folder / "s.prompt.yaml").write_text("\n".join(lines) + "\n")


# Plugins of the development environment that have nothing to do with promptguard.
UNRELATED = ["-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider", "-p", "no:randomly"]


def pytest_run(folder: Path, *args: str) -> tuple[int, dict]:
    import pytest

    report = folder / "report.json"
    report.unlink(missing_ok=True)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main(
            [
                "--promptguard",
                "-q",
                f"--rootdir={folder}",
                str(folder),
                *UNRELATED,
                *args,
                f"--promptguard-report={report}",
            ]
        )
    return int(code), (json.loads(report.read_text()) if report.exists() else {})


@dataclass
class Run:
    """What one nightly run showed."""

    code: int
    cases_failed: int
    errors: int
    suite_failed: list[str]  # the failing tests of the suite's drift item: samples, latency
    latency_checks_failed: int  # cases failed by their own latency check
    calls: list[int]
    drifted: int  # cases with a drifted verdict

    @property
    def red(self) -> bool:
        return self.code != 0 or self.cases_failed > 0 or bool(self.suite_failed)

    @classmethod
    def of(cls, code: int, report: dict) -> Run:
        cases = report.get("cases", [])
        suites = report.get("suite_verdicts", [])
        failing = [
            t["name"] for s in suites if s["fails"] for t in s["tests"] if t["significant"] and t["beyond_tolerance"]
        ]
        if any(s["fails"] for s in suites) and not failing:
            failing = ["?"]
        return cls(
            code=code,
            cases_failed=sum(c["outcome"] == "failed" for c in cases),
            errors=sum(c["outcome"] == "error" for c in cases),
            suite_failed=failing,
            latency_checks_failed=sum(
                any(k["name"] == "latency" and not k["passed"] for k in c.get("case_checks") or []) for c in cases
            ),
            calls=[len(c["calls"]) for c in cases],
            drifted=sum(((c.get("verdict") or {}).get("verdict") == "drifted") for c in cases),
        )


@dataclass
class World:
    """A model's paraphrase mix and the baseline recorded from it, in one folder per suite variant."""

    folders: dict[str, Path]  # variant -> folder


@dataclass
class Bench:
    server: ServerProcess
    root: Path
    options: argparse.Namespace
    worlds: dict[str, World] = field(default_factory=dict)
    baselines: int = 0

    def world(self, noise: str, night: int) -> tuple[str, World]:
        seed = f"{self.options.seed}/{noise}/{night // self.options.reuse}"
        if seed not in self.worlds:
            if noise == "legacy":
                prompts = [legacy_prompt(i) for i in range(CASES)]
            else:
                prompts = [p.text for p in NoiseModel(seed=seed, cases=CASES).prompts]
            base = self.root / f"world-{len(self.worlds)}"
            folders = {v: base / v for v in ("joined", "text")}
            for variant, folder in folders.items():
                write_folder(folder, self.server.url, prompts, latency=variant == "joined")
            self.server.set(
                world=seed, tag="baseline", scenario="none", share=0.0, noise=noise, scale=self.options.latency_scale
            )
            code, _ = pytest_run(folders["joined"], "--promptguard-update")
            if code != 0:
                raise SystemExit(
                    f"recording the baseline of world {seed} failed (exit {code}): see {folders['joined']}"
                )
            shutil.copytree(folders["joined"] / "__golden__", folders["text"] / "__golden__")
            self.worlds[seed] = World(folders)
            self.baselines += 1
        return seed, self.worlds[seed]

    def night(self, section: str, night: int, modes: list[str], variants: list[str]) -> dict[tuple[str, str], Run]:
        noise = "legacy" if section == "shift" or section == "shift-quiet" else "model"
        seed, world = self.world(noise, night)
        scenario = {"shift": "none", "shift-quiet": "none"}.get(section, section)
        share = {"shift": self.options.shift, "shift-quiet": 0.0}.get(section, 0.5)
        runs = {}
        for mode in modes:
            for variant in variants:
                self.server.set(
                    world=seed,
                    tag=f"{section}/{night}",
                    scenario=scenario,
                    share=share,
                    noise=noise,
                    scale=self.options.latency_scale,
                )
                args = ["--promptguard-repeat", "auto"] if mode == "auto" else []
                runs[mode, variant] = Run.of(*pytest_run(world.folders[variant], *args))
        return runs


# -- what is printed -------------------------------------------------------------------------------------------


def share_line(label: str, runs: list[Run], target: tuple[str, float] | None) -> str:
    red = sum(r.red for r in runs)
    by_cases = sum(r.cases_failed > 0 for r in runs)
    by_suite = Counter(name for r in runs for name in r.suite_failed)
    by_check = sum(r.latency_checks_failed > 0 for r in runs)
    errors = sum(r.errors > 0 for r in runs)
    shown = f"{red}/{len(runs)} = {red / len(runs):6.1%}" if runs else "-"
    if target is not None and runs:
        op, bound = target
        met = red / len(runs) <= bound if op == "<=" else red / len(runs) >= bound
        goal = f"target {op} {bound:.0%}: {'met' if met else 'MISSED'}"
    else:
        goal = "no target"
    detail = f"cases failed on {by_cases}, drift item on {dict(by_suite) or 0}, latency checks on {by_check}"
    if errors:
        detail += f", ERRORS on {errors}"
    return f"  {label:50} {shown:18} {goal:24} ({detail})"


def calls_line(runs: list[Run]) -> str:
    calls = [c for r in runs for c in r.calls]
    mean = fmean(calls) if calls else 0.0
    met = "met" if mean / 20 <= 0.40 else "MISSED"
    return f"  {'calls a case, repeat: auto':50} {mean:4.1f} = {mean / 20:5.1%} of a fixed 20  target <= 40%: {met}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=100, help="quiet nights")
    parser.add_argument("--scenario-nights", type=int, default=20, help="nights per drift scenario")
    parser.add_argument("--refusal-nights", type=int, default=50, help="nights of the refusal scenario (cheap)")
    parser.add_argument("--scenarios", default="none,content,format,subtle,latency,refusal,shift")
    parser.add_argument("--repeat", default="auto,single", help="runs a night: auto (repeat: auto), single (none)")
    parser.add_argument("--latency", choices=("both", "joined"), default="both", help="quiet nights' suite variants")
    parser.add_argument("--reuse", type=int, default=5, help="nights judged against one recorded baseline")
    parser.add_argument("--latency-scale", type=float, default=0.1, help="server latencies x this (shape kept)")
    parser.add_argument("--shift", type=float, default=0.5, help="share of refusals in the older scenario (shift)")
    parser.add_argument("--seed", default="e2e")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 quiet nights, 1 a scenario")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve()
        return
    if options.quick:
        options.nights, options.scenario_nights, options.refusal_nights = 3, 1, 1
        options.reuse, options.latency = 3, "joined"
    modes = options.repeat.split(",")
    started, cpu = time.perf_counter(), time.process_time()
    server = ServerProcess()
    tmp = Path(tempfile.mkdtemp(prefix="bench_verdicts_"))
    bench = Bench(server, tmp, options)
    print(
        f"{CASES} cases, one golden check each, temperature {TEMPERATURE}, alpha {ALPHA:g}, baseline_samples default; "
        f"latency joined = latency: {{regression: {LATENCY_TOLERANCE}}} on every case; a baseline recorded every "
        f"{options.reuse} nights; server latencies x{options.latency_scale:g}; pid {os.getpid()}",
        flush=True,
    )
    results: dict[str, list[dict[tuple[str, str], Run]]] = {}
    try:
        for section in options.scenarios.split(","):
            t0 = time.perf_counter()
            if section == "none":
                variants = ["joined", "text"] if options.latency == "both" else ["joined"]
                nights = [bench.night("none", n, modes, variants) for n in range(options.nights)]
            elif section == "refusal":
                nights = [bench.night("refusal", n, ["single"], ["joined"]) for n in range(options.refusal_nights)]
            elif section == "shift":
                count = options.scenario_nights
                results["shift-quiet"] = [bench.night("shift-quiet", n, ["auto"], ["text"]) for n in range(count)]
                nights = [bench.night("shift", n, ["auto"], ["text"]) for n in range(count)]
            else:
                nights = [bench.night(section, n, modes, ["joined"]) for n in range(options.scenario_nights)]
            results[section] = nights
            print(f"[{section}: {len(nights)} nights in {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    finally:
        server_cpu = server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, options)
    wall, own = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"baselines recorded: {bench.baselines}; wall time {wall:.0f} s; CPU {own:.0f} s (bench and pytest runs) "
        f"+ {server_cpu:.0f} s (server)"
    )


def report(results: dict[str, list[dict[tuple[str, str], Run]]], options: argparse.Namespace) -> None:
    names = {"auto": "repeat: auto", "single": "no repeat (one sample a case)"}
    for section, nights in results.items():
        if section in ("shift-quiet", "shift") or not nights:
            continue
        print(f"{section}: nights red")
        for key in nights[0]:
            mode, variant = key
            label = f"{names[mode]}{', latency joined' if variant == 'joined' else ', no latency check'}"
            print(share_line(label, [n[key] for n in nights], TARGETS.get((section, mode))))
        if section == "none" and ("auto", "joined") in nights[0]:
            print(calls_line([n["auto", "joined"] for n in nights]))
    if "shift" in results:
        quiet = [n["auto", "text"] for n in results["shift-quiet"]]
        shifted = [n["auto", "text"] for n in results["shift"]]
        alarms = sum(r.drifted > 0 for r in quiet)
        found = sum(r.drifted for r in shifted)
        total = sum(len(r.calls) for r in shifted)
        every = [c for r in quiet + shifted for c in r.calls]
        print(f"older benchmark (its paraphrase model, shift {options.shift:g} refusals, repeat: auto, no latency):")
        print(f"  quiet nights with a drifted case: {alarms}/{len(quiet)} (target <= {ALPHA:.0%})")
        print(share_line("quiet nights red", quiet, ("<=", ALPHA)))
        print(f"  shifted cases drifted: {found}/{total} = {found / max(total, 1):.1%} (target >= 95%)")
        print(share_line("shifted nights red", shifted, None))
        mean = fmean(every) if every else 0.0
        print(f"  calls a case, all its nights: {mean:.1f} = {mean / 20:.0%} of a fixed 20 (target <= 50%)")


if __name__ == "__main__":
    main()
