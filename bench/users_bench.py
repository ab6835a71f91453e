"""Memory per distinct user: RSS after 10,000 and after 100,000 distinct users, through the
console path (the router, limits on) and through the HTTP API (``/api/commands/joke`` with a new
``X-Quipbot-User`` each time), on the offline backend.

Users come and go as in a busy channel: the bot's clock advances 0.4 simulated seconds per user,
so 100,000 users arrive over 11 hours and each chats for a few minutes. Per-user state must
expire: RSS should stay flat (within 10 MB) from 10k to 100k users.

Run: .venv/bin/python bench/users_bench.py [--users 100000] [--only console|http]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from support.http import serving  # noqa: E402

from bot.app import build_app  # noqa: E402
from commands.types import ChatMessage, Role  # noqa: E402
from config.settings import Settings  # noqa: E402

VIEWER = frozenset({Role.VIEWER})
STEP_S = 0.4  # simulated seconds between two new users
CHECKPOINT = 10_000


def rss_mb() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def console(users: int) -> None:
    clock = Clock()
    app = build_app(Settings(bot={"data_dir": tempfile.mkdtemp()}), clock=clock)
    await app.start()
    start = rss_mb()
    at: dict[int, float] = {}
    for i in range(users):
        clock.now += STEP_S
        for text in ("!joke", f"!ask what is {i % 50} times 7?", "gg"):
            message = ChatMessage("console", "console", f"u{i}", f"user{i}", VIEWER, text)
            reply = await app.router.handle(message)
            if reply is not None:
                await reply.collect()
        await asyncio.sleep(0)  # as between two messages from a platform: the writer runs
        if (i + 1) % CHECKPOINT == 0:
            at[i + 1] = rss_mb()
    await app.store.flush()
    size = app.settings.bot.database.stat().st_size / 1e6
    await app.aclose()
    report("console", start, at, f"{3 * users:,} messages; database {size:.1f} MB")


async def http(users: int) -> None:
    clock = Clock()
    settings = Settings(
        bot={"data_dir": tempfile.mkdtemp()},
        http={"enabled": True, "port": 0, "api_key": "bench", "rate_per_min": 0},
    )
    app = build_app(settings, clock=clock)
    await app.start()
    start = rss_mb()
    at: dict[int, float] = {}
    headers = {"Authorization": "Bearer bench"}
    async with serving(app) as adapter, aiohttp.ClientSession() as session:
        url = f"{adapter.url}/api/commands/joke"
        for i in range(users):
            clock.now += STEP_S
            user = {"X-Quipbot-User": f"u{i}"}
            async with session.post(url, json={}, headers=headers | user) as response:
                await response.read()
            if (i + 1) % CHECKPOINT == 0:
                at[i + 1] = rss_mb()
    await app.aclose()
    report("HTTP", start, at, f"{users:,} requests")


def report(name: str, start: float, at: dict[int, float], what: str) -> None:
    first, last = at[min(at)], at[max(at)]
    print(
        f"{name}: RSS {start:.1f} MB at start, {first:.1f} MB at {min(at):,} users, "
        f"{last:.1f} MB at {max(at):,} users (+{last - first:.1f} MB; target within 10 MB); {what}"
    )


async def main(users: int, only: str | None) -> None:
    if only in (None, "console"):
        await console(users)
    if only in (None, "http"):
        await http(users)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--only", choices=["console", "http"])
    args = parser.parse_args()
    asyncio.run(main(args.users, args.only))
