"""Do the statistical verdicts keep their promises? False alarms, detection, and calls saved by repeat: auto.

A local OpenAI-compatible server answers every prompt with a paraphrase drawn from a fixed mix (seeded),
as a model at temperature > 0 would. Each simulated night records a fresh sampled baseline
(`--promptguard-update`, `baseline_samples` per case), then runs the suite with `repeat: auto`:

- `--nights` nights with no drift: the answers come from the same mix. Any `drifted` verdict is a false
  alarm; the target is a false-alarm rate (nights with any drifted case) at most alpha.
- `--nights` nights with a real shift: with probability `--shift`, an answer is a refusal instead of a
  paraphrase. The target is detecting at least 95% of the shifted cases.

It prints both rates and the mean calls per case with `repeat: auto` against the 20 a fixed `repeat: 20`
makes (target: at most half).

    python benchmarks/bench_verdicts.py                     # 200 + 200 nights, 12 cases, shift 0.5
    python benchmarks/bench_verdicts.py --nights 50 --shift 0.3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TOPICS = [
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
OPENERS = ["", "Sure! ", "Of course. ", "Happy to help: ", "Good question. "]
VERBS = ["You can {act} from {where}", "To {act}, go to {where}", "{Act} via {where}", "Simply {act} using {where}"]
ENDINGS = [
    "and you will get {what}.",
    "and you get {what}.",
    "; expect {what}.",
    "which gives you {what}.",
    "- you'll receive {what}.",
]
REFUSALS = [
    "I'm sorry, I can't help with {topic}. Please contact support.",
    "Unfortunately I am not able to answer questions about how to {topic}.",
    "That is outside what I can do. Try our FAQ for {topic}.",
    "I cannot assist with that request.",
]


def answer(prompt: str, rng: random.Random, shift: float) -> str:
    index = int(prompt.split(":", 1)[0])
    topic, act, where, what = TOPICS[index % len(TOPICS)]
    if rng.random() < shift:
        return rng.choice(REFUSALS).format(topic=topic)
    verb = rng.choice(VERBS).format(act=act, Act=act[0].upper() + act[1:], where=where)
    return f"{rng.choice(OPENERS)}{verb} {rng.choice(ENDINGS).format(what=what)}"


class Server:
    """Answers as a model of the current night and phase: deterministic per (night, phase, prompt, count)."""

    def __init__(self) -> None:
        self.night, self.phase, self.shift = 0, "baseline", 0.0
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = request["messages"][-1]["content"]
                with bench.lock:
                    bench.counts[prompt] += 1
                    rng = random.Random(f"{bench.night}/{bench.phase}/{prompt}/{bench.counts[prompt]}")
                    text = answer(prompt, rng, bench.shift)
                body = json.dumps(
                    {
                        "model": "bench-model-2026-01-01",
                        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 12, "completion_tokens": len(text.split())},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def start(self, night: int, phase: str, shift: float) -> None:
        self.night, self.phase, self.shift = night, phase, shift
        self.counts.clear()


def write_suite(folder: Path, url: str, cases: int, baseline_samples: int, alpha: float) -> None:
    (folder / "promptguard.yaml").write_text(
        json.dumps(
            {
                "default_models": ["model"],
                "models": {
                    "model": {
                        "provider": "openai",
                        "model": "bench-model",
                        "base_url": url,
                        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
                    }
                },
                "drift": {"baseline_samples": baseline_samples, "alpha": alpha},
            }
        )
    )
    lines = ["cases:"] + [
        f"  - {{id: case-{i}, prompt: '{i}: How do I {TOPICS[i % len(TOPICS)][0]}?', checks: [golden]}}"
        for i in range(cases)
    ]
    (folder / "s.prompt.yaml").write_text("\n".join(lines) + "\n")


# Plugins of the development environment that have nothing to do with promptguard.
UNRELATED = ["-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:cacheprovider", "-p", "no:randomly"]


def pytest_run(folder: Path, *args: str) -> dict:
    report = folder / "report.json"
    report.unlink(missing_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(["--promptguard", "-q", f"--rootdir={folder}", str(folder), *UNRELATED, *args])
    return json.loads(report.read_text()) if report.exists() else {}


def night(server: Server, night_no: int, phase: str, shift: float, options: argparse.Namespace) -> list[dict]:
    """One simulated night: a fresh baseline, then the nightly run; the verdicts of its cases."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_suite(
            folder,
            f"http://127.0.0.1:{server.http.server_address[1]}",
            options.cases,
            options.baseline_samples,
            options.alpha,
        )
        server.start(night_no, "baseline", 0.0)
        pytest_run(folder, "--promptguard-update")
        server.start(night_no, phase, shift)
        report = pytest_run(
            folder, "--promptguard-repeat", options.repeat, f"--promptguard-report={folder / 'report.json'}"
        )
    return [
        {"verdict": (c.get("verdict") or {}).get("verdict"), "calls": len(c["calls"])} for c in report.get("cases", [])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=200)
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--shift", type=float, default=0.5, help="share of answers that become refusals")
    parser.add_argument("--baseline-samples", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--repeat", default="auto")
    options = parser.parse_args()
    server = Server()
    started = time.perf_counter()
    results = {}
    for phase, shift in (("stable", 0.0), ("drift", options.shift)):
        cases = [night(server, n, phase, shift, options) for n in range(options.nights)]
        results[phase] = cases
        print(f"{phase}: {options.nights} nights done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    stable, drift = results["stable"], results["drift"]
    false_alarm_nights = sum(any(c["verdict"] == "drifted" for c in n) for n in stable)
    detected = sum(c["verdict"] == "drifted" for n in drift for c in n)
    shifted = sum(len(n) for n in drift)
    calls = {phase: [c["calls"] for n in runs for c in n] for phase, runs in results.items()}
    verdicts = {phase: Counter(c["verdict"] for n in runs for c in n) for phase, runs in results.items()}
    print(
        f"setup: {options.cases} cases a night, baseline_samples {options.baseline_samples}, repeat {options.repeat}, "
        f"alpha {options.alpha:g}, shift {options.shift:g} (share of answers that become refusals)"
    )
    print(
        f"false alarms: {false_alarm_nights}/{options.nights} nights with a drifted case "
        f"= {false_alarm_nights / options.nights:.1%} (target <= {options.alpha:.0%}); verdicts "
        f"{dict(verdicts['stable'])}"
    )
    print(
        f"detection: {detected}/{shifted} shifted cases drifted = {detected / shifted:.1%} (target >= 95%); "
        f"verdicts {dict(verdicts['drift'])}"
    )
    for phase in ("stable", "drift"):
        mean = sum(calls[phase]) / len(calls[phase])
        print(f"mean calls per case, {phase} nights: {mean:.1f} vs 20 for repeat: 20 ({mean / 20:.0%})")
    every = calls["stable"] + calls["drift"]
    print(
        f"mean calls per case, all nights: {sum(every) / len(every):.1f} vs 20 ({sum(every) / len(every) / 20:.0%}; "
        "target <= 50%)"
    )
    print(f"wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
