"""Router throughput on one core: chat that is not a command, and !joke on the offline backend.

Run: .venv/bin/python bench/router_bench.py   (targets: ≥ 200,000 msg/s and ≥ 5,000 msg/s)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app
from commands.types import ChatMessage, Role
from config.settings import Settings

VIEWER = frozenset({Role.VIEWER})


async def throughput(router, messages: list[ChatMessage], rounds: int) -> float:
    handle = router.handle
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for message in messages:
            await handle(message)
        best = max(best, len(messages) / (time.perf_counter() - started))
    return best


def settings() -> Settings:
    return Settings(bot={"data_dir": tempfile.mkdtemp()})


async def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core, as the issue asks
    app = build_app(settings(), enforce_limits=True)
    await app.start()
    chatter = [
        ChatMessage("twitch", "chan", str(i % 500), f"user{i % 500}", VIEWER, f"lol that was {i}")
        for i in range(100_000)
    ]
    rate = await throughput(app.router, chatter, rounds=5)
    print(f"non-command messages: {rate:,.0f} msg/s (target ≥ 200,000)")
    await app.aclose()

    jokes = [
        ChatMessage("twitch", "chan", str(i), f"user{i}", VIEWER, "!joke") for i in range(20_000)
    ]
    app = build_app(settings(), enforce_limits=True)  # fresh limits: every viewer's first !joke
    await app.start()
    rate = await throughput(app.router, jokes, rounds=1)
    print(f"!joke (offline backend, limits on): {rate:,.0f} msg/s (target ≥ 5,000)")
    await app.aclose()
    app = build_app(settings(), enforce_limits=False)
    await app.start()
    same_viewers = jokes[:500] * 20
    rate = await throughput(app.router, same_viewers, rounds=3)
    print(f"!joke (500 viewers × 20, limits off): {rate:,.0f} msg/s (target ≥ 5,000)")
    await app.aclose()


if __name__ == "__main__":
    asyncio.run(main())
