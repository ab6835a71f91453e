"""Figures of the Twitch adapter (issue 5), against the fake Twitch. Prints each with its target.

1. Latency of a cached answer: from the notification frame the fake sends on the EventSub
   socket to the Helix chat POST the fake receives (real twitchio client, router, cache).
2. Throughput: chat messages per second the bot takes from the socket when 95 % of chat is
   not a command. The fake runs in a child process here, so the figure is the bot's alone.

Run: .venv/bin/python bench/twitch_bench.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests-local")]

import twitchio.eventsub.websockets  # noqa: E402
import twitchio.http  # noqa: E402
from fakes.llm import FakeLLM  # noqa: E402
from fakes.twitch import FakeTwitch, VirtualClock  # noqa: E402

from bot.app import App, build_app  # noqa: E402
from bot.twitch.adapter import TwitchAdapter  # noqa: E402
from bot.twitch.tokens import StoredToken, TokenStore  # noqa: E402
from config.settings import Settings  # noqa: E402
from intelligence.stats import percentile  # noqa: E402

OWNER, BOT = "100", "200"
LATENCY_SAMPLES = 400
BURST = 20_000
COMMAND_SHARE = 0.05
QUESTION = "!ask what is the capital of France?"


def add_world(fake: FakeTwitch, viewers: int) -> tuple[str, str]:
    fake.add_user(OWNER, "owner")
    fake.add_user(BOT, "quipbot")
    fake.add_moderator(OWNER, BOT)
    for i in range(viewers):
        fake.add_user(str(1000 + i), f"viewer{i}")
    return fake.add_user_token(BOT)


def settings(fake_base: str, data_dir: str, llm_url: str | None = None) -> Settings:
    llm = {"provider": "lmstudio", "base_url": llm_url} if llm_url else {}
    return Settings(
        bot={"data_dir": data_dir, "language": "en"},
        llm=llm,
        twitch={
            "enabled": True,
            "client_id": "fake-client-id",
            "client_secret": "fake-client-secret",
            "bot_id": BOT,
            "owner_id": OWNER,
            "channels": ["owner"],
        },
    )


async def start(
    app: App, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
) -> tuple[TwitchAdapter, asyncio.Task[None]]:
    adapter = TwitchAdapter(app, clock=clock, sleep=sleep)
    task = asyncio.create_task(adapter.run())
    async with asyncio.timeout(15):
        while adapter.status() != "up":
            await asyncio.sleep(0.01)
    return adapter, task


async def stop(app: App, task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await app.aclose()


class SkippingClock:
    """Real time plus a skip the benchmark adds between samples, shared by the fake (its
    records and duplicate window) and the bot (pacing): every sample finds a free pacing slot,
    so the figure is the path of one reply, not Twitch's rate limit, and the time between a
    notification and its reply is measured in real time."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.perf_counter() + self.skipped


async def latency() -> None:
    clock = SkippingClock()
    async with (
        FakeLLM(flavour="lmstudio", reply="Paris, of course.") as llm,
        FakeTwitch(clock=clock) as fake,
    ):
        access, refresh = add_world(fake, LATENCY_SAMPLES + 20)
        with fake.patch_twitchio():
            config = settings(fake.base_url, tempfile.mkdtemp(), llm.base_url)
            TokenStore.for_settings(config).put(StoredToken(BOT, "quipbot", access, refresh))
            app = build_app(config)
            await app.start()
            _, task = await start(app, clock, asyncio.sleep)
            samples = []
            try:
                for i in range(LATENCY_SAMPLES + 20):  # the first 20 warm up (1 LLM call)
                    before = len(fake.sent_chat)
                    message_id = await fake.send_chat(OWNER, str(1000 + i), QUESTION, badges=())
                    await fake.wait_for(lambda b=before: len(fake.sent_chat) > b, 5)
                    [sent] = fake.sent_chat[before:]
                    assert sent.is_sent and sent.reply_parent_message_id == message_id, sent
                    [notified] = [
                        n for n in fake.notifications if n.event["message_id"] == message_id
                    ]
                    if i >= 20:
                        samples.append(sent.time - notified.time)
                    clock.skipped += 2.0
            finally:
                await stop(app, task)
    assert llm.calls == 1, llm.calls
    ordered = sorted(samples)
    p50, p95 = percentile(ordered, 50) * 1e3, percentile(ordered, 95) * 1e3
    print(
        f"cached !ask, notification frame → Helix reply POST ({len(samples)} samples): "
        f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (target p95 ≤ 5 ms)"
    )


async def serve_fake() -> None:
    """The child process: a fake Twitch that sends a prepared burst of chat on request."""
    async with FakeTwitch() as fake:
        access, refresh = add_world(fake, int(BURST * COMMAND_SHARE))
        urls = {"helix": fake.helix_url, "id": fake.id_url, "ws": fake.ws_url}
        print(json.dumps({**urls, "access": access, "refresh": refresh}), flush=True)
        lines = []
        for i in range(BURST):
            if i % round(1 / COMMAND_SHARE) == 0:  # 5 %: a viewer's command
                lines.append((str(1000 + i // round(1 / COMMAND_SHARE)), "!ping"))
            else:
                lines.append((str(1000 + i % 50), f"chat line {i}, so hype, much wow"))
        await asyncio.to_thread(sys.stdin.readline)
        written = await fake.send_chat_burst(OWNER, lines)
        print(json.dumps({"written": written}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)


async def throughput() -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-fake",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    world: dict[str, Any] = json.loads(await child.stdout.readline())
    twitchio.http.Route.BASE = world["helix"]
    twitchio.http.Route.ID_BASE = world["id"]
    twitchio.eventsub.websockets.WSS = world["ws"]
    config = settings("", tempfile.mkdtemp())
    TokenStore.for_settings(config).put(
        StoredToken(BOT, "quipbot", world["access"], world["refresh"])
    )
    app = build_app(config)
    await app.start()
    # Virtual time that never moves: the replies past Twitch's limit just queue.
    clock = VirtualClock()
    adapter, task = await start(app, clock, clock.sleep)
    first: list[float] = []
    take = adapter.on_message

    async def timed(message: Any) -> None:
        if not first:
            first.append(time.perf_counter())
        await take(message)

    adapter.on_message = timed  # type: ignore[method-assign]
    child.stdin.write(b"go\n")
    written = json.loads(await child.stdout.readline())["written"]
    box = adapter.outboxes[OWNER]
    async with asyncio.timeout(120):  # every burst line handled, and the echoes of replies
        while adapter.handled < written + box.sent or not first:
            await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - first[0]
    child.stdin.write(b"quit\n")
    await child.wait()
    await stop(app, task)
    commands = int(written * COMMAND_SHARE)
    print(
        f"chat taken from the socket, 95 % not a command: {written / elapsed:,.0f} msg/s "
        f"({written:,} messages in {elapsed:.2f} s; of the {commands} commands' replies, "
        f"{box.sent} were sent meanwhile and the rest wait under Twitch's limits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    if parser.parse_args().serve_fake:
        asyncio.run(serve_fake())
        return
    # Replies beyond Twitch's limits are queued then dropped as stale, each with a log line;
    # thousands of them would drown the figures.
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(latency())
    asyncio.run(throughput())


if __name__ == "__main__":
    main()
