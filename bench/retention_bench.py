"""Database size after 1,000,000 chat messages, with the default retention (bot.keep_rows,
bot.keep_days) applied as the bot's upkeep does every 5 minutes, and without any retention.

A busy channel's 1M messages are logged through the store's queue (typical sizes: a question of
40 characters, an answer of 150); the upkeep runs every 50,000 messages (5 minutes at about 170
messages a second).

Run: .venv/bin/python bench/retention_bench.py [--messages 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import BotSettings
from intelligence.store import LogRow, Store

UPKEEP_EVERY = 50_000
QUESTION = "what is the best way to cook pasta al dente? "[:40]
ANSWER = "Boil plenty of salted water, cook two minutes less than the packet says, and taste. " * 2


async def fill(messages: int, *, trim: bool) -> tuple[float, int]:
    defaults = BotSettings()
    store = Store(Path(tempfile.mkdtemp()) / "quipbot.db")
    for i in range(messages):
        store.log_chat(
            LogRow("twitch", "chan", f"user{i % 5000}", "ask", QUESTION, ANSWER, "l1", 0.2)
        )
        if (i + 1) % UPKEEP_EVERY == 0:
            if trim:
                store.trim(keep_days=defaults.keep_days, keep_rows=defaults.keep_rows)
            await store.flush()
    await store.flush()
    [[rows]] = await store.fetch("SELECT COUNT(*) FROM chat_log")
    await store.aclose()
    files = [store.path, store.path.with_name(store.path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6, rows


async def main(messages: int) -> None:
    keep_rows = BotSettings().keep_rows
    size, rows = await fill(messages, trim=True)
    print(
        f"{messages:,} chat messages with the default retention (keep_rows {keep_rows:,}): "
        f"database {size:.1f} MB, {rows:,} rows"
    )
    size, rows = await fill(messages, trim=False)
    print(f"the same without retention: database {size:.1f} MB, {rows:,} rows")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().messages))
