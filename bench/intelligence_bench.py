"""Figures of the intelligence core (issue: intelligence core). Prints each with its target.

Run: .venv/bin/python bench/intelligence_bench.py   (needs redis-server for the L2 figure)
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

import aiohttp  # noqa: E402
from fakes.llm import FakeLLM  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import Settings  # noqa: E402
from intelligence.cache import TieredCache  # noqa: E402
from intelligence.entries import Entry, Scope  # noqa: E402
from intelligence.fuzzy import FuzzyIndex  # noqa: E402
from intelligence.redis_tier import RedisTier  # noqa: E402
from intelligence.stats import Stats, percentile  # noqa: E402

VIEWER = frozenset({Role.VIEWER})


def pct(samples: list[float], q: float) -> float:
    return percentile(sorted(samples), q)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settings_for(base_url: str, **cache) -> Settings:
    return Settings(
        bot={"data_dir": tempfile.mkdtemp(), "language": "en"},
        llm={"provider": "lmstudio", "base_url": base_url, "timeout_s": 10},
        cache=cache,
    )


async def l1_through_router(fake: FakeLLM) -> None:
    app = build_app(settings_for(fake.base_url), enforce_limits=True)
    await app.start()
    warm = await app.router.handle(ChatMessage("twitch", "c", "0", "u0", VIEWER, "!ask X"))
    await warm.collect()
    samples = []
    for i in range(1, 20_001):  # a new viewer each time, so cooldowns never refuse
        message = ChatMessage("twitch", "c", str(i), f"u{i}", VIEWER, "!ask X")
        started = time.perf_counter()
        reply = await app.router.handle(message)
        await reply.collect()
        samples.append(time.perf_counter() - started)
    assert reply.source == "l1"
    print(
        f"L1 hit via the full router path: p50 {us(pct(samples, 50))}, "
        f"p99 {us(pct(samples, 99))} (target p99 ≤ 300 µs)"
    )
    await app.aclose()


async def l2_hit(redis_url: str) -> None:
    scope = Scope("ask", "m", "p", "en")
    writer = TieredCache(l1_max=10, fuzzy_threshold=90, stats=Stats(), redis=RedisTier(redis_url))
    reader = TieredCache(l1_max=10, fuzzy_threshold=90, stats=Stats(), redis=RedisTier(redis_url))
    for i in range(200):
        await writer.put(scope, f"question {i}", Entry("a" * 200, f"question {i}", 600))
    samples = []
    for _round in range(25):
        for i in range(200):
            reader.l1.clear()
            started = time.perf_counter()
            hit = await reader.get(scope, f"question {i}", fuzzy=False)
            samples.append(time.perf_counter() - started)
            assert hit is not None and hit.tier == "l2"
    print(
        f"L2 (Redis, loopback) hit: p50 {ms(pct(samples, 50))}, p99 {ms(pct(samples, 99))} "
        "(target p99 ≤ 2 ms)"
    )
    await writer.redis.aclose()
    await reader.redis.aclose()


def fuzzy_lookup() -> None:
    subjects = [
        "moons",
        "rings",
        "volcanoes",
        "storms",
        "oceans",
        "mountains",
        "rivers",
        "deserts",
        "forests",
        "islands",
    ]
    index = FuzzyIndex(threshold=90)
    for i in range(10_000):
        index.add("ns", f"k{i}", f"how many {subjects[i % 10]} does planet {i} have in total")
    paraphrases = [
        f"how many {subjects[i % 10]} does planet {i} have in totall?" for i in range(0, 10_000, 20)
    ]
    unrelated = [f"what colour is the sky on world {i}" for i in range(500)]
    samples, hits, false_hits = [], 0, 0
    for query, is_paraphrase in [(q, True) for q in paraphrases] + [(q, False) for q in unrelated]:
        started = time.perf_counter()
        found = index.find("ns", query) is not None
        samples.append(time.perf_counter() - started)
        hits += found and is_paraphrase
        false_hits += found and not is_paraphrase
    print(
        f"fuzzy lookup over 10,000 cached prompts: p50 {ms(pct(samples, 50))}, "
        f"p95 {ms(pct(samples, 95))} (target p95 ≤ 2 ms); {hits}/500 paraphrases hit, "
        f"{false_hits}/500 unrelated questions hit"
    )


async def first_token_overhead(fake: FakeLLM) -> None:
    fake.latency_s = 0.05
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "q"}]}
    direct = []
    async with aiohttp.ClientSession() as session:
        for i in range(60):
            body["messages"][0]["content"] = f"direct {i}"
            started = time.perf_counter()
            async with session.post(f"{fake.base_url}/chat/completions", json=body) as resp:
                async for line in resp.content:
                    if b'"content"' in line:
                        direct.append(time.perf_counter() - started)
                        break
    app = build_app(settings_for(fake.base_url), enforce_limits=False)
    await app.start()
    through = []
    for i in range(60):
        message = ChatMessage("twitch", "c", "1", "u", VIEWER, f"!ask question number {i} please")
        started = time.perf_counter()
        reply = await app.router.handle(message)
        async for _piece in reply.stream:
            through.append(time.perf_counter() - started)
            break
        await reply.collect()
    await app.aclose()
    added = pct(through, 95) - pct(direct, 95)
    print(
        f"time to first token: backend alone p95 {ms(pct(direct, 95))}, through quipbot p95 "
        f"{ms(pct(through, 95))}: added {ms(added)} (target ≤ 5 ms)"
    )
    fake.latency_s = 0


async def fallback_while_open(fake: FakeLLM) -> None:
    settings = settings_for(fake.base_url)
    app = build_app(settings, enforce_limits=False)
    await app.start()
    for _client, breaker in app.pool.backends:
        for _ in range(settings.llm.breaker_failures):
            breaker.failure()
    samples = []
    for i in range(5000):
        message = ChatMessage("twitch", "c", "1", "u", VIEWER, f"!ask fresh question {i}")
        started = time.perf_counter()
        reply = await app.router.handle(message)
        samples.append(time.perf_counter() - started)
    assert reply.source == "fallback"
    print(
        f"fallback answer while the breaker is open: p50 {us(pct(samples, 50))}, "
        f"p99 {us(pct(samples, 99))} (target p99 ≤ 5 ms)"
    )
    await app.aclose()


async def rss_of_cached_answers() -> None:
    cache = TieredCache(l1_max=20_000, fuzzy_threshold=90, stats=Stats())
    scope = Scope("ask", "m", "p", "en")
    answer = "A chat-sized answer of about two hundred characters, " * 4
    gc.collect()
    before = rss_bytes()
    for i in range(10_000):
        prompt = f"viewer question number {i} about something interesting"
        await cache.put(scope, prompt, Entry(answer[:200] + str(i), prompt, 3600, 40, 60))
    gc.collect()
    added = rss_bytes() - before
    print(
        f"RSS added by 10,000 cached answers (L1 + fuzzy index): {added / 2**20:.1f} MB "
        "(target ≤ 20 MB)"
    )


def start_redis() -> tuple[subprocess.Popen, str] | None:
    if shutil.which("redis-server") is None:
        return None
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


async def main() -> None:
    fake = FakeLLM(flavour="lmstudio")
    await fake.start()
    try:
        await l1_through_router(fake)
        redis = start_redis()
        if redis is None:
            print("L2: skipped (redis-server is not installed)")
        else:
            try:
                await l2_hit(redis[1])
            finally:
                redis[0].kill()
        fuzzy_lookup()
        await first_token_overhead(fake)
        await fallback_while_open(fake)
        await rss_of_cached_answers()
    finally:
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
