"""Figures of the moderation gate (issue: safe on stream).

1. What the gate costs a message: banphrases on a text seen for the first time, a verdict
   from the cache, and a whole ``!ask`` answered from the cache with the gate and without it,
   side by side in this run.
2. False-block and missed-block rates on the labelled sets (tests-local/data/), banphrases
   alone and with a moderation model: alt-profanity-check (an English linear SVM) served as an
   OpenAI-compatible ``/v1/moderations`` from its own virtualenv (.venv-bench, made on first run).
3. The latency the model adds to a new text.

Run: .venv/bin/python bench/moderation_bench.py [--no-model]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from fakes.llm import FakeLLM  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import ModerationSettings, Settings  # noqa: E402
from intelligence.moderation import Banlist, Gate, ModerationModel  # noqa: E402
from intelligence.stats import Stats  # noqa: E402
from intelligence.store import Store  # noqa: E402

SETS = ("moderation_set.jsonl", "moderation_holdout.jsonl")
VENV = ROOT / ".venv-bench"
VIEWER = frozenset({Role.VIEWER})


def rows(name: str) -> list[dict]:
    lines = (ROOT / "tests-local" / "data" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


async def gate_with(model: ModerationModel | None) -> Gate:
    store = Store(Path(tempfile.mkdtemp()) / "q.db")
    await store.open()
    banlist = Banlist(store, None)
    await banlist.start()
    return Gate(banlist=banlist, model=model, stats=Stats(), store=store)


def micros(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95)]
    return f"mean {statistics.fmean(samples) * 1e6:.1f} µs, p95 {p95 * 1e6:.1f} µs"


async def costs() -> None:
    texts = [r["text"] for name in SETS for r in rows(name)]
    gate = await gate_with(None)
    fresh = []
    for text in texts:
        started = time.perf_counter()
        await gate.check(text + " ")  # a text the cache has not seen
        fresh.append(time.perf_counter() - started)
    cached = []
    for _ in range(20):
        for text in texts:
            started = time.perf_counter()
            await gate.check(text + " ")
            cached.append(time.perf_counter() - started)
    print(f"gate, banphrases, a text seen for the first time: {micros(fresh)}")
    print(f"gate, a verdict from the cache: {micros(cached)}")
    await gate.store.aclose()

    async with FakeLLM(flavour="lmstudio", reply="Paris is the capital of France.") as llm:
        settings = Settings(
            bot={"data_dir": tempfile.mkdtemp(), "language": "en"},
            llm={"provider": "lmstudio", "base_url": llm.base_url},
        )
        app = build_app(settings, enforce_limits=False)
        await app.start()
        ask = ChatMessage("twitch", "c", "0", "u0", VIEWER, "!ask capital of France?")
        await (await app.router.handle(ask)).collect()
        output = app.router.output
        timings: dict[str, list[float]] = {"with the gate": [], "without it": []}
        for _ in range(10):  # interleaved, so that noise hits both alike
            for label in timings:
                app.router.output = output if label == "with the gate" else None
                started = time.perf_counter()
                for _ in range(2000):
                    await (await app.router.handle(ask)).collect()
                timings[label].append((time.perf_counter() - started) / 2000)
        for label, samples in timings.items():
            print(f"!ask from the cache through the router, {label}: {min(samples) * 1e6:.1f} µs")
        await app.aclose()


def model_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print("making .venv-bench with alt-profanity-check (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "alt-profanity-check", "aiohttp"],
            check=True,
        )
    return python


async def rates(model: ModerationModel | None) -> None:
    label = "banphrases alone" if model is None else "banphrases + alt-profanity-check"
    gate = await gate_with(model)
    for name in SETS:
        data = rows(name)
        false_blocks = missed = 0
        latencies = []
        for row in data:
            started = time.perf_counter()
            verdict = await gate.check(row["text"])
            latencies.append(time.perf_counter() - started)
            false_blocks += row["label"] == "pass" and verdict is not None
            missed += row["label"] == "block" and verdict is None
        passes = sum(r["label"] == "pass" for r in data)
        blocks = len(data) - passes
        print(
            f"{name} ({label}): false blocks {false_blocks}/{passes} "
            f"({false_blocks / passes:.1%}), missed {missed}/{blocks} ({missed / blocks:.1%})"
        )
        if model is not None:
            ordered = sorted(latencies)
            p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]
            print(
                f"  latency of a new text with the model: p50 {p50 * 1e3:.2f} ms, "
                f"p95 {p95 * 1e3:.2f} ms"
            )
    await gate.store.aclose()


async def main(with_model: bool) -> None:
    await costs()
    await rates(None)
    if not with_model:
        return
    server = subprocess.Popen(
        [str(model_venv()), str(ROOT / "bench" / "profanity_server.py"), "8801"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        await asyncio.sleep(2)  # the model loads
        model = ModerationModel(
            ModerationSettings(provider="openai", base_url=base_url, model="alt-profanity-check")
        )
        await rates(model)
        await model.aclose()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-model", action="store_true", help="skip the moderation model")
    asyncio.run(main(not parser.parse_args().no_model))
