"""Figures of the Discord adapter (issue 6), the real discord.py client against FakeDiscord.

- /joke served from the joke pool (a cached answer): from the fake sending INTERACTION_CREATE to
  the fake receiving the interaction callback POST, p50 and p95 (target p95 ≤ 10 ms);
- /ask streaming from a slow fake LLM: edits per second (must stay ≤ 1) and the delay from the
  LLM's last token reaching the bot to the final edit reaching Discord.

Run: .venv/bin/python bench/discord_bench.py
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

from fakes.discord import FakeDiscord  # noqa: E402
from fakes.llm import FakeLLM  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.discord.adapter import DiscordAdapter  # noqa: E402
from commands.types import ChatMessage, Reply  # noqa: E402
from config.settings import Settings  # noqa: E402
from intelligence.stats import percentile  # noqa: E402

F = FakeDiscord
JOKE_SAMPLES = 300
ASK_SAMPLES = 10
# Answer i has 90 + 3i words: 30 + i chunks of 3 words, 0.1 s apart, so the answers end at
# every phase of the 1 s edit interval rather than at the same one.
ASK_WORDS = 90
WEBHOOK = f"/webhooks/{F.APPLICATION_ID}/"

_jokes = itertools.count(1)


def answer(number: int) -> str:
    return " ".join(f"word{i}" for i in range(ASK_WORDS + 3 * number))


def llm_reply(body: dict) -> str:
    """Five fresh English jokes per joke call; for "story number N", answer(N)."""
    if "jokes" not in body["messages"][0]["content"]:
        return answer(int(re.findall(r"number (\d+)", body["messages"][-1]["content"])[-1]))
    return "\n".join(
        f"Why did robot {n} cross the road? To reach charging station {n}."
        for n in (next(_jokes) for _ in range(5))
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


async def until(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, app: App) -> AsyncIterator[DiscordAdapter]:
    adapter = DiscordAdapter(app, guild_ready_timeout=0.05)
    with fake.patch_discord():
        task = asyncio.create_task(adapter.run())
        try:
            await until(lambda: adapter.status() == "up")
            yield adapter
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def joke_latency(fake: FakeDiscord, app: App) -> None:
    async def one(user_id: int) -> float:
        interaction_id = await fake.send_slash("joke", user_id=user_id)
        record = fake.interactions[interaction_id]
        await until(lambda: record.callback_time is not None)
        assert record.callback_type == 4
        return record.callback_time - record.created

    for user in range(20):  # warm-up: fills the joke pool from the LLM, JITs nothing but caches
        await one(F.USER_ID + 1000 + user)
    before = dict(app.stats.sources)
    samples = [await one(F.USER_ID + 5000 + user) for user in range(JOKE_SAMPLES)]
    served = {k: v - before.get(k, 0) for k, v in app.stats.sources.items()}
    samples.sort()
    print(
        f"/joke from the pool, INTERACTION_CREATE → callback POST over {JOKE_SAMPLES} "
        f"interactions: p50 {ms(percentile(samples, 50))}, p95 {ms(percentile(samples, 95))} "
        f"(target p95 ≤ 10 ms); served from: "
        + ", ".join(f"{k}={v}" for k, v in served.items() if v)
    )


async def ask_streaming(fake: FakeDiscord, app: App) -> None:
    last_piece: dict[str, float] = {}
    handle = app.router.handle

    async def timed(message: ChatMessage) -> Reply | None:
        """Note when the last piece of each answer reaches the adapter."""
        reply = await handle(message)
        if reply is None or reply.stream is None:
            return reply
        inner = reply.stream

        async def relay() -> AsyncIterator[str]:
            async for piece in inner:
                last_piece[message.text] = asyncio.get_running_loop().time()
                yield piece

        reply.stream = relay()
        return reply

    app.router.handle = timed  # type: ignore[method-assign]
    delays, rates, windows, gaps = [], [], [], []
    for i in range(ASK_SAMPLES):
        question = f"tell me a long story number {i}"
        interaction_id = await fake.send_slash("ask", {"question": question})
        record = fake.interactions[interaction_id]
        await until(lambda r=record: r.original_message_id in fake.messages, 10)
        await until(
            lambda r=record, i=i: fake.messages[r.original_message_id]["content"] == answer(i)
        )
        edits = [
            r for r in fake.requests_to("PATCH", f"{WEBHOOK}{record.token}/") if r.status == 200
        ]
        first_write = fake.requests_to("POST", f"{WEBHOOK}{record.token}")[0].time
        times = [e.time for e in edits]
        delays.append(times[-1] - last_piece[f"!ask {question}"])
        rates.append(len(times) / (times[-1] - first_write))
        windows.append(max(sum(1 for t in times if s <= t < s + 1.0) for s in times))
        gaps.extend(b - a for a, b in itertools.pairwise(times))
    print(
        f"/ask streaming, {ASK_SAMPLES} answers of 3 to 4 s: edits per second per answer "
        f"{min(rates):.2f} to {max(rates):.2f}, most edits in any 1 s window {max(windows)}, "
        f"shortest gap between edits {min(gaps):.3f} s (rule: ≤ 1 edit/s)"
    )
    delays.sort()
    print(
        f"/ask last LLM token → final edit at Discord: p50 {ms(percentile(delays, 50))}, "
        f"max {ms(delays[-1])} (bounded by the 1 s edit interval)"
    )


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    fake = FakeDiscord()
    await fake.start()
    async with FakeLLM(flavour="lmstudio", token_delay_s=0.1, reply=llm_reply) as llm:
        settings = Settings(
            bot={"data_dir": tempfile.mkdtemp(), "language": "en"},
            llm={"provider": "lmstudio", "base_url": llm.base_url, "max_tokens": 2000},
            limits={"user_cooldown_s": 0, "user_rate_per_min": 0},
            discord={"enabled": True, "token": F.TOKEN, "guild_ids": [F.GUILD_ID]},
        )
        app = build_app(settings)
        await app.start()
        try:
            async with running(fake, app):
                llm.token_delay_s = 0.0  # jokes: the pool refills at once
                await joke_latency(fake, app)
                llm.token_delay_s = 0.1  # answers: a slow stream
                await ask_streaming(fake, app)
        finally:
            await app.aclose()
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
