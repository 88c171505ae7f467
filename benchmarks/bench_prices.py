"""What pricing costs a run: the shipped snapshot against genai-prices itself, and how many user-written ids
each prices.

Every figure is the best of `--repeat` fresh processes (start-up cost is what is compared). genai-prices is timed
twice: with its bytecode cache (as pip installs it) and from a copy without one under PYTHONDONTWRITEBYTECODE=1 (an
image that does not keep .pyc files compiles its 1.6 MB data module on every start).

    python benchmarks/bench_prices.py            # needs genai-prices for its half (pip install -e '.[dev]')
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SNAPSHOT = """
import time
t0 = time.perf_counter()
from pytest_promptguard.config import pricetable
from pytest_promptguard.config.pricing import cost_usd
from pytest_promptguard.core.results import Usage
from datetime import datetime, timezone
t1 = time.perf_counter()
pricetable.load()
t2 = time.perf_counter()
when, usage = datetime.now(timezone.utc), Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=200)
ids = ("gpt-4o-mini-2024-07-18", "gpt-4o-mini")
cost_usd(usage, pricetable.table_price(ids, kind="openai", base_url="https://api.openai.com/v1", hint=None, when=when))
t3 = time.perf_counter()
for _ in range(10000):
    price = pricetable.table_price(ids, kind="openai", base_url="https://api.openai.com/v1", hint=None, when=when)
    cost_usd(usage, price)
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, (t4 - t3) / 10000)
"""

GENAI_PRICES = """
import time
t0 = time.perf_counter()
import genai_prices
t1 = time.perf_counter()
from genai_prices import Usage, calc_price
usage = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=200)
calc_price(usage, "gpt-4o-mini-2024-07-18", provider_api_url="https://api.openai.com/v1")
t2 = time.perf_counter()
for _ in range(1000):
    calc_price(usage, "gpt-4o-mini-2024-07-18", provider_api_url="https://api.openai.com/v1")
t3 = time.perf_counter()
print(0.0, t1 - t0, t2 - t1, (t3 - t2) / 1000)
"""


def best(code: str, repeat: int, env: dict[str, str]) -> list[float]:
    """Per figure, the smallest over `repeat` fresh interpreters."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        runs.append([float(x) for x in done.stdout.split()])
    return [min(column) for column in zip(*runs)]


def coverage() -> tuple[int, int, int]:
    """(ids, priced by genai-prices from the id alone, priced by the snapshot as promptguard matches them)."""
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    from datetime import datetime, timezone

    from genai_prices.data_snapshot import get_snapshot

    from pytest_promptguard.config.pricetable import table_price
    from tests.test_pricing import USER_IDS

    alone = 0
    for model_id, *_ in USER_IDS:
        try:
            get_snapshot().find_provider_model(model_id.lower(), None, None, None)
            alone += 1
        except LookupError:
            pass
    now = datetime.now(timezone.utc)
    ours = sum(table_price((m,), kind=k, base_url=u, hint=h, when=now) is not None for m, k, u, h, _ in USER_IDS)
    return len(USER_IDS), alone, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    ms = lambda s: f"{s * 1000:7.1f} ms"  # noqa: E731
    us = lambda s: f"{s * 1e6:7.1f} µs"  # noqa: E731
    pkg, load, first, per_call = best(SNAPSHOT, repeat, env)
    print(
        f"snapshot      package import {ms(pkg)} | read prices.json {ms(load)} | first lookup {ms(first)} | "
        f"lookup + cost per call {us(per_call)}"
    )
    try:
        import genai_prices
    except ImportError:
        print("genai-prices is not installed: pip install -e '.[dev]' for its figures and the coverage")
        return
    _, imported, first, per_call = best(GENAI_PRICES, repeat, env)
    print(
        f"genai-prices  import         {ms(imported)} | first calc_price {ms(first)} | "
        f"calc_price per call {us(per_call)}"
    )
    with tempfile.TemporaryDirectory() as folder:
        shutil.copytree(
            Path(genai_prices.__file__).parent,
            Path(folder) / "genai_prices",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        cold = {**env, "PYTHONPATH": folder, "PYTHONDONTWRITEBYTECODE": "1"}
        _, imported, first, _ = best(GENAI_PRICES, repeat, cold)
    print(f"  no .pyc     import         {ms(imported)} | first calc_price {ms(first)} (PYTHONDONTWRITEBYTECODE=1)")
    ids, alone, ours = coverage()
    print(
        f"coverage of the {ids} ids of tests/test_pricing.py: genai-prices from the id alone {alone} "
        f"({alone / ids:.0%}); the snapshot as promptguard matches them {ours} ({ours / ids:.0%})"
    )


if __name__ == "__main__":
    main()
